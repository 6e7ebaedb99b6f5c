/**
 * `createAuditLogger`: typed audit events in, OTel log records out, nothing accepted lost.
 *
 *   record(event) ─ validate, fill, redact ─▶ OTel Logger.emit ─▶ LoggerProvider ─▶ audit processor
 *        ▲                                                                          │ append + fsync
 *        └────────────── resolves with the event id once the record is in the spool ┘
 *   spool ─▶ sender ─▶ OTLP exporter ─▶ receiver; acknowledged records leave the spool
 */
import { type LoggerProvider as ApiLoggerProvider, type Logger, logs, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { LoggerProvider, type LogRecordExporter, type LogRecordProcessor, type ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import { AuditError, type OperationResult } from '@otel-audit/core';
import {
  AUDIT_ATTR,
  AUDIT_SCHEMA_URL,
  type AuditEvent,
  type AuditEventInput,
  auditEventToLogRecord,
  validateAuditEvent,
} from '@otel-audit/schema';
import { completeEventInput } from './complete-event.ts';
import { type AuditLoggerOptions, parseAuditLoggerOptions, type ResolvedAuditLoggerOptions } from './options.ts';
import { createCapturingExporter } from './otlp-exporter.ts';
import { createOutbox, type Outbox, type OutboxQueryable } from './outbox/record.ts';
import { AUDIT_SCOPE_NAME, ownResource, SDK_VERSION } from './own-provider.ts';
import { ContextEncoder, encodeRecord } from './record-codec.ts';
import { RecordThread } from './record-thread.ts';
import { createRedactor } from './redact.ts';
import { type ExportTransport, Sender, type SenderStats } from './sender.ts';
import { openFileSpool } from './spool/file-spool.ts';
import { createMemorySpool } from './spool/memory-spool.ts';
import type { Spool } from './spool/types.ts';
import { createWorkerTransport } from './worker-transport.ts';

export { AUDIT_SCOPE_NAME, SDK_VERSION } from './own-provider.ts';

/** Result of `flush()` and `shutdown()`: `retryable` when events were still waiting at the deadline. */
export type FlushResult = { status: 'success' } | { status: 'retryable'; error: AuditError; pendingRecords: number };

/** Counters of one audit logger. */
export interface AuditLoggerStats extends SenderStats {
  /** `record()` calls that resolved (event safely in the spool). */
  recorded: number;
  /** Events refused as invalid (counted in both `onInvalid` modes). */
  invalid: number;
  /** `record()` calls refused with `AUDIT_ERR_SPOOL_FULL`. */
  spoolFull: number;
  /** Events in the spool not yet acknowledged by the receiver. */
  pendingRecords: number;
  /** Bytes of those events. */
  pendingBytes: number;
}

/** An audit logger; see {@link createAuditLogger}. */
export interface AuditLogger {
  /**
   * Record one audit event. Fills `eventId` (UUIDv7), `schemaVersion`, `occurredAt` (now),
   * `trace` (active span) and, from {@link runWithAuditContext}, `actor`, `tenant`, `request` and
   * `session` when omitted; redacts `details` and `changes`; validates.
   *
   * Resolves with the event id once the event is safely accepted: durable delivery — written and
   * fsync'd to the spool; memory delivery — queued in memory. Rejects with `AUDIT_ERR_SPOOL_FULL`
   * when the spool is full (nothing is dropped silently), `AUDIT_ERR_SHUTDOWN` after shutdown.
   * An invalid event throws `AUDIT_ERR_INVALID_EVENT` (naming the field path) synchronously, or
   * — with `onInvalid: 'report'` — returns a rejected promise and counts it.
   */
  record(event: AuditEventInput): Promise<string>;
  /**
   * Wait until every event recorded so far is acknowledged by the receiver (or reported rejected).
   * Never needed for safety in durable mode. `timeoutMillis` default 30000.
   */
  flush(options?: { timeoutMillis?: number }): Promise<FlushResult>;
  /**
   * Stop accepting events, try to deliver what is pending for up to `timeoutMillis` (default
   * 5000), then stop the sender and release the spool. Durable events not delivered by then are
   * sent by the next logger that opens the spool. Idempotent.
   */
  shutdown(options?: { timeoutMillis?: number }): Promise<FlushResult>;
  /**
   * Transactional audit (Postgres outbox, docs/outbox.md): complete, redact and validate the event
   * like `record()`, then INSERT it into the outbox table with `client`, which must be inside the
   * caller's transaction — the event commits or rolls back with the change it describes. The relay
   * (`otel-audit relay`) ships committed rows to the receiver. Resolves with the event id once the
   * row is written (not yet committed). Rejects with `AUDIT_ERR_INVALID_EVENT` (field path in
   * `path`) or `AUDIT_ERR_OUTBOX`. The table is `outbox.schema`/`outbox.table` of the options.
   */
  recordInTransaction(client: OutboxQueryable, event: AuditEventInput): Promise<string>;
  /** Counters. */
  stats(): AuditLoggerStats;
  /**
   * The LogRecordProcessor that spools audit records. With `loggerProvider: 'global'` or an app's
   * provider, add it to that provider's processors: `new LoggerProvider({ processors: [..., audit.processor] })`.
   * It ignores records without `audit.schema_version`. With `'own'` it is already installed.
   */
  readonly processor: LogRecordProcessor;
}

type Acceptor = (appended: Promise<OperationResult>) => void;

/**
 * Create an audit logger (see {@link AuditLoggerOptions}). Throws `AUDIT_ERR_INVALID_CONFIG` for
 * bad options or a spool directory that cannot be used (or is used by another live process).
 */
export function createAuditLogger(options: AuditLoggerOptions = {}): AuditLogger {
  const o = parseAuditLoggerOptions(options);
  return new AuditLoggerImpl(o);
}

class AuditLoggerImpl implements AuditLogger {
  readonly processor: LogRecordProcessor;
  private readonly o: ResolvedAuditLoggerOptions;
  private readonly spool: Spool;
  /** The spool's worker (`recordThread: 'worker'`), else undefined. */
  private readonly thread: RecordThread | undefined;
  /** `record()` hands validated events straight to {@link thread} (worker mode, own provider). */
  private readonly fastPath: boolean;
  private readonly sender: Sender;
  private readonly exporter: LogRecordExporter | undefined;
  private readonly transport: ExportTransport | undefined;
  private readonly ownProvider: LoggerProvider | undefined;
  private readonly redact: (value: unknown) => unknown;
  private readonly acceptors = new Map<string, Acceptor>();
  private outbox: Outbox | undefined;
  private readonly counters = { recorded: 0, invalid: 0, spoolFull: 0 };
  private logger: Logger | undefined;
  private closing: Promise<FlushResult> | undefined;
  /** `onError` of the options, guarded against throwing (see the constructor). */
  private readonly reportError: (error: AuditError) => void;

  constructor(o: ResolvedAuditLoggerOptions) {
    this.o = o;
    this.redact = createRedactor(o.redactKeys, o.redactReplacement);
    const onError = (this.reportError = (error: AuditError): void => {
      try {
        o.onError?.(error);
      } catch {
        // A throwing callback must not break delivery.
      }
    });
    if (o.delivery === 'durable' && o.recordThread === 'worker') {
      this.thread = new RecordThread({
        dir: o.spoolDir,
        maxBytes: o.maxSpoolBytes,
        maxSegmentBytes: o.maxSegmentBytes,
        serviceName: o.serviceName,
        resourceAttributes: o.resourceAttributes,
        onProblem: onError,
      });
      this.spool = this.thread;
    } else {
      this.thread = undefined;
      this.spool =
        o.delivery === 'durable'
          ? openFileSpool({ dir: o.spoolDir, maxBytes: o.maxSpoolBytes, maxSegmentBytes: o.maxSegmentBytes, onProblem: onError })
          : createMemorySpool(o.maxSpoolBytes);
    }
    this.fastPath = this.thread !== undefined && o.loggerProvider === 'own';
    let takePartialSuccess: (() => { rejected: number; message: string } | undefined) | undefined;
    const exportTimeoutMillis = o.exporter.timeoutMillis * 6 + 5000;
    if (o.logRecordExporter) {
      this.exporter = o.logRecordExporter;
    } else if (o.exportThread === 'worker') {
      this.exporter = undefined;
      this.transport = createWorkerTransport(o.exporter, exportTimeoutMillis);
    } else {
      const built = createCapturingExporter(o.exporter);
      this.exporter = built.exporter;
      takePartialSuccess = built.takePartialSuccess;
    }
    this.sender = new Sender({
      spool: this.spool,
      exporter: this.exporter,
      transport: this.transport,
      takePartialSuccess,
      maxExportBatchSize: o.maxExportBatchSize,
      exportDelayMillis: o.exportDelayMillis,
      exportTimeoutMillis,
      backoff: o.backoff,
      onError,
      onRejected: (report) => o.onRejected?.(report),
    });
    // Record objects can be handed to the sender only when it runs on this thread and reads from
    // a spool on this thread.
    const keepRecords = this.transport === undefined && this.thread === undefined;
    this.processor = new AuditSpoolProcessor(this.spool, this.acceptors, onError, this, keepRecords);
    // The fast path emits in the record worker, through the same provider built there.
    if (o.loggerProvider === 'own' && !this.fastPath) {
      this.ownProvider = new LoggerProvider({ resource: ownResource(o), processors: [this.processor] });
    }
    this.sender.start();
  }

  record(input: AuditEventInput): Promise<string> {
    if (this.closing) return Promise.reject(new AuditError('AUDIT_ERR_SHUTDOWN', 'record() after shutdown()'));
    const validated = validateAuditEvent(this.complete(input));
    if (!validated.ok) {
      this.counters.invalid++;
      if (this.o.onInvalid === 'throw') throw validated.error;
      return Promise.reject(validated.error);
    }
    const event = validated.event;
    if (this.fastPath) return this.recordInWorker(event);
    const fields = auditEventToLogRecord(event);
    const logger = this.resolveLogger();
    let appended: Promise<OperationResult> | undefined;
    this.acceptors.set(event.eventId, (p) => {
      appended = p;
    });
    const tc = event.trace;
    try {
      logger.emit({
        ...fields,
        context: tc
          ? trace.setSpanContext(ROOT_CONTEXT, { traceId: tc.traceId, spanId: tc.spanId, traceFlags: tc.traceFlags ?? 0, isRemote: false })
          : ROOT_CONTEXT,
      });
    } finally {
      this.acceptors.delete(event.eventId);
    }
    if (!appended) {
      return Promise.reject(
        new AuditError(
          'AUDIT_ERR_INVALID_CONFIG',
          'the LoggerProvider did not hand the record to the audit processor: add audit.processor to its processors (and register it when loggerProvider is "global"), and check that it is not shut down and that no LoggerConfigurator disables the otel-audit logger',
          { path: 'loggerProvider' },
        ),
      );
    }
    return appended.then((result) => {
      if (result.status === 'success') {
        this.counters.recorded++;
        return event.eventId;
      }
      if (result.error.code === 'AUDIT_ERR_SPOOL_FULL') this.counters.spoolFull++;
      throw result.error;
    });
  }

  /**
   * The fast path: the validated event crosses to the record worker as JSON; the promise settles
   * from the worker's batch answer (after fsync).
   */
  private recordInWorker(event: AuditEvent): Promise<string> {
    const json = JSON.stringify(event);
    const id = event.eventId;
    return new Promise<string>((resolve, reject) => {
      this.thread!.appendEvent(json, Date.now(), (error) => {
        if (!error) {
          this.counters.recorded++;
          resolve(id);
          return;
        }
        if (error.code === 'AUDIT_ERR_SPOOL_FULL') this.counters.spoolFull++;
        reject(error);
      });
    });
  }

  async flush(options: { timeoutMillis?: number } = {}): Promise<FlushResult> {
    const timeoutMillis = options.timeoutMillis ?? 30_000;
    // Until the worker has opened the spool, records of an earlier process are not counted yet.
    if (this.thread) await this.thread.ready;
    const ok = await this.sender.flush(timeoutMillis);
    if (ok) return { status: 'success' };
    const pendingRecords = this.spool.stats().pendingRecords;
    return {
      status: 'retryable',
      error: new AuditError(
        'AUDIT_ERR_EXPORT_FAILED',
        `${pendingRecords} events are not acknowledged yet after ${timeoutMillis} ms; they stay in the spool`,
        {
          retryable: true,
        },
      ),
      pendingRecords,
    };
  }

  shutdown(options: { timeoutMillis?: number } = {}): Promise<FlushResult> {
    this.closing ??= (async () => {
      (this.processor as AuditSpoolProcessor).shuttingDown = true;
      const result = await this.flush({ timeoutMillis: options.timeoutMillis ?? 5000 });
      await this.sender.stop();
      await this.spool.close();
      // Reported through onError, not thrown: shutdown() answers about the events (the flush result),
      // and the exporter is released either way.
      const failed = (what: string) => (err: unknown) =>
        this.reportError(
          err instanceof AuditError
            ? err
            : new AuditError('AUDIT_ERR_SHUTDOWN', `${what} failed: ${(err as Error)?.message ?? err}`, { cause: err }),
        );
      await this.exporter?.shutdown().catch(failed('OTLP exporter shutdown'));
      await this.transport?.shutdown().catch(failed('transport shutdown'));
      if (this.ownProvider) await this.ownProvider.shutdown().catch(failed('logger provider shutdown'));
      return result;
    })();
    return this.closing;
  }

  stats(): AuditLoggerStats {
    const s = this.spool.stats();
    return { ...this.counters, ...this.sender.stats(), pendingRecords: s.pendingRecords, pendingBytes: s.pendingBytes };
  }

  private resolveLogger(): Logger {
    if (this.logger) return this.logger;
    const p = this.o.loggerProvider;
    const provider: ApiLoggerProvider =
      p === 'own'
        ? this.ownProvider!
        : p === 'global'
          ? logs.getLoggerProvider()
          : typeof p === 'function'
            ? (p as () => ApiLoggerProvider)()
            : p;
    this.logger = provider.getLogger(AUDIT_SCOPE_NAME, SDK_VERSION, { schemaUrl: AUDIT_SCHEMA_URL });
    return this.logger;
  }

  /** The event with SDK-filled fields, context fields and redaction applied (not yet validated). */
  private complete(input: AuditEventInput): unknown {
    return completeEventInput(input, this.redact);
  }

  async recordInTransaction(client: OutboxQueryable, input: AuditEventInput): Promise<string> {
    if (this.closing) throw new AuditError('AUDIT_ERR_SHUTDOWN', 'recordInTransaction() after shutdown()');
    const validated = validateAuditEvent(this.complete(input));
    if (!validated.ok) {
      this.counters.invalid++;
      throw validated.error;
    }
    this.outbox ??= createOutbox({ ...this.o.outbox, ...(this.o.serviceName ? { serviceName: this.o.serviceName } : {}) });
    return this.outbox.insertValidated(client, validated.event);
  }
}

/**
 * The LogRecordProcessor that spools audit records (those with `audit.schema_version`) and hands
 * the append's completion to the `record()` call that emitted it.
 */
class AuditSpoolProcessor implements LogRecordProcessor {
  private readonly spool: Spool;
  private readonly acceptors: Map<string, Acceptor>;
  private readonly onError: (error: AuditError) => void;
  private readonly owner: AuditLogger;
  private readonly contexts = new ContextEncoder();

  /** Whether the sender exports record objects on this thread (else only payloads are needed). */
  private readonly keepRecords: boolean;

  constructor(
    spool: Spool,
    acceptors: Map<string, Acceptor>,
    onError: (error: AuditError) => void,
    owner: AuditLogger,
    keepRecords: boolean,
  ) {
    this.keepRecords = keepRecords;
    this.spool = spool;
    this.acceptors = acceptors;
    this.onError = onError;
    this.owner = owner;
  }

  onEmit(record: ReadWriteLogRecord): void {
    const attrs = record.attributes;
    if (attrs[AUDIT_ATTR.schemaVersion] === undefined) return;
    const id = attrs[AUDIT_ATTR.eventId];
    const acceptor = typeof id === 'string' ? this.acceptors.get(id) : undefined;
    // The record object is handed along too: it is read-only once emit() returns, and the sender
    // exports it directly while it is still in memory (no read-back and decode from disk).
    const appended = this.spool.append(
      this.contexts.encode(record.resource, record.instrumentationScope),
      encodeRecord(record),
      this.keepRecords ? record : undefined,
    );
    if (acceptor) acceptor(appended);
    else {
      // Emitted by other code through the same provider: spooled too, failures reported.
      void appended.then((r) => {
        if (r.status !== 'success') this.onError(r.error);
      });
    }
  }

  async forceFlush(): Promise<void> {
    // Spooled records are already durable; forceFlush waits (bounded) for their delivery.
    await this.owner.flush({ timeoutMillis: 30_000 });
  }

  async shutdown(): Promise<void> {
    // The own provider's shutdown comes from the logger's shutdown, which is already running.
    if (this.shuttingDown) return;
    await this.owner.shutdown();
  }

  /** Set by the logger's shutdown so that the provider shutdown it triggers does not wait on itself. */
  shuttingDown = false;
}
