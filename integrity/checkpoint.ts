/**
 * Transparency-log checkpoints (https://c2sp.org/tlog-checkpoint): a signed note whose text is
 *
 *   <origin>\n
 *   <tree size, ASCII decimal, no leading zeroes>\n
 *   <base64 RFC 6962 root hash>\n
 *   [<extension line>\n ...]          (optional, non-empty; otel-audit writes none)
 *
 * One chain (tenant × receiver instance) is one log; its origin is {@link checkpointOrigin}.
 * Parsing is strict and failures are results that say what is wrong.
 */
import { AuditError } from '@otel-audit/core';
import { HASH_SIZE, hashToHex } from './merkle.ts';
import { type NoteSignature, type NoteSigner, openNote, signNote, type VerifierKeys } from './note.ts';

/** Default first path segment of every otel-audit origin. */
export const ORIGIN_PREFIX = 'otel-audit';

/** The parsed text of a checkpoint. */
export interface Checkpoint {
  /** Log identity, e.g. `otel-audit/host-1/acme`. */
  origin: string;
  /** Number of leaves (= the last seq covered, since seq starts at 1). */
  treeSize: number;
  /** RFC 6962 root hash, 64 lower-case hex digits. */
  rootHash: string;
  /** Extension lines (without newline), usually empty. */
  extensions: string[];
}

function encodeSegment(segment: string): string {
  // encodeURIComponent escapes '/', '+', spaces and controls: the origin stays a schema-less URL path
  // with no Unicode spaces or '+' (tlog-checkpoint §Note text).
  return encodeURIComponent(segment);
}

/**
 * The checkpoint origin of a chain: `otel-audit/<instanceId>/<tenantId>` (segments URL-encoded).
 * `chainId` is `<tenantId>/<instanceId>` (receiver/contracts.ts); it is split at its last '/'. A
 * chain id without '/' maps to `otel-audit/<chainId>`. `prefix` replaces `otel-audit` when a
 * deployment wants its own namespace (e.g. `audit.example.com`).
 */
export function checkpointOrigin(chainId: string, prefix: string = ORIGIN_PREFIX): string {
  if (typeof chainId !== 'string' || chainId.length === 0)
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'chainId must be a non-empty string');
  const cut = chainId.lastIndexOf('/');
  if (cut <= 0 || cut === chainId.length - 1) return `${prefix}/${encodeSegment(chainId)}`;
  const tenantId = chainId.slice(0, cut);
  const instanceId = chainId.slice(cut + 1);
  return `${prefix}/${encodeSegment(instanceId)}/${encodeSegment(tenantId)}`;
}

function validOrigin(origin: string): string | undefined {
  if (typeof origin !== 'string' || origin.length === 0) return 'origin is empty';
  if (/[\u0000-\u001f]/.test(origin)) return 'origin contains a control character or newline';
  return undefined;
}

/**
 * The checkpoint text (the note body) for a tree head. `rootHash` is 32 bytes or 64 hex digits.
 * Throws `AUDIT_ERR_INVALID_ARGUMENT` for an empty origin, a bad size or root, or an empty or
 * multi-line extension.
 */
export function formatCheckpoint(checkpoint: {
  origin: string;
  treeSize: number;
  rootHash: Uint8Array | string;
  extensions?: ReadonlyArray<string>;
}): string {
  const bad = validOrigin(checkpoint.origin);
  if (bad) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', bad);
  if (!Number.isSafeInteger(checkpoint.treeSize) || checkpoint.treeSize < 0) {
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `tree size must be a non-negative safe integer, got ${checkpoint.treeSize}`);
  }
  const root = typeof checkpoint.rootHash === 'string' ? Buffer.from(checkpoint.rootHash, 'hex') : Buffer.from(checkpoint.rootHash);
  if (root.length !== HASH_SIZE || (typeof checkpoint.rootHash === 'string' && !/^[0-9a-f]{64}$/.test(checkpoint.rootHash))) {
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'root hash must be 32 bytes (64 lower-case hex digits)');
  }
  const ext = checkpoint.extensions ?? [];
  for (const line of ext) {
    if (line.length === 0 || /[\u0000-\u001f]/.test(line))
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'extension lines must be non-empty single lines');
  }
  return [checkpoint.origin, String(checkpoint.treeSize), root.toString('base64'), ...ext].join('\n') + '\n';
}

