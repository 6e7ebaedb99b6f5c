/**
 * Benchmark of the time-windowed dedupe index (receiver/wal/dedupe-window.ts):
 *
 * 1. Writes `ids` event ids spread over a 7-day window straight into on-disk runs (one run per
 *    1-hour slice, as the index's merges leave them; a fraction `untimedFraction` are UUIDv4 ids,
 *    which go to full-width runs with a Bloom filter), then opens a {@link DedupeWindow} on them.
 * 2. Reports disk bytes per id, the index's memory (run summaries, and the heap it really took),
 *    and lookup latency p50/p99 for: a duplicate UUIDv7, a fresh UUIDv7 of the current time (the
 *    live path), a fresh UUIDv7 of a random time in the window (reads a page), and a duplicate /
 *    fresh UUIDv4.
 * 3. Extrapolates memory and disk to 7 days at 10,000 events/s (6.05 billion ids).
 * 4. Runs the pipeline's `consume()` with the in-memory-only index (a table large enough never to
 *    spill) and with a 65,536-id table that spills to runs every few seconds (and merges them),
 *    alternating, and reports the throughput and CPU-per-event ratios.
 * 5. Spills one full table of 1 M ids (quick 300 k) that share all but their last 48 bits, as the
 *    WAL's segment deletion asks for it, and reports the longest event-loop stall meanwhile.
 *
 *   npx node bench/dedupe-window.ts [--quick] [--ids 100000000]    or    npm run bench -- --only dedupe-window
 */
import * as fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { crc32 } from 'node:zlib';
import type { DecodedLogs } from '../receiver/contracts.ts';
import { createAuditPipeline } from '../receiver/pipeline/index.ts';
import { DedupeIndex } from '../receiver/wal/dedupe-index.ts';
import { compareIds, RUN_KIND_FULL, RUN_KIND_V7, RunWriter } from '../receiver/wal/dedupe-run.ts';
import { DedupeWindow } from '../receiver/wal/dedupe-window.ts';
import { eventToRecord, makeEvent, request, uuidv7 } from '../test/receiver/pipeline/fixtures.ts';

/** Options of {@link run}. */
export interface DedupeWindowBenchOptions {
  quick?: boolean;
  /** CI smoke sizes. */
  tiny?: boolean;
  /** Ids written as runs. Default 20 M (quick 2 M, tiny 100 k); recorded at 100 M once. */
  ids?: number;
  /** Share of UUIDv4 ids (full-width runs). Default 0.01. */
  untimedFraction?: number;
  /** Lookups per kind. Default 200 k (quick 50 k, tiny 5 k). */
  lookups?: number;
  /** Seconds per ingest round (two rounds per variant). Default 6 (quick 3, tiny 1). */
  ingestSeconds?: number;
}

const WINDOW_MILLIS = 7 * 24 * 3600_000;
const SLICE_MILLIS = 3600_000;
const FULL_SCALE_IDS = 7 * 24 * 3600 * 10_000; // 6.048e9: 7 days at 10,000 events/s
const DEFAULT_MAX_IDS = 3_000_000; // pipeline default dedupeMaxIds

function exposeGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

const rand32 = () => (Math.random() * 0x100000000) >>> 0;

function pct(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** Write one slice's UUIDv7 run; returns bytes, ids written, and keeps every `sampleEvery`-th id. */
function writeV7Run(
  file: string,
  idSlice: number,
  n: number,
  sample: number[],
  sampleEvery: number,
  spanMillis = SLICE_MILLIS,
): { bytes: number; count: number } {
  const keys = new Float64Array(n);
  // Key: ms offset in the slice (22 bits) · 2^31 + 31 random bits (rand_a and the top of rand_b).
  // The current slice only holds ids up to now (`spanMillis`): nothing was accepted from the future.
  for (let i = 0; i < n; i++) keys[i] = Math.floor(Math.random() * spanMillis) * 2 ** 31 + Math.floor(Math.random() * 2 ** 31);
  keys.sort();
  const start = idSlice * SLICE_MILLIS;
  const w = new RunWriter(
    { kind: RUN_KIND_V7, sliceMillis: SLICE_MILLIS, receiveSlice: idSlice, idSlice, minSeenAtSec: 0, maxSeenAtSec: 0, coveredLsn: 0 },
    n,
  );
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    if (k === prev) continue;
    prev = k;
    const off = Math.floor(k / 2 ** 31);
    const r31 = k % 2 ** 31;
    const ms = start + off;
    const a = Math.floor(ms / 65536) >>> 0;
    const b = (((ms % 65536) << 16) | 0x7000 | (r31 >>> 19)) >>> 0;
    const c = (0x80000000 | ((r31 & 0x7ffff) << 11) | (rand32() & 0x7ff)) >>> 0;
    const d = rand32();
    w.add(a, b, c, d, Math.floor(ms / 1000));
    if (i % sampleEvery === 0) sample.push(a, b, c, d);
  }
  const { chunks, meta } = w.finish();
  fs.writeFileSync(file, Buffer.concat(chunks));
  return { bytes: fs.statSync(file).size, count: meta.count };
}

