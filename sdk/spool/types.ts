/**
 * The spool contract shared by the durable (file) and the in-memory implementation. The sender
 * reads batches from the ack cursor and acknowledges them; the processor appends.
 */
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { AuditError, OperationResult } from '@otel-audit/core';

/** A position in the spool: segment number and byte offset within it. */
export interface SpoolCursor {
  segment: number;
  offset: number;
}

/** One stored record with the context (resource + scope, JSON) it was emitted under. */
export interface SpoolRecord {
  /** Resource and scope of the record, JSON (see record-codec.ts). */
  contextJson: string;
  /** The encoded log record (see record-codec.ts). */
  payload: Buffer;
  /**
   * The emitted record itself while it is still in memory (read-only after emit): the sender
   * exports it without decoding `payload`. Absent for records read back from disk.
   */
  record?: ReadableLogRecord;
}

/** What {@link Spool.read} returns: records in append order and the cursor just after the last. */
export interface SpoolBatch {
  records: SpoolRecord[];
  end: SpoolCursor;
}

/** Counters a spool exposes (for `stats()`). */
export interface SpoolStats {
  /** Records appended and not yet acknowledged. */
  pendingRecords: number;
  /** Bytes of frames appended and not yet acknowledged. */
  pendingBytes: number;
  /** Spool capacity in bytes. */
  maxBytes: number;
}

/** The store between `record()` and the sender. */
export interface Spool {
  /**
   * Append one record. Resolves `success` once it is durable (file spool: written and fsync'd,
   * shared with concurrent appends); `failure` with `AUDIT_ERR_SPOOL_FULL` when it does not fit,
   * with another code when the disk fails. Never rejects.
   */
  append(contextJson: string, payload: Buffer, record?: ReadableLogRecord): Promise<OperationResult>;
  /** Up to `maxRecords` durable records from the ack cursor; an empty batch when there are none. */
  read(maxRecords: number): Promise<SpoolBatch>;
  /** Acknowledge everything before `end`: advance the cursor, delete fully acknowledged segments. */
  ack(end: SpoolCursor, records: number): Promise<void>;
  /** Register a function called after records become readable (durable). */
  onReadable(listener: () => void): void;
  stats(): SpoolStats;
  /** Wait for in-flight appends, then release files and the lock. Idempotent. */
  close(): Promise<void>;
}

/** The appends of a batch that failed: index in the batch and error, in index order; empty when all are durable. */
export type BatchAppendFailures = Array<[index: number, error: AuditError]>;

/** Errors the file spool reports without failing (recovered corruption). */
export type SpoolProblemListener = (error: AuditError) => void;
