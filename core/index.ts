/**
 * `@otel-audit/core`: the contracts every otel-audit package builds on. Public names are exported
 * one by one; anything not listed here is internal.
 */
export { AUDIT_ERROR_CODES, AuditError, isAuditError } from './errors.ts';
export type { AuditErrorCode, AuditErrorOptions, OperationResult } from './errors.ts';
export { AUDIT_ERROR_DOCS, renderErrorReference } from './error-docs.ts';
export type { AuditErrorDoc } from './error-docs.ts';
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
export { encodeWalEntry, encodeWalEntryBytes, decodeWalEntry, decodeWalEntryOrThrow } from './wal-codec.ts';
export type { DecodeWalEntryResult } from './wal-codec.ts';
export { BackoffPolicySchema, MAX_RETRY_AFTER_MILLIS, backoffDelayMillis } from './backoff.ts';
export type { BackoffPolicy, BackoffPolicyInput } from './backoff.ts';
export { acquireLockFile, atomicWriteFile, fsyncDir, fsyncDirSync, pidAlive, releaseLockFile } from './durable-fs.ts';
export type { FsyncObserver, LockResult } from './durable-fs.ts';
export { createLogger, silentLogger } from './logger.ts';
export type { CreateLoggerOptions, LogFields, LogLevel, Logger } from './logger.ts';
