/**
 * Where a receiver's memory is: a preload module for the receiver child (`node --require
 * ./bench/lib/memory-probe.ts`: `--import` preloads do not run in worker threads, `--require` ones do, set by `startReceiver({ memoryProbeFile })`) that, in the main thread
 * and in every worker thread, appends a JSON line every {@link PROBE_MILLIS} ms to the file named by
 * `BENCH_MEMORY_PROBE_FILE`: the thread's V8 heap (`v8.getHeapStatistics()`), and in the main thread
 * also the process's `/proc/self/status` RSS split and `process.memoryUsage()` (external, arrayBuffers
 * are process-wide). {@link summarizeMemoryProbe} turns the file into peaks per thread.
 *
 * Bench-only: the receiver itself has no such hook (a timer per thread and a file append every
 * 250 ms are noise for a benchmark, not for production).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { isMainThread, threadId, threadName } from 'node:worker_threads';

/** Sampling period (ms). */
export const PROBE_MILLIS = 250;

/** One line of the probe file. */
export interface MemoryProbeLine {
  /** 0 = main thread. */
  thread: number;
  /** The worker's entry module (file name), or `main`. */
  name: string;
  atMillis: number;
  /** V8 heap of this thread: reserved (total_heap_size), used, and the old+young limit (MiB). */
  heapTotalMiB: number;
  heapUsedMiB: number;
  heapLimitMiB: number;
  /** Used size of the largest heap spaces (new, old, large objects, code…; MiB). */
  spaces: Record<string, number>;
  /** Main thread only: process-wide figures (MiB). */
  rssMiB?: number;
  anonMiB?: number;
  fileMiB?: number;
  externalMiB?: number;
  arrayBuffersMiB?: number;
}

const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;

/**
 * RSS split from `/proc/self/status` (`VmRSS`, `RssAnon`, `RssFile`; MiB). Not `smaps_rollup`: that
 * walks every mapping under the mmap lock (~25 ms per read with the embedded engine's mappings,
 * measured: 10 % of the main thread at 4 reads/s, stalling the threads that fault pages meanwhile).
 */
function procStatus(): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const m of readFileSync('/proc/self/status', 'utf8').matchAll(/^(\w+):\s+(\d+) kB$/gm)) out[m[1]!] = Number(m[2]) / 1024;
  } catch {
    // Not Linux: the heap figures still say something.
  }
  return out;
}

/** The thread's name: `main`, or the `name` its creator gave the Worker (else `worker-<id>`). */
function currentThreadName(): string {
  if (isMainThread) return 'main';
  return threadName || `worker-${threadId}`;
}

function sample(name: string): MemoryProbeLine {
  const h = getHeapStatistics();
  const line: MemoryProbeLine = {
    thread: threadId,
    name,
    atMillis: Date.now(),
    heapTotalMiB: mib(h.total_heap_size),
    heapUsedMiB: mib(h.used_heap_size),
    heapLimitMiB: mib(h.heap_size_limit),
    spaces: Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name.replace(/_space$/, ''), mib(x.space_used_size)])),
  };
  if (isMainThread) {
    const s = procStatus();
    const u = process.memoryUsage();
    line.rssMiB = Math.round((s.VmRSS ?? u.rss / 2 ** 20) * 10) / 10;
    line.anonMiB = Math.round((s.RssAnon ?? 0) * 10) / 10;
    line.fileMiB = Math.round((s.RssFile ?? 0) * 10) / 10;
    line.externalMiB = mib(u.external);
    line.arrayBuffersMiB = mib(u.arrayBuffers);
  }
  return line;
}

