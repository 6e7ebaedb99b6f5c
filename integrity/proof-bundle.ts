/**
 * Self-contained proof that one audit event is in a chain covered by a signed checkpoint, checkable
 * offline with nothing but the log's verifier key:
 *
 *   event ──JCS, prevHash──▶ entry hash (chain-hash.ts) ──0x00──▶ leaf hash ──inclusion path──▶ root
 *   root == the root in the signed C2SP checkpoint note, whose signature verifies with a trusted key
 *
 * The bundle is versioned JSON (`format: "otel-audit.proof-bundle"`): `version: 1` for an entry of
 * chain format 1 (`entry` without `chainVersion`), `version: 2` for chain format 2 (`entry.chainVersion:
 * 2`), so a verifier that predates format 2 answers "unsupported version" instead of "modified".
 * {@link verifyProofBundle} never throws for bad input: it returns every problem it finds.
 */
import { AuditError } from '@otel-audit/core';
import type { AuditEvent } from '@otel-audit/schema';
import { type ChainVersion, computeEntryHash, parseChainVersion } from './chain-hash.ts';
import { checkpointOrigin, openCheckpoint } from './checkpoint.ts';
import type { CheckpointRecord } from './checkpointer.ts';
import { hashToHex, inclusionProof, isHashHex, type LeafSource, leafHash, rootFromInclusionProof } from './merkle.ts';
import type { VerifierKeys } from './note.ts';

/** `format` value of every proof bundle. */
export const PROOF_BUNDLE_FORMAT = 'otel-audit.proof-bundle';
/** Newest proof bundle version (bundles of chain format 1 entries keep version 1). */
export const PROOF_BUNDLE_VERSION = 2;

/** A proof bundle (JSON). */
export interface ProofBundle {
  format: typeof PROOF_BUNDLE_FORMAT;
  /** 1 when the entry is chain format 1, 2 when it is chain format 2. */
  version: 1 | 2;
  /** The normalized event exactly as hashed. */
  event: AuditEvent;
  /** The chain entry of the event; `chainVersion` present (2) only for chain format 2. */
  entry: { chainId: string; seq: number; prevHash: string; hash: string; chainVersion?: 2 };
  /** Leaf index in the tree: seq − 1. */
  leafIndex: number;
  /** Tree size of the checkpoint (repeated from the note for readability). */
  treeSize: number;
  /** Audit path (RFC 9162 §2.1.3.1), bottom-up, 64-hex hashes. */
  inclusionPath: string[];
  /** The signed C2SP checkpoint note. */
  checkpoint: string;
}

/** Input of {@link createProofBundle}. */
export interface ProofBundleInput {
  event: AuditEvent;
  /** `chainVersion`: the entry's chain format (absent = 1). */
  entry: { chainId: string; seq: number; prevHash: string; hash: string; chainVersion?: number };
  /** Default: seq − 1. */
  leafIndex?: number;
  /** Tree size of the checkpoint; default: parsed from the note. */
  treeSize?: number;
  /** Audit path hashes (hex or bytes), bottom-up. */
  inclusionPath: ReadonlyArray<string | Uint8Array>;
  /** Signed checkpoint note, or a checkpoint record (its note is used). */
  checkpoint: string | Pick<CheckpointRecord, 'note' | 'treeSize'>;
}

/**
 * Assemble a proof bundle. Checks shapes only (throws `AUDIT_ERR_INVALID_ARGUMENT` for a malformed
 * hash, seq or note); use {@link verifyProofBundle} to check it.
 */
