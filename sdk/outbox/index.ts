/**
 * Transactional audit with Postgres: write audit events into an outbox table in the same
 * transaction as the change they describe, and relay them to the receiver over OTLP.
 * See docs/outbox.md.
 */

export type { CompleteEventOptions } from './complete-event.ts';
export { completeAuditEvent } from './complete-event.ts';
export type { OutboxLocation, OutboxNames } from './identifiers.ts';
export {
  DEFAULT_OUTBOX_SCHEMA,
  DEFAULT_OUTBOX_TABLE,
  IDENTIFIER_PATTERN,
  OUTBOX_NOTIFY_CHANNEL,
  outboxNames,
  quoteIdentifier,
} from './identifiers.ts';
export type { ApplyMigrationsResult, OutboxDdlOptions, OutboxMigration } from './migrations.ts';
export { applyOutboxMigrations, outboxGrants, outboxMigrations, renderOutboxDdl } from './migrations.ts';
export type { AuditBatchExporter, ExportFailureKind, ExportOutcome, OtlpExportSettings } from './otlp-export.ts';
export { classifyRelayExportError, createAuditBatchExporter, exporterUrl, LogRecordBuilder } from './otlp-export.ts';
export type { Outbox, OutboxOptions, OutboxQueryable, RecordInTransactionOptions } from './record.ts';
export { createOutbox, recordInTransaction } from './record.ts';
export type { OutboxRelay, OutboxRelayOptions, OutboxRelayStats, RelayLogEntry, RelayPassResult } from './relay.ts';
export { createOutboxRelay } from './relay.ts';
export type { OutboxRelayConfig, OutboxRelayConfigInput } from './relay-config.ts';
export { OutboxRelayConfigSchema, parseOutboxRelayConfig, RelayBackoffSchema } from './relay-config.ts';
