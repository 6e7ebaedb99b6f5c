/**
 * Configuration of the cold-storage exporter (`exporters.coldstore` in otel-audit.yaml): a strict
 * zod schema with defaults. Unknown keys are errors, so a typo never silently disables archiving.
 */
import { join } from 'node:path';
import { parseConfig } from '@otel-audit/core';
import { z } from 'zod';
import { COLD_BUILDER_HEAP_DEFAULTS, workerHeapLimitsSchema } from '../../receiver/worker-limits.ts';

const MiB = 1024 * 1024;

/** S3 credentials given in config; without them the standard AWS chain (env, profile, IMDS…) is used. */
export const S3CredentialsSchema = z.strictObject({
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  sessionToken: z.string().min(1).optional(),
});

/** The S3 backend: any S3-compatible store. */
export const S3BackendSchema = z.strictObject({
  type: z.literal('s3'),
  bucket: z.string().min(3).max(63),
  /** Key prefix inside the bucket, without leading or trailing `/` (default `audit`). */
  prefix: z
    .string()
    .regex(/^[^/](.*[^/])?$/, 'prefix must not start or end with "/"')
    .default('audit'),
  region: z.string().min(1).default('us-east-1'),
  /** Endpoint URL for S3-compatible stores (MinIO, Ceph, R2, a test server). */
  endpoint: z.url().optional(),
  /** Path-style addressing (`endpoint/bucket/key`), needed by most S3-compatible stores. */
  forcePathStyle: z.boolean().default(false),
  credentials: S3CredentialsSchema.optional(),
  /** Objects at or above this size go up as multipart uploads (S3 parts are ≥ 5 MiB). */
  multipartThresholdBytes: z
    .number()
    .int()
    .min(5 * MiB)
    .default(16 * MiB),
  /** Part size of multipart uploads. */
  partSizeBytes: z
    .number()
    .int()
    .min(5 * MiB)
    .default(8 * MiB),
  /** Per-request timeout, so a hung connection becomes a retry instead of a stall. */
  requestTimeoutMillis: z.number().int().positive().default(30_000),
});

/** The local directory backend (embedded default). */
export const LocalBackendSchema = z.strictObject({
  type: z.literal('local'),
  /** Archive directory; default `<dataDir>/archive`. */
  path: z.string().min(1).optional(),
  /** Key prefix under the directory ('' = none). */
  prefix: z.string().default(''),
});

/** The cold-storage exporter configuration. */
export const ColdStoreConfigSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Data directory of the receiver; staging lives in `<dataDir>/coldstore`. */
  dataDir: z.string().min(1).default('./otel-audit-data'),
  backend: z.discriminatedUnion('type', [LocalBackendSchema, S3BackendSchema]).default({ type: 'local', prefix: '' }),
  /** `parquet` (default, zstd) or `ndjson.gz`. */
  format: z.enum(['parquet', 'ndjson.gz']).default('parquet'),
  /** zstd level for Parquet pages (1 fast … 19 small). */
  zstdLevel: z.number().int().min(1).max(19).default(3),
  /**
   * Parquet encoder. `auto` (default): the embedded ClickHouse engine's writer when the receiver
   * runs one (about 5× faster than the JS encoder here), else the JS encoder. `engine` requires the
   * embedded engine; `js` always uses the JS encoder (hyparquet-writer). Same columns, types and
   * footer metadata either way.
   */
  parquetEncoder: z.enum(['auto', 'engine', 'js']).default('auto'),
  /**
   * V8 heap bounds of the object builder thread (MiB): `maxOldGenerationSizeMb` (default 512),
   * `maxYoungGenerationSizeMb` (default 16). With the engine's Parquet writer the builder holds one
   * block of rows at a time; with the JS encoder (`parquetEncoder: js`, or no embedded engine) it
   * holds a whole object's rows, several times `maxObjectBytes` as objects — raise this or lower
   * `maxObjectBytes` together. Past it the thread exits and the upload is retried.
   */
  buildWorkerHeap: workerHeapLimitsSchema(COLD_BUILDER_HEAP_DEFAULTS),
  /** Flush an object when its staged rows reach this many bytes (uncompressed row JSON). */
  maxObjectBytes: z
    .number()
    .int()
    .min(1024)
    .default(64 * MiB),
  /** Flush an object this long after its first row was staged. */
  maxObjectAgeMillis: z.number().int().min(10).default(60_000),
  /**
   * Batches handed to this exporter: most WAL entries, most WAL bytes, longest wait for a full batch.
   * Each batch is one append + fsync per staging segment, so larger batches mean fewer fsyncs at high
   * rates; archive visibility is bounded by `maxObjectAgeMillis`, not by these.
   */
  maxBatchRows: z.number().int().min(1).max(1_000_000).default(20_000),
  maxBatchBytes: z
    .number()
    .int()
    .min(4096)
    .max(1024 * MiB)
    .default(32 * MiB),
  maxBatchAgeMillis: z.number().int().min(0).max(60_000).default(500),
  /** Past this much staged data, export() answers retryable: the WAL holds the rest (back-pressure). */
  maxStagingBytes: z
    .number()
    .int()
    .min(1024)
    .default(1024 * MiB),
  /** Local archive only: remove whole partitions older than this many days (0 = keep forever). */
  retentionDays: z.number().int().min(0).default(0),
  /** Retry pause of the background uploader after a failed upload (doubles up to 30 s). */
  uploadRetryMillis: z.number().int().min(1).default(1000),
});

/** Input form of {@link ColdStoreConfigSchema} (defaults optional). */
export type ColdStoreConfigInput = z.input<typeof ColdStoreConfigSchema>;
/** Validated cold-storage configuration. */
export type ColdStoreConfig = z.output<typeof ColdStoreConfigSchema>;
/** Validated S3 backend configuration. */
export type S3BackendConfig = z.output<typeof S3BackendSchema>;
/** Validated local backend configuration. */
export type LocalBackendConfig = z.output<typeof LocalBackendSchema>;

/**
 * Validate a cold-storage configuration, applying defaults.
 *
 * @param prefix key path of this section in the whole config, for messages.
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming every offending key (first in `error.path`).
 */
export function parseColdStoreConfig(input: unknown, prefix = 'exporters.coldstore'): ColdStoreConfig {
  return parseConfig(ColdStoreConfigSchema, input, prefix);
}

/** The local archive directory of a configuration (`<dataDir>/archive` unless set). */
export function localArchiveDir(config: ColdStoreConfig): string | undefined {
  return config.backend.type === 'local' ? (config.backend.path ?? join(config.dataDir, 'archive')) : undefined;
}