export function createProofBundle(input: ProofBundleInput): ProofBundle {
  const { entry } = input;
  if (!Number.isSafeInteger(entry.seq) || entry.seq < 1)
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `seq must be a positive integer, got ${entry.seq}`);
  if (!isHashHex(entry.prevHash) || !isHashHex(entry.hash))
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'entry prevHash and hash must be 64 lower-case hex digits');
  const chainVersion = parseChainVersion(entry.chainVersion);
  if (chainVersion === undefined)
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `unknown chainVersion ${JSON.stringify(entry.chainVersion)} (known: 1, 2)`);
  const note = typeof input.checkpoint === 'string' ? input.checkpoint : input.checkpoint.note;
  let treeSize = input.treeSize ?? (typeof input.checkpoint === 'string' ? undefined : input.checkpoint.treeSize);
  if (treeSize === undefined) {
    const size = /^[^\n]*\n(0|[1-9][0-9]*)\n/.exec(note);
    if (!size) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'cannot read the tree size from the checkpoint note');
    treeSize = Number(size[1]);
  }
  const path = input.inclusionPath.map((h) => (typeof h === 'string' ? h : hashToHex(h)));
  if (!path.every(isHashHex)) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'inclusion path elements must be 32-byte hashes');
  return {
    format: PROOF_BUNDLE_FORMAT,
    version: chainVersion,
    event: input.event,
    entry: {
      chainId: entry.chainId,
      seq: entry.seq,
      prevHash: entry.prevHash,
      hash: entry.hash,
      ...(chainVersion === 2 ? { chainVersion: 2 as const } : {}),
    },
    leafIndex: input.leafIndex ?? entry.seq - 1,
    treeSize,
    inclusionPath: path,
    checkpoint: note,
  };
}

/**
 * Build the proof bundle of one entry against a checkpoint record, reading the chain's leaves
 * (entry hashes, index = seq − 1) from `leaves`. Throws `AUDIT_ERR_INVALID_ARGUMENT` when the entry
 * is not covered by the checkpoint (seq > treeSize); rejects when the source fails.
 */
export async function proveEntry(input: {
  event: AuditEvent;
  entry: ProofBundleInput['entry'];
  checkpoint: CheckpointRecord;
  leaves: LeafSource;
}): Promise<ProofBundle> {
  const { entry, checkpoint } = input;
  if (entry.chainId !== checkpoint.chainId)
    throw new AuditError(
      'AUDIT_ERR_INVALID_ARGUMENT',
      `entry of chain ${entry.chainId} cannot be proven with a checkpoint of chain ${checkpoint.chainId}`,
    );
  if (entry.seq > checkpoint.treeSize)
    throw new AuditError(
      'AUDIT_ERR_INVALID_ARGUMENT',
      `seq ${entry.seq} is not covered by the checkpoint of tree size ${checkpoint.treeSize}; wait for the next checkpoint`,
    );
  const path = await inclusionProof(input.leaves, entry.seq - 1, checkpoint.treeSize);
  return createProofBundle({ event: input.event, entry, inclusionPath: path, checkpoint });
}

/** Stable kinds of proof bundle problems. */
export type ProofProblemKind =
  | 'malformed-bundle'
  | 'unsupported-version'
  | 'event-modified'
  | 'leaf-index-mismatch'
  | 'malformed-checkpoint'
  | 'bad-signature'
  | 'unknown-key'
  | 'origin-mismatch'
  | 'tree-size-mismatch'
  | 'inclusion-proof-invalid'
  | 'root-mismatch';

/** One thing wrong with a proof bundle. */
export interface ProofProblem {
  kind: ProofProblemKind;
  /** What is wrong, precisely (values included). */
  message: string;
  /** The bundle field concerned, e.g. `event`, `inclusionPath[3]`, `checkpoint`. */
  path?: string;
}

/** A proof that verified. */
export interface ProofBundleVerified {
  ok: true;
  chainId: string;
  seq: number;
  eventId: string | undefined;
  leafIndex: number;
  treeSize: number;
  /** Root hash of the checkpoint (hex). */
  rootHash: string;
  origin: string;
  /** Trusted keys whose signatures verified (`name+keyid`). */
  signedBy: string[];
}

