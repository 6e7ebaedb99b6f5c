/**
 * Benchmark: `record()` throughput, latency and the calling thread's CPU in durable mode from one
 * process, against a local OTLP/HTTP endpoint running in a child process (so that the endpoint
 * does not share this process's event loop), for `recordThread: 'main'` and `'worker'` in the same
 * run (one logger each, rounds in alternating order). Two phases per round and mode:
 *   - sequential: one caller, one fsync per event (the latency floor of durable mode);
 *   - concurrent: `concurrency` callers each awaiting `record()` in a loop (group commit at work).
 * After each, `flush()` measures how long the sender needs to deliver what is left in the spool.
 * The calling thread's CPU is `process.threadCpuUsage()` of the main thread (Node ≥ 23.9).
 * `run({ quick })` returns the numbers; `node bench/sdk-record.ts` prints them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type AuditEventInput, createAuditLogger } from '@otel-audit/sdk';

/** Options of {@link run}. */
export interface SdkRecordBenchOptions {
  quick?: boolean;
  /** CI-smoke sizes: proves the scenario runs, measures nothing. */
  tiny?: boolean;
  /** Concurrent record() callers in the concurrent phase. Default 256. */
  concurrency?: number;
  /** `recordThread` modes compared in the same run (alternating rounds). Default both. */
  modes?: Array<'main' | 'worker'>;
  /** A/B rounds per mode. Default 3 (quick 2, tiny 1). */
  rounds?: number;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

const ENDPOINT_SOURCE = `
import http from 'node:http';
let requests = 0, bytes = 0;
const server = http.createServer((req, res) => {
  req.on('data', (c) => { bytes += c.length; });
  req.on('end', () => { requests++; res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(); });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
process.on('message', () => process.send({ requests, bytes }));
`;

/** Start the bench's OTLP/HTTP endpoint (a child process that answers 200 to everything). */
export async function startEndpoint(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', ENDPOINT_SOURCE], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('error', reject);
  });
  return { url: `http://127.0.0.1:${port}/v1/logs`, child };
}

/** The bench's audit event number `i` (realistic size and shape). */
export function event(i: number): AuditEventInput {
  return {
    action: 'document.update',
    outcome: i % 20 === 0 ? 'denied' : 'success',
    actor: { id: `user-${i % 1000}`, type: 'user', authMethod: 'oidc' },
    tenant: { id: `tenant-${i % 10}` },
    targets: [{ type: 'document', id: `doc-${i}` }],
    request: { id: `req-${i}`, ip: '10.1.2.3', userAgent: 'Mozilla/5.0 (bench)', method: 'PUT', path: `/documents/doc-${i}` },
    details: { fields: ['title', 'body'], size: i % 4096, note: 'routine edit by the benchmark workload' },
  };
}

type RecordThreadMode = 'main' | 'worker';

