/**
 * Benchmark: end-to-end visibility lag, ack → queryable, into ClickHouse and into cold
 * storage, at a fixed offered load (default 20,000 events/s — issue 15's visibility aim — open loop,
 * HTTP/protobuf).
 *
 * The real receiver runs as `otel-audit start` with its defaults (embedded chDB, local archive),
 * except that cold-storage objects are sealed after `coldObjectAgeMillis` (default 2 s instead of
 * the production 60 s: the cold lag is that setting plus encoding and writing, and a 60 s wait
 * would make the run long without saying more). The load generator reports the first event id of
 * one acknowledged batch every 100 ms with its ack time. The bench then polls
 * - ClickHouse through the receiver's own ClickHouse-HTTP endpoint
 *   (`@clickhouse/client`, `pathname: '/clickhouse'`) every 50 ms for the sampled ids: lag = first
 *   poll that sees the id − ack time (so it includes up to one poll interval plus the query);
 * - the local archive directory every 200 ms, noting when each object first appears; after the
 *   run the sampled ids' chain and seq are looked up in ClickHouse and matched to the object whose
 *   key covers them: lag = first sight of that object − ack time.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createClient } from '@clickhouse/client';
import { parseObjectKey } from '../exporters/coldstore/keys.ts';
import { type LoadRun, measureLoad, waitForExporters } from './lib/measure.ts';
import { type MemoryProbeSummary, summarizeMemoryProbe } from './lib/memory-probe.ts';
import {
  type AckSample,
  type ReceiverProcess,
  receiverStatus,
  runLoadgen,
  sampleProc,
  sampleThreadCpu,
  startReceiver,
} from './lib/processes.ts';
import { type LatencySummary, summarizeLatencies } from './loadgen.ts';

/** Options of {@link run}. */
export interface EndToEndBenchOptions {
  quick?: boolean;
  /** CI smoke: about 1 s of load at a low rate. */
  tiny?: boolean;
  /** Offered load, events/s (default 20,000; tiny 5,000). */
  ratePerSecond?: number;
  /** Cold-storage object age at which segments are sealed and uploaded (ms). Default 2000. */
  coldObjectAgeMillis?: number;
  workDir?: string;
}

/** Lag summary for one store. */
export interface VisibilityLag {
  /** Sampled batches whose event became visible / that were sampled. */
  found: number;
  sampled: number;
  lagMillis: Omit<LatencySummary, 'histogram'>;
}

/** Result of {@link run}. */
export interface EndToEndBenchResult {
  scenario: 'end-to-end';
  offeredEventsPerSecond: number;
  coldObjectAgeMillis: number;
  load: LoadRun;
  clickhouse: VisibilityLag & { pollMillis: number };
  coldStorage: VisibilityLag & { pollMillis: number };
  /** Rows/s the ClickHouse exporter wrote over the load window (from its status). */
  clickhouseExporterRowsPerSecond: number;
  /** Seconds after the load until both exporters had caught up. */
  catchUpSeconds: number | null;
}

const CH_POLL_MILLIS = 50;
const COLD_POLL_MILLIS = 200;

async function listArchive(root: string): Promise<string[]> {
  try {
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => relative(root, join(e.parentPath, e.name)));
  } catch {
    return [];
  }
}

function lagOf(samples: AckSample[], visibleAt: Map<string, number>): VisibilityLag {
  const lags: number[] = [];
  for (const s of samples) {
    const at = visibleAt.get(s.eventId);
    if (at !== undefined) lags.push(Math.max(0, at - s.ackAtMillis));
  }
  const { histogram: _h, ...lagMillis } = summarizeLatencies(lags);
  return { found: lags.length, sampled: samples.length, lagMillis };
}

