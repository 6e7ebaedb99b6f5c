/**
 * Entry point of the record worker (`recordThread: 'worker'`, see record-thread.ts). It owns the
 * durable spool — the only writer of its files — and does the per-event work that need not run on
 * the caller's thread: mapping a validated event to the encoded OTel log record (record-text.ts:
 * straight to the text the own provider's record would encode to, checked against a real sdk-logs
 * LoggerProvider with the own provider's resource and scope at start), appending every event of
 * a message as one batch (one buffer, one promise) and fsync'ing (group commit). It answers each
 * batch of appends with one message, and serves the sender's reads and acks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { LoggerProvider, type LogRecordProcessor, type ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import { AUDIT_ERROR_CODES, AuditError, type AuditErrorCode } from '@otel-audit/core';
import { AUDIT_SCHEMA_URL, type AuditEvent, auditEventToLogRecord } from '@otel-audit/schema';
import { AUDIT_SCOPE_NAME, type OwnResourceSettings, ownResource, SDK_VERSION } from './own-provider.ts';
import { ContextEncoder, encodeRecord } from './record-codec.ts';
import { encodeAuditEventRecordText } from './record-text.ts';
import { type FileSpoolHandle, openFileSpool } from './spool/file-spool.ts';
import { packSpoolRecords } from './spool/packed-records.ts';
import type { SpoolCursor } from './spool/types.ts';

/** `workerData` of the record worker. */
export interface RecordWorkerData extends OwnResourceSettings {
  /** Spool directory; its lock is already held by this process (see `lockSpoolDir`). */
  dir: string;
  maxBytes: number;
  maxSegmentBytes: number;
}

/** A record already encoded on the caller's thread (the processor path of an app's provider). */
export interface EncodedItem {
  contextJson: string;
  payload: Uint8Array;
}

/** An {@link AuditError} as plain data (errors do not survive structured cloning). */
export interface SerializedAuditError {
  code: AuditErrorCode;
  /** The message without the code's standard prefix. */
  detail: string;
  retryable: boolean;
  path?: string | undefined;
  details?: Record<string, unknown> | undefined;
}

/** Spool counters, sent with every answer; `processed` counts appends the worker has taken. */
export interface RecordWorkerStats {
  pendingRecords: number;
  pendingBytes: number;
  processed: number;
}

/** Requests from the caller's thread. */
export type RecordWorkerRequest =
  | {
      type: 'append';
      batch: number;
      /** A validated event as JSON (the fast path), or an encoded record. */
      items: Array<string | EncodedItem>;
      /** Observed time (ms since the epoch, `Date.now()` at `record()`) per item; 0 for encoded items. */
      observed: number[];
    }
  | { type: 'read'; id: number; maxRecords: number }
  | { type: 'ack'; id: number; end: SpoolCursor; records: number }
  | { type: 'close'; id: number };

/** Answers of the worker. */
export type RecordWorkerResponse =
  | { type: 'ready'; stats: RecordWorkerStats }
  | { type: 'failed'; error: SerializedAuditError }
  | { type: 'problem'; error: SerializedAuditError }
  | { type: 'appended'; batch: number; failures: Array<[index: number, error: SerializedAuditError]>; stats: RecordWorkerStats }
  | {
      type: 'read';
      id: number;
      contexts: string[];
      contextOf: Uint32Array;
      offsets: Uint32Array;
      data: Uint8Array;
      end: SpoolCursor;
      stats: RecordWorkerStats;
    }
  | { type: 'readFailed'; id: number; error: SerializedAuditError }
  | { type: 'acked'; id: number; stats: RecordWorkerStats; error?: SerializedAuditError | undefined }
  | { type: 'closed'; id: number };

/** Plain-data form of an error, for postMessage. */
export function serializeAuditError(err: unknown): SerializedAuditError {
  if (err instanceof AuditError) {
    const base = AUDIT_ERROR_CODES[err.code];
    const detail = err.message.startsWith(`${base}: `) ? err.message.slice(base.length + 2) : err.message;
    return { code: err.code, detail, retryable: err.retryable, path: err.path, details: err.details };
  }
  return { code: 'AUDIT_ERR_INTERNAL', detail: (err as Error)?.message ?? String(err), retryable: true };
}

/** The {@link AuditError} a {@link SerializedAuditError} describes. */
export function deserializeAuditError(e: SerializedAuditError): AuditError {
  return new AuditError(e.code, e.detail, {
    retryable: e.retryable,
    ...(e.path !== undefined ? { path: e.path } : {}),
    ...(e.details !== undefined ? { details: e.details } : {}),
  });
}

const port = parentPort;
if (port) {
  const data = workerData as RecordWorkerData;
  const post = (m: RecordWorkerResponse, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);
  let spool: FileSpoolHandle | undefined;
  try {
    spool = openFileSpool({
      dir: data.dir,
      maxBytes: data.maxBytes,
      maxSegmentBytes: data.maxSegmentBytes,
      lockHeld: true,
      onProblem: (error) => post({ type: 'problem', error: serializeAuditError(error) }),
    });
  } catch (err) {
    post({ type: 'failed', error: serializeAuditError(err) });
  }
  if (spool) serve(spool, data, post);
}

