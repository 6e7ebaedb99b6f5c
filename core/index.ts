/**
 * `@otel-audit/core`: the contracts every otel-audit package builds on. Public names are exported
 * one by one; anything not listed here is internal.
 */

export type { BackoffPolicy, BackoffPolicyInput } from './backoff.ts';
export { BackoffPolicySchema, backoffDelayMillis, MAX_RETRY_AFTER_MILLIS } from './backoff.ts';
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
export { csvField } from './csv.ts';
export type { FsyncObserver, LockResult } from './durable-fs.ts';
export { acquireLockFile, atomicWriteFile, fsyncDir, fsyncDirSync, pidAlive, releaseLockFile } from './durable-fs.ts';
export type { AuditErrorDoc } from './error-docs.ts';
export { AUDIT_ERROR_DOCS, renderErrorReference } from './error-docs.ts';
export type { AuditErrorCode, AuditErrorOptions, OperationResult } from './errors.ts';
export { AUDIT_ERROR_CODES, AuditError, isAuditError } from './errors.ts';
export type { CreateLoggerOptions, LogFields, Logger, LogLevel } from './logger.ts';
export { createLogger, silentLogger } from './logger.ts';
export type { DecodeWalEntryResult } from './wal-codec.ts';
export { decodeWalEntry, decodeWalEntryOrThrow, encodeWalEntry, encodeWalEntryBytes } from './wal-codec.ts';
