/**
 * The checkpointer core: fed each chain's entries in seq order, it maintains the chain's Merkle
 * tree state (RFC 6962 compact right edge, integrity/merkle.ts) and, when the policy says so
 * (every N milliseconds or M entries), produces a signed C2SP checkpoint plus the RFC 6962 §2.1.2
 * consistency proof from the chain's previous checkpoint.
 *
 * It does no I/O: the pipeline persists the returned {@link CheckpointRecord}s in the WAL and the
 * exporters copy them to ClickHouse `audit_checkpoints` and cold storage. After a restart, pass the
 * last record of every chain as `resume` and feed the entries after it again.
 */
import { AuditError } from '@otel-audit/core';
import { GENESIS_HASH } from './chain-hash.ts';
import { checkpointOrigin, openCheckpoint, signCheckpoint } from './checkpoint.ts';
import { consistencyProof, hashToHex, isHashHex, type LeafSource, TreeState, type TreeStateSnapshot, verifyConsistency } from './merkle.ts';
import type { NoteSigner, VerifierKeys } from './note.ts';

/** Version of the {@link CheckpointRecord} JSON shape. */
export const CHECKPOINT_RECORD_VERSION = 1;

/**
 * A signed checkpoint of one chain, as stored beside the data (plain JSON). `note` is the
 * authoritative signed C2SP checkpoint; the other fields repeat or extend it for queries and are
 * checked against it by verifiers.
 */
export interface CheckpointRecord {
  /** Shape version, {@link CHECKPOINT_RECORD_VERSION}. */
  version: 1;
  /** Chain id `<tenantId>/<instanceId>`. */
  chainId: string;
  /** Checkpoint origin (first note line), {@link checkpointOrigin} of the chain. */
  origin: string;
  /** Leaves covered: entries with seq 1..treeSize. */
  treeSize: number;
  /** RFC 6962 root over the entry hashes of seq 1..treeSize, 64 hex digits. */
  rootHash: string;
  /** First seq newly covered by this checkpoint (previous treeSize + 1); absent when nothing new. */
  firstSeq?: number;
  /** Last seq covered (= treeSize). */
  lastSeq: number;
  /** The signed note (C2SP tlog-checkpoint). */
  note: string;
  /** Key name of the signature. */
  keyName: string;
  /** Key ID of the signature, 8 hex digits. */
  keyId: string;
  /** When the checkpoint was made (receiver clock), ISO 8601 UTC. */
  createdAt: string;
  /** Tree size of the chain's previous checkpoint (0 for the first). */
  previousTreeSize: number;
  /** Root of the previous checkpoint (hex), absent for the first. */
  previousRootHash?: string;
  /** RFC 6962 consistency proof from previousTreeSize to treeSize, hex hashes (empty for the first). */
  consistencyProof: string[];
  /** Hash of the last entry covered (its `hash`), so the next entry's prevHash can be checked; GENESIS for size 0. */
  lastEntryHash: string;
  /** Compact tree state at treeSize: lets a checkpointer resume and a verifier start mid-chain. */
  treeState: TreeStateSnapshot;
  /**
   * Roots of the tiles (perfect subtrees of 256 leaves, TILE_HEIGHT) completed since the previous
   * checkpoint: tile `first + i` covers leaves [256·(first+i), 256·(first+i+1)). A prover keeps
   * them (see `tiledLeafSource`) to build proofs from ≤ 256 leaves. Unsigned: a wrong tile only
   * yields a proof that fails verification.
   */
  tiles?: { first: number; hashes: string[] };
}

/** What a policy looks at for one chain. */
export interface CheckpointPolicyInput {
  /** Entries appended since the chain's last checkpoint. */
  pendingEntries: number;
  /** Milliseconds since the chain's last checkpoint (or since its first pending entry). */
  millisSinceLast: number;
}

/** Decides when a chain is due for a checkpoint. */
export interface CheckpointPolicy {
  /** Checkpoint at the latest after this many new entries. */
  readonly everyEntries: number;
  /** Checkpoint at the latest this many milliseconds after the previous one, if anything is new. */
  readonly everyMillis: number;
  /** True when the chain should be checkpointed now. Never due with no pending entry. */
  isDue(input: CheckpointPolicyInput): boolean;
}

