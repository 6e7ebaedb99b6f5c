/**
 * The in-memory spool of `delivery: 'memory'`: the same contract as the file spool (bounded,
 * `AUDIT_ERR_SPOOL_FULL` when full, retries until acknowledged) without the disk. What it gives up:
 * records are lost when the process exits or crashes before the receiver acknowledged them.
 */
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { AuditError, type OperationResult } from '@otel-audit/core';
import type { Spool, SpoolBatch, SpoolCursor, SpoolRecord, SpoolStats } from './types.ts';

/** Per-record overhead counted against the capacity, so tiny records cannot grow memory unbounded. */
const RECORD_OVERHEAD_BYTES = 64;

/** Create an in-memory spool holding at most `maxBytes` of pending records. */
export function createMemorySpool(maxBytes: number): Spool {
  const records: Array<SpoolRecord & { seq: number; bytes: number }> = [];
  const listeners: Array<() => void> = [];
  let head = 0; // sequence number of records[0]
  let bytes = 0;
  let closed = false;
  let notifyScheduled = false;
  const notify = (): void => {
    if (notifyScheduled) return;
    notifyScheduled = true;
    queueMicrotask(() => {
      notifyScheduled = false;
      for (const l of listeners) l();
    });
  };
  return {
    append(contextJson: string, payload: Buffer, record?: ReadableLogRecord): Promise<OperationResult> {
      if (closed) return Promise.resolve({ status: 'failure', error: new AuditError('AUDIT_ERR_SHUTDOWN', 'the audit spool is closed') });
      const size = payload.length + RECORD_OVERHEAD_BYTES;
      if (bytes + size > maxBytes) {
        return Promise.resolve({
          status: 'failure',
          error: new AuditError(
            'AUDIT_ERR_SPOOL_FULL',
            `${bytes} bytes are waiting for delivery and the limit (maxSpoolBytes) is ${maxBytes}`,
            {
              retryable: true,
              details: { pendingBytes: bytes, maxSpoolBytes: maxBytes },
            },
          ),
        });
      }
      records.push(
        record
          ? { contextJson, payload, record, seq: head + records.length, bytes: size }
          : { contextJson, payload, seq: head + records.length, bytes: size },
      );
      bytes += size;
      notify();
      return Promise.resolve({ status: 'success', value: undefined });
    },
    read(maxRecords: number): Promise<SpoolBatch> {
      const slice = records.slice(0, maxRecords);
      const end: SpoolCursor = { segment: 0, offset: head + slice.length };
      return Promise.resolve({
        records: slice.map(({ contextJson, payload, record }) => (record ? { contextJson, payload, record } : { contextJson, payload })),
        end,
      });
    },
    ack(end: SpoolCursor): Promise<void> {
      const n = Math.max(0, Math.min(records.length, end.offset - head));
      for (const r of records.splice(0, n)) bytes -= r.bytes;
      head += n;
      return Promise.resolve();
    },
    onReadable(listener: () => void): void {
      listeners.push(listener);
    },
    stats(): SpoolStats {
      return { pendingRecords: records.length, pendingBytes: bytes, maxBytes };
    },
    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  };
}