function randomV4(out: number[]): void {
  out.push(rand32(), ((rand32() & 0xffff0fff) | 0x4000) >>> 0, ((rand32() & 0x3fffffff) | 0x80000000) >>> 0, rand32());
}

/** Write one receive slice's run of UUIDv4 ids (16 bytes each, Bloom filter 10 bits per id). */
function writeV4Run(
  file: string,
  receiveSlice: number,
  n: number,
  sample: number[],
  sampleEvery: number,
): { bytes: number; count: number } {
  const ids: number[] = [];
  for (let i = 0; i < n; i++) randomV4(ids);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) =>
    compareIds(
      ids[4 * x]!,
      ids[4 * x + 1]!,
      ids[4 * x + 2]!,
      ids[4 * x + 3]!,
      ids[4 * y]!,
      ids[4 * y + 1]!,
      ids[4 * y + 2]!,
      ids[4 * y + 3]!,
    ),
  );
  const w = new RunWriter(
    { kind: RUN_KIND_FULL, sliceMillis: SLICE_MILLIS, receiveSlice, idSlice: -1, minSeenAtSec: 0, maxSeenAtSec: 0, coveredLsn: 0 },
    n,
    { bloomBitsPerId: 10 },
  );
  const sec = Math.floor((receiveSlice * SLICE_MILLIS) / 1000);
  for (const [j, i] of order.entries()) {
    w.add(ids[4 * i]!, ids[4 * i + 1]!, ids[4 * i + 2]!, ids[4 * i + 3]!, sec + 60);
    if (j % sampleEvery === 0) sample.push(ids[4 * i]!, ids[4 * i + 1]!, ids[4 * i + 2]!, ids[4 * i + 3]!);
  }
  const { chunks, meta } = w.finish();
  fs.writeFileSync(file, Buffer.concat(chunks));
  return { bytes: fs.statSync(file).size, count: meta.count };
}

interface LookupStats {
  lookups: number;
  duplicates: number;
  p50Micros: number;
  p99Micros: number;
  meanMicros: number;
  pageReadsPerLookup: number;
  /** CPU time (user + system) per lookup: steadier than wall-clock percentiles on a shared machine. */
  cpuMicrosPerLookup: number;
}

/** Time `n` lookups of the ids `next()` writes into `w4`. */
function measure(index: DedupeWindow, n: number, nowSec: number, lsn: { v: number }, next: (w: Uint32Array) => void): LookupStats {
  const times = new Float64Array(n);
  const w = new Uint32Array(4);
  let dups = 0;
  const reads0 = index.status(nowSec).pageReads;
  let total = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    next(w);
    const t0 = process.hrtime.bigint();
    const dup = index.checkAndInsert(w[0]!, w[1]!, w[2]!, w[3]!, nowSec, nowSec, lsn.v++);
    const dt = Number(process.hrtime.bigint() - t0) / 1000;
    times[i] = dt;
    total += dt;
    if (dup) dups++;
  }
  const cpu = process.cpuUsage(cpu0);
  times.sort();
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    lookups: n,
    duplicates: dups,
    p50Micros: r(pct(times, 50)),
    p99Micros: r(pct(times, 99)),
    meanMicros: r(total / Math.max(1, n)),
    pageReadsPerLookup: r((index.status(nowSec).pageReads - reads0) / Math.max(1, n)),
    cpuMicrosPerLookup: r((cpu.user + cpu.system) / Math.max(1, n)),
  };
}

