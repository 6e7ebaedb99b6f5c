/**
 * One measured load run: the load generator (its own process) against a receiver child, with the
 * receiver's CPU and memory read from /proc over exactly the generator's measured window, and the
 * receiver's own counters (accepted events, group commits) from `/v1/audit/status` when it has them.
 */
import os from 'node:os';
import type { LatencySummary, LoadgenOptions, LoadgenReport } from '../loadgen.ts';
import { type AckSample, type ReceiverProcess, type ReceiverStatusView, receiverStatus, runLoadgen, sampleProc } from './processes.ts';

/** The result of {@link measureLoad}. */
export interface LoadRun {
  protocol: LoadgenOptions['protocol'];
  connections: number;
  mode: LoadgenReport['mode'];
  offeredEventsPerSecond: number | null;
  /** Events the receiver acknowledged per second in the window (as seen by the generator). */
  ackedEventsPerSecond: number;
  ackLatencyMillis: Omit<LatencySummary, 'histogram'>;
  latencyHistogram: LatencySummary['histogram'];
  /** Receiver CPU over the window, % of one core (200 % = both cores of this machine). */
  receiverCpuPercent: number;
  /**
   * Acked events per second of receiver CPU: throughput normalized by the CPU the receiver actually
   * got, which says more than events/s when other processes crowd the machine.
   */
  eventsPerReceiverCpuSecond: number | null;
  /** 1-minute load average when the run ended. */
  loadAverage: number;
  /** Receiver peak RSS so far (VmHWM, MiB). */
  receiverPeakRssMiB: number;
  /** Receiver-side counters over the whole run, when the receiver is the real one. */
  receiver: {
    acceptedEvents: number;
    groupCommits: number;
    eventsPerCommit: number;
    meanFsyncMillis: number;
    retryableAnswers: number;
  } | null;
  /** What the generator could not get acknowledged. */
  generator: {
    retryableBatches: number;
    errorBatches: number;
    notSentBatches: number;
    errorSamples: string[];
    cpuPercent: number;
    seconds: number;
  };
}

const r1 = (n: number) => Math.round(n * 10) / 10;

/** Run the load generator against `receiver` and measure both sides. */
export async function measureLoad(
  receiver: ReceiverProcess,
  options: Omit<LoadgenOptions, 'target'>,
  onSample?: (s: AckSample) => void,
): Promise<LoadRun> {
  const target = options.protocol === 'grpc' ? receiver.grpc : `${receiver.http}/v1/logs`;
  const hasStatus = receiver.dataDir !== undefined;
  const before: ReceiverStatusView | undefined = hasStatus ? await receiverStatus(receiver.http) : undefined;
  const warmup = (options.warmupSeconds ?? 1) * 1000;
  let c0 = sampleProc(receiver.pid);
  let t0 = performance.now();
  let c1: ReturnType<typeof sampleProc>;
  let t1 = 0;
  // The generator needs a few hundred ms to start; its window begins `warmup` after its own start,
  // so these samples bracket the window to within that start-up time.
  const a = setTimeout(() => ((c0 = sampleProc(receiver.pid)), (t0 = performance.now())), warmup + 300);
  const b = setTimeout(() => ((c1 = sampleProc(receiver.pid)), (t1 = performance.now())), warmup + 300 + options.durationSeconds * 1000);
  const report = await runLoadgen({ ...options, target }, onSample);
  clearTimeout(a);
  clearTimeout(b);
  if (!c1! || t1 === 0) {
    c1 = sampleProc(receiver.pid);
    t1 = performance.now();
  }
  const after: ReceiverStatusView | undefined = hasStatus ? await receiverStatus(receiver.http) : undefined;
  const cpu = c0 && c1 ? ((c1.cpuSeconds - c0.cpuSeconds) / ((t1 - t0) / 1000)) * 100 : 0;
  const { histogram, ...latency } = report.latencyMillis;
  let receiverCounters: LoadRun['receiver'] = null;
  if (before && after) {
    const accepted = after.counters.accepted - before.counters.accepted;
    const commits = after.fsync.byKind.data - before.fsync.byKind.data;
    receiverCounters = {
      acceptedEvents: accepted,
      groupCommits: commits,
      eventsPerCommit: commits ? Math.round(accepted / commits) : 0,
      meanFsyncMillis:
        after.fsync.count - before.fsync.count
          ? Math.round(((after.fsync.sumMillis - before.fsync.sumMillis) / (after.fsync.count - before.fsync.count)) * 100) / 100
          : 0,
      retryableAnswers: after.counters.retryableAnswers - before.counters.retryableAnswers,
    };
  }
  return {
    protocol: options.protocol,
    connections: options.connections,
    mode: report.mode,
    offeredEventsPerSecond: report.offeredEventsPerSecond,
    ackedEventsPerSecond: report.ackedEventsPerSecond,
    ackLatencyMillis: latency,
    latencyHistogram: histogram,
    receiverCpuPercent: Math.round(cpu),
    eventsPerReceiverCpuSecond: cpu > 1 ? Math.round(report.ackedEventsPerSecond / (cpu / 100)) : null,
    loadAverage: Math.round(os.loadavg()[0]! * 10) / 10,
    receiverPeakRssMiB: Math.round(sampleProc(receiver.pid)?.peakRssMiB ?? c1?.peakRssMiB ?? 0),
    receiver: receiverCounters,
    generator: {
      retryableBatches: report.retryableBatches,
      errorBatches: report.errorBatches,
      notSentBatches: report.notSentBatches,
      errorSamples: report.errorSamples,
      cpuPercent: report.generatorCpuPercent,
      seconds: r1(report.seconds),
    },
  };
}

/**
 * Wait until every exporter of the receiver has caught up with the WAL (lag 0), so the next run
 * does not share the CPU with the previous run's export. Resolves with the seconds it took, or
 * `null` when it did not catch up within `timeoutMillis`.
 */
export async function waitForExporters(receiver: ReceiverProcess, timeoutMillis: number): Promise<number | null> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMillis) {
    const s = await receiverStatus(receiver.http);
    if (s.exporters.every((e) => e.lagEntries === 0)) return r1((performance.now() - t0) / 1000);
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}
