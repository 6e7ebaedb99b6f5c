/**
 * Benchmark: an exporter down for a while. The backlog must live on disk, not in
 * the heap, and drain when the exporter returns.
 *
 * Down: the receiver (`otel-audit start`, defaults otherwise) runs with its ClickHouse exporter
 * pointed at a closed port (`OTEL_AUDIT_EXPORTERS__CLICKHOUSE__URL=http://127.0.0.1:<closed>`), so
 * every insert fails and retries with backoff while the cold-storage exporter keeps working. The
 * load generator sends `events` (default 1,000,000) as fast as the receiver acks (closed loop, 4
 * connections, HTTP/protobuf). Every 250 ms the bench records the receiver's RSS (/proc) and the
 * WAL bytes behind the slowest exporter (`/v1/audit/status` `wal.backlogBytes`).
 *
 * Back: the embedded chDB engine cannot be switched on inside a running process, so "the exporter
 * returns" is a restart of the receiver on the same data dir without the override (ClickHouse
 * embedded again, same `clickhouse` cursor). The drain rate is the cursor's progress per second
 * until the lag reaches zero; the restart's WAL recovery time is reported beside it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LoadRun, measureLoad } from './lib/measure.ts';
import { type MemoryProbeSummary, summarizeMemoryProbe } from './lib/memory-probe.ts';
import { type ReceiverProcess, receiverStatus, sampleProc, startReceiver } from './lib/processes.ts';

/** Options of {@link run}. */
export interface BacklogBenchOptions {
  quick?: boolean;
  tiny?: boolean;
  /** Events to backlog (default 1,000,000; quick 100,000; tiny 10,240). */
  events?: number;
  workDir?: string;
  /** Node options of the receiver process, both runs (A/B of V8 memory flags). */
  nodeArgs?: string[];
}

/** One sample while the backlog builds. */
export interface BacklogPoint {
  seconds: number;
  /** Events the ClickHouse exporter is behind. */
  backlogEvents: number;
  backlogMiB: number;
  rssMiB: number;
}