/** Pipeline throughput with one dedupe configuration for `seconds`. */
async function ingestRound(
  root: string,
  name: string,
  dedupeMaxIds: number,
  seconds: number,
  requests: DecodedLogs[],
  nextId: () => string,
) {
  // No exporter: segments are never deleted, so only a full table spills (the in-memory-only
  // variant never does, like the index before runs existed).
  const p = createAuditPipeline({ dataDir: path.join(root, name), dedupeMaxIds, maintenanceIntervalMillis: 200 });
  await p.start();
  let next = 0;
  let events = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const req = requests[next++ % requests.length]!;
      for (const rec of req.resourceLogs[0]!.scopeLogs[0]!.logRecords) rec.attributes['audit.event_id'] = nextId();
      const r = await p.consume(req, { transport: 'http' });
      if (r.status !== 'success') throw new Error(`consume answered ${r.status}`);
      events += r.accepted;
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const st = p.status().dedupe;
  await p.shutdown();
  await rm(path.join(root, name), { recursive: true, force: true });
  return {
    events,
    eventsPerSecond: Math.round(events / elapsed),
    cpuMicrosPerEvent: Math.round(((cpu.user + cpu.system) / Math.max(1, events)) * 100) / 100,
    runFiles: st.runFiles,
    runIds: st.runIds,
    effectiveWindowMillis: st.effectiveWindowMillis,
  };
}

/**
 * The event loop during one spill of a full in-memory table of `ids` ids that share all but their
 * last 48 bits (the load generator's ids, UUIDv7s minted in one millisecond): the longest gap
 * between the ticks of a 1 ms interval timer while the spill runs, and the spill's duration. The
 * spill is what the WAL's segment deletion asks for (`add`), as in the receiver.
 */
async function spillStall(root: string, ids: number): Promise<{ ids: number; spillMillis: number; longestEventLoopStallMillis: number }> {
  const w = new DedupeWindow({ dir: path.join(root, 'spill-stall'), windowMillis: WINDOW_MILLIS, maxIds: ids * 2 });
  const nowSec = Math.floor(Date.now() / 1000);
  await w.open(nowSec);
  w.finishRecovery();
  const ms = Date.now();
  const a = Math.floor(ms / 65536) >>> 0;
  const b = (((ms & 0xffff) << 16) | 0x7abc) >>> 0;
  let x = 0x9e3779b9;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  for (let i = 1; i <= ids; i++) w.checkAndInsert(a, b, (0x80000000 | (rnd() & 0xffff)) >>> 0, rnd(), nowSec, nowSec, i);
  let last = performance.now();
  let longest = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  try {
    await w.add(1, ids, [], nowSec);
    await w.idle();
  } finally {
    clearInterval(tick);
  }
  const spillMillis = performance.now() - t0;
  longest = Math.max(longest, performance.now() - last);
  await w.close();
  return { ids, spillMillis: Math.round(spillMillis), longestEventLoopStallMillis: Math.round(longest) };
}

