/**
 * The whole receiver configuration (`otel-audit.yaml`): one strict top-level schema whose sections
 * are the components' own strict schemas. Parsed once at start; an error names the key with its full
 * path as written in the file (e.g. `exporters.clickhouse.ttlDays`).
 *
 * `dataDir` and `instanceId` are top-level and flow into every component that needs them.
 */
import { z } from 'zod';
import { parseConfig } from '../../common/config.ts';
import { ClickHouseConfigSchema } from '../../exporters/clickhouse/config.ts';
import { ColdStoreConfigSchema } from '../../exporters/coldstore/config.ts';
import { AuthConfigSchema } from '../auth/bearer-auth.ts';
import { GrpcServerConfigSchema } from '../grpc/config.ts';
import { HttpServerConfigSchema } from '../http/config.ts';
import { PipelineConfigSchema } from '../pipeline/config.ts';

/** Default data directory (relative to the working directory). */
export const DEFAULT_DATA_DIR = './otel-audit-data';
/** Default config file, read when present. */
export const DEFAULT_CONFIG_FILE = 'otel-audit.yaml';

const enabledFlag = { enabled: z.boolean().default(true) };

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
  pipeline: PipelineConfigSchema.omit({ dataDir: true, instanceId: true }).prefault({}),
  exporters: z
    .strictObject({
      /** ClickHouse (embedded chDB at `<dataDir>/clickhouse` unless `url` is set). */
      clickhouse: ClickHouseConfigSchema.prefault({}),
      /** Cold storage (local archive at `<dataDir>/archive` unless an S3 backend is set). */
      coldstore: ColdStoreConfigSchema.prefault({}),
    })
    .prefault({}),
  query: z
    .strictObject({
      /** Serve the read-only ClickHouse-HTTP-compatible endpoint and `GET /v1/audit/events`. Default true. */
      enabled: z.boolean().default(true),
      /** Path prefix of the ClickHouse-HTTP endpoint on the OTLP/HTTP port. Default `/clickhouse`. */
      path: z.string().regex(/^\/[A-Za-z0-9_\-/]*[A-Za-z0-9_-]$/, 'must be an absolute path without a trailing slash').default('/clickhouse'),
    })
    .prefault({}),
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