/** Outcome of {@link verifyProofBundle}. */
export type ProofBundleResult = ProofBundleVerified | { ok: false; problems: ProofProblem[] };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Verify a proof bundle offline: recompute the entry hash from the event and prevHash, the leaf
 * hash, the root from the inclusion path (RFC 9162 §2.1.3.2), and compare it with the root of the
 * signed checkpoint, whose signature must verify with one of `keys` and whose origin must be the
 * chain's ({@link checkpointOrigin}, or `expectedOrigin`). Accepts any JSON value and never throws
 * for a bad bundle; only an unparsable verifier key string in `keys` throws (`AUDIT_ERR_KEY`).
 */
export function verifyProofBundle(bundle: unknown, keys: VerifierKeys, options: { expectedOrigin?: string } = {}): ProofBundleResult {
  const problems: ProofProblem[] = [];
  if (!isRecord(bundle)) return { ok: false, problems: [{ kind: 'malformed-bundle', message: 'proof bundle is not a JSON object' }] };
  if (bundle.format !== PROOF_BUNDLE_FORMAT)
    problems.push({
      kind: 'malformed-bundle',
      message: `format is ${JSON.stringify(bundle.format)}, expected "${PROOF_BUNDLE_FORMAT}"`,
      path: 'format',
    });
  if (bundle.version !== 1 && bundle.version !== 2) {
    return {
      ok: false,
      problems: [
        ...problems,
        {
          kind: 'unsupported-version',
          message: `proof bundle version ${JSON.stringify(bundle.version)} is not supported (this verifier reads versions 1 and 2)`,
          path: 'version',
        },
      ],
    };
  }
  const entry = bundle.entry;
  if (!isRecord(entry))
    return {
      ok: false,
      problems: [...problems, { kind: 'malformed-bundle', message: 'entry is missing or not an object', path: 'entry' }],
    };
  const chainId = entry.chainId;
  const seq = entry.seq;
  if (typeof chainId !== 'string' || chainId.length === 0)
    problems.push({ kind: 'malformed-bundle', message: 'entry.chainId must be a non-empty string', path: 'entry.chainId' });
  if (!Number.isSafeInteger(seq) || (seq as number) < 1)
    problems.push({ kind: 'malformed-bundle', message: 'entry.seq must be a positive integer', path: 'entry.seq' });
  if (!isHashHex(entry.prevHash))
    problems.push({ kind: 'malformed-bundle', message: 'entry.prevHash must be 64 lower-case hex digits', path: 'entry.prevHash' });
  if (!isHashHex(entry.hash))
    problems.push({ kind: 'malformed-bundle', message: 'entry.hash must be 64 lower-case hex digits', path: 'entry.hash' });
  // Version 1 bundles predate chain formats: their entries are format 1. Version 2 bundles name it.
  const chainVersion: ChainVersion | undefined =
    bundle.version === 1 ? (entry.chainVersion === undefined ? 1 : undefined) : parseChainVersion(entry.chainVersion ?? 0);
  if (chainVersion === undefined)
    problems.push({
      kind: 'malformed-bundle',
      message: `entry.chainVersion ${JSON.stringify(entry.chainVersion)} does not fit bundle version ${bundle.version} (version 1: absent; version 2: 1 or 2)`,
      path: 'entry.chainVersion',
    });
  if (!isRecord(bundle.event)) problems.push({ kind: 'malformed-bundle', message: 'event is missing or not an object', path: 'event' });
  const leafIndex = bundle.leafIndex;
  const treeSize = bundle.treeSize;
  if (!Number.isSafeInteger(leafIndex) || (leafIndex as number) < 0)
    problems.push({ kind: 'malformed-bundle', message: 'leafIndex must be a non-negative integer', path: 'leafIndex' });
  if (!Number.isSafeInteger(treeSize) || (treeSize as number) < 1)
    problems.push({ kind: 'malformed-bundle', message: 'treeSize must be a positive integer', path: 'treeSize' });
  const rawPath = bundle.inclusionPath;
  if (!Array.isArray(rawPath))
    problems.push({ kind: 'malformed-bundle', message: 'inclusionPath must be an array of 64-hex hashes', path: 'inclusionPath' });
  else
    rawPath.forEach((h, i) => {
      if (!isHashHex(h))
        problems.push({
          kind: 'malformed-bundle',
          message: `inclusionPath[${i}] is not 64 lower-case hex digits`,
          path: `inclusionPath[${i}]`,
        });
    });
  if (typeof bundle.checkpoint !== 'string')
    problems.push({ kind: 'malformed-bundle', message: 'checkpoint must be the signed checkpoint note text', path: 'checkpoint' });
  if (problems.length > 0) return { ok: false, problems };

  const e = entry as { chainId: string; seq: number; prevHash: string; hash: string };
  // 1. The event is what was hashed into the chain.
  let recomputed: string | undefined;
  try {
    recomputed = computeEntryHash(e.prevHash, bundle.event as AuditEvent, chainVersion);
  } catch (err) {
    problems.push({ kind: 'malformed-bundle', message: `event cannot be canonicalized: ${(err as Error).message}`, path: 'event' });
  }
  if (recomputed !== undefined && recomputed !== e.hash) {
    const formula = chainVersion === 2 ? 'SHA-256(prevHash ‖ SHA-256(JCS(event)))' : 'SHA-256(prevHash ‖ JCS(event))';
    problems.push({
      kind: 'event-modified',
      message: `${formula} is ${recomputed}, but the entry hash is ${e.hash}: the event or prevHash was altered`,
      path: 'event',
    });
  }
  // 2. Position: leaf index = seq − 1.
  if (leafIndex !== e.seq - 1)
    problems.push({
      kind: 'leaf-index-mismatch',
      message: `leafIndex ${leafIndex} does not match seq ${e.seq} (expected ${e.seq - 1})`,
      path: 'leafIndex',
    });

  // 3. The checkpoint: signature, origin, size.
  const expectedOrigin = options.expectedOrigin ?? checkpointOrigin(e.chainId);
  const opened = openCheckpoint(bundle.checkpoint as string, keys, { expectedOrigin });
  let rootHash: string | undefined;
  let origin = '';
  let signedBy: string[] = [];
  if (!opened.ok) {
    const kind: ProofProblemKind =
      opened.kind === 'malformed' ? 'malformed-checkpoint' : opened.kind === 'ambiguous-key' ? 'unknown-key' : opened.kind;
    problems.push({ kind, message: opened.reason, path: 'checkpoint' });
  } else {
    rootHash = opened.checkpoint.rootHash;
    origin = opened.checkpoint.origin;
    signedBy = opened.verified.map((s) => `${s.name}+${s.keyIdHex}`);
    if (opened.checkpoint.treeSize !== treeSize) {
      problems.push({
        kind: 'tree-size-mismatch',
        message: `bundle treeSize ${treeSize} differs from the signed checkpoint's ${opened.checkpoint.treeSize}`,
        path: 'treeSize',
      });
    }
  }
  // 4. The inclusion path leads from the entry hash to the signed root.
  const computed = rootFromInclusionProof(
    leafIndex as number,
    treeSize as number,
    leafHash(Buffer.from(e.hash, 'hex')),
    (rawPath as string[]).map((h) => Buffer.from(h, 'hex')),
  );
  if (!computed.ok) {
    problems.push({ kind: 'inclusion-proof-invalid', message: computed.reason, path: 'inclusionPath' });
  } else if (rootHash !== undefined && hashToHex(computed.root) !== rootHash) {
    problems.push({
      kind: 'root-mismatch',
      message: `root computed from entry hash and inclusion path is ${hashToHex(computed.root)}, the signed checkpoint's root is ${rootHash}`,
      path: 'inclusionPath',
    });
  }
  if (problems.length > 0) return { ok: false, problems };
  const ev = bundle.event as Record<string, unknown>;
  return {
    ok: true,
    chainId: e.chainId,
    seq: e.seq,
    eventId: typeof ev.eventId === 'string' ? ev.eventId : undefined,
    leafIndex: leafIndex as number,
    treeSize: treeSize as number,
    rootHash: rootHash!,
    origin,
    signedBy,
  };
}
