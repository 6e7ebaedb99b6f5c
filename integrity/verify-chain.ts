/**
 * Store-agnostic chain verification. A store (WAL, ClickHouse, archive) feeds its entries — ordered
 * by (chain, seq) — and its checkpoint records; this recomputes every entry hash from the event
 * (chain-hash.ts definition), checks seq contiguity and prev links, rebuilds each chain's RFC 6962
 * tree and compares it with every signed checkpoint, and checks the checkpoints' signatures and
 * consistency. Every problem is named with a stable `kind`, the chain and the seq (or tree size).
 *
 * Locating tampering:
 * - `modified`: the stored hash is not the entry hash of its chain format (v1 SHA-256(prevHash ‖
 *   JCS(event)), v2 SHA-256(prevHash ‖ SHA-256(JCS(event)))) — the event was edited.
 * - `missing`: a seq gap (deleted entries); `truncated`: a checkpoint covers seqs the store lacks.
 * - `inserted`: two entries claim the same seq; the one that does not fit the chain is named.
 * - `reordered`: entries whose hash links place them at another seq than stored (e.g. swapped seq).
 * - `bad-prev-link`: an entry's prevHash matches no entry — its predecessor was re-hashed after an
 *   edit, or its prevHash was altered.
 * - `root-mismatch`: the entries of a checkpoint's range do not reproduce its signed root.
 * - checkpoint problems: `bad-signature`, `unknown-key`, `malformed-checkpoint`, `origin-mismatch`,
 *   `inconsistent-checkpoint`, `missing-checkpoint`.
 */
import type { AuditEvent } from '@otel-audit/schema';
import { GENESIS_HASH, parseChainVersion } from './chain-hash.ts';
import { checkpointOrigin } from './checkpoint.ts';
import { type CheckpointRecord, verifyCheckpointRecord } from './checkpointer.ts';
import { fastEntryHash } from './entry-hash.ts';
import { hashToHex, isHashHex, TreeState } from './merkle.ts';
import { toVerifierSet, type VerifierKeys } from './note.ts';

/** One chain entry as a store provides it. */
export interface ChainEntryInput {
  chainId: string;
  seq: number;
  prevHash: string;
  hash: string;
  /** The normalized event (for stores of rows: `auditRowToEvent`). */
  event: AuditEvent;
  /**
   * Chain format of `hash` (integrity/chain-hash.ts): 1 = SHA-256(prevHash ‖ JCS(event)), 2 =
   * SHA-256(prevHash ‖ SHA-256(JCS(event))). Absent = 1 (entries written before formats were
   * versioned). Any other value makes the entry malformed.
   */
  chainVersion?: number;
  /**
   * Optional: the entry hash in its chain format already recomputed by the feeder from `event` (e.g. in
   * worker threads, in parallel). When present the verifier uses it instead of hashing again; never
   * set it from the store's stored hash.
   */
  recomputedHash?: string;
}

/** Stable problem kinds of {@link verifyChainEntries}. */
export type ChainProblemKind =
  | 'modified'
  | 'missing'
  | 'truncated'
  | 'inserted'
  | 'reordered'
  | 'bad-prev-link'
  | 'malformed-entry'
  | 'root-mismatch'
  | 'bad-signature'
  | 'unknown-key'
  | 'malformed-checkpoint'
  | 'origin-mismatch'
  | 'inconsistent-checkpoint'
  | 'missing-checkpoint';

/** One problem found. */
export interface ChainProblem {
  kind: ChainProblemKind;
  chainId: string;
  /** The seq concerned (first of a range). */
  seq?: number;
  /** Last seq of a range (inclusive), when the problem covers several. */
  seqTo?: number;
  /** Tree size of the checkpoint concerned. */
  treeSize?: number;
  /** What is wrong, precisely. */
  message: string;
}

/** Counters of a verification run. */
export interface ChainVerifyStats {
  chains: number;
  entries: number;
  /** Checkpoint records received. */
  checkpoints: number;
  /** Checkpoints whose root was recomputed from the entries and matched. */
  checkpointsVerified: number;
  /** Valid checkpoints whose root could not be recomputed (range not fully present). */
  checkpointsUnchecked: number;
  /**
   * Entries after the last valid checkpoint of their chain: hash-checked and linked, but not yet
   * covered by a signature (see the threat model in docs/integrity.md).
   */
  uncoveredEntries: number;
  /** Problems found (including those not listed past `maxProblems`). */
  problemCount: number;
  durationMillis: number;
}

