/**
 * Configuration of the ClickHouse exporter and of the query surfaces built on the same client.
 * One strict zod schema: unknown keys are errors (a typo such as `ttl_days` must not silently
 * disable retention), and every error names the offending key.
 */

import { parseConfig } from '@otel-audit/core';
import { z } from 'zod';
import { NATIVE_BUILDER_HEAP_DEFAULTS, workerHeapLimitsSchema } from '../../receiver/worker-limits.ts';

/**
 * ClickHouse identifiers we interpolate into DDL and SQL (database, table, cluster names). Only
 * plain identifiers are accepted, so quoting can never be escaped by a configured name.
 */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

const identifier = (what: string) => z.string().regex(IDENTIFIER, `${what} must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)`);

/** TLS options for a ClickHouse server over https (PEM text, not file paths: the caller reads files). */
export const ClickHouseTlsSchema = z.strictObject({
  /** CA certificate(s) that sign the server certificate. */
  caCert: z.string().min(1),
  /** Client certificate for mutual TLS. */
  cert: z.string().min(1).optional(),
  /** Client private key for mutual TLS. */
  key: z.string().min(1).optional(),
});

/** Zod schema of {@link ClickHouseConfig}; defaults are filled in by {@link parseClickHouseConfig}. */
export const ClickHouseConfigSchema = z
  .strictObject({
    /** Run this exporter in the receiver. Default true. */
    enabled: z.boolean().default(true),
    /** Server URL (http or https). Absent: the embedded chDB engine at `<dataDir>/clickhouse`. */
    url: z.url({ protocol: /^https?$/ }).optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    tls: ClickHouseTlsSchema.optional(),
    /** Data directory of the receiver; the embedded engine lives in `<dataDir>/clickhouse`. */
    dataDir: z.string().min(1).default('./otel-audit-data'),
    /** Explicit chDB data path (overrides `<dataDir>/clickhouse`). */
    path: z.string().min(1).optional(),
    database: identifier('database').default('otel_audit'),
    table: identifier('table').default('audit_events'),
    checkpointsTable: identifier('checkpointsTable').default('audit_checkpoints'),
    /** Create and migrate the schema on start. Set false when operators manage DDL (`otel-audit clickhouse-ddl`). */
    createSchema: z.boolean().default(true),
    /** Retention in days (TTL with `ttl_only_drop_parts`); absent keeps data forever. */
    ttlDays: z.number().int().min(1).max(36_500).optional(),
    /** Cluster name: `ON CLUSTER` DDL, Replicated engines and a Distributed table. */
    cluster: identifier('cluster').optional(),
    /** Use ClickHouse async inserts (waits for the flush, so an ack still means durable). */
    asyncInsert: z.boolean().default(false),
    /** Per-request timeout against a server, milliseconds. */
    requestTimeoutMillis: z.number().int().min(1000).max(600_000).default(30_000),
    /** Blocks remembered for insert deduplication on non-replicated tables. */
    deduplicationWindow: z.number().int().min(100).max(1_000_000).default(1000),
    /**
     * Rows per INSERT within a batch. A larger batch is inserted in chunks of this size, each with
     * its own deduplication token, so the rows of chunk n+1 are built while chunk n is inserted.
     * Keep it stable across restarts: a replay re-chunks the same way only with the same value.
     */
    insertChunkRows: z.number().int().min(1000).max(1_000_000).default(50_000),
    /**
     * Body format of event inserts. `Native` (default): a binary columnar block built in JS, which
     * the engine reads without parsing text (from a file in `insertScratchDir` for the embedded
     * engine, as the HTTP body for a server). `JSONEachRow`: the text path, kept for comparison.
     */
    insertFormat: z.enum(['Native', 'JSONEachRow']).default('Native'),
    /**
     * Where the embedded engine's Native insert blocks are written before `INSERT … SELECT FROM
     * file()` reads them. Default `<dataDir>/clickhouse-inserts`. Files are deleted after each insert.
     */
    insertScratchDir: z.string().min(1).optional(),
    /** Most WAL entries per exported batch (the runner's batch size for this exporter). */
    maxBatchRows: z.number().int().min(1).max(1_000_000).default(50_000),
    /** Most WAL bytes per exported batch. */
    maxBatchBytes: z
      .number()
      .int()
      .min(4096)
      .max(1024 ** 3)
      .default(32 * 1024 ** 2),
    /**
     * Longest wait for a full batch once an entry is available (ms). Visibility at low rates is
     * bounded by this; at high rates batches fill by rows or bytes first.
     */
    maxBatchAgeMillis: z.number().int().min(0).max(60_000).default(250),
    /**
     * Build rows and Native blocks in a worker thread (default), so the receiver's event loop —
     * which acknowledges ingest — only issues the insert. `false` builds them on the calling thread.
     */
    encodeInWorker: z.boolean().default(true),
    /**
     * V8 heap bounds of that worker (MiB): `maxOldGenerationSizeMb` (default 384) and
     * `maxYoungGenerationSizeMb` (default 16). Its live set is one batch's payload text (at most
     * `maxBatchBytes`) plus one 8,192-row block, so keep the old generation a few times
     * `maxBatchBytes`. Past it the worker exits, the batch is retried and a new worker starts.
     */
    encodeWorkerHeap: workerHeapLimitsSchema(NATIVE_BUILDER_HEAP_DEFAULTS),
    /**
     * Memory bounds of the embedded engine (chDB), applied as server settings when it opens; a
     * server by URL manages its own. `maxServerMemoryBytes` (default 1 GiB) caps the whole engine
     * (queries, merges, caches, the cold exporter's Parquet writes): an insert or query past it fails
     * with MEMORY_LIMIT_EXCEEDED (code 241; an export retries it with backoff, the batch stays in the
     * WAL) instead of growing the receiver without bound. The engine tracked at most ~100 MiB during
     * a 300,000-event run at full rate (docs/performance.md); the default stays at 1 GiB because a
     * 64 MiB cold object's Parquet write and merges need headroom, and a bound the engine keeps
     * hitting stalls the exporter (lower it together with `maxBatchRows` / `insertChunkRows`). The caches default
     * to sizes for a process that shares its memory with the receiver, not a dedicated server's GiBs:
     * marks 64 MiB, index marks 16 MiB, uncompressed blocks off, primary index 64 MiB (the engine's
     * own default is 5 GiB), query condition cache 16 MiB (default 100 MiB).
     */
    engineMemory: z
      .strictObject({
        maxServerMemoryBytes: z
          .number()
          .int()
          .min(64 * 1024 ** 2)
          .default(1024 ** 3),
        markCacheBytes: z
          .number()
          .int()
          .min(0)
          .default(64 * 1024 ** 2),
        uncompressedCacheBytes: z.number().int().min(0).default(0),
        indexMarkCacheBytes: z
          .number()
          .int()
          .min(0)
          .default(16 * 1024 ** 2),
        primaryIndexCacheBytes: z
          .number()
          .int()
          .min(0)
          .default(64 * 1024 ** 2),
        queryConditionCacheBytes: z
          .number()
          .int()
          .min(0)
          .default(16 * 1024 ** 2),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    if (c.url === undefined && (c.username !== undefined || c.password !== undefined || c.tls !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'username/password/tls need a server url' });
    }
    if (c.url === undefined && c.cluster !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'cluster needs a server url (the embedded engine is a single node)' });
    }
    if (c.tls !== undefined && c.url !== undefined && !c.url.startsWith('https:')) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls needs an https url' });
    }
  });

/** Configuration input (what a user writes under `clickhouse:`; every key has a default or is optional). */
export type ClickHouseConfigInput = z.input<typeof ClickHouseConfigSchema>;
/** Configuration with defaults applied. */
export type ClickHouseConfig = z.output<typeof ClickHouseConfigSchema>;

/**
 * Validate a ClickHouse configuration and apply defaults. Throws `AUDIT_ERR_INVALID_CONFIG` whose
 * message and `path` name the first failing key, prefixed with `prefix` (where the section sits in
 * the config file, e.g. `exporters.clickhouse`).
 */
export function parseClickHouseConfig(input: unknown, prefix = 'clickhouse'): ClickHouseConfig {
  return parseConfig(ClickHouseConfigSchema, input, prefix);
}
