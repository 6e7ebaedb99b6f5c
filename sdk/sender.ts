/**
 * The sender: exports spooled records through an OTel `LogRecordExporter`, one batch at a time,
 * and acknowledges them in the spool only when the receiver accepted them.
 *
 * - success → acknowledged. A `partial_success` with rejected records is reported through
 *   `onRejected` (the receiver does not say which records; the report lists the batch) and not
 *   retried, per the OTLP spec.
 * - invalid (HTTP 400/413, gRPC INVALID_ARGUMENT) → the batch is split in halves until the records
 *   at fault are isolated; each is reported through `onRejected` and dropped from the spool. A
 *   poison record therefore costs about log2(batch) extra requests, never a stuck spool.
 * - retryable (everything else) → reported through `onError`, retried with exponential backoff
 *   and jitter (or the receiver's Retry-After / RetryInfo) for as long as it takes.
 */
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { AuditError, type BackoffPolicy, backoffDelayMillis } from '@otel-audit/core';
import { AUDIT_ATTR } from '@otel-audit/schema';
import { classifyExportError } from './otlp-exporter.ts';
import { RecordDecoder } from './record-codec.ts';
import type { Spool, SpoolRecord } from './spool/types.ts';

/** Records the receiver refused for good. */
export interface RejectedReport {
  /** `partial_success`: the receiver accepted the request but rejected some records (it does not say which). `invalid`: the receiver refused a request holding only these records. */
  reason: 'partial_success' | 'invalid';
  /** Number of records rejected. */
  count: number;
  /** The receiver's message (OTLP `error_message`, or the status). */
  message: string;
  /** `invalid`: exactly the rejected events. `partial_success`: every event of the request (a superset). */
  eventIds: string[];
}

/** Options of {@link Sender}. */
export interface SenderOptions {
  spool: Spool;
  /** Retry backoff (a server's Retry-After replaces the computed delay). */
  backoff: BackoffPolicy;
  /** Exporter used in this thread (when `transport` is absent). */
  exporter: LogRecordExporter | undefined;
  /** When set, records are exported through it (export worker) instead of `exporter`. */
  transport?: ExportTransport | undefined;
  /** Partial success of the last export, when the exporter can tell (see otlp-exporter.ts). */
  takePartialSuccess: (() => { rejected: number; message: string } | undefined) | undefined;
  maxExportBatchSize: number;
  /** How long a partial batch waits for more records before it is exported (0: at once). */
  exportDelayMillis: number;
  /** Time after which an export that has not called back counts as failed (retryable). */
  exportTimeoutMillis: number;
  onError: (error: AuditError) => void;
  onRejected: (report: RejectedReport) => void;
  random?: () => number;
}

/** Delivery counters. */
export interface SenderStats {
  /** Records acknowledged by the receiver (excluding rejected ones). */
  exported: number;
  /** Records the receiver rejected (partial_success or invalid requests). */
  rejected: number;
  /** Export attempts that failed with a retryable error. */
  failedAttempts: number;
}

/** Result of one export attempt of a chunk of records. */
export type TransportResult =
  | { kind: 'success'; partial?: { rejected: number; message: string } | undefined }
  | { kind: 'invalid'; message: string }
  | { kind: 'retryable'; error: AuditError; retryAfterMillis?: number };

/**
 * Exports spooled records somewhere else than this thread (the export worker). One `send` at a
 * time; it never rejects.
 */
export interface ExportTransport {
  send(records: SpoolRecord[]): Promise<TransportResult>;
  shutdown(): Promise<void>;
}

type AttemptResult =
  | { kind: 'success' }
  | { kind: 'invalid'; message: string }
  | { kind: 'retryable'; error: AuditError; retryAfterMillis?: number };

/** Runs the export loop; see the module comment. */
export class Sender {
  private readonly o: SenderOptions;
  private readonly decoder = new RecordDecoder();
  private readonly counters: SenderStats = { exported: 0, rejected: 0, failedAttempts: 0 };
  private running: Promise<void> | undefined;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private flushWaiters: Array<() => void> = [];
  private busy = false;
  private lingered = false;

  constructor(options: SenderOptions) {
    this.o = options;
    options.spool.onReadable(() => this.wake());
  }

