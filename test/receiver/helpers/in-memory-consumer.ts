/**
 * A real, in-memory implementation of `LogsConsumer` for transport tests: records every request
 * with its context and answers as told (success with optional partial success, retryable, failure,
 * or a thrown error to simulate a pipeline bug). No dependency on the pipeline being built elsewhere.
 */
import { AuditError } from '@otel-audit/core';
import type { LogRecordView } from '@otel-audit/schema';
import type { DecodedLogs, IngestContext, IngestResult, LogsConsumer } from '../../../receiver/contracts.ts';

/** How the consumer answers the next requests. */
export type ConsumerMode =
  | { kind: 'success'; rejected?: number; message?: string }
  | { kind: 'retryable'; retryAfterMillis: number; message?: string }
  | { kind: 'failure'; message?: string }
  | { kind: 'throw' };

/** One request as received. */
export interface ConsumedRequest {
  logs: DecodedLogs;
  context: IngestContext;
}

/** In-memory `LogsConsumer` that records what it got. */
export class InMemoryLogsConsumer implements LogsConsumer {
  readonly requests: ConsumedRequest[] = [];
  mode: ConsumerMode = { kind: 'success' };
  /** When set, `consume()` records the request, then waits for this promise before answering. */
  gate: Promise<void> | undefined;
  /** Resolves the next time a request has been recorded (to observe in-flight requests). */
  private arrivals: Array<() => void> = [];
  private waiters: Array<{ count: number; resolve: () => void }> = [];

  /** All log records received, in order, flattened across requests. */
  records(): LogRecordView[] {
    return this.requests.flatMap((r) => r.logs.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => sl.logRecords)));
  }

  /** Resolves once at least `count` records have been received. */
  waitForRecords(count: number): Promise<void> {
    if (this.records().length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  /** Resolves when the next request reaches the consumer. */
  nextArrival(): Promise<void> {
    return new Promise((resolve) => this.arrivals.push(resolve));
  }

  async consume(logs: DecodedLogs, context: IngestContext): Promise<IngestResult> {
    const mode = this.mode;
    if (mode.kind === 'throw') throw new Error('simulated pipeline bug');
    this.requests.push({ logs, context });
    const n = this.records().length;
    this.waiters = this.waiters.filter((w) => {
      if (n >= w.count) w.resolve();
      return n < w.count;
    });
    for (const arrived of this.arrivals.splice(0)) arrived();
    if (this.gate) await this.gate;
    const total = logs.resourceLogs.reduce((a, rl) => a + rl.scopeLogs.reduce((b, sl) => b + sl.logRecords.length, 0), 0);
    switch (mode.kind) {
      case 'success': {
        const rejected = Math.min(mode.rejected ?? 0, total);
        return { status: 'success', accepted: total - rejected, duplicates: 0, rejected, message: mode.message ?? '' };
      }
      case 'retryable':
        return {
          status: 'retryable',
          error: new AuditError('AUDIT_ERR_BACKPRESSURE', mode.message ?? 'backlog is full', { retryable: true }),
          retryAfterMillis: mode.retryAfterMillis,
        };
      default:
        return { status: 'failure', error: new AuditError('AUDIT_ERR_WAL_IO', mode.message ?? 'disk failed') };
    }
  }
}
