/**
 * The interfaces between the receiver's stages (the Collector's consumer model):
 *
 *   transport (gRPC / HTTP) ─decode─▶ LogsConsumer (pipeline: classify → validate → dedupe →
 *   sequence + chain → WAL append + fsync) ─▶ IngestResult back to the transport
 *
 *   WAL ─▶ exporter runner (per exporter: durable cursor, batching, retry with backoff) ─▶ AuditExporter
 *
 * Transports depend only on {@link LogsConsumer}; exporters only on {@link AuditExporter} and
 * {@link WalEntry}. Neither knows how the other side is built.
 */
import type { AuditError } from '../common/errors.ts';
import type { CheckpointRecord } from '../integrity/checkpointer.ts';
import type { AuditEvent } from '../schema/audit-event.ts';
import type { LogRecordView } from '../schema/otlp-mapping.ts';

/** Options of {@link Component.shutdown}. */
export interface ShutdownOptions {
  /**
   * Unix ms by which a graceful stop should be done: work that would flush data further (an upload
   * of staged data) may run until then; what is left is resumed at the next start.
   */
  deadline?: number;
}

/** A component with a lifecycle. `shutdown()` is idempotent and never throws for a second call. */
export interface Component {
  start(): Promise<void>;
  shutdown(options?: ShutdownOptions): Promise<void>;
}

/** Instrumentation scope of a batch of records. */
export interface ScopeView {
  name: string;
  version: string;
  attributes: Record<string, unknown>;
}

/** One decoded OTLP export request, transport-neutral (see {@link LogRecordView}). */
export interface DecodedLogs {
  resourceLogs: Array<{
    resource: { attributes: Record<string, unknown> };
    schemaUrl: string;
    scopeLogs: Array<{ scope: ScopeView; schemaUrl: string; logRecords: LogRecordView[] }>;
  }>;
}

/** Who is sending, as established by the transport (auth). */
export interface IngestContext {
  transport: 'grpc' | 'http';
  /** When the bearer token is bound to a tenant: records of any other tenant are rejected. */
  boundTenantId?: string;
  /** Name of the authenticated token, for logs and metrics (never the secret). */
  principal?: string;
}

/**
 * The pipeline's answer for one request. `success` may carry a partial success: `rejected` records
 * (invalid, non-audit under `nonAudit: 'reject'`, wrong tenant) with a message saying why, per
 * OTLP `ExportLogsPartialSuccess`. `success` is only returned once every accepted record is fsync'd.
 * `retryable` maps to HTTP 503 + Retry-After / gRPC UNAVAILABLE (back-pressure, disk full);
 * `failure` to HTTP 500 / gRPC INTERNAL (nothing of the request was accepted).
 */
export type IngestResult =
  | { status: 'success'; accepted: number; duplicates: number; rejected: number; message: string }
  | { status: 'retryable'; error: AuditError; retryAfterMillis: number }
  | { status: 'failure'; error: AuditError };

/** Consumes decoded OTLP logs. Implemented by the pipeline; called by the transports. */
export interface LogsConsumer {
  consume(logs: DecodedLogs, context: IngestContext): Promise<IngestResult>;
}

/**
 * One accepted audit event as stored in the WAL: sequenced and hash-chained (docs/integrity.md):
 * `hash = SHA-256(prevHash ‖ SHA-256(JCS(event)))` for chain format 2 (what the receiver writes),
 * `SHA-256(prevHash ‖ JCS(event))` for format 1 (entries without `chainVersion`); the genesis
 * `prevHash` is 64 zeros.
 */
export interface WalEventEntry {
  kind: 'event';
  /** Log sequence number: global, contiguous, starts at 1, the WAL position of this entry. */
  lsn: number;
  /** Chain id: `<tenantId>/<instanceId>` (tenant × receiver instance). */
  chainId: string;
  tenantId: string;
  /** Position in the chain, contiguous from 1. */
  seq: number;
  /** Hex SHA-256 of the previous entry of the chain (64 zeros for seq 1). */
  prevHash: string;
  /** Hex SHA-256 of this entry. */
  hash: string;
  /** Chain format that produced `hash` (integrity/chain-hash.ts); absent = 1. */
  chainVersion?: 1 | 2;
  /** Receiver clock when accepted, Unix nanoseconds as a decimal string. */
  receivedAtNanos: string;
  /** The normalized event (schema {@link AuditEvent}, current version): exactly what was hashed. */
  event: AuditEvent;
  /** OTLP context kept for the otel_logs-compatible columns (not hashed). */
  resource: { attributes: Record<string, unknown>; schemaUrl: string };
  scope: { name: string; version: string };
  /** Attributes of the record that the mapping does not consume (kept, not hashed). */
  extraAttributes: Record<string, unknown>;
}

/**
 * A signed checkpoint of one chain, stored in the WAL in order with the events it covers, so every
 * exporter receives it after the entries it signs (docs/integrity.md).
 */
export interface WalCheckpointEntry {
  kind: 'checkpoint';
  /** WAL position, contiguous with the event entries. */
  lsn: number;
  chainId: string;
  tenantId: string;
  /** The signed checkpoint record (integrity/checkpointer.ts). */
  checkpoint: CheckpointRecord;
}

/** Any WAL entry: an accepted event, or a signed checkpoint of a chain. */
export type WalEntry = WalEventEntry | WalCheckpointEntry;

/** A contiguous range of WAL entries handed to an exporter. */
export interface ExportBatch {
  /** LSN of the first entry. */
  firstLsn: number;
  /** LSN of the last entry. The pair identifies the batch (use it for idempotency tokens). */
  lastLsn: number;
  entries: WalEntry[];
}

/**
 * Result of one export attempt (modelled on OTel JS `ExportResult` plus the Collector's
 * retryable/permanent split). `failure` is permanent for this batch: the runner does not skip it
 * (an audit pipeline never silently drops), it keeps retrying at the maximum backoff and reports the
 * exporter as failing in status and metrics.
 */
export type ExportResult =
  | { status: 'success' }
  | { status: 'retryable'; error: AuditError; retryAfterMillis?: number }
  | { status: 'failure'; error: AuditError };

/**
 * A destination fed from the WAL. `name` is the stable id of its durable cursor. `export()` must be
 * idempotent for the same `(firstLsn, lastLsn)`: after a crash between a successful export and the
 * cursor save, the runner hands the same range again.
 */
export interface AuditExporter extends Component {
  readonly name: string;
  export(batch: ExportBatch): Promise<ExportResult>;
}