/** Outcome of {@link parseCheckpoint}. */
export type CheckpointParse = { ok: true; checkpoint: Checkpoint } | { ok: false; reason: string };

/**
 * Parse a checkpoint text strictly (tlog-checkpoint §Note text): at least three lines, each ending in
 * a newline; non-empty origin; decimal tree size without leading zeroes and ≤ 2^53 − 1; canonical
 * base64 of exactly 32 bytes; non-empty extension lines.
 */
export function parseCheckpoint(text: string): CheckpointParse {
  if (typeof text !== 'string') return { ok: false, reason: 'checkpoint text is not a string' };
  if (!text.endsWith('\n')) return { ok: false, reason: 'checkpoint text does not end with a newline' };
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3)
    return { ok: false, reason: `checkpoint needs at least 3 lines (origin, tree size, root hash), has ${lines.length}` };
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  const bad = validOrigin(origin);
  if (bad) return { ok: false, reason: `checkpoint line 1: ${bad}` };
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText))
    return { ok: false, reason: `checkpoint line 2: tree size "${sizeText.slice(0, 40)}" is not a decimal number without leading zeroes` };
  const treeSize = Number(sizeText);
  if (!Number.isSafeInteger(treeSize)) return { ok: false, reason: `checkpoint line 2: tree size ${sizeText} is too large` };
  const root = /^[A-Za-z0-9+/]{43}=$/.test(rootText) ? Buffer.from(rootText, 'base64') : undefined;
  if (root === undefined || root.length !== HASH_SIZE || root.toString('base64') !== rootText) {
    return { ok: false, reason: `checkpoint line 3: root hash "${rootText.slice(0, 60)}" is not the base64 of 32 bytes` };
  }
  const empty = extensions.findIndex((l) => l.length === 0);
  if (empty >= 0) return { ok: false, reason: `checkpoint line ${empty + 4}: extension lines must not be empty` };
  return { ok: true, checkpoint: { origin, treeSize, rootHash: hashToHex(root), extensions } };
}

/** Sign a checkpoint: returns the signed note (checkpoint text, blank line, signature lines). */
export function signCheckpoint(
  checkpoint: { origin: string; treeSize: number; rootHash: Uint8Array | string; extensions?: ReadonlyArray<string> },
  signers: NoteSigner | ReadonlyArray<NoteSigner>,
): string {
  return signNote(formatCheckpoint(checkpoint), Array.isArray(signers) ? signers : [signers as NoteSigner]);
}

/** Why a signed checkpoint was rejected. */
export type CheckpointFailureKind = 'malformed' | 'bad-signature' | 'unknown-key' | 'ambiguous-key' | 'origin-mismatch';

/** Outcome of {@link openCheckpoint}. */
export type CheckpointOpen =
  | { ok: true; checkpoint: Checkpoint; verified: NoteSignature[]; unverified: NoteSignature[] }
  | { ok: false; kind: CheckpointFailureKind; reason: string; checkpoint?: Checkpoint };

/**
 * Verify a signed checkpoint note against trusted keys and parse its text. With `expectedOrigin`,
 * a checkpoint of another log fails with `origin-mismatch`. The parsed checkpoint is included in
 * failures when the text itself was well formed (for precise problem reports).
 */
export function openCheckpoint(note: string, keys: VerifierKeys, options: { expectedOrigin?: string } = {}): CheckpointOpen {
  const opened = openNote(note, keys);
  const textForParse = opened.ok ? opened.text : opened.note?.text;
  const parsed = textForParse === undefined ? undefined : parseCheckpoint(textForParse);
  if (!opened.ok) {
    return { ok: false, kind: opened.kind, reason: opened.reason, ...(parsed?.ok ? { checkpoint: parsed.checkpoint } : {}) };
  }
  if (!parsed!.ok) return { ok: false, kind: 'malformed', reason: parsed!.reason };
  const checkpoint = parsed!.checkpoint;
  if (options.expectedOrigin !== undefined && checkpoint.origin !== options.expectedOrigin) {
    return {
      ok: false,
      kind: 'origin-mismatch',
      reason: `checkpoint origin "${checkpoint.origin}" is not the expected "${options.expectedOrigin}"`,
      checkpoint,
    };
  }
  return { ok: true, checkpoint, verified: opened.verified, unverified: opened.unverified };
}