/** Outcome of {@link verifyChainEntries}. */
export interface ChainVerifyResult {
  /** True when no problem was found. */
  ok: boolean;
  problems: ChainProblem[];
  stats: ChainVerifyStats;
}

/** Options of {@link verifyChainEntries}. */
export interface ChainVerifyOptions {
  /** Checkpoint records of the chains (any order, any chains). */
  checkpoints: Iterable<CheckpointRecord> | AsyncIterable<CheckpointRecord>;
  /** Trusted verifier keys (all keys ever used, for rotation). */
  verifierKeys: VerifierKeys;
  /** Origin of a chain; default {@link checkpointOrigin}. */
  expectedOrigin?: (chainId: string) => string;
  /** First seq the feed is expected to contain per chain (range verification). Default 1. */
  fromSeq?: number;
  /** Last seq the feed covers (range verification); checkpoints beyond are not required. Default: no limit. */
  toSeq?: number;
  /** Stop listing problems after this many (they are still counted). Default 10,000. */
  maxProblems?: number;
  /** Clean links needed to close a tampered region before it is analysed. Default 64. */
  regionCloseAfter?: number;
  /** Called every `progressEvery` entries with the count so far. */
  onProgress?: (entries: number) => void;
  /** Default 100,000. */
  progressEvery?: number;
}

interface Entry {
  seq: number;
  prevHash: string;
  hash: string;
  /** Recomputed hash (what the event really hashes to). */
  actual: string;
}

interface ChainRun {
  chainId: string;
  /** Valid checkpoints by tree size. */
  checkpoints: Map<number, CheckpointRecord>;
  /** Sorted sizes of valid checkpoints. */
  sizes: number[];
  tree: TreeState | undefined;
  /** Last committed entry (label order). */
  last: Entry | undefined;
  /** Entries sharing the current seq, not yet committed. */
  held: Entry[];
  /** Open tampered region: anchor first. */
  region: Entry[] | undefined;
  regionAnchorPos: number;
  cleanRun: number;
  /** Tree size of the last root check (for ranges in messages). */
  lastCheckedSize: number;
  /** Checkpoints whose root was compared (matched or not). */
  rootChecks: number;
}

const REGION_LIMIT = 100_000;

/**
 * Verify chains fed by a store, ordered by (chain, seq). `entries` is an array / sync iterable, or
 * an async iterable of entries or of batches (arrays) of entries — batches avoid a promise per entry.
 * Never throws for bad data: only when the entry iterator itself throws, or for an unparsable
 * verifier key string (`AUDIT_ERR_KEY`). See the module doc for what is checked and the problem kinds.
 */
