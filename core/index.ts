/**
 * `@otel-audit/core`: the contracts every otel-audit package builds on. Public names are exported
 * one by one; anything not listed here is internal.
 */
export { AUDIT_ERROR_CODES, AuditError, isAuditError } from './errors.ts';
export type { AuditErrorCode, AuditErrorOptions, OperationResult } from './errors.ts';
export { parseConfig } from './config.ts';
export type {
  AuditExporter,
  Component,
  ExportBatch,
  ExportResult,
  JsonObject,
  LifecycleOptions,
  WalCheckpointEntry,
  WalEntry,
  WalEventEntry,
} from './contracts.ts';
