/**
 * Benchmark: ingest with fsync'd acknowledgements. The real receiver (`otel-audit start`
 * as a child process, fresh data dir) is loaded by bench/loadgen.ts (another process) with
 * 512-record audit batches over OTLP HTTP/protobuf, HTTP/JSON and gRPC, and measured against the
 * protocol floor: the same transports with a consumer that acknowledges without the pipeline or WAL
 * (bench/ack-only-receiver.ts).
 *
 * Receivers measured:
 * - `floor`: decode-and-ack only.
 * - `ingestOnly`: the receiver with both exporters disabled — decode, validate, dedupe, chain,
 *   WAL append + group-commit fdatasync, ack. What the ingest path alone can do.
 * - `default`: the receiver with its default configuration (embedded chDB and the local cold
 *   archive exporting in the same process), i.e. what `otel-audit start` gives a user.
 *
 * Runs: closed-loop max per protocol (4 connections); throughput vs concurrent connections (1, 4,
 * 16; HTTP/protobuf); ack latency at fixed offered loads (10k, 20k, 50k events/s, open loop,
 * HTTP/protobuf); and a CPU profile (`--cpu-prof`) of each real receiver under closed-loop load,
 * summarized by self time. Between runs against a receiver with exporters the bench waits for the
 * exporters to catch up, so one run's export does not steal CPU from the next.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ProfileSummary, summarizeCpuProfile } from './lib/cpu-profile.ts';
import { type LoadRun, measureLoad, waitForExporters } from './lib/measure.ts';
import { type ReceiverProcess, startAckOnlyReceiver, startReceiver } from './lib/processes.ts';
import type { LoadgenProtocol } from './loadgen.ts';

/** Options of {@link run}. */
export interface IngestBenchOptions {
  /** Short runs (3 s each). */
  quick?: boolean;
  /** Tiny runs (about 1 s each, fewer of them): CI smoke only, numbers meaningless. */
  tiny?: boolean;
  /** Where data dirs go (default the OS temp dir; must be a real disk for fsync to mean anything). */
  workDir?: string;
}

/** Result of {@link run}. */
export interface IngestBenchResult {
  scenario: 'ingest';
  batchSize: number;
  secondsPerRun: number;
  /** Closed-loop max, 4 connections, per protocol and receiver. */
  maxThroughput: Array<{ receiver: 'floor' | 'ingestOnly' | 'default'; run: LoadRun }>;
  /** Closed-loop HTTP/protobuf at 1, 4, 16 connections. */
  connections: Array<{ receiver: 'floor' | 'ingestOnly'; run: LoadRun }>;
  /** Open loop at fixed offered loads, HTTP/protobuf. */
  fixedLoad: Array<{ receiver: 'floor' | 'ingestOnly' | 'default'; run: LoadRun }>;
  /** Receiver ÷ floor events/s per protocol (ingest-only and default receivers). */
  ratios: Array<{ protocol: LoadgenProtocol; ingestOnlyVsFloor: number | null; defaultVsFloor: number | null }>;
  /** Seconds the default receiver's exporters needed to catch up after each run. */
  exporterCatchUpSeconds: Array<number | null>;
  profiles: Array<{ receiver: 'ingestOnly' | 'default'; load: string; summary: ProfileSummary }>;
}

/** Thread id in a `--cpu-prof` file name (`CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile`; 0 = main thread). */
function profileThread(file: string): number {
  return Number(file.split('.').at(-3));
}

async function profileIn(dir: string, window?: { fromMicros: number; toMicros: number }): Promise<ProfileSummary> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error(`no CPU profile written in ${dir}`);
  // The main thread's profile (the receiver's prepare workers write their own files).
  const main = files.find((f) => profileThread(f) === 0) ?? files[0]!;
  return summarizeCpuProfile(join(dir, main), 15, window);
}

/** Summaries of the worker threads' profiles (the pipeline's prepare workers), by thread id. */
async function workerProfilesIn(
  dir: string,
  window?: { fromMicros: number; toMicros: number },
): Promise<Array<{ thread: number; summary: ProfileSummary }>> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile') && profileThread(f) !== 0);
  const out: Array<{ thread: number; summary: ProfileSummary }> = [];
  for (const f of files) out.push({ thread: profileThread(f), summary: await summarizeCpuProfile(join(dir, f), 15, window) });
  return out;
}

const PROTOCOLS: LoadgenProtocol[] = ['http-protobuf', 'http-json', 'grpc'];
const INGEST_ONLY_CONFIG = { exporters: { clickhouse: { enabled: false }, coldstore: { enabled: false } }, query: { enabled: false } };