  /** Start the loop (idempotent). */
  start(): void {
    this.running ??= this.loop();
  }

  /** Counters since start. */
  stats(): SenderStats {
    return { ...this.counters };
  }

  /**
   * Resolves true once every record appended so far is acknowledged or rejected, false when
   * `timeoutMillis` passes first (records stay in the spool and keep being retried).
   */
  flush(timeoutMillis: number): Promise<boolean> {
    if (this.idle()) return Promise.resolve(true);
    const p = new Promise<boolean>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.flushWaiters = this.flushWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMillis);
      this.flushWaiters.push(done);
    });
    this.wake();
    return p;
  }

  /** Stop after the current attempt; unsent records stay in the spool. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.running;
  }

  private idle(): boolean {
    return !this.busy && this.o.spool.stats().pendingRecords === 0;
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private sleep(ms: number | undefined): Promise<void> {
    // stop() may have come while a read was in flight (its wake-up found no sleeper): do not start
    // an unref'd wait that nothing would end before the process exits.
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      // Unref'd: an idle sender must not keep the process alive (unsent events are in the spool).
      const timer = ms === undefined ? undefined : setTimeout(() => finish(), ms).unref();
      const finish = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        if (this.wakeUp === finish) this.wakeUp = undefined;
        resolve();
      };
      // Only idle waits are cut short by new records; backoff waits are cut short by stop().
      this.wakeUp = finish;
    });
  }

  private notifyFlushed(): void {
    if (!this.idle() || this.flushWaiters.length === 0) return;
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of waiters) w();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let batch: Awaited<ReturnType<typeof this.o.spool.read>>;
      try {
        batch = await this.o.spool.read(this.o.maxExportBatchSize);
      } catch (cause) {
        this.o.onError(
          new AuditError('AUDIT_ERR_INTERNAL', `reading the spool failed: ${(cause as Error).message}`, { cause, retryable: true }),
        );
        await this.sleep(this.o.backoff.maxIntervalMillis);
        continue;
      }
      if (batch.records.length === 0) {
        this.notifyFlushed();
        // Sleep until records become readable; the timer covers appends whose notification raced.
        await this.sleep(1000);
        this.lingered = false;
        continue;
      }
      if (
        batch.records.length < this.o.maxExportBatchSize &&
        !this.lingered &&
        this.o.exportDelayMillis > 0 &&
        this.flushWaiters.length === 0
      ) {
        // A partial batch: wait a little for more records, so that a trickle of events does not
        // cost one request each (the records are already safe in the spool).
        this.lingered = true;
        await this.linger(this.o.exportDelayMillis);
        continue;
      }
      this.lingered = false;
      this.busy = true;
      try {
        let delivered: boolean;
        const transport = this.o.transport;
        if (transport) {
          delivered = await this.deliver(
            batch.records,
            (chunk) => transport.send(chunk),
            (r) => this.spoolEventId(r),
          );
        } else {
          const records: ReadableLogRecord[] = [];
          for (const r of batch.records) {
            try {
              records.push(r.record ?? this.decoder.decode(r.contextJson, r.payload));
            } catch (cause) {
              this.o.onError(new AuditError('AUDIT_ERR_SPOOL_CORRUPT', 'a spooled record could not be decoded; skipped', { cause }));
            }
          }
          delivered = await this.deliver(records, (chunk) => this.attemptHere(chunk), eventIdOf);
        }
        if (!delivered) break; // stopped while retrying: the batch stays in the spool
        await this.o.spool.ack(batch.end, batch.records.length);
      } finally {
        this.busy = false;
      }
      this.notifyFlushed();
    }
  }

  /** Deliver `records` completely (success or reported rejection). False when stopped first. */
  private async deliver<T>(records: T[], send: (chunk: T[]) => Promise<TransportResult>, eventId: (r: T) => string): Promise<boolean> {
    const work: T[][] = records.length > 0 ? [records] : [];
    let attempt = 0;
    while (work.length > 0) {
      if (this.stopped) return false;
      const chunk = work[0]!;
      const result = await send(chunk);
      if (result.kind === 'success') {
        work.shift();
        attempt = 0;
        const partial = result.partial;
        if (partial && partial.rejected > 0) {
          const rejected = Math.min(partial.rejected, chunk.length);
          this.counters.rejected += rejected;
          this.counters.exported += chunk.length - rejected;
          this.report({ reason: 'partial_success', count: rejected, message: partial.message, eventIds: chunk.map(eventId) });
        } else {
          this.counters.exported += chunk.length;
        }
      } else if (result.kind === 'invalid') {
        attempt = 0;
        work.shift();
        if (chunk.length > 1) {
          const mid = Math.ceil(chunk.length / 2);
          work.unshift(chunk.slice(0, mid), chunk.slice(mid));
        } else {
          this.counters.rejected += 1;
          this.report({ reason: 'invalid', count: 1, message: result.message, eventIds: chunk.map(eventId) });
        }
      } else {
        this.counters.failedAttempts++;
        this.safeOnError(result.error);
        const delay = backoffDelayMillis(this.o.backoff, attempt, {
          retryAfterMillis: result.retryAfterMillis,
          ...(this.o.random ? { random: this.o.random } : {}),
        });
        attempt++;
        await this.backoff(delay);
      }
    }
    return true;
  }

  private linger(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(), ms).unref();
      const finish = (): void => {
        clearTimeout(timer);
        if (this.wakeUp === onWake) this.wakeUp = undefined;
        resolve();
      };
      // New records do not end the wait; flush() and stop() do.
      const onWake = (): void => {
        if (this.stopped || this.flushWaiters.length > 0) finish();
        else this.wakeUp = onWake;
      };
      this.wakeUp = onWake;
    });
  }

  private backoff(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(), ms).unref();
      const finish = (): void => {
        clearTimeout(timer);
        if (this.wakeUp === onWake) this.wakeUp = undefined;
        resolve();
      };
      // New records must not cut a backoff short; only stop() does.
      const onWake = (): void => {
        if (this.stopped) finish();
        else this.wakeUp = onWake;
      };
      this.wakeUp = onWake;
    });
  }

  private async attemptHere(records: ReadableLogRecord[]): Promise<TransportResult> {
    const result = await this.attempt(records);
    return result.kind === 'success' ? { kind: 'success', partial: this.o.takePartialSuccess?.() } : result;
  }

  private spoolEventId(r: SpoolRecord): string {
    if (r.record) return eventIdOf(r.record);
    try {
      return eventIdOf(this.decoder.decode(r.contextJson, r.payload));
    } catch {
      return '';
    }
  }

  private attempt(records: ReadableLogRecord[]): Promise<AttemptResult> {
    return new Promise((resolve) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        resolve({
          kind: 'retryable',
          error: new AuditError('AUDIT_ERR_EXPORT_FAILED', 'the export did not complete in time', { retryable: true }),
        });
      }, this.o.exportTimeoutMillis).unref();
      try {
        this.o.exporter!.export(records, (result) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (result.code === 0) return resolve({ kind: 'success' });
          const cls = classifyExportError(result.error);
          const text = result.error?.message ? `${cls.status}: ${result.error.message}` : cls.status;
          if (cls.kind === 'invalid') return resolve({ kind: 'invalid', message: text });
          const error = new AuditError('AUDIT_ERR_EXPORT_FAILED', `${text} (will retry)`, { retryable: true, cause: result.error });
          resolve(
            cls.retryAfterMillis === undefined
              ? { kind: 'retryable', error }
              : { kind: 'retryable', error, retryAfterMillis: cls.retryAfterMillis },
          );
        });
      } catch (cause) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({
          kind: 'retryable',
          error: new AuditError('AUDIT_ERR_EXPORT_FAILED', `the exporter threw: ${(cause as Error).message}`, { retryable: true, cause }),
        });
      }
    });
  }

  private report(report: RejectedReport): void {
    try {
      this.o.onRejected(report);
    } catch {
      // A throwing callback must not stop delivery.
    }
  }

  private safeOnError(error: AuditError): void {
    try {
      this.o.onError(error);
    } catch {
      // A throwing callback must not stop delivery.
    }
  }
}

function eventIdOf(record: ReadableLogRecord): string {
  const id = record.attributes[AUDIT_ATTR.eventId];
  return typeof id === 'string' ? id : '';
}
