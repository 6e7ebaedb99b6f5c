/**
 * Benchmark: events/s through the pipeline's `consume()` with fsync'd acknowledgements (512-record
 * requests, several concurrent callers, realistic audit records), fsync count and latency, and in
 * the same run the disk floor: a raw WAL append + group-commit loop with the same payload sizes and
 * no validation, hashing or dedupe. `run({ quick })` returns the numbers; bench/run.ts prints them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { AuditError } from '@otel-audit/core';
import type { DecodedLogs } from '../receiver/contracts.ts';
import { createAuditPipeline } from '../receiver/pipeline/index.ts';
import { Wal } from '../receiver/wal/wal.ts';
import { eventToRecord, makeEvent, request, uuidv7 } from '../test/receiver/pipeline/fixtures.ts';

/** Options of {@link run}. */
export interface PipelineAppendBenchOptions {
  /** Shorter run (a few seconds) for CI smoke. */
  quick?: boolean;
  /** Concurrent callers. Default 4. */
  concurrency?: number;
  /** Records per request. Default 512. */
  batchSize?: number;
}

/** Result of {@link run}. */
export interface PipelineAppendBenchResult {
  scenario: 'pipeline-append';
  batchSize: number;
  concurrency: number;
  pipeline: {
    events: number;
    seconds: number;
    eventsPerSecond: number;
    ackLatencyMillis: { p50: number; p99: number; max: number };
    fsyncs: number;
    fsyncMillis: { mean: number; max: number };
    eventsPerFsync: number;
    walBytesPerEvent: number;
  };
  rawWal: { events: number; seconds: number; eventsPerSecond: number; fsyncs: number; mbPerSecond: number };
  /** pipeline events/s ÷ raw WAL events/s. */
  ratio: number;
  /** Start-up recovery over the pipeline phase's WAL: with a chain-head snapshot, and replaying every entry. */
  recovery: { clean: { records: number; millis: number }; fullReplay: { records: number; millis: number } };
  /** Heap while an exporter refuses and the backlog grows on disk (the backlog must not be in the heap). */
  backlog: { events: number; walBytes: number; heapUsedBeforeMiB: number; heapUsedAfterMiB: number; dedupeIndexMiB: number };
  cpuSecondsPerMillionEvents: number;
  peakRssMiB: number;
}

/** A full GC on demand (so heap numbers are live data, not uncollected garbage). */
function exposeGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