/** Run the benchmark (see the module comment). */
export async function run(options: IngestBenchOptions = {}): Promise<IngestBenchResult> {
  const tiny = options.tiny ?? false;
  const quick = options.quick ?? false;
  const seconds = tiny ? 0.5 : quick ? 3 : 10;
  const warmupSeconds = tiny ? 0.25 : quick ? 1 : 2;
  const loads = tiny ? [10_000] : [10_000, 20_000, 50_000];
  const connectionCounts = tiny ? [4] : [1, 4, 16];
  const base = await mkdtemp(join(options.workDir ?? tmpdir(), 'otel-audit-bench-ingest-'));
  const result: IngestBenchResult = {
    scenario: 'ingest',
    batchSize: 512,
    secondsPerRun: seconds,
    maxThroughput: [],
    connections: [],
    fixedLoad: [],
    ratios: [],
    exporterCatchUpSeconds: [],
    profiles: [],
  };
  const closed = (protocol: LoadgenProtocol, connections: number) => ({ protocol, connections, durationSeconds: seconds, warmupSeconds });
  const open = (rate: number) => ({
    protocol: 'http-protobuf' as const,
    connections: 8,
    durationSeconds: seconds,
    warmupSeconds,
    ratePerSecond: rate,
  });
  const children: ReceiverProcess[] = [];
  const track = (r: ReceiverProcess) => (children.push(r), r);
  try {
    // --- protocol floor ---
    const floor = track(await startAckOnlyReceiver());
    for (const protocol of PROTOCOLS) result.maxThroughput.push({ receiver: 'floor', run: await measureLoad(floor, closed(protocol, 4)) });
    for (const c of connectionCounts) {
      const reuse =
        c === 4 ? result.maxThroughput.find((m) => m.receiver === 'floor' && m.run.protocol === 'http-protobuf')?.run : undefined;
      result.connections.push({ receiver: 'floor', run: reuse ?? (await measureLoad(floor, closed('http-protobuf', c))) });
    }
    // The latency floor at the ack-latency aim's rate: generator, transport and decode, no WAL.
    result.fixedLoad.push({ receiver: 'floor', run: await measureLoad(floor, open(tiny ? loads[0]! : 20_000)) });
    await floor.stop();

    // --- the receiver, exporters off: the ingest path alone ---
    // Tiny runs profile this receiver instead of starting extra ones (CI time).
    const tinyProfileDir = join(base, 'profile-tiny');
    const ingestOnly = track(
      await startReceiver({
        dataDir: join(base, 'ingest-only'),
        config: INGEST_ONLY_CONFIG,
        ...(tiny ? { cpuProfileDir: tinyProfileDir } : {}),
      }),
    );
    for (const protocol of PROTOCOLS)
      result.maxThroughput.push({ receiver: 'ingestOnly', run: await measureLoad(ingestOnly, closed(protocol, 4)) });
    for (const c of connectionCounts) {
      const reuse =
        c === 4 ? result.maxThroughput.find((m) => m.receiver === 'ingestOnly' && m.run.protocol === 'http-protobuf')?.run : undefined;
      result.connections.push({ receiver: 'ingestOnly', run: reuse ?? (await measureLoad(ingestOnly, closed('http-protobuf', c))) });
    }
    for (const rate of loads) result.fixedLoad.push({ receiver: 'ingestOnly', run: await measureLoad(ingestOnly, open(rate)) });
    await ingestOnly.stop();
    if (tiny) result.profiles.push({ receiver: 'ingestOnly', load: 'all tiny runs', summary: await profileIn(tinyProfileDir) });

    // --- the receiver as `otel-audit start` runs it: exporters in the same process ---
    // (Not in tiny runs: the end-to-end and backlog scenarios start this receiver anyway.)
    const catchUpMillis = 180_000;
    const dflt = tiny ? undefined : track(await startReceiver({ dataDir: join(base, 'default') }));
    for (const protocol of dflt ? PROTOCOLS : []) {
      result.maxThroughput.push({ receiver: 'default', run: await measureLoad(dflt!, closed(protocol, 4)) });
      result.exporterCatchUpSeconds.push(await waitForExporters(dflt!, catchUpMillis));
    }
    for (const rate of dflt ? loads : []) {
      result.fixedLoad.push({ receiver: 'default', run: await measureLoad(dflt!, open(rate)) });
      result.exporterCatchUpSeconds.push(await waitForExporters(dflt!, catchUpMillis));
    }
    await dflt?.stop();

    for (const protocol of PROTOCOLS) {
      const eps = (receiver: string) =>
        result.maxThroughput.find((m) => m.receiver === receiver && m.run.protocol === protocol)?.run.ackedEventsPerSecond;
      const f = eps('floor');
      const ratio = (n: number | undefined) => (n !== undefined && f ? Math.round((n / f) * 100) / 100 : null);
      result.ratios.push({ protocol, ingestOnlyVsFloor: ratio(eps('ingestOnly')), defaultVsFloor: ratio(eps('default')) });
    }

    // --- where the time goes: CPU profiles of the receiver under closed-loop load ---
    // Only the load window is summarized (start-up — module loading, chDB init — is left out).
    for (const [receiver, config] of (tiny
      ? []
      : [
          ['ingestOnly', INGEST_ONLY_CONFIG],
          ['default', undefined],
        ]) as Array<['ingestOnly' | 'default', Record<string, unknown> | undefined]>) {
      const profileDir = join(base, `profile-${receiver}`);
      const r = track(
        await startReceiver({ dataDir: join(base, `profiled-${receiver}`), ...(config ? { config } : {}), cpuProfileDir: profileDir }),
      );
      const from = process.hrtime.bigint() / 1000n;
      await measureLoad(r, closed('http-protobuf', 4));
      const to = process.hrtime.bigint() / 1000n;
      await r.stop();
      const window = { fromMicros: Number(from), toMicros: Number(to) };
      const load = `closed loop, HTTP/protobuf, 4 connections, ${warmupSeconds + seconds} s`;
      result.profiles.push({ receiver, load, summary: await profileIn(profileDir, window) });
      for (const w of await workerProfilesIn(profileDir, window))
        result.profiles.push({ receiver, load: `${load} — worker thread ${w.thread}`, summary: w.summary });
    }
    return result;
  } finally {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) await c.stop();
    await rm(base, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run({ quick: process.argv.includes('--quick'), tiny: process.argv.includes('--tiny') }), null, 2));
}
