/**
 * Verification of a whole store (`otel-audit verify`) and comparison of two stores
 * (`--compare clickhouse,archive`), on top of the store-agnostic `verifyChainEntries`
 * (integrity/verify-chain.ts): per chain, the entries in seq order and the checkpoints read from the
 * same store. A time window (`since`/`until`) is widened to the enclosing checkpoints, so the range
 * verified is anchored on a signed tree state at both ends (RFC 6962 §2.1: the root of a size is
 * only comparable over the whole prefix). Problems are results.
 */

import { parseChainVersion } from '../../integrity/chain-hash.ts';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';
import { fastEntryHash } from '../../integrity/entry-hash.ts';
import type { VerifierKeys } from '../../integrity/note.ts';
import type { ChainEntryInput } from '../../integrity/verify-chain.ts';
import { verifyChainEntries } from '../../integrity/verify-chain.ts';
import type { StoreSource, StoreView } from './stores.ts';

/** One problem found in a store: a chain-verification kind, a store-level kind, or a comparison kind. */
export interface VerifyProblem {
  kind: string;
  source: StoreSource;
  chainId?: string;
  seq?: number;
  seqTo?: number;
  treeSize?: number;
  /** Archive object key, WAL segment@offset or table, when the problem is located in one. */
  object?: string;
  message: string;
}

/** Result of {@link verifyStore}. */
export interface VerifyStoreReport {
  ok: boolean;
  source: StoreSource;
  location: string;
  problems: VerifyProblem[];
  chains: Array<{
    chainId: string;
    fromSeq: number;
    toSeq: number | undefined;
    entries: number;
    checkpoints: number;
    checkpointsVerified: number;
    uncoveredEntries: number;
    ok: boolean;
  }>;
  stats: {
    chains: number;
    entries: number;
    checkpoints: number;
    checkpointsVerified: number;
    uncoveredEntries: number;
    durationMillis: number;
  };
}

/** Options of {@link verifyStore}. */
export interface VerifyStoreOptions {
  verifierKeys: VerifierKeys;
  since?: Date;
  until?: Date;
  /** Total entries verified so far (all chains). */
  onProgress?: (entries: number, total: number) => void;
}

/** The seq range to verify for a time window: widened to the checkpoints around it. */
function rangeFor(checkpoints: CheckpointRecord[], range: { min: number; max: number }): { fromSeq: number; toSeq: number | undefined } {
  const sizes = checkpoints
    .map((c) => c.treeSize)
    .filter((n) => Number.isSafeInteger(n))
    .sort((a, b) => a - b);
  let fromSeq = 1;
  for (const s of sizes) if (s < range.min) fromSeq = s + 1;
  const toSeq = sizes.find((s) => s >= range.max);
  return { fromSeq, toSeq };
}

/** Verify every selected chain of a store against its own checkpoints. */
export async function verifyStore(view: StoreView, options: VerifyStoreOptions): Promise<VerifyStoreReport> {
  const started = performance.now();
  const problems: VerifyProblem[] = [];
  const report: VerifyStoreReport = {
    ok: true,
    source: view.source,
    location: view.location,
    problems,
    chains: [],
    stats: { chains: 0, entries: 0, checkpoints: 0, checkpointsVerified: 0, uncoveredEntries: 0, durationMillis: 0 },
  };
  const chains = await view.chains();
  const total = chains.reduce((s, c) => s + c.maxSeq, 0);
  let done = 0;
  const timed = options.since !== undefined || options.until !== undefined;
  for (const chain of chains) {
    const checkpoints = await view.checkpoints(chain.chainId);
    let fromSeq = 1;
    let toSeq: number | undefined;
    if (timed) {
      const range = await view.seqRangeForTime(chain.chainId, options.since, options.until);
      if (range === undefined) continue;
      ({ fromSeq, toSeq } = rangeFor(checkpoints, range));
      if (toSeq === undefined) toSeq = chain.maxSeq;
    }
    const base = done;
    const result = await verifyChainEntries(view.entries(chain.chainId, fromSeq, toSeq ?? Number.MAX_SAFE_INTEGER), {
      checkpoints: timed ? checkpoints.filter((c) => c.treeSize >= fromSeq - 1 && c.treeSize <= (toSeq ?? Infinity)) : checkpoints,
      verifierKeys: options.verifierKeys,
      fromSeq,
      ...(toSeq !== undefined ? { toSeq } : {}),
      progressEvery: 10_000,
      onProgress: (n) => options.onProgress?.(base + n, total),
    });
    done += result.stats.entries;
    options.onProgress?.(done, total);
    for (const p of result.problems) problems.push({ ...p, source: view.source });
    report.chains.push({
      chainId: chain.chainId,
      fromSeq,
      toSeq,
      entries: result.stats.entries,
      checkpoints: result.stats.checkpoints,
      checkpointsVerified: result.stats.checkpointsVerified,
      uncoveredEntries: result.stats.uncoveredEntries,
      ok: result.ok,
    });
    report.stats.chains++;
    report.stats.entries += result.stats.entries;
    report.stats.checkpoints += result.stats.checkpoints;
    report.stats.checkpointsVerified += result.stats.checkpointsVerified;
    report.stats.uncoveredEntries += result.stats.uncoveredEntries;
  }
  for (const p of view.problems()) problems.push({ ...p, source: view.source });
  report.ok = problems.length === 0;
  report.stats.durationMillis = performance.now() - started;
  return report;
}

