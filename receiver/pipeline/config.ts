/**
 * Configuration of the processing pipeline: a strict zod schema with every default in it, so the
 * parsed config is complete and an unknown or mistyped key fails fast with AUDIT_ERR_INVALID_CONFIG
 * naming the key.
 */

import { parseConfig } from '@otel-audit/core';
import { z } from 'zod';
import { PREPARE_WORKER_HEAP_DEFAULTS, workerHeapLimitsSchema } from '../worker-limits.ts';

const ms = () => z.number().int().min(0);
const bytes = () => z.number().int().min(0);

/** Settings of one exporter's runner (batching and retries). */
export const ExporterRunnerConfigSchema = z.strictObject({
  /** Most entries per batch handed to `export()`. Default 2048. */
  maxBatchEntries: z.number().int().min(1).max(1_000_000).default(2048),
  /** Wait up to this long for a full batch once an entry is available (ms). Default 200. */
  maxBatchDelayMillis: ms().default(200),
  /** First retry delay cap (ms), doubling per attempt, full jitter. Default 100. */
  initialBackoffMillis: z.number().int().min(1).default(100),
  /** Largest retry delay (ms); `failure` results retry at this interval. Default 30 000. */
  maxBackoffMillis: z.number().int().min(1).default(30_000),
  /**
   * Deadline of one `export()` call (ms). The runner passes it as an `AbortSignal`; past it the
   * attempt counts as a retryable failure (the exporter is reported failing), and the runner waits
   * for the abandoned call to settle before the next attempt, but never past a stop. Default 120 000.
   */
  exportTimeoutMillis: z.number().int().min(1).max(3_600_000).default(120_000),
});

/** Parsed exporter runner settings. */
export type ExporterRunnerConfig = z.infer<typeof ExporterRunnerConfigSchema>;