/** Defaults: every 10,000 entries or 10 seconds, whichever comes first. */
export const DEFAULT_CHECKPOINT_POLICY = { everyEntries: 10_000, everyMillis: 10_000 } as const;

/**
 * A policy "every `everyMillis` ms or `everyEntries` entries, whichever first". Throws
 * `AUDIT_ERR_INVALID_CONFIG` for non-positive values.
 */
export function createCheckpointPolicy(options: { everyEntries?: number; everyMillis?: number } = {}): CheckpointPolicy {
  const everyEntries = options.everyEntries ?? DEFAULT_CHECKPOINT_POLICY.everyEntries;
  const everyMillis = options.everyMillis ?? DEFAULT_CHECKPOINT_POLICY.everyMillis;
  if (!Number.isSafeInteger(everyEntries) || everyEntries < 1)
    throw new AuditError('AUDIT_ERR_INVALID_CONFIG', `checkpoint everyEntries must be a positive integer, got ${everyEntries}`);
  if (!(Number.isFinite(everyMillis) && everyMillis > 0))
    throw new AuditError('AUDIT_ERR_INVALID_CONFIG', `checkpoint everyMillis must be a positive number, got ${everyMillis}`);
  return {
    everyEntries,
    everyMillis,
    isDue: ({ pendingEntries, millisSinceLast }) =>
      pendingEntries > 0 && (pendingEntries >= everyEntries || millisSinceLast >= everyMillis),
  };
}

/** Options of {@link createCheckpointer}. */
export interface CheckpointerOptions {
  /** The signing key (see integrity/keys.ts `loadSigner`). */
  signer: NoteSigner;
  /** When to checkpoint; a policy or its parameters. Default {@link DEFAULT_CHECKPOINT_POLICY}. */
  policy?: CheckpointPolicy | { everyEntries?: number; everyMillis?: number };
  /** Origin of a chain; default {@link checkpointOrigin}(chainId). */
  origin?: (chainId: string) => string;
  /** Clock in Unix milliseconds; default Date.now (so fake timers drive it). */
  now?: () => number;
  /** The last checkpoint record of each chain, to resume after a restart. */
  resume?: Iterable<CheckpointRecord>;
  /**
   * Optional leaf source per chain, used for a consistency proof when the leaves since the previous
   * checkpoint are not all in memory (normally they are).
   */
  leafSource?: (chainId: string) => LeafSource | undefined;
  /** For {@link Checkpointer.start}: receives every record produced by the timer. */
  onCheckpoint?: (record: CheckpointRecord) => void | Promise<void>;
  /** For {@link Checkpointer.start}: receives errors of timer-driven checkpoints. Default: rethrown asynchronously. */
  onError?: (error: unknown) => void;
  /** For {@link Checkpointer.start}: how often the policy is evaluated. Default min(1000, everyMillis). */
  tickMillis?: number;
}

/** Status of one chain in the checkpointer. */
export interface ChainCheckpointStatus {
  chainId: string;
  /** Entries appended so far (= last seq). */
  treeSize: number;
  /** Entries since the last checkpoint. */
  pendingEntries: number;
  /** Tree size of the last checkpoint (0 if none). */
  checkpointedSize: number;
  /** Milliseconds since the last checkpoint (or the first pending entry). */
  millisSinceLast: number;
}

