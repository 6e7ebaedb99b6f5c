/**
 * The interfaces between the receiver's stages (the Collector's consumer model):
 *
 *   transport (gRPC / HTTP) ─decode─▶ LogsConsumer (pipeline: classify → validate → dedupe →
 *   sequence + chain → WAL append + fsync) ─▶ IngestResult back to the transport
 *
 *   WAL ─▶ exporter runner (per exporter: durable cursor, batching, retry with backoff) ─▶ AuditExporter
 *
 * Transports depend only on {@link LogsConsumer}; exporters only on {@link AuditExporter} and
 * {@link WalEntry}. Neither knows how the other side is built. The component, WAL entry and
 * exporter contracts are defined in `@otel-audit/core`; this module binds them to the audit event
 * and checkpoint types.
 */
import type {
  AuditError,
  AuditExporter as CoreAuditExporter,
  ExportBatch as CoreExportBatch,
  WalCheckpointEntry as CoreWalCheckpointEntry,
  WalEventEntry as CoreWalEventEntry,
} from '@otel-audit/core';
import type { AuditEvent, LogRecordView } from '@otel-audit/schema';
import type { CheckpointRecord } from '../integrity/checkpointer.ts';

/** Options of {@link Component.shutdown} (the core {@link LifecycleOptions}: a signal and/or a deadline). */
export type { Component, ExportResult, LifecycleOptions, LifecycleOptions as ShutdownOptions } from '@otel-audit/core';

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

/** One accepted audit event as stored in the WAL (`@otel-audit/core`), bound to {@link AuditEvent}. */
export type WalEventEntry = CoreWalEventEntry<AuditEvent>;

/** A signed checkpoint of one chain in the WAL, bound to the integrity {@link CheckpointRecord}. */
export type WalCheckpointEntry = CoreWalCheckpointEntry<CheckpointRecord>;

/** Any WAL entry: an accepted event, or a signed checkpoint of a chain. */
export type WalEntry = WalEventEntry | WalCheckpointEntry;

/** A contiguous range of WAL entries handed to an exporter. */
export type ExportBatch = CoreExportBatch<AuditEvent, CheckpointRecord>;

/** A destination fed from the WAL (the `@otel-audit/core` exporter contract, bound). */
export type AuditExporter = CoreAuditExporter<AuditEvent, CheckpointRecord>;