function serve(spool: FileSpoolHandle, data: RecordWorkerData, post: (m: RecordWorkerResponse, transfer?: ArrayBuffer[]) => void): void {
  let processed = 0;
  const stats = (): RecordWorkerStats => {
    const s = spool.stats();
    return { pendingRecords: s.pendingRecords, pendingBytes: s.pendingBytes, processed };
  };
  // The own provider, rebuilt here: emit() builds the same ReadWriteLogRecord (limits, times,
  // span context) as on the caller's thread; the processor hands it over synchronously.
  let emitted: ReadWriteLogRecord | undefined;
  const capture: LogRecordProcessor = {
    onEmit: (record) => {
      emitted = record;
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new LoggerProvider({ resource: ownResource(data), processors: [capture] });
  const logger = provider.getLogger(AUDIT_SCOPE_NAME, SDK_VERSION, { schemaUrl: AUDIT_SCHEMA_URL });
  const contexts = new ContextEncoder();

  /** The record the provider builds for `event` observed at `observed` (the reference path). */
  const emit = (event: AuditEvent, observed: number): ReadWriteLogRecord => {
    const tc = event.trace;
    emitted = undefined;
    logger.emit({
      ...auditEventToLogRecord(event),
      observedTimestamp: observed,
      context: tc
        ? trace.setSpanContext(ROOT_CONTEXT, { traceId: tc.traceId, spanId: tc.spanId, traceFlags: tc.traceFlags ?? 0, isRemote: false })
        : ROOT_CONTEXT,
    });
    const record = emitted as ReadWriteLogRecord | undefined;
    if (!record) throw new AuditError('AUDIT_ERR_INTERNAL', 'the record worker did not capture the emitted record');
    return record;
  };

  // One probe through the provider: its resource and scope give the context of every record, and
  // it checks that the direct encoding (record-text.ts) still yields the provider's bytes with the
  // installed sdk-logs; if not, every event goes through the provider (slower, same result).
  const probeEvent: AuditEvent = {
    schemaVersion: '1.0',
    eventId: '0190a7f0-0000-7000-8000-000000000000',
    occurredAt: '2026-01-02T03:04:05.123456789Z',
    action: 'otel_audit.probe',
    outcome: 'success',
    actor: { id: 'probe', type: 'service' },
    tenant: { id: 'probe' },
    targets: [{ type: 'probe', id: 'probe' }],
    trace: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 },
    details: { probe: true },
  } as AuditEvent;
  const probe = emit(probeEvent, 1_767_323_045_123);
  const direct = encodeRecord(probe).toString('utf8') === encodeAuditEventRecordText(probeEvent, 1_767_323_045_123);
  const probeContext = (): string => contexts.encode(probe.resource, probe.instrumentationScope);

  const failure = (err: unknown): AuditError =>
    err instanceof AuditError ? err : new AuditError('AUDIT_ERR_INTERNAL', `recording failed: ${(err as Error)?.message}`);

  const onAppend = (m: Extract<RecordWorkerRequest, { type: 'append' }>): void => {
    const failures: Array<[number, SerializedAuditError]> = [];
    const waits: Array<Promise<void>> = [];
    // Consecutive events (the fast path) are encoded to text and appended as one batch (one
    // buffer, one promise); a pre-encoded item (the processor path) is appended on its own. Both
    // take their spool position synchronously, so the order of the message is the order on disk.
    let texts: string[] = [];
    let textIndex: number[] = [];
    const flushTexts = (): void => {
      if (texts.length === 0) return;
      const indexes = textIndex;
      waits.push(
        spool.appendBatch(probeContext(), texts).then((failed) => {
          for (const [j, error] of failed) failures.push([indexes[j]!, serializeAuditError(error)]);
        }),
      );
      texts = [];
      textIndex = [];
    };
    for (let i = 0; i < m.items.length; i++) {
      const item = m.items[i]!;
      processed++;
      if (typeof item === 'string') {
        try {
          const event = JSON.parse(item) as AuditEvent;
          const observed = m.observed[i]!;
          texts.push(direct ? encodeAuditEventRecordText(event, observed) : encodeRecord(emit(event, observed)).toString('utf8'));
          textIndex.push(i);
        } catch (err) {
          failures.push([i, serializeAuditError(failure(err))]);
        }
        continue;
      }
      flushTexts();
      const payload = Buffer.from(item.payload.buffer, item.payload.byteOffset, item.payload.byteLength);
      waits.push(
        spool.append(item.contextJson, payload).then((r) => {
          if (r.status !== 'success') failures.push([i, serializeAuditError(r.error)]);
        }),
      );
    }
    flushTexts();
    // One answer per batch: every append of it is durable (or failed) by then.
    void Promise.all(waits).then(() => {
      failures.sort((a, b) => a[0] - b[0]);
      post({ type: 'appended', batch: m.batch, failures, stats: stats() });
    });
  };

  const onRead = async (m: Extract<RecordWorkerRequest, { type: 'read' }>): Promise<void> => {
    const batch = await spool.read(m.maxRecords);
    const { contexts, contextOf, offsets, data } = packSpoolRecords(batch.records);
    post({ type: 'read', id: m.id, contexts, contextOf, offsets, data, end: batch.end, stats: stats() }, [data.buffer as ArrayBuffer]);
  };

  parentPort!.on('message', (m: RecordWorkerRequest) => {
    switch (m.type) {
      case 'append':
        onAppend(m);
        break;
      case 'read':
        // A failed read is answered as such: the sender reports it and retries after a backoff.
        onRead(m).catch((err: unknown) => post({ type: 'readFailed', id: m.id, error: serializeAuditError(err) }));
        break;
      case 'ack':
        spool.ack(m.end, m.records).then(
          () => post({ type: 'acked', id: m.id, stats: stats() }),
          (err: unknown) => post({ type: 'acked', id: m.id, stats: stats(), error: serializeAuditError(err) }),
        );
        break;
      case 'close':
        void spool.close().finally(() => post({ type: 'closed', id: m.id }));
        break;
    }
  });
  post({ type: 'ready', stats: stats() });
}