/** The checkpointer (see module doc). */
export interface Checkpointer {
  /**
   * Add a chain entry. Entries of a chain must come in seq order starting after the resumed
   * checkpoint (or at 1); throws `AUDIT_ERR_INTEGRITY` otherwise (a pipeline bug, not data).
   * Returns whether the chain is now due.
   */
  append(entry: { chainId: string; seq: number; hash: string }): { due: boolean };
  /** Chains due for a checkpoint now according to the policy. */
  dueChains(): string[];
  /**
   * Make a checkpoint of `chainId` now (if it has new entries, or always with `force`). Resolves
   * with the record, or undefined when there was nothing new. Rejects only when a needed leaf
   * source fails.
   */
  checkpoint(chainId: string, options?: { force?: boolean }): Promise<CheckpointRecord | undefined>;
  /** Checkpoint every due chain; resolves with the new records. */
  checkpointDue(): Promise<CheckpointRecord[]>;
  /** Status of a chain, or undefined for an unknown chain. */
  status(chainId: string): ChainCheckpointStatus | undefined;
  /** Start evaluating the policy on a timer; records go to `onCheckpoint`. Idempotent. */
  start(): void;
  /** Stop the timer, then checkpoint every chain with pending entries (flush). */
  stop(): Promise<CheckpointRecord[]>;
}

interface ChainState {
  chainId: string;
  origin: string;
  tree: TreeState;
  lastHash: string;
  /** Frontier at the last checkpoint, and its size and root. */
  lastCheckpoint: { treeSize: number; rootHash: string; frontier: TreeState } | undefined;
  /** Entry hashes appended since the last checkpoint (32 bytes each), index = leaf − checkpointed size. */
  pending: HashRow;
  /** Whether `pending` holds every leaf since the last checkpoint. */
  pendingComplete: boolean;
  sinceMillis: number;
  /** Tiles completed since the last checkpoint. */
  tiles: { first: number; hashes: string[] } | undefined;
  /**
   * Every node completed since the last checkpoint, per level: `nodes[level]` holds the nodes of
   * that level from its `base` index on. Consistency proofs read them instead of re-hashing the new
   * leaves.
   */
  nodes: HashRow[];
}

/**
 * 32-byte hashes with consecutive indexes from `base`, in one growable byte array. Why not an array
 * of Buffers or hex strings: everything appended since the last checkpoint lives until the next one
 * (seconds at high rates), so per-entry objects outlived the young generation and were promoted,
 * and the receiver's main thread paid for them in scavenges of 10–35 ms (measured with --trace-gc
 * at 20,000 events/s). Bytes in one array are one object for the collector.
 */
class HashRow {
  readonly base: number;
  private bytes = Buffer.alloc(32 * 64);
  private n = 0;

  constructor(base: number) {
    this.base = base;
  }

  get length(): number {
    return this.n;
  }

  /** Append a 32-byte hash (copied). */
  push(hash: Uint8Array): void {
    this.reserve();
    this.bytes.set(hash, this.n * 32);
    this.n++;
  }

  /** Append a hash given as 64 hex digits. */
  pushHex(hex: string): void {
    this.reserve();
    this.bytes.write(hex, this.n * 32, 32, 'hex');
    this.n++;
  }

  /** The hash at absolute index `index` (a view; undefined outside the row). */
  at(index: number): Uint8Array | undefined {
    const i = index - this.base;
    if (i < 0 || i >= this.n) return undefined;
    return this.bytes.subarray(i * 32, i * 32 + 32);
  }

  private reserve(): void {
    if ((this.n + 1) * 32 <= this.bytes.length) return;
    const bigger = Buffer.alloc(this.bytes.length * 2);
    this.bytes.copy(bigger);
    this.bytes = bigger;
  }
}

function watchTree(state: ChainState): void {
  state.tree.onTile = (index, hash) => {
    if (state.tiles === undefined) state.tiles = { first: index, hashes: [] };
    state.tiles.hashes.push(hashToHex(hash));
  };
  state.tree.onNode = (level, index, hash) => {
    let row = state.nodes[level];
    if (row === undefined) {
      row = new HashRow(index);
      state.nodes[level] = row;
    }
    row.push(hash);
  };
}

/** Perfect subtree (level, index) hashes of a compact frontier, for proof generation. */
function frontierNodes(state: TreeState): Map<string, Buffer> {
  const map = new Map<string, Buffer>();
  const nodes = state.frontier();
  let start = 0;
  let remaining = state.size;
  let i = 0;
  for (let level = 60; level >= 0 && remaining > 0; level--) {
    const width = 2 ** level;
    if (remaining >= width) {
      map.set(`${level}:${start / width}`, nodes[i++]!);
      start += width;
      remaining -= width;
    }
  }
  return map;
}

