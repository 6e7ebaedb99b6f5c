/**
 * Benchmark: `record()` throughput and latency in durable mode from one process, against a local
 * OTLP/HTTP endpoint running in a child process (so that the endpoint does not share this
 * process's event loop). Two phases:
 *   - concurrent: `concurrency` callers each awaiting `record()` in a loop (group commit at work);
 *   - sequential: one caller, one fsync per event (the latency floor of durable mode).
 * Then `flush()` measures how long the sender needs to deliver what is left in the spool.
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

async function startEndpoint(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', ENDPOINT_SOURCE], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('error', reject);
  });
  return { url: `http://127.0.0.1:${port}/v1/logs`, child };
}

function event(i: number): AuditEventInput {
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

/** Run the benchmark; see the module comment. */
export async function run(options: SdkRecordBenchOptions = {}) {
  const quick = options.quick ?? false;
  const concurrency = options.concurrency ?? 256;
  const tiny = options.tiny ?? false;
  const events = tiny ? 2000 : quick ? 30_000 : 200_000;
  const sequentialEvents = tiny ? 100 : quick ? 1000 : 5000;
  const spoolDir = fs.mkdtempSync(path.join(os.tmpdir(), 'otel-audit-bench-sdk-'));
  const endpoint = await startEndpoint();
  const audit = createAuditLogger({
    spoolDir,
    maxSpoolBytes: 2 * 1024 * 1024 * 1024,
    exporter: { endpoint: endpoint.url },
    // The high-throughput configuration: OTLP encoding off the recording thread.
    exportThread: 'worker',
    maxExportBatchSize: 1024,
  });
  try {
    // Warm-up: JIT, first segment, first connection.
    for (let i = 0; i < (tiny ? 100 : 2000); i++) await audit.record(event(i));
    await audit.flush();

    const r3 = (n: number) => Math.round(n * 1000) / 1000;
    // One closed-loop phase: `callers` concurrent callers each awaiting record() in a loop.
    const phase = async (callers: number, count: number) => {
      const latencies = new Float64Array(count);
      let next = 0;
      const cpu0 = process.cpuUsage();
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
      const elu = performance.eventLoopUtilization(elu0);
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
        // CPU of this process (all threads: record path, sender, export worker), not the endpoint's.
        cpuMicrosPerEvent: r3((cpu.user + cpu.system) / count),
        // Busy time of the main event loop per event: what recording costs the application's thread.
        mainThreadMicrosPerEvent: r3((elu.active * 1000) / count),
        mainThreadUtilization: r3(elu.utilization),
        pendingInSpoolWhenRecordingEnded: pendingAfterRecording,
        drain: { status: flushed.status, seconds: r3(drainSeconds) },
        endToEndEventsPerSecond: Math.round(count / (seconds + drainSeconds)),
      };
    };
    const phases = [];
    phases.push(await phase(1, sequentialEvents));
    phases.push(await phase(16, events / 2));
    phases.push(await phase(concurrency, events));
    const stats = audit.stats();
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
      phases,
      exported: stats.exported,
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      // Other processes on the machine distort wall-clock numbers; this says how busy it was.
      loadAverage: os.loadavg().map(r3),
    };
  } finally {
    await audit.shutdown({ timeoutMillis: 1000 });
    endpoint.child.kill();
    fs.rmSync(spoolDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run({ quick: process.argv.includes('--quick') });
  console.log(JSON.stringify(result, null, 2));
}