/** Run the benchmark (see the module comment). */
export async function run(options: PipelineAppendBenchOptions = {}): Promise<PipelineAppendBenchResult> {
  const batchSize = options.batchSize ?? 512;
  const concurrency = options.concurrency ?? 4;
  const seconds = options.quick ? 3 : 10;
  const root = await mkdtemp(path.join(tmpdir(), 'otel-audit-bench-'));
  let peakRss = 0;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100);
  try {
    // Pre-build requests (the transports' decode is not measured here), several tenants.
    const tenants = ['acme', 'globex', 'initech', 'umbrella'];
    const pool = 64;
    const makeRequests = (): DecodedLogs[] =>
      Array.from({ length: pool }, (_, i) =>
        request(Array.from({ length: batchSize }, () => eventToRecord(makeEvent({ tenant: { id: tenants[i % tenants.length]! } })))),
      );

    // --- pipeline ---
    let fsyncs = 0;
    let fsyncSum = 0;
    let fsyncMax = 0;
    const p = createAuditPipeline(
      { dataDir: path.join(root, 'pipeline'), maintenanceIntervalMillis: 1000 },
      {
        onFsync: (kind, ms) => {
          if (kind === 'data') {
            fsyncs++;
            fsyncSum += ms;
            fsyncMax = Math.max(fsyncMax, ms);
          }
        },
      },
    );
    await p.start();
    const requests = makeRequests();
    // Cheap unique UUIDv7s: a real one's time and random prefix with a counter in the last 48 bits
    // (crypto-random ids per event would cost more than the pipeline's own work being measured).
    const idPrefix = uuidv7().slice(0, 24);
    let idCounter = 0;
    const nextId = () => idPrefix + (idCounter++).toString(16).padStart(12, '0');
    let next = 0;
    const latencies: number[] = [];
    let events = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000;
    const worker = async () => {
      while (performance.now() < deadline) {
        const req = requests[next++ % requests.length]!;
        // Fresh event ids on every reuse, otherwise everything after the first round is a duplicate.
        for (const rec of req.resourceLogs[0]!.scopeLogs[0]!.logRecords) rec.attributes['audit.event_id'] = nextId();
        const s = performance.now();
        const r = await p.consume(req, { transport: 'http' });
        latencies.push(performance.now() - s);
        if (r.status !== 'success') throw new Error(`consume answered ${r.status}`);
        events += r.accepted;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const st = p.status();
    await p.shutdown();
    latencies.sort((a, b) => a - b);

    // --- recovery time over that WAL: with the chain-head snapshot of a clean shutdown, and
    // without it (as after a crash long after the last snapshot: every entry's JSON is replayed) ---
    const recover = async (): Promise<{ records: number; millis: number }> => {
      const q = createAuditPipeline({ dataDir: path.join(root, 'pipeline') });
      await q.start();
      const rec = q.status().recovery!;
      await q.shutdown();
      return { records: rec.records, millis: Math.round(rec.durationMillis) };
    };
    const recoveryClean = await recover();
    await rm(path.join(root, 'pipeline', 'wal', 'state', 'heads.json'), { force: true });
    const recoveryFullReplay = await recover();

    // --- raw WAL floor: same payload size, same group commit, no per-event work ---
    const sample = st.wal.bytes / Math.max(1, st.wal.lastLsn) - 40;
    const payload = 'x'.repeat(Math.max(16, Math.round(sample) - 2));
    let rawFsyncs = 0;
    const { wal } = await Wal.open(
      {
        dir: path.join(root, 'raw'),
        segmentBytes: 64 * 1024 * 1024,
        durability: 'fsync',
        retentionMillis: 0,
        onFsync: (k) => {
          if (k === 'data') rawFsyncs++;
        },
      },
      () => undefined,
    );
    const words = new Uint32Array([1, 2, 3, 4]);
    let rawEvents = 0;
    const r0 = performance.now();
    const rawDeadline = r0 + Math.min(seconds, 5) * 1000;
    const rawWorker = async () => {
      while (performance.now() < rawDeadline) {
        let last = 0;
        for (let i = 0; i < batchSize; i++) {
          last = wal.nextLsn;
          wal.append(last, words, 1, `"${payload}"`);
        }
        await wal.waitDurable(last);
        rawEvents += batchSize;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, rawWorker));
    const rawSeconds = (performance.now() - r0) / 1000;
    const rawBytes = wal.totalBytes();
    await wal.close();

    // --- backlog: an exporter that refuses; the WAL grows on disk, the heap must not ---
    const refusing = {
      name: 'refusing',
      start: async () => undefined,
      shutdown: async () => undefined,
      export: async () => ({ status: 'retryable' as const, error: new AuditError('AUDIT_ERR_STORE_UNAVAILABLE', 'down') }),
    };
    const bp = createAuditPipeline({ dataDir: path.join(root, 'backlog'), maxBacklogBytes: 16 * 1024 ** 3 });
    bp.addExporter(refusing, { maxBackoffMillis: 1000 });
    await bp.start();
    const gc = exposeGc();
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const rounds = options.quick ? 40 : 200;
    let backlogEvents = 0;
    for (let i = 0; i < rounds; i++) {
      const req = requests[i % requests.length]!;
      for (const rec of req.resourceLogs[0]!.scopeLogs[0]!.logRecords) rec.attributes['audit.event_id'] = nextId();
      const r = await bp.consume(req, { transport: 'http' });
      if (r.status === 'success') backlogEvents += r.accepted;
    }
    gc();
    const heapAfter = process.memoryUsage().heapUsed;
    const bst = bp.status();
    await bp.shutdown();

    const eps = events / elapsed;
    const rawEps = rawEvents / rawSeconds;
    return {
      scenario: 'pipeline-append',
      batchSize,
      concurrency,
      pipeline: {
        events,
        seconds: elapsed,
        eventsPerSecond: Math.round(eps),
        ackLatencyMillis: { p50: pct(latencies, 50), p99: pct(latencies, 99), max: latencies.at(-1) ?? 0 },
        fsyncs,
        fsyncMillis: { mean: fsyncs ? fsyncSum / fsyncs : 0, max: fsyncMax },
        eventsPerFsync: fsyncs ? events / fsyncs : 0,
        walBytesPerEvent: st.wal.bytes / Math.max(1, st.wal.lastLsn),
      },
      rawWal: {
        events: rawEvents,
        seconds: rawSeconds,
        eventsPerSecond: Math.round(rawEps),
        fsyncs: rawFsyncs,
        mbPerSecond: rawBytes / rawSeconds / 1e6,
      },
      ratio: eps / rawEps,
      recovery: { clean: recoveryClean, fullReplay: recoveryFullReplay },
      backlog: {
        events: backlogEvents,
        walBytes: bst.wal.backlogBytes,
        heapUsedBeforeMiB: Math.round(heapBefore / 1024 / 1024),
        heapUsedAfterMiB: Math.round(heapAfter / 1024 / 1024),
        dedupeIndexMiB: Math.round((bst.dedupe.bytes / 1024 / 1024) * 10) / 10,
      },
      cpuSecondsPerMillionEvents: ((cpu.user + cpu.system) / 1e6 / Math.max(1, events)) * 1e6,
      peakRssMiB: Math.round(peakRss / 1024 / 1024),
    };
  } finally {
    clearInterval(rssTimer);
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run({ quick: process.argv.includes('--quick') }), null, 2));
}