export async function verifyChainEntries(
  entries: AsyncIterable<ChainEntryInput | ReadonlyArray<ChainEntryInput>> | Iterable<ChainEntryInput>,
  options: ChainVerifyOptions,
): Promise<ChainVerifyResult> {
  const started = performance.now();
  const keys = toVerifierSet(options.verifierKeys);
  const originOf = options.expectedOrigin ?? ((id: string) => checkpointOrigin(id));
  const fromSeq = options.fromSeq ?? 1;
  const toSeq = options.toSeq ?? Number.MAX_SAFE_INTEGER;
  const maxProblems = options.maxProblems ?? 10_000;
  const closeAfter = options.regionCloseAfter ?? 64;
  const progressEvery = options.progressEvery ?? 100_000;
  const problems: ChainProblem[] = [];
  const stats: ChainVerifyStats = {
    chains: 0,
    entries: 0,
    checkpoints: 0,
    checkpointsVerified: 0,
    checkpointsUnchecked: 0,
    uncoveredEntries: 0,
    problemCount: 0,
    durationMillis: 0,
  };
  const report = (p: ChainProblem): void => {
    stats.problemCount++;
    if (problems.length < maxProblems) problems.push(p);
  };

  // 1. Checkpoints: group, check each on its own and against its predecessor.
  const byChain = new Map<string, CheckpointRecord[]>();
  for await (const record of options.checkpoints as AsyncIterable<CheckpointRecord>) {
    stats.checkpoints++;
    const chainId = typeof record?.chainId === 'string' ? record.chainId : '';
    const list = byChain.get(chainId) ?? [];
    list.push(record);
    byChain.set(chainId, list);
  }
  const valid = new Map<string, Map<number, CheckpointRecord>>();
  const suspect = new Set<CheckpointRecord>();
  for (const [chainId, list] of byChain) {
    list.sort((a, b) => (a.treeSize ?? 0) - (b.treeSize ?? 0));
    const good = new Map<number, CheckpointRecord>();
    const received = new Set(list.map((r) => r.treeSize));
    let previous: CheckpointRecord | undefined;
    for (const record of list) {
      const treeSize = Number.isSafeInteger(record.treeSize) ? record.treeSize : undefined;
      if (!chainId) {
        report({ kind: 'malformed-checkpoint', chainId, message: 'checkpoint record without chainId' });
        continue;
      }
      const same = treeSize === undefined ? undefined : good.get(treeSize);
      if (same !== undefined) {
        if (same.rootHash !== record.rootHash) {
          const alone = verifyCheckpointRecord(record, keys, { expectedOrigin: originOf(chainId) });
          if (alone.ok)
            report({
              kind: 'inconsistent-checkpoint',
              chainId,
              treeSize,
              message: `two validly signed checkpoints for tree size ${treeSize} with different roots (${same.rootHash} and ${record.rootHash}): the log forked`,
            });
          else
            for (const p of alone.problems)
              report({ kind: p.kind, chainId, treeSize, message: `checkpoint at tree size ${treeSize}: ${p.message}` });
        }
        continue;
      }
      const linked = previous !== undefined && record.previousTreeSize === previous.treeSize;
      const check = verifyCheckpointRecord(record, keys, { expectedOrigin: originOf(chainId), ...(linked ? { previous } : {}) });
      if (!check.ok) {
        for (const p of check.problems)
          report({
            kind: p.kind,
            chainId,
            ...(treeSize !== undefined ? { treeSize } : {}),
            message: `checkpoint at tree size ${treeSize ?? '?'}: ${p.message}`,
          });
        if (check.problems.some((p) => p.kind !== 'inconsistent-checkpoint')) continue;
        // Validly signed but contradicting its predecessor: still compared with the entries (to say
        // which one the data supports), never used as a predecessor or as a frontier to resume from.
        good.set(record.treeSize, record);
        suspect.add(record);
        continue;
      }
      if (
        !linked &&
        !received.has(record.previousTreeSize) &&
        record.previousTreeSize > 0 &&
        record.previousTreeSize >= fromSeq - 1 &&
        record.previousTreeSize <= toSeq &&
        (previous === undefined || record.previousTreeSize > previous.treeSize)
      ) {
        report({
          kind: 'missing-checkpoint',
          chainId,
          treeSize: record.previousTreeSize,
          message: `checkpoint at tree size ${record.treeSize} follows a checkpoint at tree size ${record.previousTreeSize} that is not among the stored checkpoints`,
        });
      }
      good.set(record.treeSize, record);
      previous = record;
    }
    valid.set(chainId, good);
  }

  // 2. Entries.
  const runs = new Map<string, ChainRun>();
  const runFor = (chainId: string): ChainRun => {
    let run = runs.get(chainId);
    if (run === undefined) {
      const cps = valid.get(chainId) ?? new Map<number, CheckpointRecord>();
      run = {
        chainId,
        checkpoints: cps,
        sizes: [...cps.keys()].sort((a, b) => a - b),
        tree: fromSeq === 1 ? new TreeState() : undefined,
        last: undefined,
        held: [],
        region: undefined,
        regionAnchorPos: 0,
        cleanRun: 0,
        lastCheckedSize: 0,
        rootChecks: 0,
      };
      if (run.tree === undefined) {
        const anchor = cps.get(fromSeq - 1);
        if (anchor && !suspect.has(anchor)) {
          run.tree = TreeState.fromSnapshot(anchor.treeState);
          run.lastCheckedSize = anchor.treeSize;
        }
      }
      runs.set(chainId, run);
      stats.chains++;
    }
    return run;
  };

  const closeRegion = (run: ChainRun): void => {
    const region = run.region;
    if (region === undefined) return;
    run.region = undefined;
    run.cleanRun = 0;
    analyseRegion(run.chainId, region, run.regionAnchorPos, report);
  };

  /** Commit one entry (chosen among same-seq candidates) in label order. */
  const commit = (run: ChainRun, e: Entry): void => {
    if (e.actual !== e.hash) {
      report({
        kind: 'modified',
        chainId: run.chainId,
        seq: e.seq,
        message: `seq ${e.seq}: stored hash ${e.hash} but the event hashes to ${e.actual} (in its chain format): the event was modified`,
      });
    }
    const prev = run.last;
    const contiguous = prev !== undefined && prev.seq === e.seq - 1;
    // Link check in label order; anomalies open a region analysed by hash links.
    let expectedPrev: string | undefined;
    if (contiguous) expectedPrev = prev!.hash;
    else if (e.seq === 1) expectedPrev = GENESIS_HASH;
    else if (prev === undefined) {
      const anchor = run.checkpoints.get(e.seq - 1);
      expectedPrev = anchor && isHashHex(anchor.lastEntryHash) ? anchor.lastEntryHash : undefined;
    }
    const linkOk = expectedPrev === undefined || e.prevHash === expectedPrev;
    if (run.region !== undefined) {
      run.region.push(e);
      if (linkOk && contiguous) run.cleanRun++;
      else run.cleanRun = 0;
      if (run.cleanRun >= closeAfter || run.region.length >= REGION_LIMIT) closeRegion(run);
    } else if (!linkOk) {
      if (contiguous) {
        run.region = [prev!, e];
        run.regionAnchorPos = prev!.seq;
      } else {
        // First entry of the chain (or after a gap) whose prevHash is not the expected one.
        run.region = [{ seq: e.seq - 1, prevHash: '', hash: expectedPrev!, actual: expectedPrev! }, e];
        run.regionAnchorPos = e.seq - 1;
      }
      run.cleanRun = 0;
    }
    // Merkle tree over the recomputed hashes (what the events really are).
    if (run.tree !== undefined) {
      if (run.tree.size === e.seq - 1) {
        run.tree.appendTrustedHex(e.actual);
        const cp = run.checkpoints.get(e.seq);
        if (cp !== undefined) {
          const root = hashToHex(run.tree.root());
          run.rootChecks++;
          if (root === cp.rootHash) stats.checkpointsVerified++;
          else {
            const from = run.lastCheckedSize + 1;
            report({
              kind: 'root-mismatch',
              chainId: run.chainId,
              seq: from,
              seqTo: e.seq,
              treeSize: e.seq,
              message: `entries seq ${from}..${e.seq} do not reproduce the signed root of the checkpoint at tree size ${e.seq} (computed ${root}, signed ${cp.rootHash}): an entry in that range was modified, inserted, removed or moved`,
            });
            // Continue from the signed frontier so later ranges are judged on their own (the tree state
            // of a valid checkpoint reproduces its signed root: verifyCheckpointRecord checked it).
            if (!suspect.has(cp)) run.tree = TreeState.fromSnapshot(cp.treeState);
          }
          run.lastCheckedSize = e.seq;
        }
      } else {
        run.tree = undefined;
      }
    }
    if (run.tree === undefined) {
      // Re-anchor on a signed checkpoint's frontier right before the next entry, if there is one.
      const anchor = run.checkpoints.get(e.seq);
      if (anchor !== undefined && !suspect.has(anchor)) {
        try {
          run.tree = TreeState.fromSnapshot(anchor.treeState);
          run.lastCheckedSize = anchor.treeSize;
        } catch {
          run.tree = undefined;
        }
      }
    }
    run.last = e;
  };

  /** Resolve the held same-seq group when the next seq (or the end) arrives. */
  const flushHeld = (run: ChainRun, next: Entry | undefined): void => {
    const held = run.held;
    if (held.length === 0) return;
    run.held = [];
    if (held.length === 1) {
      commit(run, held[0]!);
      return;
    }
    const prevHash = run.last && run.last.seq === held[0]!.seq - 1 ? run.last.hash : held[0]!.seq === 1 ? GENESIS_HASH : undefined;
    const score = (c: Entry): number =>
      (c.actual === c.hash ? 1 : 0) +
      (prevHash !== undefined && c.prevHash === prevHash ? 2 : 0) +
      (next !== undefined && next.prevHash === c.hash ? 4 : 0);
    let best = held[0]!;
    for (const c of held) if (score(c) > score(best)) best = c;
    for (const c of held) {
      if (c === best) continue;
      report({
        kind: 'inserted',
        chainId: run.chainId,
        seq: c.seq,
        message: `seq ${c.seq} is stored ${held.length} times; the entry with hash ${c.hash} does not fit the chain (the genuine one has hash ${best.hash}): a forged or duplicated entry was inserted`,
      });
    }
    commit(run, best);
  };

  const processEntry = (raw: ChainEntryInput): void => {
    stats.entries++;
    if (stats.entries % progressEvery === 0) options.onProgress?.(stats.entries);
    const chainId = typeof raw?.chainId === 'string' ? raw.chainId : '';
    if (
      !chainId ||
      !Number.isSafeInteger(raw.seq) ||
      raw.seq < 1 ||
      !isHashHex(raw.prevHash) ||
      !isHashHex(raw.hash) ||
      typeof raw.event !== 'object' ||
      raw.event === null
    ) {
      report({
        kind: 'malformed-entry',
        chainId,
        ...(Number.isSafeInteger(raw?.seq) ? { seq: raw.seq } : {}),
        message: 'entry lacks a chainId, a positive integer seq, 64-hex prevHash and hash, or an event object',
      });
      return;
    }
    if (raw.seq < fromSeq || raw.seq > toSeq) return;
    const run = runFor(chainId);
    const version = parseChainVersion(raw.chainVersion);
    if (version === undefined) {
      report({
        kind: 'malformed-entry',
        chainId,
        seq: raw.seq,
        message: `seq ${raw.seq}: unknown chainVersion ${JSON.stringify(raw.chainVersion)} (known: 1, 2)`,
      });
      return;
    }
    let actual: string;
    try {
      actual =
        raw.recomputedHash !== undefined && isHashHex(raw.recomputedHash)
          ? raw.recomputedHash
          : fastEntryHash(raw.prevHash, raw.event, version);
    } catch (err) {
      report({
        kind: 'malformed-entry',
        chainId,
        seq: raw.seq,
        message: `seq ${raw.seq}: event cannot be canonicalized: ${(err as Error).message}`,
      });
      actual = '';
    }
    const e: Entry = { seq: raw.seq, prevHash: raw.prevHash, hash: raw.hash, actual };
    const current = run.held[0]?.seq ?? run.last?.seq ?? fromSeq - 1;
    if (e.seq === current && run.held.length > 0) {
      run.held.push(e);
      return;
    }
    if (e.seq <= current) {
      report({ kind: 'reordered', chainId, seq: e.seq, message: `seq ${e.seq} appears after seq ${current} in the store's order` });
      return;
    }
    flushHeld(run, e);
    const lastSeq = run.last?.seq ?? fromSeq - 1;
    if (e.seq > lastSeq + 1) {
      closeRegion(run);
      report({
        kind: 'missing',
        chainId,
        seq: lastSeq + 1,
        seqTo: e.seq - 1,
        message:
          e.seq - 1 === lastSeq + 1
            ? `seq ${lastSeq + 1} is missing`
            : `seq ${lastSeq + 1}..${e.seq - 1} are missing (${e.seq - 1 - lastSeq} entries)`,
      });
    }
    run.held.push(e);
  };

  // Sync iterables (arrays) are walked without a promise per entry; async feeds may yield batches.
  if (typeof (entries as Iterable<ChainEntryInput>)[Symbol.iterator] === 'function') {
    for (const raw of entries as Iterable<ChainEntryInput>) processEntry(raw);
  } else {
    for await (const item of entries as AsyncIterable<ChainEntryInput | ReadonlyArray<ChainEntryInput>>) {
      if (Array.isArray(item)) for (const raw of item as ReadonlyArray<ChainEntryInput>) processEntry(raw);
      else processEntry(item as ChainEntryInput);
    }
  }

  // 3. End of feed: resolve groups and regions; truncation and unchecked checkpoints.
  for (const run of runs.values()) {
    flushHeld(run, undefined);
    closeRegion(run);
    const lastSeq = run.last?.seq ?? fromSeq - 1;
    const beyond = run.sizes.filter((size) => size >= fromSeq && size <= toSeq && size > lastSeq);
    if (beyond.length > 0) {
      const size = beyond[beyond.length - 1]!;
      report({
        kind: 'truncated',
        chainId: run.chainId,
        seq: lastSeq + 1,
        seqTo: size,
        treeSize: size,
        message: `the checkpoint at tree size ${size} covers seq up to ${size}, but the store ends at seq ${lastSeq}: seq ${lastSeq + 1}..${size} are missing`,
      });
    }
  }
  for (const run of runs.values()) {
    const lastSeq = run.last?.seq ?? 0;
    const inRange = run.sizes.filter((size) => size >= fromSeq && size <= Math.min(toSeq, lastSeq)).length;
    stats.checkpointsUnchecked += Math.max(0, inRange - run.rootChecks);
    const covered = run.sizes.length > 0 ? run.sizes[run.sizes.length - 1]! : 0;
    stats.uncoveredEntries += Math.max(0, lastSeq - Math.max(covered, fromSeq - 1));
  }
  // Chains with signed checkpoints but no entry at all in the feed: everything they cover is gone.
  for (const [chainId, cps] of valid) {
    if (runs.has(chainId)) continue;
    const sizes = [...cps.keys()].filter((size) => size >= fromSeq && size <= toSeq);
    if (sizes.length === 0) continue;
    const size = Math.max(...sizes);
    report({
      kind: 'truncated',
      chainId,
      seq: fromSeq,
      seqTo: size,
      treeSize: size,
      message: `the checkpoint at tree size ${size} covers seq up to ${size}, but the store holds no entry of this chain (seq ${fromSeq}..${size} are missing)`,
    });
  }
  stats.durationMillis = performance.now() - started;
  return { ok: stats.problemCount === 0, problems, stats };
}

