/**
 * The contracts every otel-audit package builds on: the component lifecycle, the WAL entry types
 * and the exporter contract.
 *
 *   WAL ─▶ exporter runner (per exporter: durable cursor, batching, retry with backoff) ─▶ AuditExporter
 *
 * The WAL entry types are generic in the event and checkpoint payloads so that this package does
 * not depend on the schema (which depends on this package for its errors): `@otel-audit/schema`
 * binds the event to `AuditEvent`, the receiver binds the checkpoint to the integrity
 * `CheckpointRecord` (receiver/contracts.ts re-exports the bound types).
 */
import type { AuditError } from './errors.ts';

/** Options of a lifecycle call: the caller's deadline. */
export interface LifecycleOptions {
  /**
   * Aborted when the caller's deadline passes (e.g. `AbortSignal.timeout(ms)`). A component stops
   * waiting, releases what it holds and rejects with the signal's reason; it never leaves the
   * caller waiting past the deadline.
   */
  signal?: AbortSignal;
  /**
   * Unix ms by which a graceful stop should be done: work that would flush data further (an upload
   * of staged data) may run until then; what is left is resumed at the next start.
   */
  deadline?: number;
}

/**
 * A component with a lifecycle. `shutdown()` is idempotent and never throws for a second call.
 * Both calls accept a deadline ({@link LifecycleOptions.signal}); implementations that predate it
 * simply ignore the argument.
 */
export interface Component {
  start(options?: LifecycleOptions): Promise<void>;
  shutdown(options?: LifecycleOptions): Promise<void>;
}

/** A JSON object as carried in a WAL entry (the unbound payload type). */
export type JsonObject = Record<string, unknown>;

/**
 * One accepted audit event as stored in the WAL: sequenced and hash-chained (docs/integrity.md):
 * `hash = SHA-256(prevHash ‖ SHA-256(JCS(event)))` for chain format 2 (what the receiver writes),
 * `SHA-256(prevHash ‖ JCS(event))` for format 1 (entries without `chainVersion`); the genesis
 * `prevHash` is 64 zeros.
 *
 * @typeParam E the event type (`AuditEvent` of `@otel-audit/schema` once validated).
 */
export interface WalEventEntry<E extends object = JsonObject> {
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
  /** The normalized event (current schema version): exactly what was hashed. */
  event: E;
  /** OTLP context kept for the otel_logs-compatible columns (not hashed). */
  resource: { attributes: Record<string, unknown>; schemaUrl: string };
  scope: { name: string; version: string };
  /** Attributes of the record that the mapping does not consume (kept, not hashed). */
  extraAttributes: Record<string, unknown>;
}

/**
 * A signed checkpoint of one chain, stored in the WAL in order with the events it covers, so every
 * exporter receives it after the entries it signs (docs/integrity.md).
 *
 * @typeParam C the checkpoint record type (`CheckpointRecord` of the integrity module).
 */
export interface WalCheckpointEntry<C extends object = JsonObject> {
  kind: 'checkpoint';
  /** WAL position, contiguous with the event entries. */
  lsn: number;
  chainId: string;
  tenantId: string;
  /** The signed checkpoint record. */
  checkpoint: C;
}

/** Any WAL entry: an accepted event, or a signed checkpoint of a chain. */
export type WalEntry<E extends object = JsonObject, C extends object = JsonObject> = WalEventEntry<E> | WalCheckpointEntry<C>;

/** A contiguous range of WAL entries handed to an exporter. */
export interface ExportBatch<E extends object = JsonObject, C extends object = JsonObject> {
  /** LSN of the first entry. */
  firstLsn: number;
  /** LSN of the last entry. The pair identifies the batch (use it for idempotency tokens). */
  lastLsn: number;
  entries: Array<WalEntry<E, C>>;
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
 * cursor save, the runner hands the same range again. The runner passes a deadline
 * ({@link LifecycleOptions.signal}); an exporter aborts its I/O when it fires and returns a
 * retryable result.
 */
export interface AuditExporter<E extends object = JsonObject, C extends object = JsonObject> extends Component {
  readonly name: string;
  export(batch: ExportBatch<E, C>, options?: LifecycleOptions): Promise<ExportResult>;
}
