/**
 * Child processes of the benchmarks: the real receiver (`otel-audit start`, exactly what users run),
 * the decode-and-ack-only receiver (the protocol floor), and the load generator — plus reading a
 * child's CPU time and memory from /proc, so the receiver's numbers are its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadgenOptions, LoadgenReport } from '../loadgen.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** CPU time and memory of a process, from /proc/<pid>/stat and /proc/<pid>/status. */
export interface ProcSample {
  /** user + system CPU seconds so far. */
  cpuSeconds: number;
  /** Current resident set (MiB). */
  rssMiB: number;
  /** Peak resident set (VmHWM, MiB). */
  peakRssMiB: number;
}

const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux x86-64/arm64

/** Read a process's CPU seconds and RSS; undefined once it has exited. */
export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesized command name (which may contain spaces).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { cpuSeconds: (utime + stime) / CLOCK_TICKS, rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/**
 * Which part of the receiver a thread's name (`/proc/<pid>/task/<tid>/comm`, at most 15 characters)
 * belongs to: Node names worker threads after their `name` option, V8 its platform workers, libuv
 * its thread pool, and the embedded ClickHouse engine its pools.
 */
function threadGroup(name: string): string {
  if (name === 'MainThread' || name === 'node') return 'main';
  if (name.startsWith('V8Worker') || name.startsWith('V8 ')) return 'v8-helpers';
  if (name.startsWith('libuv-worker')) return 'libuv';
  if (name === 'prepare') return 'prepare-workers';
  if (name.startsWith('clickhouse-nat')) return 'clickhouse-builder';
  if (name.startsWith('coldstore-buil')) return 'coldstore-builder';
  if (name.startsWith('webhook')) return 'webhook';
  if (name === 'ThreadPool' || name.startsWith('QueryPipeline') || name.startsWith('Parquet')) return 'engine';
  if (name.startsWith('MergeMutate') || name.startsWith('BgSchPool') || name.startsWith('Move') || name.startsWith('Fetch'))
    return 'engine-background';
  return 'other';
}

/**
 * CPU seconds per thread group of a running process (see {@link threadGroup}), sampled from
 * `/proc/<pid>/task/<tid>/stat` every `everyMillis` while it runs, so threads that exit before the end
 * still count (each thread's last sample). `stop()` returns the seconds since `start()`.
 */
export function sampleThreadCpu(pid: number, everyMillis = 500): { stop(): Record<string, number> } {
  const first = new Map<string, number>();
  const last = new Map<string, { group: string; seconds: number }>();
  const read = (into: (tid: string, group: string, seconds: number) => void) => {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      return; // exited
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        into(tid, threadGroup(name), (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS);
      } catch {
        // The thread exited between the listing and the read.
      }
    }
  };
  read((tid, _g, s) => first.set(tid, s));
  const poll = () => read((tid, group, seconds) => last.set(tid, { group, seconds }));
  const timer = setInterval(poll, everyMillis);
  return {
    stop() {
      poll();
      clearInterval(timer);
      const out: Record<string, number> = {};
      for (const [tid, { group, seconds }] of last) out[group] = (out[group] ?? 0) + seconds - (first.get(tid) ?? 0);
      return out;
    },
  };
}

/** A running receiver child. */
export interface ReceiverProcess {
  child: ChildProcess;
  pid: number;
  /** `http://host:port` (OTLP at `/v1/logs`, status at `/v1/audit/status`, SQL at `/clickhouse`). */
  http: string;
  /** `host:port` of OTLP/gRPC. */
  grpc: string;
  dataDir: string | undefined;
  /** SIGTERM and wait for a clean exit (the CPU profile, if any, is written then). */
  stop(): Promise<number | null>;
  /** Everything the child wrote to stderr (ClickHouse client errors while an exporter is down…). */
  stderr(): string;
}

/** Options of {@link startReceiver}. */
export interface StartReceiverOptions {
  dataDir: string;
  /** Receiver config (written as JSON to `<dataDir>/../<name>.json` and passed with `--config`). */
  config?: Record<string, unknown>;
  /** Extra environment (e.g. `OTEL_AUDIT_EXPORTERS__CLICKHOUSE__URL`). */
  env?: Record<string, string>;
  /** Write a V8 CPU profile into this directory (`--cpu-prof`). */
  cpuProfileDir?: string;
  /**
   * Record every thread's V8 heap and the process's RSS split every 250 ms into this file
   * (bench/lib/memory-probe.ts, preloaded with `--require`; read with `summarizeMemoryProbe`).
   */
  memoryProbeFile?: string;
  /** Extra Node.js options for the receiver (e.g. `--max-semi-space-size=4`), before the script. */
  nodeArgs?: string[];
}

function waitForExit(child: ChildProcess, timeoutMillis: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMillis);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

function collect(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => {
    // Keep the tail only: a down exporter logs an error per retry.
    err = (err + c.toString('utf8')).slice(-20_000);
  });
  return { stdout: () => out, stderr: () => err };
}