/**
 * Follow the hash links through a tampered region and name what is out of place. `region[0]` is
 * the anchor (assumed in place at `anchorPos`). Entries reached by following links get their true
 * position; those stored at another seq are `reordered`. Entries whose prevHash matches no entry
 * of the region start a new walk and are reported as `bad-prev-link`.
 */
function analyseRegion(chainId: string, region: Entry[], anchorPos: number, report: (p: ChainProblem) => void): void {
  const byPrev = new Map<string, Entry[]>();
  const hashes = new Set<string>();
  for (let i = 1; i < region.length; i++) {
    const e = region[i]!;
    const list = byPrev.get(e.prevHash) ?? [];
    list.push(e);
    byPrev.set(e.prevHash, list);
    hashes.add(e.hash);
  }
  hashes.add(region[0]!.hash);
  const visited = new Set<Entry>([region[0]!]);
  const moved: Array<{ stored: number; belongs: number }> = [];
  const walk = (start: Entry, pos: number): void => {
    let cur = start;
    let p = pos;
    for (;;) {
      const next = byPrev.get(cur.hash)?.find((c) => !visited.has(c));
      if (next === undefined) return;
      visited.add(next);
      p++;
      if (next.seq !== p) moved.push({ stored: next.seq, belongs: p });
      cur = next;
    }
  };
  walk(region[0]!, anchorPos);
  for (let i = 1; i < region.length; i++) {
    const e = region[i]!;
    if (visited.has(e)) continue;
    visited.add(e);
    const before = e.seq - 1;
    report({
      kind: 'bad-prev-link',
      chainId,
      seq: e.seq,
      message: hashes.has(e.prevHash)
        ? `seq ${e.seq}: prevHash ${e.prevHash} links to an entry that is already followed by another one (the chain forks)`
        : `seq ${e.seq}: prevHash ${e.prevHash} is not the hash of any entry (expected the hash of seq ${before}): seq ${before} was modified and re-hashed, or the prevHash of seq ${e.seq} was altered`,
    });
    walk(e, e.seq);
  }
  if (moved.length > 0) {
    const seqs = moved.map((m) => m.stored).sort((a, b) => a - b);
    report({
      kind: 'reordered',
      chainId,
      seq: seqs[0]!,
      seqTo: seqs[seqs.length - 1]!,
      message: `entries are out of order (by their hash links): ${moved.map((m) => `the entry stored at seq ${m.stored} belongs at seq ${m.belongs}`).join('; ')}`,
    });
  }
}
