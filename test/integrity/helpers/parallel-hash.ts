/**
 * Parallel entry-hash recomputation for chain verification: wraps a feed of chain entries and
 * recomputes `SHA-256(prevHash ‖ JCS(event))` in worker threads, yielding batches whose entries carry
 * `recomputedHash`, so `verifyChainEntries` only does the sequential part (links, tree, roots).
 *
 * Events travel to the workers as JSON text. JSON round-trips every value JCS accepts exactly
 * (strings, finite numbers, booleans, null, arrays, plain objects); anything else makes the worker
 * answer `null` and the verifier hashes that entry itself, so results never differ from the
 * sequential path.
 */
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ChainEntryInput } from '../../../integrity/verify-chain.ts';

/** Options of {@link withParallelEntryHashes}. */
export interface ParallelHashOptions {
  /** Worker threads; default `availableParallelism() − 1`, at least 1. */
  workers?: number;
  /** Entries per batch sent to a worker. Default 2,048. */
  batchSize?: number;
}

/**
 * Yield the entries of `entries` in their order, in batches, each entry with `recomputedHash` set by
 * a worker thread. Feed the result to `verifyChainEntries`. Workers are terminated when the
 * iteration ends (also on early exit or error).
 */
export async function* withParallelEntryHashes(
  entries: Iterable<ChainEntryInput> | AsyncIterable<ChainEntryInput | ReadonlyArray<ChainEntryInput>>,
  options: ParallelHashOptions = {},
): AsyncGenerator<ChainEntryInput[]> {
  const count = Math.max(1, options.workers ?? availableParallelism() - 1);
  const batchSize = options.batchSize ?? 2048;
  const ext = extname(fileURLToPath(import.meta.url)) || '.js';
  const url = new URL(`./entry-hash-worker${ext}`, import.meta.url);
  const workers = Array.from({ length: count }, () => new Worker(url));
  const waiting = new Map<number, { resolve: (hashes: Array<string | null>) => void; reject: (err: unknown) => void }>();
  let failure: unknown;
  for (const w of workers) {
    w.on('message', (m: { id: number; hashes: Array<string | null> }) => {
      waiting.get(m.id)?.resolve(m.hashes);
      waiting.delete(m.id);
    });
    w.on('error', (err) => {
      failure ??= err;
      for (const p of waiting.values()) p.reject(err);
      waiting.clear();
    });
  }
  let nextId = 0;
  const send = (batch: ChainEntryInput[]): Promise<ChainEntryInput[]> => {
    let text: string;
    try {
      text = JSON.stringify(batch.map((e) => [e.prevHash, e.event, e.chainVersion ?? 1]));
    } catch {
      return Promise.resolve(batch); // not JSON (e.g. a BigInt): the verifier hashes these itself
    }
    if (failure !== undefined) return Promise.reject(failure);
    const id = nextId++;
    return new Promise<ChainEntryInput[]>((resolveBatch, rejectBatch) => {
      waiting.set(id, {
        resolve: (hashes) => resolveBatch(batch.map((e, i) => (hashes[i] ? { ...e, recomputedHash: hashes[i]! } : e))),
        reject: rejectBatch,
      });
      workers[id % workers.length]!.postMessage({ id, batch: text });
    });
  };
  /** Mark a promise handled now (it is awaited later, in order) to avoid unhandled-rejection noise. */
  const track = <T>(p: Promise<T>): Promise<T> => {
    p.catch(() => {});
    return p;
  };
  // Keep up to 2 batches per worker in flight; yield in order.
  const inFlight: Array<Promise<ChainEntryInput[]>> = [];
  const maxInFlight = count * 2;
  let current: ChainEntryInput[] = [];
  async function* drain(limit: number): AsyncGenerator<ChainEntryInput[]> {
    while (inFlight.length > limit) yield await inFlight.shift()!;
  }
  try {
    const push = (e: ChainEntryInput): boolean => {
      current.push(e);
      if (current.length < batchSize) return false;
      inFlight.push(track(send(current)));
      current = [];
      return true;
    };
    if (typeof (entries as Iterable<ChainEntryInput>)[Symbol.iterator] === 'function') {
      for (const e of entries as Iterable<ChainEntryInput>) if (push(e)) yield* drain(maxInFlight);
    } else {
      for await (const item of entries as AsyncIterable<ChainEntryInput | ReadonlyArray<ChainEntryInput>>) {
        const list = Array.isArray(item) ? (item as ReadonlyArray<ChainEntryInput>) : [item as ChainEntryInput];
        for (const e of list) if (push(e)) yield* drain(maxInFlight);
      }
    }
    if (current.length > 0) inFlight.push(track(send(current)));
    yield* drain(0);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
