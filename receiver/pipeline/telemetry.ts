/**
 * The pipeline's telemetry: the shape of `status()` (served at `/v1/audit/status`, rendered at
 * `/metrics`) and the fsync counters and latency histogram every WAL, dedupe and snapshot fsync
 * feeds.
 */

import type { ExporterRunnerStatus } from '../exporting/runner.ts';
import type { DedupeWindowStatus } from '../wal/dedupe-window.ts';
import type { WalRecoveryReport } from '../wal/wal.ts';
import type { ChainHead } from './chain-registry.ts';

/** Upper bounds (ms) of the fsync latency histogram buckets; a final +Inf bucket is implied. */
export const FSYNC_BUCKETS_MILLIS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000] as const;

/** Everything `status()` reports (plain data; `/v1/audit/status` serves it, `/metrics` renders it). */
export interface PipelineStatus {
  ready: boolean;
  shuttingDown: boolean;
  instanceId: string;
  dataDir: string;
  durability: 'fsync' | 'none';
  chains: ChainHead[];
  wal: {
    /** Oldest retained LSN. */
    firstLsn: number;
    /** Last durable LSN. */
    lastLsn: number;
    segments: number;
    bytes: number;
    /** Bytes behind the slowest exporter. */
    backlogBytes: number;
    commits: number;
    /** Group commits whose write or fsync failed (each rolled back, answered retryable). */
    writeFailures: number;
    /** Successful repairs after such failures (appends accepted again). */
    repairs: number;
    /** Set while appends are refused after a failed write (the WAL retries by itself). */
    failed?: { code: string; message: string };
  };
  exporters: ExporterRunnerStatus[];
  /** Names of exporters whose current batch got a permanent failure or that stopped on an error. */
  failingExporters: string[];
  deadLetters: { stored: number; written: number; writeErrors: number };
  /**
   * The dedupe index (docs/wal.md): `ids`/`bytes` of the in-memory tables, the runs on disk and
   * their in-memory summaries, per-id costs, and the window. `chunkFiles` = `runFiles` (older name).
   */
  dedupe: { ids: number; bytes: number; windowMillis: number; effectiveWindowMillis: number; chunkFiles: number } & DedupeWindowStatus;
  backpressure: { active: boolean; reason?: string; freeDiskBytes: number; maxBacklogBytes: number; minFreeDiskBytes: number };
  counters: {
    /** Log records received (audit or not). */
    received: number;
    accepted: number;
    rejected: number;
    /** Duplicates acknowledged without appending. */
    deduped: number;
    /** Records without `audit.schema_version` (dropped or rejected per `nonAudit`). */
    nonAudit: number;
    requests: number;
    /** Requests answered `retryable` (back-pressure, not ready, shutting down). */
    retryableAnswers: number;
  };
  fsync: {
    count: number;
    /** Count per kind: `data` (group commits), `file` (new segment, cursor/state files), `dir`. */
    byKind: { data: number; file: number; dir: number };
    sumMillis: number;
    /** Cumulative histogram over all fsyncs: `le` in ms (Infinity = +Inf). */
    buckets: Array<{ le: number; count: number }>;
  };
  recovery: (WalRecoveryReport & { durationMillis: number; dedupeIdsLoaded: number }) | undefined;
  /** The prepare worker threads: how many, and encoded requests posted to them and not yet answered. */
  prepare: { workers: number; pending: number };
}

/** Fsync count, per kind, total time and latency histogram (cumulative buckets in the snapshot). */
export class FsyncStats {
  private count = 0;
  private readonly byKind = { data: 0, file: 0, dir: 0 };
  private sumMillis = 0;
  private readonly buckets = new Array<number>(FSYNC_BUCKETS_MILLIS.length + 1).fill(0);

  /** Count one fsync of `kind` that took `millis`. */
  observe(kind: 'data' | 'file' | 'dir', millis: number): void {
    this.count++;
    this.byKind[kind]++;
    this.sumMillis += millis;
    let i = 0;
    while (i < FSYNC_BUCKETS_MILLIS.length && millis > FSYNC_BUCKETS_MILLIS[i]!) i++;
    this.buckets[i]!++;
  }

  /** The `fsync` section of the status (buckets cumulative, Prometheus style, ending at +Inf). */
  snapshot(): PipelineStatus['fsync'] {
    let cum = 0;
    const buckets = [...FSYNC_BUCKETS_MILLIS, Infinity].map((le, i) => ({ le, count: (cum += this.buckets[i]!) }));
    return { count: this.count, byKind: { ...this.byKind }, sumMillis: this.sumMillis, buckets };
  }
}