/** Result of {@link runClosedLoop}. */
export interface ClosedLoopResult {
  /** Events sent (closed loop, as fast as acks come back) and accepted by the receiver. */
  events: number;
  connections: number;
  /** Seconds from the first send until the last ack / until the last event was queryable. */
  ackSeconds: number;
  clickhouseSeconds: number | null;
  archiveSeconds: number | null;
  /** events ÷ those seconds. */
  ackedEventsPerSecond: number;
  clickhouseEventsPerSecond: number | null;
  archiveEventsPerSecond: number | null;
  /** Receiver peak RSS over the run (VmHWM, MiB) and RSS sampled at the moment everything was visible. */
  receiverPeakRssMiB: number;
  receiverRssAtEndMiB: number;
  /**
   * Receiver CPU seconds from before the first send until everything was visible, and events per
   * CPU second: the efficiency figure that survives a crowded machine (rates do not).
   */
  receiverCpuSeconds: number;
  eventsPerReceiverCpuSecond: number;
  /**
   * The same CPU per event (µs), by thread group (bench/lib/processes.ts `sampleThreadCpu`): main,
   * prepare-workers, clickhouse-builder, coldstore-builder, engine (the embedded ClickHouse's query
   * pool: inserts, Parquet writes), engine-background (merges), v8-helpers (GC, compilation), libuv
   * (file I/O, fsync), other. Which stage bounds the rate is read off this.
   */
  cpuMicrosPerEventByThread: Record<string, number>;
  /** The load generator's own CPU per event (µs; its process shares the two cores with the receiver). */
  loadGeneratorCpuMicrosPerEvent: number;
  loadAverage: number[];
  /**
   * Where the memory was: every thread's peak V8 heap and the process's RSS split (bench/lib/memory-probe.ts),
   * and the embedded engine's own accounting (`system.metrics` MemoryTracking, peak over 500 ms polls).
   */
  memory: MemoryProbeSummary & { engineMemoryTrackingPeakMiB: number | null };
}