function waitForOutput(
  child: ChildProcess,
  io: { stdout: () => string; stderr: () => string },
  done: (out: string) => boolean,
  what: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => fail(new Error(`${what}: not ready after 120 s\n${io.stderr()}`)), 120_000);
    const check = () => {
      if (done(io.stdout())) {
        cleanup();
        resolve();
      }
    };
    const onExit = (code: number | null) => fail(new Error(`${what} exited (${code}) before it was ready\n${io.stdout()}\n${io.stderr()}`));
    const fail = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      clearTimeout(t);
      child.stdout?.off('data', check);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

/** Start `otel-audit start` as a child process on free ports and wait until it prints its addresses. */
export async function startReceiver(options: StartReceiverOptions): Promise<ReceiverProcess> {
  await mkdir(options.dataDir, { recursive: true });
  const args = ['cli/main.ts', 'start', '--data-dir', options.dataDir, '--http-port', '0', '--grpc-port', '0'];
  if (options.config) {
    const file = `${options.dataDir.replace(/\/+$/, '')}.config.json`;
    writeFileSync(file, JSON.stringify(options.config, null, 2));
    args.push('--config', file);
  }
  const nodeArgs = options.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir] : [];
  nodeArgs.push(...(options.nodeArgs ?? []));
  // `--require` (not `--import`): only `--require` preloads also run in worker threads.
  if (options.memoryProbeFile) nodeArgs.push('--require', join(ROOT, 'bench/lib/memory-probe.ts'));
  const probeEnv = options.memoryProbeFile ? { BENCH_MEMORY_PROBE_FILE: options.memoryProbeFile } : {};
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...probeEnv, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const io = collect(child);
  await waitForOutput(child, io, (out) => /OTLP\/HTTP\s+\S+/.test(out) && /OTLP\/gRPC\s+\S+/.test(out), 'receiver');
  const out = io.stdout();
  const http = /OTLP\/HTTP\s+(\S+)\/v1\/logs/.exec(out)![1]!;
  const grpc = /OTLP\/gRPC\s+(\S+)/.exec(out)![1]!;
  return {
    child,
    pid: child.pid!,
    http,
    grpc,
    dataDir: options.dataDir,
    async stop() {
      child.kill('SIGTERM');
      return waitForExit(child, 60_000);
    },
    stderr: io.stderr,
  };
}

/** Start the decode-and-ack-only receiver (bench/ack-only-receiver.ts) as a child process. */
export async function startAckOnlyReceiver(): Promise<ReceiverProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'bench/ack-only-receiver.ts')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const io = collect(child);
  await waitForOutput(child, io, (out) => out.includes('\n'), 'ack-only receiver');
  const { http, grpc } = JSON.parse(io.stdout().split('\n')[0]!) as { http: string; grpc: string };
  return {
    child,
    pid: child.pid!,
    http,
    grpc,
    dataDir: undefined,
    async stop() {
      child.kill('SIGTERM');
      return waitForExit(child, 30_000);
    },
    stderr: io.stderr,
  };
}

/** A sample the load generator sends while running: the first id of a batch and when it was acked. */
export interface AckSample {
  eventId: string;
  /** Wall-clock ms (performance.timeOrigin + now) of the ack. */
  ackAtMillis: number;
}

/**
 * Run bench/loadgen.ts in its own process (same Node binary) and resolve with its report.
 * `onSample` receives ack samples when `options.sampleEveryMillis` is set.
 */
export function runLoadgen(options: LoadgenOptions, onSample?: (s: AckSample) => void): Promise<LoadgenReport> {
  const child = spawn(process.execPath, [join(ROOT, 'bench/loadgen.ts'), JSON.stringify(options)], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-5000)));
  return new Promise((resolve, reject) => {
    let report: LoadgenReport | undefined;
    child.on('message', (m: { type: string; report?: LoadgenReport } & AckSample) => {
      if (m.type === 'report') report = m.report;
      else if (m.type === 'ack-sample') onSample?.({ eventId: m.eventId, ackAtMillis: m.ackAtMillis });
    });
    child.once('exit', (code) => (report ? resolve(report) : reject(new Error(`load generator exited ${code} without a report\n${err}`))));
  });
}

/** Fetch the receiver's `/v1/audit/status` JSON. */
export async function receiverStatus(http: string): Promise<ReceiverStatusView> {
  const res = await fetch(`${http}/v1/audit/status`);
  if (!res.ok) throw new Error(`status: HTTP ${res.status}`);
  return (await res.json()) as ReceiverStatusView;
}

/** The parts of the receiver's status the benchmarks read. */
export interface ReceiverStatusView {
  wal: { firstLsn: number; lastLsn: number; segments: number; bytes: number; backlogBytes: number; commits: number };
  exporters: Array<{
    name: string;
    cursorLsn: number;
    lagEntries: number;
    lagBytes: number;
    state: string;
    exportedEntries: number;
    consecutiveFailures: number;
  }>;
  counters: { received: number; accepted: number; rejected: number; deduped: number; requests: number; retryableAnswers: number };
  fsync: { count: number; byKind: { data: number }; sumMillis: number };
  backpressure: { active: boolean; reason?: string };
  recovery?: { durationMillis: number };
}