/** Result of {@link run}. */
export interface BacklogBenchResult {
  scenario: 'backlog';
  events: number;
  /** How the exporter was taken down and brought back. */
  method: string;
  load: LoadRun;
  /** Backlog at the end of the load. */
  backlogEvents: number;
  backlogMiB: number;
  walBytesPerEvent: number;
  /** RSS when the backlog was 10 % of its final size, at the end, and the peak (VmHWM). */
  rssMiBAt10Percent: number;
  rssMiBAtEnd: number;
  peakRssMiB: number;
  /** RSS growth per 100,000 backlogged events between 10 % and 100 % of the backlog (MiB). */
  rssSlopeMiBPer100kEvents: number;
  series: BacklogPoint[];
  /** Where the memory was while the backlog built (every thread's V8 heap, RSS split; bench/lib/memory-probe.ts). */
  memory: Omit<MemoryProbeSummary, 'mainSeries'>;
  drain: {
    /** WAL recovery time of the restarted receiver (ms). */
    recoveryMillis: number | null;
    /** Events drained, and seconds from the restart (process start, recovery, chDB open included). */
    events: number;
    seconds: number;
    eventsPerSecond: number;
    /** Events/s from the first status poll after the restart (start-up excluded); null if too short to tell. */
    steadyEventsPerSecond: number | null;
    /** Whether the lag reached zero before the time limit. */
    complete: boolean;
    peakRssMiB: number;
  };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Run the benchmark (see the module comment). */
export async function run(options: BacklogBenchOptions = {}): Promise<BacklogBenchResult> {
  const tiny = options.tiny ?? false;
  const events = options.events ?? (tiny ? 10_240 : options.quick ? 100_000 : 1_000_000);
  const base = await mkdtemp(join(options.workDir ?? tmpdir(), 'otel-audit-bench-backlog-'));
  const dataDir = join(base, 'data');
  let receiver: ReceiverProcess | undefined;
  try {
    const port = await closedPort();
    const memoryProbeFile = join(base, 'memory-probe.jsonl');
    receiver = await startReceiver({
      dataDir,
      env: { OTEL_AUDIT_EXPORTERS__CLICKHOUSE__URL: `http://127.0.0.1:${port}` },
      memoryProbeFile,
      ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
    });
    const r = receiver;
    const series: BacklogPoint[] = [];
    const t0 = performance.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [s, p] = [await receiverStatus(r.http).catch(() => undefined), sampleProc(r.pid)];
        const ch = s?.exporters.find((e) => e.name === 'clickhouse');
        if (s && ch && p)
          series.push({
            seconds: Math.round((performance.now() - t0) / 100) / 10,
            backlogEvents: ch.lagEntries,
            backlogMiB: Math.round((s.wal.backlogBytes / 2 ** 20) * 10) / 10,
            rssMiB: Math.round(p.rssMiB),
          });
        await new Promise((res) => setTimeout(res, 250));
      }
    })();
    // Duration is an upper bound: the generator stops once `events` are sent.
    const load = await measureLoad(r, {
      protocol: 'http-protobuf',
      connections: 4,
      durationSeconds: 3600,
      warmupSeconds: 0,
      maxEvents: events,
    });
    await new Promise((res) => setTimeout(res, 500));
    sampling = false;
    await sampler;
    const end = await receiverStatus(r.http);
    const ch = end.exporters.find((e) => e.name === 'clickhouse')!;
    const endProc = sampleProc(r.pid)!;
    await r.stop();
    const { mainSeries: _series, ...memory } = summarizeMemoryProbe(memoryProbeFile);

    const final = series.at(-1)!;
    const at10 = series.find((p) => p.backlogEvents >= ch.lagEntries * 0.1) ?? series[0]!;
    const slope = ch.lagEntries > at10.backlogEvents ? ((final.rssMiB - at10.rssMiB) / (ch.lagEntries - at10.backlogEvents)) * 100_000 : 0;

    // --- the exporter returns: restart with embedded ClickHouse, measure the drain ---
    // The exporter starts exporting during start-up, so the clock starts before the restart; the
    // steady rate is taken from the first status poll on.
    const d0 = performance.now();
    receiver = await startReceiver({ dataDir, ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}) });
    const back = await receiverStatus(receiver.http);
    const p0 = performance.now();
    const lagAtFirstPoll = back.exporters.find((e) => e.name === 'clickhouse')?.lagEntries ?? 0;
    // Bounded so a slow drain cannot hold the whole suite; `complete: false` says so.
    const limit = tiny ? 60_000 : 300_000;
    let lag = lagAtFirstPoll;
    while (lag > 0 && performance.now() - d0 < limit) {
      await new Promise((res) => setTimeout(res, 250));
      lag = (await receiverStatus(receiver.http)).exporters.find((e) => e.name === 'clickhouse')?.lagEntries ?? 0;
    }
    const drainSeconds = (performance.now() - d0) / 1000;
    const steadySeconds = (performance.now() - p0) / 1000;
    const drainPeak = sampleProc(receiver.pid)?.peakRssMiB ?? 0;
    return {
      scenario: 'backlog',
      events,
      method: 'ClickHouse URL → closed port while loading; then restart on the same data dir with embedded chDB',
      load,
      backlogEvents: ch.lagEntries,
      backlogMiB: Math.round((end.wal.backlogBytes / 2 ** 20) * 10) / 10,
      walBytesPerEvent: Math.round(end.wal.backlogBytes / Math.max(1, ch.lagEntries)),
      rssMiBAt10Percent: at10.rssMiB,
      rssMiBAtEnd: Math.round(endProc.rssMiB),
      peakRssMiB: Math.round(endProc.peakRssMiB),
      rssSlopeMiBPer100kEvents: Math.round(slope * 10) / 10,
      series,
      memory,
      drain: {
        recoveryMillis: back.recovery ? Math.round(back.recovery.durationMillis) : null,
        events: ch.lagEntries - lag,
        seconds: Math.round(drainSeconds * 10) / 10,
        eventsPerSecond: Math.round((ch.lagEntries - lag) / drainSeconds),
        steadyEventsPerSecond: steadySeconds > 0.5 ? Math.round((lagAtFirstPoll - lag) / steadySeconds) : null,
        complete: lag === 0,
        peakRssMiB: Math.round(drainPeak),
      },
    };
  } finally {
    await receiver?.stop();
    await rm(base, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = process.argv.find((a) => /^--events=\d+$/.test(a));
  // --receiver-node-args="--max-semi-space-size=4 …": Node options of the receiver process.
  const a = process.argv.find((x) => x.startsWith('--receiver-node-args='));
  const nodeArgs = a ? a.slice('--receiver-node-args='.length).split(' ').filter(Boolean) : undefined;
  console.log(
    JSON.stringify(
      await run({
        quick: process.argv.includes('--quick'),
        tiny: process.argv.includes('--tiny'),
        ...(n ? { events: Number(n.slice(9)) } : {}),
        ...(nodeArgs ? { nodeArgs } : {}),
      }),
      null,
      2,
    ),
  );
}