/** The pipeline configuration schema (see docs/wal.md for what each knob trades). */
export const PipelineConfigSchema = z.strictObject({
  /** Data directory (WAL, cursors, dedupe, dead letters, instance id). Default `./otel-audit-data`. */
  dataDir: z.string().min(1).default('./otel-audit-data'),
  /**
   * Receiver instance id, the second half of every chain id (`<tenantId>/<instanceId>`). Default:
   * generated once and persisted in `<dataDir>/instance-id`.
   */
  instanceId: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'instanceId must be 1-64 of [A-Za-z0-9._-]')
    .optional(),
  /** `fsync` (default): success only after fdatasync. `none`: after write(); survives process crashes only. */
  durability: z.enum(['fsync', 'none']).default('fsync'),
  /** Dedupe window (ms). Default 7 days. */
  dedupeWindowMillis: z
    .number()
    .int()
    .min(1000)
    .default(7 * 24 * 3600 * 1000),
  /**
   * Most event ids of the dedupe index's in-memory table (27–53 bytes each); a full table is
   * spilled to on-disk runs, so this bounds memory, not the window. Default 3 000 000 (≤ 80 MiB).
   */
  dedupeMaxIds: z.number().int().min(1024).default(3_000_000),
  /** Time slice of the on-disk dedupe runs (ms): runs are cut, merged and dropped per slice. Default 1 h. */
  dedupeSliceMillis: z
    .number()
    .int()
    .min(1000)
    .max(24 * 3600 * 1000)
    .default(3600 * 1000),
  /**
   * A UUIDv7 id whose timestamp is further than this (ms) from when it was accepted, or older than
   * the window, is filed as an id without a usable time (consulted by every lookup). Default 1 day.
   */
  dedupeClockSkewMillis: z
    .number()
    .int()
    .min(0)
    .default(24 * 3600 * 1000),
  /** Bloom filter bits per id (in memory) of runs of ids without a usable time; 0 = none. Default 10 (~1 % false positives, each costing one page read). */
  dedupeBloomBitsPerId: z.number().int().min(0).max(32).default(10),
  /** Back-pressure when the WAL behind the slowest exporter exceeds this (bytes). Default 4 GiB. */
  maxBacklogBytes: bytes().default(4 * 1024 ** 3),
  /** Back-pressure when free disk space of the data dir falls below this (bytes). Default 512 MiB. */
  minFreeDiskBytes: bytes().default(512 * 1024 ** 2),
  /** Retry-After given with back-pressure answers (ms). Default 1000. */
  backpressureRetryAfterMillis: z.number().int().min(1).default(1000),
  /**
   * Tenant of an audit record without `audit.tenant.id` when its bearer token is not bound to a
   * tenant (a bound token's tenant comes first). Unset (default): such records are rejected.
   */
  defaultTenantId: z.string().min(1).max(256).optional(),
  /** What happens to records without `audit.schema_version`: dropped (counted) or rejected. Default drop. */
  nonAudit: z.enum(['drop', 'reject']).default('drop'),
  /**
   * Write each event's storage row (the ClickHouse/Parquet columns, in RowBinary) next to its JSON
   * in the WAL, built once by the prepare workers, so the ClickHouse exporter's Native builder and
   * the cold-storage engine build neither parse the JSON nor map the event again (docs/wal.md,
   * "Storage rows"). Default false: measured on the project machine, the builders' saving is paid
   * back by the workers' cost of the row and by the doubled bytes on the ordered thread
   * (docs/decisions.md).
   */
  storageRows: z.boolean().default(false),
  /** Cap of the partial_success message (characters). Default 1024. */
  maxMessageLength: z.number().int().min(64).default(1024),
  wal: z
    .strictObject({
      /** Target segment size (bytes). Default 64 MiB. */
      segmentBytes: z
        .number()
        .int()
        .min(4096)
        .default(64 * 1024 ** 2),
      /** Keep fully exported segments at least this long after they were closed (ms). Default 0. */
      retentionMillis: ms().default(0),
    })
    .prefault({}),
  /** Defaults for every exporter runner (overridable per exporter in `addExporter`). */
  exporters: ExporterRunnerConfigSchema.prefault({}),
  deadLetters: z
    .strictObject({
      /** Rotate dead-letter files at this size (bytes). Default 16 MiB. */
      maxFileBytes: z
        .number()
        .int()
        .min(1024)
        .default(16 * 1024 ** 2),
      /** Keep at most this many dead-letter files. Default 8. */
      maxFiles: z.number().int().min(1).default(8),
    })
    .prefault({}),
  /**
   * Worker threads that decode and prepare encoded requests (inflate, OTLP decode, validate, map,
   * canonicalize, event digest) off the event loop. Default: one per core
   * (`os.availableParallelism()`); 0 prepares on the main thread.
   */
  prepareWorkers: z.number().int().min(0).max(256).optional(),
  /**
   * V8 heap bounds of each prepare worker (MiB): `maxOldGenerationSizeMb` (default 1024: a request
   * up to the transports' 64 MiB `maxMessageBytes` decodes in it; lower both together) and
   * `maxYoungGenerationSizeMb` (default 16). A worker past the old-generation bound exits and is
   * replaced; the requests it held are answered with a failure (nothing of them was sequenced).
   */
  prepareWorkerHeap: workerHeapLimitsSchema(PREPARE_WORKER_HEAP_DEFAULTS),
  /** Interval of housekeeping: disk-space check, segment deletion, heads snapshot (ms). Default 1000. */
  maintenanceIntervalMillis: z.number().int().min(10).default(1000),
  /** Persist chain heads at least this often while appending (ms), to shorten recovery. Default 30 000. */
  headsSnapshotIntervalMillis: z.number().int().min(100).default(30_000),
  /**
   * Graceful stop: how long exporters may take to export what is in the WAL and flush (cold storage
   * seals and uploads its staged objects) before the process exits anyway; what is left then is
   * exported at the next start (ms). Default 30 000.
   */
  shutdownTimeoutMillis: z.number().int().min(0).max(3_600_000).default(30_000),
});

/** Pipeline config as written by users (every key optional). */
export type PipelineConfigInput = z.input<typeof PipelineConfigSchema>;
/** Pipeline config with every default applied. */
export type PipelineConfig = z.infer<typeof PipelineConfigSchema>;

/** Parse a pipeline config; throws AUDIT_ERR_INVALID_CONFIG naming the offending key(s). */
export function parsePipelineConfig(input: unknown): PipelineConfig {
  return parseConfig(PipelineConfigSchema, input);
}

/** Parse per-exporter overrides on top of the pipeline's exporter defaults. */
export function parseExporterRunnerConfig(defaults: ExporterRunnerConfig, overrides: unknown): ExporterRunnerConfig {
  return parseConfig(ExporterRunnerConfigSchema, { ...defaults, ...(overrides as object) }, 'exporter options');
}