/** Run the benchmark (see the module comment). */
export async function run(options: DedupeWindowBenchOptions = {}) {
  const tiny = options.tiny ?? false;
  const quick = options.quick ?? false;
  const totalIds = options.ids ?? (tiny ? 100_000 : quick ? 2_000_000 : 20_000_000);
  const untimedFraction = options.untimedFraction ?? 0.01;
  const lookups = options.lookups ?? (tiny ? 5000 : quick ? 50_000 : 200_000);
  const ingestSeconds = options.ingestSeconds ?? (tiny ? 1 : quick ? 3 : 6);
  const gc = exposeGc();
  const root = await mkdtemp(path.join(tmpdir(), 'otel-audit-bench-dedupe-'));
  try {
    const dir = path.join(root, 'dedupe');
    fs.mkdirSync(dir, { recursive: true });
    const nowMs = Date.now();
    const nowSec = Math.floor(nowMs / 1000);
    const slices = WINDOW_MILLIS / SLICE_MILLIS;
    const firstSlice = Math.floor(nowMs / SLICE_MILLIS) - slices + 1;
    const perSliceV7 = Math.round((totalIds * (1 - untimedFraction)) / slices);
    const perSliceV4 = Math.round((totalIds * untimedFraction) / slices);
    const sampleEvery = Math.max(1, Math.floor(perSliceV7 / Math.max(1, Math.ceil((lookups * 2) / slices))));
    const sampleV7: number[] = [];
    const sampleV4: number[] = [];
    const files: string[] = [];
    let diskBytes = 0;
    let written = 0;
    const byKind = { v7: { ids: 0, bytes: 0 }, v4: { ids: 0, bytes: 0 } };
    const tw = performance.now();
    for (let i = 0; i < slices; i++) {
      const name = `run-${String(files.length + 1).padStart(12, '0')}.bin`;
      const span = i === slices - 1 ? Math.max(1, nowMs - (firstSlice + i) * SLICE_MILLIS - 1000) : SLICE_MILLIS;
      const r = writeV7Run(path.join(dir, name), firstSlice + i, perSliceV7, sampleV7, sampleEvery, span);
      files.push(name);
      diskBytes += r.bytes;
      written += r.count;
      byKind.v7.ids += r.count;
      byKind.v7.bytes += r.bytes;
      if (perSliceV4 > 0) {
        const name4 = `run-${String(files.length + 1).padStart(12, '0')}.bin`;
        const r4 = writeV4Run(
          path.join(dir, name4),
          firstSlice + i,
          perSliceV4,
          sampleV4,
          Math.max(1, Math.floor(perSliceV4 / Math.max(1, Math.ceil(lookups / slices)))),
        );
        files.push(name4);
        diskBytes += r4.bytes;
        written += r4.count;
        byKind.v4.ids += r4.count;
        byKind.v4.bytes += r4.bytes;
      }
    }
    const writeSeconds = (performance.now() - tw) / 1000;
    const body = { version: 1, coveredLsn: 0, nextSeq: files.length + 1, files };
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ body, crc: crc32(JSON.stringify(body)) }));

    // Open: what the index keeps in memory for the runs.
    gc();
    const m0 = process.memoryUsage();
    const to = performance.now();
    const index = new DedupeWindow({ dir, windowMillis: WINDOW_MILLIS, maxIds: Math.max(1 << 20, lookups * 8), sliceMillis: SLICE_MILLIS });
    await index.open(nowSec);
    index.finishRecovery();
    const openMillis = performance.now() - to;
    gc();
    const m1 = process.memoryUsage();
    const st = index.status(nowSec);
    const heapDelta = m1.heapUsed + m1.arrayBuffers - (m0.heapUsed + m0.arrayBuffers) - st.memoryTableBytes;
    // The receiver verifies every loaded run in the background after start (maintain()); lookups
    // then skip the page CRC. Measure that steady state (scrub time reported).
    const ts = performance.now();
    const pagesTotal = Math.ceil(diskBytes / 8192);
    for (let i = 0; i < pagesTotal / 2048 + 2; i++) await index.maintain(nowSec);
    const scrubSeconds = (performance.now() - ts) / 1000;

    // Lookups (every one goes through the real synchronous path: table, frozen tables, runs).
    const lsn = { v: 1 };
    let k = 0;
    const shuffled = (arr: number[]) => {
      const n = arr.length / 4;
      const order = Array.from({ length: n }, (_, i) => i).sort(() => Math.random() - 0.5);
      return order;
    };
    const v7Order = shuffled(sampleV7);
    const v4Order = shuffled(sampleV4);
    const dupV7 = measure(index, Math.min(lookups, v7Order.length), nowSec, lsn, (w) => {
      const i = v7Order[k++ % v7Order.length]! * 4;
      w.set([sampleV7[i]!, sampleV7[i + 1]!, sampleV7[i + 2]!, sampleV7[i + 3]!]);
    });
    const idWords = (ms: number, w: Uint32Array) => {
      w[0] = Math.floor(ms / 65536) >>> 0;
      w[1] = (((ms % 65536) << 16) | 0x7000 | (rand32() & 0xfff)) >>> 0;
      w[2] = ((rand32() & 0x3fffffff) | 0x80000000) >>> 0;
      w[3] = rand32();
    };
    const freshNow = measure(index, lookups, nowSec, lsn, (w) => idWords(nowMs + Math.floor(Math.random() * 1000), w));
    const windowStartMs = firstSlice * SLICE_MILLIS;
    const freshInWindow = measure(index, lookups, nowSec, lsn, (w) =>
      idWords(windowStartMs + Math.floor(Math.random() * (nowMs - windowStartMs)), w),
    );
    k = 0;
    const dupV4 =
      v4Order.length > 0
        ? measure(index, Math.min(lookups, v4Order.length), nowSec, lsn, (w) => {
            const i = v4Order[k++ % v4Order.length]! * 4;
            w.set([sampleV4[i]!, sampleV4[i + 1]!, sampleV4[i + 2]!, sampleV4[i + 3]!]);
          })
        : undefined;
    const freshV4 = measure(index, lookups, nowSec, lsn, (w) => {
      const x: number[] = [];
      randomV4(x);
      w.set(x);
    });
    await index.close();

    // Baseline in the same process: the in-memory table alone (the index before runs existed).
    const table = new DedupeIndex({ windowMillis: WINDOW_MILLIS, maxIds: Math.max(1 << 20, lookups * 2) });
    const baseTimes = new Float64Array(lookups);
    const bw = new Uint32Array(4);
    const bcpu0 = process.cpuUsage();
    for (let i = 0; i < lookups; i++) {
      idWords(nowMs + Math.floor(Math.random() * 1000), bw);
      const t0 = process.hrtime.bigint();
      table.checkAndInsert(bw[0]!, bw[1]!, bw[2]!, bw[3]!, nowSec, nowSec);
      baseTimes[i] = Number(process.hrtime.bigint() - t0) / 1000;
    }
    const bcpu = process.cpuUsage(bcpu0);
    baseTimes.sort();
    // The live path, same loop shape for both: fresh UUIDv7s of the current time through the
    // in-memory table alone and through the index with every run loaded; three interleaved rounds,
    // mean µs per call (id generation included in both).
    const again = new DedupeWindow({ dir, windowMillis: WINDOW_MILLIS, maxIds: Math.max(1 << 20, lookups * 8), sliceMillis: SLICE_MILLIS });
    await again.open(nowSec);
    again.finishRecovery();
    const table2 = new DedupeIndex({ windowMillis: WINDOW_MILLIS, maxIds: Math.max(1 << 20, lookups * 8) });
    const sameLoop: Array<{ inMemoryOnlyMicros: number; withRunsMicros: number }> = [];
    let seqLsn = 1;
    for (let round = 0; round < 3; round++) {
      let t = process.hrtime.bigint();
      for (let i = 0; i < lookups; i++) {
        idWords(nowMs + i, bw);
        table2.checkAndInsert(bw[0]!, bw[1]!, bw[2]!, bw[3]!, nowSec, nowSec);
      }
      const base = Number(process.hrtime.bigint() - t) / lookups / 1000;
      t = process.hrtime.bigint();
      for (let i = 0; i < lookups; i++) {
        idWords(nowMs + i, bw);
        again.checkAndInsert(bw[0]!, bw[1]!, bw[2]!, bw[3]!, nowSec, nowSec, seqLsn++);
      }
      const withRuns = Number(process.hrtime.bigint() - t) / lookups / 1000;
      sameLoop.push({ inMemoryOnlyMicros: Math.round(base * 1000) / 1000, withRunsMicros: Math.round(withRuns * 1000) / 1000 });
    }
    await again.close();
    const inMemoryOnlyFresh = {
      sameLoop,
      lookups,
      p50Micros: Math.round(pct(baseTimes, 50) * 100) / 100,
      p99Micros: Math.round(pct(baseTimes, 99) * 100) / 100,
      cpuMicrosPerLookup: Math.round(((bcpu.user + bcpu.system) / lookups) * 100) / 100,
    };

    // Memory and disk at 7 days × 10,000 events/s.
    // Fences and Bloom filters grow with the ids; the rest is per run file (≈ 3 runs per hourly slice
    // once merged: UUIDv7 ids of this slice, stragglers of the previous one, untimed ids).
    const summaryPerId = (st.fenceBytes + st.bloomBytes) / Math.max(1, written);
    const perRunBytes = (st.summaryBytes - st.fenceBytes - st.bloomBytes) / Math.max(1, st.runFiles);
    const diskPerId = diskBytes / Math.max(1, written);
    // The in-memory table at the default dedupeMaxIds, at its largest (20-byte slots, ≤ 75 % load).
    const maxTableBytes = 2 ** Math.ceil(Math.log2(DEFAULT_MAX_IDS / 0.75 + 1)) * 20;
    const extrapolated = {
      ids: FULL_SCALE_IDS,
      summaryMiB: Math.round((summaryPerId * FULL_SCALE_IDS + perRunBytes * slices * 3) / 2 ** 20),
      inMemoryTableMiB: Math.round(maxTableBytes / 2 ** 20),
      pageCacheMiB: Math.round((512 * 8192) / 2 ** 20),
      totalMiB: Math.round((summaryPerId * FULL_SCALE_IDS + perRunBytes * slices * 3 + maxTableBytes + 512 * 8192) / 2 ** 20),
      diskGiB: Math.round(((diskPerId * FULL_SCALE_IDS) / 2 ** 30) * 10) / 10,
    };

    // Ingest: in-memory-only table vs a small table that spills (same requests, alternating).
    const pool = tiny ? 4 : 16;
    const requests = Array.from({ length: pool }, () => request(Array.from({ length: 512 }, () => eventToRecord(makeEvent()))));
    // Real UUIDv7s (random bits matter here: runs are sorted and searched by them).
    const nextId = () => uuidv7();
    const rounds: Array<{ variant: string; eventsPerSecond: number; cpuMicrosPerEvent: number; runFiles: number; runIds: number }> = [];
    for (let i = 0; i < 2; i++) {
      for (const [variant, maxIds] of [
        ['inMemoryOnly', 20_000_000],
        ['spilling', 65_536],
      ] as const) {
        const r = await ingestRound(root, `${variant}-${i}`, maxIds, ingestSeconds, requests, nextId);
        rounds.push({
          variant,
          eventsPerSecond: r.eventsPerSecond,
          cpuMicrosPerEvent: r.cpuMicrosPerEvent,
          runFiles: r.runFiles,
          runIds: r.runIds,
        });
      }
    }
    const stall = await spillStall(root, tiny ? 20_000 : quick ? 300_000 : 1_000_000);
    const mean = (v: string) => rounds.filter((r) => r.variant === v).reduce((s, r) => s + r.eventsPerSecond, 0) / 2;
    const ratio = mean('spilling') / Math.max(1, mean('inMemoryOnly'));
    const cpuMean = (v: string) => rounds.filter((r) => r.variant === v).reduce((s, r) => s + r.cpuMicrosPerEvent, 0) / 2;

    return {
      scenario: 'dedupe-window',
      runs: {
        ids: written,
        untimedFraction,
        slices,
        files: files.length,
        writeSeconds: Math.round(writeSeconds * 10) / 10,
        diskBytes,
        diskBytesPerId: Math.round(diskPerId * 100) / 100,
        diskBytesPerV7Id: Math.round((byKind.v7.bytes / Math.max(1, byKind.v7.ids)) * 100) / 100,
        diskBytesPerV4Id: Math.round((byKind.v4.bytes / Math.max(1, byKind.v4.ids)) * 100) / 100,
      },
      memory: {
        openMillis: Math.round(openMillis),
        scrubSeconds: Math.round(scrubSeconds * 10) / 10,
        summaryBytes: st.summaryBytes,
        fenceBytes: st.fenceBytes,
        bloomBytes: st.bloomBytes,
        summaryBytesPerId: Math.round((st.summaryBytes / Math.max(1, written)) * 10000) / 10000,
        heapDeltaBytes: Math.max(0, heapDelta),
      },
      lookups: {
        inMemoryOnlyFresh,
        duplicateV7: dupV7,
        freshV7Now: freshNow,
        freshV7InWindow: freshInWindow,
        ...(dupV4 ? { duplicateV4: dupV4 } : {}),
        freshV4,
      },
      extrapolated,
      spillStall: stall,
      ingest: {
        rounds,
        inMemoryOnlyEventsPerSecond: Math.round(mean('inMemoryOnly')),
        spillingEventsPerSecond: Math.round(mean('spilling')),
        ratio: Math.round(ratio * 1000) / 1000,
        cpuMicrosPerEvent: { inMemoryOnly: cpuMean('inMemoryOnly'), spilling: cpuMean('spilling') },
        cpuRatio: Math.round((cpuMean('spilling') / Math.max(0.001, cpuMean('inMemoryOnly'))) * 1000) / 1000,
      },
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const ids = arg('--ids');
  const ingestSeconds = arg('--ingest-seconds');
  console.log(
    JSON.stringify(
      await run({ quick: process.argv.includes('--quick'), ...(ids ? { ids } : {}), ...(ingestSeconds ? { ingestSeconds } : {}) }),
      null,
      2,
    ),
  );
}
