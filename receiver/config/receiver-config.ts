/**
 * The whole receiver configuration (`otel-audit.yaml`): one strict top-level schema whose sections
 * are the components' own strict schemas. Parsed once at start; an error names the key with its full
 * path as written in the file (e.g. `exporters.clickhouse.ttlDays`).
 *
 * `dataDir` and `instanceId` are top-level and flow into every component that needs them.
 */

import { parseConfig } from '@otel-audit/core';
import { z } from 'zod';
import { ClickHouseConfigSchema } from '../../exporters/clickhouse/config.ts';
import { ColdStoreConfigSchema } from '../../exporters/coldstore/config.ts';
import { WebhooksConfigSchema } from '../../exporters/webhook/config.ts';
import { AuthConfigSchema } from '../auth/bearer-auth.ts';
import { ConsoleConfigSchema } from '../console/config.ts';
import { GrpcServerConfigSchema } from '../grpc/config.ts';
import { HttpServerConfigSchema } from '../http/config.ts';
import { PipelineConfigSchema } from '../pipeline/config.ts';

/** Default data directory (relative to the working directory). */
export const DEFAULT_DATA_DIR = './otel-audit-data';
/** Default config file, read when present. */
export const DEFAULT_CONFIG_FILE = 'otel-audit.yaml';

const enabledFlag = { enabled: z.boolean().default(true) };

/**
 * Tamper evidence (docs/integrity.md): signed checkpoints (RFC 6962 Merkle roots in the C2SP
 * signed-note format) of every chain, stored in the WAL and copied to every store. On by default:
 * without `signingKeyFile` the receiver signs with the key in `<dataDir>/keys`, created on the
 * first start. A configured `signingKeyFile` must hold a usable key, or the receiver refuses to
 * start (`AUDIT_ERR_KEY`).
 */
export const IntegrityConfigSchema = z.strictObject({
  /** Produce signed checkpoints. Default true. */
  enabled: z.boolean().default(true),
  /**
   * Signer key file written by `otel-audit keys generate` (mode 0600). Absent: the one key in
   * `<dataDir>/keys`, created (Ed25519, mode 0600, never overwritten) on the first start.
   */
  signingKeyFile: z.string().min(1).optional(),
  /**
   * Verifier key files or strings of keys used before a rotation (kept so the receiver's own
   * tools can check old checkpoints). The current key's verifier key is always trusted.
   */
  verifierKeyFiles: z.array(z.string().min(1)).default([]),
  /** Checkpoint each chain at the latest this long after its previous checkpoint, if it has new entries (ms). Default 10 000. */
  checkpointIntervalMillis: z.number().int().min(10).max(86_400_000).default(10_000),
  /** Checkpoint each chain at the latest after this many new entries. Default 10 000. */
  checkpointMaxEntries: z.number().int().min(1).max(100_000_000).default(10_000),
});

/** The receiver's configuration schema. */
export const ReceiverConfigSchema = z.strictObject({
  /** Where the WAL, cursors, dedupe index, dead letters, embedded ClickHouse and archive live. */
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
  /** Receiver instance id (second half of chain ids). Default: generated once, kept in the data dir. */
  instanceId: PipelineConfigSchema.shape.instanceId,
  /**
   * Bearer tokens for OTLP ingest on both transports and for the query endpoints. Absent: no auth
   * (the loopback default). Tokens bound to a tenant may only send and read that tenant.
   */
  auth: AuthConfigSchema.optional(),
  http: HttpServerConfigSchema.omit({ auth: true }).extend(enabledFlag).prefault({}),
  grpc: GrpcServerConfigSchema.omit({ auth: true }).extend(enabledFlag).prefault({}),
  /**
   * Graceful stop (SIGTERM/SIGINT): how long exporters may take to export what the WAL holds and
   * to flush (cold storage seals and uploads its staged objects) before the process exits anyway;
   * what is left is exported at the next start (ms). Default 30 000.
   */
  shutdownTimeoutMillis: PipelineConfigSchema.shape.shutdownTimeoutMillis,
  /**
   * Lowest level `otel-audit start` logs (JSON lines on standard error, pretty on a TTY):
   * `debug`, `info`, `warn`, `error` or `silent`. Default `info`. The `--log-level` flag overrides it.
   */
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  pipeline: PipelineConfigSchema.omit({ dataDir: true, instanceId: true, shutdownTimeoutMillis: true }).prefault({}),
  exporters: z
    .strictObject({
      /** ClickHouse (embedded chDB at `<dataDir>/clickhouse` unless `url` is set). */
      clickhouse: ClickHouseConfigSchema.prefault({}),
      /** Cold storage (local archive at `<dataDir>/archive` unless an S3 backend is set). */
      coldstore: ColdStoreConfigSchema.prefault({}),
      /** Webhooks (SIEM delivery, docs/webhook.md): each its own cursor, named by `name`. Default none. */
      webhooks: WebhooksConfigSchema.default([]),
    })
    .prefault({}),
  integrity: IntegrityConfigSchema.prefault({}),
  query: z
    .strictObject({
      /** Serve the read-only ClickHouse-HTTP-compatible endpoint and `GET /v1/audit/events`. Default true. */
      enabled: z.boolean().default(true),
      /** Path prefix of the ClickHouse-HTTP endpoint on the OTLP/HTTP port. Default `/clickhouse`. */
      path: z
        .string()
        .regex(/^\/[A-Za-z0-9_\-/]*[A-Za-z0-9_-]$/, 'must be an absolute path without a trailing slash')
        .default('/clickhouse'),
      /**
       * Answer the SQL endpoint and `GET /v1/audit/events` for non-loopback clients although no auth
       * tokens are configured (anyone who reaches the port could read every tenant). Default false:
       * without `auth.tokens` only 127.0.0.0/8 and ::1 are answered, the console's rule.
       */
      allowRemoteWithoutAuth: z.boolean().default(false),
    })
    .prefault({}),
  /** The read-only operator console at `/ui` (docs/console.md). */
  ui: ConsoleConfigSchema.prefault({}),
});

/** The configuration as written by users (every key optional). */
export type ReceiverConfigInput = z.input<typeof ReceiverConfigSchema>;
/** The configuration with every default applied. */
export type ReceiverConfig = z.output<typeof ReceiverConfigSchema>;

/**
 * Validate the merged configuration tree.
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming every bad key by its full path.
 */
export function parseReceiverConfig(input: unknown): ReceiverConfig {
  return parseConfig(ReceiverConfigSchema, input);
}