/** Deep-merge plain objects (receiver config overrides of a run). */
function mergeConfig(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object' && !Array.isArray(prev)
        ? mergeConfig(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** Rows of the uploaded cold objects (the sum of their manifests' row counts). */
async function archivedRows(root: string): Promise<number> {
  let rows = 0;
  for (const key of await listArchive(root)) {
    if (!key.endsWith('.manifest.json')) continue;
    try {
      rows += (JSON.parse(await readFile(join(root, key), 'utf8')) as { rowCount: number }).rowCount;
    } catch {
      // Being written (atomic rename makes this rare): counted at the next poll.
    }
  }
  return rows;
}

/**
 * End to end at the receiver's own pace: `events` sent closed-loop (HTTP/protobuf, 4 connections) to
 * a default receiver; the rate is events ÷ time from the first send until the last is queryable in
 * ClickHouse (count() through the receiver's ClickHouse-HTTP endpoint, polled every 100 ms), and the
 * same until the last is in an uploaded archive object (manifest row counts, polled every 200 ms).
 * The first send is the generator's own start of sending (its report's window, warm-up 0).
 */
export async function runClosedLoop(
  options: {
    events?: number;
    tiny?: boolean;
    coldObjectAgeMillis?: number;
    workDir?: string;
    /** Receiver config merged over the bench's own. */
    config?: Record<string, unknown>;
    /** Node.js options of the receiver process. */
    nodeArgs?: string[];
    /** Extra environment of the receiver process (e.g. `MALLOC_ARENA_MAX`). */
    env?: Record<string, string>;
  } = {},
): Promise<ClosedLoopResult> {
  const events = options.events ?? (options.tiny ? 5120 : 300_000);
  const coldAge = options.coldObjectAgeMillis ?? 2000;
  const base = await mkdtemp(join(options.workDir ?? tmpdir(), 'otel-audit-bench-e2e-closed-'));
  let receiver: ReceiverProcess | undefined;
  try {
    const dataDir = join(base, 'data');
    const memoryProbeFile = join(base, 'memory-probe.jsonl');
    receiver = await startReceiver({
      dataDir,
      config: mergeConfig({ exporters: { coldstore: { maxObjectAgeMillis: coldAge } } }, options.config ?? {}),
      memoryProbeFile,
      ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
      ...(options.env ? { env: options.env } : {}),
    });
    const client = createClient({ url: receiver.http, pathname: '/clickhouse', request_timeout: 30_000 });
    let engineTrackingPeak: number | null = null;
    let probing = true;
    const engineProbe = (async () => {
      while (probing) {
        try {
          const rs = await client.query({
            query: "SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'",
            format: 'JSONEachRow',
          });
          const [row] = await rs.json<{ value: string | number }>();
          if (row) engineTrackingPeak = Math.max(engineTrackingPeak ?? 0, Number(row.value) / 2 ** 20);
        } catch {
          // Refused or busy: the probe is best effort.
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const connections = 4;
    const cpuBefore = sampleProc(receiver.pid)?.cpuSeconds ?? 0;
    const threads = sampleThreadCpu(receiver.pid);
    const report = await runLoadgen({
      protocol: 'http-protobuf',
      target: `${receiver.http}/v1/logs`,
      connections,
      durationSeconds: 3600,
      warmupSeconds: 0,
      maxEvents: events,
    });
    const lastAckAt = performance.now();
    const firstSendAt = lastAckAt - report.seconds * 1000;
    const accepted = (await receiverStatus(receiver.http)).counters.accepted;
    let chAt: number | undefined;
    let archiveAt: number | undefined;
    const deadline = performance.now() + 300_000;
    const archive = join(dataDir, 'archive');
    await Promise.all([
      (async () => {
        while (chAt === undefined && performance.now() < deadline) {
          const rs = await client.query({ query: 'SELECT count() AS c FROM otel_audit.audit_events', format: 'JSONEachRow' });
          const [row] = await rs.json<{ c: string | number }>();
          if (Number(row?.c ?? 0) >= accepted) chAt = performance.now();
          else await new Promise((r) => setTimeout(r, 100));
        }
      })(),
      (async () => {
        while (archiveAt === undefined && performance.now() < deadline) {
          if ((await archivedRows(archive)) >= accepted) archiveAt = performance.now();
          else await new Promise((r) => setTimeout(r, 200));
        }
      })(),
    ]);
    probing = false;
    await engineProbe;
    await client.close();
    const proc = sampleProc(receiver.pid);
    const cpu = (proc?.cpuSeconds ?? 0) - cpuBefore;
    const byThread = Object.entries(threads.stop())
      .sort((x, y) => y[1] - x[1])
      .map(([group, seconds]) => [group, Math.round((seconds / Math.max(accepted, 1)) * 1e7) / 10] as const);
    const secs = (at: number | undefined) => (at === undefined ? null : Math.round((at - firstSendAt) / 100) / 10);
    const rate = (at: number | undefined) => (at === undefined ? null : Math.round(accepted / ((at - firstSendAt) / 1000)));
    return {
      events: accepted,
      connections,
      ackSeconds: secs(lastAckAt)!,
      clickhouseSeconds: secs(chAt),
      archiveSeconds: secs(archiveAt),
      ackedEventsPerSecond: rate(lastAckAt)!,
      clickhouseEventsPerSecond: rate(chAt),
      archiveEventsPerSecond: rate(archiveAt),
      receiverPeakRssMiB: Math.round(proc?.peakRssMiB ?? 0),
      receiverRssAtEndMiB: Math.round(proc?.rssMiB ?? 0),
      receiverCpuSeconds: Math.round(cpu * 10) / 10,
      eventsPerReceiverCpuSecond: Math.round(accepted / Math.max(cpu, 0.001)),
      cpuMicrosPerEventByThread: Object.fromEntries(byThread),
      loadGeneratorCpuMicrosPerEvent:
        Math.round(((report.generatorCpuPercent / 100) * report.seconds * 1e7) / Math.max(report.ackedEvents, 1)) / 10,
      loadAverage: (await import('node:os')).loadavg().map((x) => Math.round(x * 10) / 10),
      memory: {
        ...summarizeMemoryProbe(memoryProbeFile),
        engineMemoryTrackingPeakMiB: engineTrackingPeak === null ? null : Math.round(engineTrackingPeak),
      },
    };
  } finally {
    await receiver?.stop();
    await rm(base, { recursive: true, force: true });
  }
}

/** Run the benchmark (see the module comment). */
export async function run(options: EndToEndBenchOptions = {}): Promise<EndToEndBenchResult> {
  const tiny = options.tiny ?? false;
  const rate = options.ratePerSecond ?? (tiny ? 5000 : 20_000);
  const seconds = tiny ? 1 : options.quick ? 5 : 20;
  const coldAge = options.coldObjectAgeMillis ?? 2000;
  const base = await mkdtemp(join(options.workDir ?? tmpdir(), 'otel-audit-bench-e2e-'));
  let receiver: ReceiverProcess | undefined;
  try {
    const dataDir = join(base, 'data');
    receiver = await startReceiver({ dataDir, config: { exporters: { coldstore: { maxObjectAgeMillis: coldAge } } } });
    const client = createClient({ url: receiver.http, pathname: '/clickhouse', request_timeout: 30_000 });
    const samples: AckSample[] = [];
    const pending = new Set<string>();
    const chVisible = new Map<string, number>();
    const objectSeen = new Map<string, number>();
    let stop = false;
    const now = () => performance.timeOrigin + performance.now();

    const pollClickHouse = async () => {
      while (!stop || pending.size > 0) {
        if (pending.size > 0) {
          const ids = [...pending];
          const rs = await client.query({
            query: `SELECT EventId FROM otel_audit.audit_events WHERE EventId IN ({ids:Array(String)})`,
            query_params: { ids },
            format: 'JSONEachRow',
          });
          const rows = await rs.json<{ EventId: string }>();
          const at = now();
          for (const r of rows) if (pending.delete(r.EventId)) chVisible.set(r.EventId, at);
        }
        if (stop && performance.now() > giveUpAt) break;
        await new Promise((r) => setTimeout(r, CH_POLL_MILLIS));
      }
    };
    const archive = join(dataDir, 'archive');
    const pollArchive = async () => {
      while (!stop || performance.now() < giveUpAt) {
        const at = now();
        for (const key of await listArchive(archive)) if (!objectSeen.has(key)) objectSeen.set(key, at);
        if (stop && pending.size === 0 && performance.now() > coldDoneAt) break;
        await new Promise((r) => setTimeout(r, COLD_POLL_MILLIS));
      }
    };
    let giveUpAt = Infinity;
    let coldDoneAt = Infinity;
    const pollers = [pollClickHouse(), pollArchive()];
    const before = await receiverStatus(receiver.http);
    const t0 = performance.now();
    const load = await measureLoad(
      receiver,
      {
        protocol: 'http-protobuf',
        connections: 8,
        durationSeconds: seconds,
        warmupSeconds: tiny ? 0.5 : 2,
        ratePerSecond: rate,
        sampleEveryMillis: 100,
      },
      (s) => {
        samples.push(s);
        pending.add(s.eventId);
      },
    );
    const mid = await receiverStatus(receiver.http);
    const loadSeconds = (performance.now() - t0) / 1000;
    const chBefore = before.exporters.find((e) => e.name === 'clickhouse')?.exportedEntries ?? 0;
    const chAfter = mid.exporters.find((e) => e.name === 'clickhouse')?.exportedEntries ?? 0;
    stop = true;
    giveUpAt = performance.now() + 120_000;
    const catchUpSeconds = await waitForExporters(receiver, 120_000);
    // Objects are sealed by age: give the last ones time to appear.
    coldDoneAt = performance.now() + coldAge * 2 + 2000;
    await Promise.all(pollers);

    // Which cold object holds each sampled event: its chain and seq, from ClickHouse.
    const sampledIds = samples.map((s) => s.eventId);
    const rs = await client.query({
      query: `SELECT EventId, ChainId, Seq FROM otel_audit.audit_events WHERE EventId IN ({ids:Array(String)})`,
      query_params: { ids: sampledIds },
      format: 'JSONEachRow',
    });
    const located = await rs.json<{ EventId: string; ChainId: string; Seq: string | number }>();
    await client.close();
    const objects = [...objectSeen.entries()].flatMap(([key, at]) => {
      const parts = parseObjectKey(key);
      return parts ? [{ ...parts, at }] : [];
    });
    const coldVisible = new Map<string, number>();
    for (const row of located) {
      const seq = Number(row.Seq);
      const o = objects.find((x) => x.chainId === row.ChainId && x.firstSeq <= seq && seq <= x.lastSeq);
      if (o) coldVisible.set(row.EventId, o.at);
    }
    return {
      scenario: 'end-to-end',
      offeredEventsPerSecond: rate,
      coldObjectAgeMillis: coldAge,
      load,
      clickhouse: { ...lagOf(samples, chVisible), pollMillis: CH_POLL_MILLIS },
      coldStorage: { ...lagOf(samples, coldVisible), pollMillis: COLD_POLL_MILLIS },
      clickhouseExporterRowsPerSecond: Math.round((chAfter - chBefore) / loadSeconds),
      catchUpSeconds,
    };
  } finally {
    await receiver?.stop();
    await rm(base, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--closed-loop')) {
    const n = process.argv.find((a) => /^--events=\d+$/.test(a));
    // --config=<json file>: receiver config merged over the bench's (A/B of memory settings).
    const c = process.argv.find((a) => a.startsWith('--config='));
    const config = c ? (JSON.parse(await readFile(c.slice(9), 'utf8')) as Record<string, unknown>) : undefined;
    // --receiver-node-args="--max-semi-space-size=4 …": Node options of the receiver process.
    const a = process.argv.find((x) => x.startsWith('--receiver-node-args='));
    const nodeArgs = a ? a.slice('--receiver-node-args='.length).split(' ').filter(Boolean) : undefined;
    // --receiver-env=K=V,K=V: extra environment of the receiver process.
    const e = process.argv.find((x) => x.startsWith('--receiver-env='));
    const env = e
      ? Object.fromEntries(
          e
            .slice('--receiver-env='.length)
            .split(',')
            .map((kv) => kv.split('=') as [string, string]),
        )
      : undefined;
    console.log(
      JSON.stringify(
        await runClosedLoop({
          tiny: process.argv.includes('--tiny'),
          ...(n ? { events: Number(n.slice(9)) } : {}),
          ...(config ? { config } : {}),
          ...(nodeArgs ? { nodeArgs } : {}),
          ...(env ? { env } : {}),
        }),
        null,
        2,
      ),
    );
  } else {
    console.log(JSON.stringify(await run({ quick: process.argv.includes('--quick'), tiny: process.argv.includes('--tiny') }), null, 2));
  }
}