/** Create a checkpointer; see {@link Checkpointer}. Throws `AUDIT_ERR_INTEGRITY` for an inconsistent `resume` record. */
export function createCheckpointer(options: CheckpointerOptions): Checkpointer {
  const policy: CheckpointPolicy =
    options.policy && 'isDue' in options.policy ? options.policy : createCheckpointPolicy(options.policy ?? {});
  const now = options.now ?? (() => Date.now());
  const originOf = options.origin ?? ((chainId: string) => checkpointOrigin(chainId));
  const signer = options.signer;
  const chains = new Map<string, ChainState>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let ticking = false;

  for (const record of options.resume ?? []) {
    const tree = TreeState.fromSnapshot(record.treeState);
    if (tree.size !== record.treeSize || hashToHex(tree.root()) !== record.rootHash) {
      throw new AuditError(
        'AUDIT_ERR_INTEGRITY',
        `resume record of chain ${record.chainId} at tree size ${record.treeSize}: tree state does not reproduce the root hash`,
      );
    }
    const state: ChainState = {
      chainId: record.chainId,
      origin: record.origin,
      tree,
      lastHash: record.lastEntryHash,
      lastCheckpoint: { treeSize: record.treeSize, rootHash: record.rootHash, frontier: tree.clone() },
      pending: new HashRow(0),
      pendingComplete: true,
      sinceMillis: now(),
      tiles: undefined,
      nodes: [],
    };
    watchTree(state);
    chains.set(record.chainId, state);
  }

  function chainFor(chainId: string): ChainState {
    let state = chains.get(chainId);
    if (state === undefined) {
      state = {
        chainId,
        origin: originOf(chainId),
        tree: new TreeState(),
        lastHash: GENESIS_HASH,
        lastCheckpoint: undefined,
        pending: new HashRow(0),
        pendingComplete: true,
        sinceMillis: now(),
        tiles: undefined,
        nodes: [],
      };
      watchTree(state);
      chains.set(chainId, state);
    }
    return state;
  }

  function statusOf(state: ChainState): ChainCheckpointStatus {
    const checkpointedSize = state.lastCheckpoint?.treeSize ?? 0;
    return {
      chainId: state.chainId,
      treeSize: state.tree.size,
      pendingEntries: state.tree.size - checkpointedSize,
      checkpointedSize,
      millisSinceLast: Math.max(0, now() - state.sinceMillis),
    };
  }

  async function proofFromPrevious(state: ChainState, newSize: number): Promise<string[]> {
    const prev = state.lastCheckpoint;
    if (prev === undefined || prev.treeSize === 0 || prev.treeSize === newSize) return [];
    const m = prev.treeSize;
    const nodes = frontierNodes(prev.frontier);
    const fallback = options.leafSource?.(state.chainId);
    const pending = state.pending;
    const complete = state.pendingComplete;
    const recent = state.nodes;
    const source: LeafSource = {
      getSubtreeHash: (level, index) => nodes.get(`${level}:${index}`) ?? recent[level]?.at(index),
      getLeaves: async (start, end) => {
        if (start >= m && complete) {
          const leaves: Uint8Array[] = [];
          for (let i = start; i < end; i++) leaves.push(pending.at(i - m)!);
          return leaves;
        }
        if (fallback === undefined) {
          throw new AuditError(
            'AUDIT_ERR_INTEGRITY',
            `chain ${state.chainId}: leaves [${start}, ${end}) are needed for a consistency proof but no leaf source is configured`,
          );
        }
        return fallback.getLeaves(start, end);
      },
    };
    const proof = await consistencyProof(source, m, newSize);
    return proof.map(hashToHex);
  }

  async function makeCheckpoint(state: ChainState): Promise<CheckpointRecord> {
    // Everything the record needs is captured, and the chain state moved on, synchronously: entries
    // appended while the consistency proof is computed (the pipeline's sequencer may run between
    // two awaits) belong to the next checkpoint and must neither leak into nor be lost by this one.
    const treeSize = state.tree.size;
    const root = state.tree.root();
    const rootHash = hashToHex(root);
    const prev = state.lastCheckpoint;
    const lastEntryHash = state.lastHash;
    const treeState = state.tree.snapshot();
    const tiles = state.tiles;
    const createdAt = new Date(now()).toISOString();
    const proofPromise = proofFromPrevious(state, treeSize); // captures pending leaves and nodes now
    state.tiles = undefined;
    state.nodes = [];
    state.lastCheckpoint = { treeSize, rootHash, frontier: state.tree.clone() };
    state.pending = new HashRow(0);
    state.pendingComplete = true;
    state.sinceMillis = now();
    const proofHex = await proofPromise;
    const note = signCheckpoint({ origin: state.origin, treeSize, rootHash: root }, signer);
    const previousTreeSize = prev?.treeSize ?? 0;
    const record: CheckpointRecord = {
      version: CHECKPOINT_RECORD_VERSION,
      chainId: state.chainId,
      origin: state.origin,
      treeSize,
      rootHash,
      ...(treeSize > previousTreeSize ? { firstSeq: previousTreeSize + 1 } : {}),
      lastSeq: treeSize,
      note,
      keyName: signer.name,
      keyId: signer.keyIdHex,
      createdAt,
      previousTreeSize,
      ...(prev ? { previousRootHash: prev.rootHash } : {}),
      consistencyProof: proofHex,
      lastEntryHash,
      treeState,
      ...(tiles ? { tiles } : {}),
    };
    return record;
  }

  const checkpointer: Checkpointer = {
    append(entry) {
      const state = chainFor(entry.chainId);
      const expected = state.tree.size + 1;
      if (entry.seq !== expected) {
        throw new AuditError('AUDIT_ERR_INTEGRITY', `checkpointer: chain ${entry.chainId} expected seq ${expected}, got ${entry.seq}`);
      }
      if (!isHashHex(entry.hash))
        throw new AuditError(
          'AUDIT_ERR_INTEGRITY',
          `checkpointer: chain ${entry.chainId} seq ${entry.seq}: hash is not 64 lower-case hex digits`,
        );
      state.tree.appendTrustedHex(entry.hash);
      state.pending.pushHex(entry.hash);
      state.lastHash = entry.hash;
      const pendingEntries = state.tree.size - (state.lastCheckpoint?.treeSize ?? 0);
      return { due: policy.isDue({ pendingEntries, millisSinceLast: now() - state.sinceMillis }) };
    },
    dueChains() {
      return [...chains.values()].filter((s) => policy.isDue(statusOf(s))).map((s) => s.chainId);
    },
    async checkpoint(chainId, opts = {}) {
      const state = chains.get(chainId);
      if (state === undefined) {
        if (!opts.force) return undefined;
        return makeCheckpoint(chainFor(chainId));
      }
      if (!opts.force && statusOf(state).pendingEntries === 0) return undefined;
      return makeCheckpoint(state);
    },
    async checkpointDue() {
      const out: CheckpointRecord[] = [];
      for (const chainId of checkpointer.dueChains()) {
        const record = await checkpointer.checkpoint(chainId);
        if (record) out.push(record);
      }
      return out;
    },
    status(chainId) {
      const state = chains.get(chainId);
      return state ? statusOf(state) : undefined;
    },
    start() {
      if (timer !== undefined) return;
      const tick = options.tickMillis ?? Math.min(1000, policy.everyMillis);
      timer = setInterval(() => {
        if (ticking) return;
        ticking = true;
        void (async () => {
          try {
            for (const record of await checkpointer.checkpointDue()) await options.onCheckpoint?.(record);
          } catch (err) {
            if (options.onError) options.onError(err);
            else
              queueMicrotask(() => {
                throw err;
              });
          } finally {
            ticking = false;
          }
        })();
      }, tick);
      timer.unref?.();
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      const out: CheckpointRecord[] = [];
      for (const state of chains.values()) {
        if (statusOf(state).pendingEntries > 0) {
          const record = await makeCheckpoint(state);
          await options.onCheckpoint?.(record);
          out.push(record);
        }
      }
      return out;
    },
  };
  return checkpointer;
}