/** Per-thread peaks of a probe file. */
export interface MemoryProbeSummary {
  threads: Array<{ thread: number; name: string; peakHeapTotalMiB: number; peakHeapUsedMiB: number; heapLimitMiB: number }>;
  /** Sum over threads of each thread's peak reserved heap (an upper bound of V8's share of the peak). */
  sumPeakHeapTotalMiB: number;
  peakRssMiB: number;
  peakAnonMiB: number;
  peakExternalMiB: number;
  peakArrayBuffersMiB: number;
  /** Every 2 s: seconds since the first sample, main-thread heap used, process RSS (MiB). */
  mainSeries: Array<[number, number, number]>;
  /** The main thread's sample at the process's RSS peak, and every thread's latest heap by then. */
  atPeakRss: {
    rssMiB: number;
    anonMiB: number;
    externalMiB: number;
    heapTotalByThreadMiB: Record<string, number>;
    mainSpacesMiB: Record<string, number>;
  } | null;
}

/** Read a probe file into per-thread peaks. */
export function summarizeMemoryProbe(file: string): MemoryProbeSummary {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // No samples (the receiver never started).
  }
  const lines = text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as MemoryProbeLine)
    .sort((a, b) => a.atMillis - b.atMillis);
  const byThread = new Map<number, MemoryProbeSummary['threads'][number]>();
  const latest = new Map<number, MemoryProbeLine>();
  let peak: MemoryProbeSummary['atPeakRss'] = null;
  const out = { peakRssMiB: 0, peakAnonMiB: 0, peakExternalMiB: 0, peakArrayBuffersMiB: 0 };
  const mainSeries: Array<[number, number, number]> = [];
  const t0 = lines[0]?.atMillis ?? 0;
  for (const l of lines) {
    const t = byThread.get(l.thread) ?? {
      thread: l.thread,
      name: l.name,
      peakHeapTotalMiB: 0,
      peakHeapUsedMiB: 0,
      heapLimitMiB: l.heapLimitMiB,
    };
    t.name = l.name;
    t.peakHeapTotalMiB = Math.max(t.peakHeapTotalMiB, l.heapTotalMiB);
    t.peakHeapUsedMiB = Math.max(t.peakHeapUsedMiB, l.heapUsedMiB);
    byThread.set(l.thread, t);
    latest.set(l.thread, l);
    if (l.rssMiB !== undefined) {
      const at = Math.round((l.atMillis - t0) / 100) / 10;
      if (mainSeries.length === 0 || at - mainSeries[mainSeries.length - 1]![0] >= 2) mainSeries.push([at, l.heapUsedMiB, l.rssMiB]);
      out.peakAnonMiB = Math.max(out.peakAnonMiB, l.anonMiB ?? 0);
      out.peakExternalMiB = Math.max(out.peakExternalMiB, l.externalMiB ?? 0);
      out.peakArrayBuffersMiB = Math.max(out.peakArrayBuffersMiB, l.arrayBuffersMiB ?? 0);
      if (l.rssMiB > out.peakRssMiB) {
        out.peakRssMiB = l.rssMiB;
        const heaps: Record<string, number> = {};
        for (const x of latest.values()) heaps[`${x.thread}:${x.name}`] = x.heapTotalMiB;
        peak = {
          rssMiB: l.rssMiB,
          anonMiB: l.anonMiB ?? 0,
          externalMiB: l.externalMiB ?? 0,
          heapTotalByThreadMiB: heaps,
          mainSpacesMiB: l.spaces,
        };
      }
    }
  }
  const threads = [...byThread.values()].sort((a, b) => a.thread - b.thread);
  return {
    threads,
    sumPeakHeapTotalMiB: Math.round(threads.reduce((s, t) => s + t.peakHeapTotalMiB, 0)),
    ...out,
    mainSeries,
    atPeakRss: peak,
  };
}

const target = process.env.BENCH_MEMORY_PROBE_FILE;
if (target) {
  const t = setInterval(() => {
    try {
      appendFileSync(target, `${JSON.stringify(sample(currentThreadName()))}\n`);
    } catch {
      // The data dir is being removed at the end of a run.
    }
  }, PROBE_MILLIS);
  t.unref();
}