/** Run the benchmark; see the module comment. */
export async function run(options: SdkRecordBenchOptions = {}) {
  const quick = options.quick ?? false;
  const concurrency = options.concurrency ?? 256;
  const tiny = options.tiny ?? false;
  const modes: RecordThreadMode[] = options.modes ?? ['main', 'worker'];
  const rounds = options.rounds ?? (tiny ? 1 : quick ? 2 : 3);
  const events = tiny ? 2000 : quick ? 30_000 : 200_000;
  const sequentialEvents = tiny ? 100 : quick ? 1000 : 5000;
  const endpoint = await startEndpoint();
  const spoolDirs: string[] = [];
  const loggers = new Map<RecordThreadMode, ReturnType<typeof createAuditLogger>>();
  for (const mode of modes) {
    const spoolDir = fs.mkdtempSync(path.join(os.tmpdir(), `otel-audit-bench-sdk-${mode}-`));
    spoolDirs.push(spoolDir);
    loggers.set(
      mode,
      createAuditLogger({
        spoolDir,
        maxSpoolBytes: 2 * 1024 * 1024 * 1024,
        exporter: { endpoint: endpoint.url },
        // The high-throughput configuration: OTLP encoding off the recording thread.
        exportThread: 'worker',
        recordThread: mode,
        maxExportBatchSize: 1024,
      }),
    );
  }
  try {
    const r3 = (n: number) => Math.round(n * 1000) / 1000;
    // One closed-loop phase: `callers` concurrent callers each awaiting record() in a loop.
    const phase = async (audit: ReturnType<typeof createAuditLogger>, callers: number, count: number) => {
      const latencies = new Float64Array(count);
      let next = 0;
      const cpu0 = process.cpuUsage();
      const thread0 = process.threadCpuUsage();
      const elu0 = performance.eventLoopUtilization();
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: callers }, async () => {
          for (;;) {
            const i = next++;
            if (i >= count) return;
            const s = performance.now();
            await audit.record(event(i));
            latencies[i] = performance.now() - s;
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const thread = process.threadCpuUsage(thread0);
      const elu = performance.eventLoopUtilization(elu0);
      const loadAverage = r3(os.loadavg()[0]!);
      const pendingAfterRecording = audit.stats().pendingRecords;
      const d0 = performance.now();
      const flushed = await audit.flush({ timeoutMillis: 600_000 });
      const drainSeconds = (performance.now() - d0) / 1000;
      const sorted = Array.from(latencies).sort((a, b) => a - b);
      return {
        concurrency: callers,
        events: count,
        seconds: r3(seconds),
        eventsPerSecond: Math.round(count / seconds),
        latencyMillis: { p50: r3(pct(sorted, 50)), p99: r3(pct(sorted, 99)), max: r3(sorted.at(-1) ?? 0) },
        // CPU of the calling (main) thread per event: record() itself, the answers that resolve
        // it, the sender's hand-over to the export worker, and this loop (building the event
        // object, ~0.4 µs). What recording costs the application's thread.
        callerThreadCpuMicrosPerEvent: r3((thread.user + thread.system) / count),
        // CPU of this process (all threads: record path, record worker, sender, export worker).
        cpuMicrosPerEvent: r3((cpu.user + cpu.system) / count),
        // Busy time of the main event loop per event (wall clock, includes waiting for a core).
        mainThreadMicrosPerEvent: r3((elu.active * 1000) / count),
        mainThreadUtilization: r3(elu.utilization),
        pendingInSpoolWhenRecordingEnded: pendingAfterRecording,
        drain: { status: flushed.status, seconds: r3(drainSeconds) },
        endToEndEventsPerSecond: Math.round(count / (seconds + drainSeconds)),
        loadAverage,
      };
    };
    // Warm-up: JIT, first segment, first connection, the workers' start-up.
    for (const audit of loggers.values()) {
      for (let i = 0; i < (tiny ? 100 : 2000); i++) await audit.record(event(i));
      await Promise.all(Array.from({ length: tiny ? 200 : 5000 }, (_, i) => audit.record(event(i))));
      await audit.flush();
    }
    type Phase = Awaited<ReturnType<typeof phase>>;
    // A/B in alternating order, so that a change of machine load hits both modes alike.
    const byMode = new Map<RecordThreadMode, { sequential: Phase[]; concurrent: Phase[] }>(
      modes.map((m) => [m, { sequential: [], concurrent: [] }]),
    );
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? modes : [...modes].reverse();
      for (const mode of order) {
        const audit = loggers.get(mode)!;
        byMode.get(mode)!.sequential.push(await phase(audit, 1, sequentialEvents));
        byMode.get(mode)!.concurrent.push(await phase(audit, concurrency, events));
      }
    }
    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    };
    const summary = (ps: Phase[]) => ({
      eventsPerSecond: Math.round(median(ps.map((p) => p.eventsPerSecond))),
      p50Millis: r3(median(ps.map((p) => p.latencyMillis.p50))),
      p99Millis: r3(median(ps.map((p) => p.latencyMillis.p99))),
      callerThreadCpuMicrosPerEvent: r3(median(ps.map((p) => p.callerThreadCpuMicrosPerEvent))),
      cpuMicrosPerEvent: r3(median(ps.map((p) => p.cpuMicrosPerEvent))),
    });
    const results = Object.fromEntries(
      [...byMode].map(([mode, ps]) => [mode, { sequential: summary(ps.sequential), concurrent: summary(ps.concurrent), phases: ps }]),
    );
    const ratio = (a: number, b: number) => (b === 0 ? 0 : r3(a / b));
    const w = results.worker;
    const m = results.main;
    return {
      scenario: 'sdk-record',
      command: 'npm run bench -- sdk-record' + (quick ? ' --quick' : ''),
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        memoryGiB: r3(os.totalmem() / 2 ** 30),
        node: process.version,
        platform: `${os.platform()} ${os.release()}`,
      },
      delivery: 'durable',
      protocol: 'http/protobuf',
      exportThread: 'worker',
      maxExportBatchSize: 1024,
      rounds,
      // Medians over the rounds; `phases` holds every round.
      results,
      // recordThread 'worker' relative to 'main' in this run (same process, alternating rounds).
      workerOverMain:
        w && m
          ? {
              sequentialEventsPerSecond: ratio(w.sequential.eventsPerSecond, m.sequential.eventsPerSecond),
              concurrentEventsPerSecond: ratio(w.concurrent.eventsPerSecond, m.concurrent.eventsPerSecond),
              concurrentCallerThreadCpu: ratio(w.concurrent.callerThreadCpuMicrosPerEvent, m.concurrent.callerThreadCpuMicrosPerEvent),
              concurrentP99: ratio(w.concurrent.p99Millis, m.concurrent.p99Millis),
            }
          : undefined,
      exported: [...loggers.values()].reduce((n, a) => n + a.stats().exported, 0),
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      // Other processes on the machine distort wall-clock numbers; this says how busy it was.
      loadAverage: os.loadavg().map(r3),
    };
  } finally {
    for (const audit of loggers.values()) await audit.shutdown({ timeoutMillis: 1000 });
    endpoint.child.kill();
    for (const dir of spoolDirs) fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run({ quick: process.argv.includes('--quick') });
  console.log(JSON.stringify(result, null, 2));
}