/** One problem with a checkpoint record, with a stable `kind`. */
export interface CheckpointRecordProblem {
  kind: 'malformed-checkpoint' | 'bad-signature' | 'unknown-key' | 'origin-mismatch' | 'inconsistent-checkpoint';
  message: string;
}

/** Outcome of {@link verifyCheckpointRecord}. */
export type CheckpointRecordCheck = { ok: true } | { ok: false; problems: CheckpointRecordProblem[] };

/**
 * Check a checkpoint record on its own: the signed note verifies with a trusted key, its origin is
 * the chain's, the record's fields agree with the signed text, the tree state reproduces the root,
 * and — with `previous` — the consistency proof links it to the previous checkpoint (RFC 9162
 * §2.1.4.2). Problems are results.
 */
export function verifyCheckpointRecord(
  record: CheckpointRecord,
  keys: VerifierKeys,
  options: { previous?: CheckpointRecord; expectedOrigin?: string } = {},
): CheckpointRecordCheck {
  const problems: CheckpointRecordProblem[] = [];
  const expectedOrigin =
    options.expectedOrigin ?? (typeof record.chainId === 'string' && record.chainId ? checkpointOrigin(record.chainId) : undefined);
  const opened = openCheckpoint(String(record.note), keys, expectedOrigin === undefined ? {} : { expectedOrigin });
  if (!opened.ok) {
    const kind = opened.kind === 'malformed' ? 'malformed-checkpoint' : opened.kind === 'ambiguous-key' ? 'unknown-key' : opened.kind;
    problems.push({ kind, message: opened.reason });
    return { ok: false, problems };
  }
  const cp = opened.checkpoint;
  if (
    cp.treeSize !== record.treeSize ||
    cp.rootHash !== record.rootHash ||
    cp.origin !== record.origin ||
    record.lastSeq !== record.treeSize
  ) {
    problems.push({
      kind: 'malformed-checkpoint',
      message: `record fields (origin ${record.origin}, treeSize ${record.treeSize}, lastSeq ${record.lastSeq}, rootHash ${record.rootHash}) disagree with the signed note (origin ${cp.origin}, treeSize ${cp.treeSize}, rootHash ${cp.rootHash})`,
    });
  }
  try {
    const tree = TreeState.fromSnapshot(record.treeState);
    if (tree.size !== cp.treeSize || hashToHex(tree.root()) !== cp.rootHash)
      problems.push({ kind: 'malformed-checkpoint', message: `tree state (size ${tree.size}) does not reproduce the signed root` });
  } catch (err) {
    problems.push({ kind: 'malformed-checkpoint', message: (err as Error).message });
  }
  const prev = options.previous;
  if (prev !== undefined) {
    const proof = Array.isArray(record.consistencyProof) ? record.consistencyProof : [];
    if (record.previousTreeSize !== prev.treeSize || (record.previousRootHash ?? undefined) !== prev.rootHash) {
      problems.push({
        kind: 'inconsistent-checkpoint',
        message: `checkpoint at tree size ${cp.treeSize} claims previous (${record.previousTreeSize}, ${record.previousRootHash ?? 'none'}) but the previous checkpoint is (${prev.treeSize}, ${prev.rootHash})`,
      });
    } else if (!proof.every(isHashHex)) {
      problems.push({ kind: 'inconsistent-checkpoint', message: 'consistency proof contains a value that is not a 64-hex hash' });
    } else {
      const check = verifyConsistency(
        prev.treeSize,
        cp.treeSize,
        Buffer.from(prev.rootHash, 'hex'),
        Buffer.from(cp.rootHash, 'hex'),
        proof.map((h) => Buffer.from(h, 'hex')),
      );
      if (!check.ok)
        problems.push({
          kind: 'inconsistent-checkpoint',
          message: `checkpoint at tree size ${cp.treeSize} is not consistent with the previous one at ${prev.treeSize}: ${check.reason}`,
        });
    }
  }
  return problems.length === 0 ? { ok: true } : { ok: false, problems };
}