/** Result of {@link compareStores}. */
export interface CompareReport {
  ok: boolean;
  sources: [StoreSource, StoreSource];
  /** Differences inside the seq range both stores hold (failures). */
  problems: VerifyProblem[];
  /** Entries beyond the range the other store holds (one store lags: not a failure by itself). */
  notes: string[];
  stats: { chains: number; compared: number; durationMillis: number };
}

/**
 * Entries with what they really hold: the stored hash, and the hash their stored event and prevHash
 * give (so an edited column compares unequal even where the stored `Hash` column was left alone).
 */
async function* flatten(it: AsyncIterable<ChainEntryInput[]>): AsyncGenerator<{ seq: number; hash: string; content: string }> {
  for await (const batch of it) {
    for (const e of batch) {
      let content: string;
      try {
        const version = parseChainVersion(e.chainVersion);
        content = version === undefined ? 'unhashable' : fastEntryHash(e.prevHash, e.event, version);
      } catch {
        content = 'unhashable';
      }
      yield { seq: e.seq, hash: e.hash, content };
    }
  }
}

/**
 * Compare two stores entry by entry (seq → stored entry hash and the hash of the stored event) and
 * checkpoint by checkpoint (tree size → root): `differs` (same seq, different hash or content), `only-in-<store>` (a seq one store lacks inside the
 * range both hold), `checkpoint-differs`. Entries past the end of the other store are notes.
 */
export async function compareStores(a: StoreView, b: StoreView): Promise<CompareReport> {
  const started = performance.now();
  const problems: VerifyProblem[] = [];
  const notes: string[] = [];
  const chainsA = await a.chains();
  const chainsB = await b.chains();
  const ids = [...new Set([...chainsA.map((c) => c.chainId), ...chainsB.map((c) => c.chainId)])].sort();
  let compared = 0;
  for (const chainId of ids) {
    const maxA = chainsA.find((c) => c.chainId === chainId)?.maxSeq ?? 0;
    const maxB = chainsB.find((c) => c.chainId === chainId)?.maxSeq ?? 0;
    const common = Math.min(maxA, maxB);
    if (maxA !== maxB) {
      const [more, less] = maxA > maxB ? [a.source, b.source] : [b.source, a.source];
      notes.push(
        `chain ${chainId}: seq ${common + 1}..${Math.max(maxA, maxB)} only in ${more} (${less} ends at seq ${common}; it may lag)`,
      );
    }
    const ia = flatten(a.entries(chainId, 1, common))[Symbol.asyncIterator]();
    const ib = flatten(b.entries(chainId, 1, common))[Symbol.asyncIterator]();
    let ea = await ia.next();
    let eb = await ib.next();
    const only = (source: StoreSource, seq: number): void => {
      const last = problems.at(-1);
      if (last && last.kind === `only-in-${source}` && last.chainId === chainId && (last.seqTo ?? last.seq) === seq - 1) {
        last.seqTo = seq;
        last.message = `seq ${last.seq}..${seq} are in ${source} but not in ${source === a.source ? b.source : a.source}`;
        return;
      }
      problems.push({
        kind: `only-in-${source}`,
        source,
        chainId,
        seq,
        message: `seq ${seq} is in ${source} but not in ${source === a.source ? b.source : a.source}`,
      });
    };
    while (!ea.done || !eb.done) {
      if (!ea.done && (eb.done || ea.value.seq < eb.value.seq)) {
        only(a.source, ea.value.seq);
        ea = await ia.next();
      } else if (!eb.done && (ea.done || eb.value.seq < ea.value.seq)) {
        only(b.source, eb.value.seq);
        eb = await ib.next();
      } else {
        compared++;
        const x = ea.value!;
        const y = eb.value!;
        if (x.hash !== y.hash) {
          problems.push({
            kind: 'differs',
            source: a.source,
            chainId,
            seq: x.seq,
            message: `seq ${x.seq}: stored entry hash ${x.hash} in ${a.source}, ${y.hash} in ${b.source}`,
          });
        } else if (x.content !== y.content) {
          problems.push({
            kind: 'differs',
            source: a.source,
            chainId,
            seq: x.seq,
            message: `seq ${x.seq}: same stored hash, but the stored events differ (they hash to ${x.content} in ${a.source}, ${y.content} in ${b.source}; the entry hash is ${x.hash})`,
          });
        }
        ea = await ia.next();
        eb = await ib.next();
      }
    }
    const cpA = new Map((await a.checkpoints(chainId)).map((c) => [c.treeSize, c.rootHash]));
    const cpB = new Map((await b.checkpoints(chainId)).map((c) => [c.treeSize, c.rootHash]));
    for (const [size, root] of cpA) {
      const other = cpB.get(size);
      if (other !== undefined && other !== root)
        problems.push({
          kind: 'checkpoint-differs',
          source: a.source,
          chainId,
          treeSize: size,
          message: `checkpoint at tree size ${size}: root ${root} in ${a.source}, ${other} in ${b.source}`,
        });
    }
    const onlyA = [...cpA.keys()].filter((s) => !cpB.has(s) && s <= common);
    const onlyB = [...cpB.keys()].filter((s) => !cpA.has(s) && s <= common);
    if (onlyA.length > 0) notes.push(`chain ${chainId}: checkpoints at tree sizes ${onlyA.join(', ')} only in ${a.source}`);
    if (onlyB.length > 0) notes.push(`chain ${chainId}: checkpoints at tree sizes ${onlyB.join(', ')} only in ${b.source}`);
  }
  return {
    ok: problems.length === 0,
    sources: [a.source, b.source],
    problems,
    notes,
    stats: { chains: ids.length, compared, durationMillis: performance.now() - started },
  };
}
