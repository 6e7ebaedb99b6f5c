/**
 * The raw-bytes side door of a {@link LogsConsumer}: a consumer that decodes requests itself (the
 * pipeline, in its worker threads) takes the body as received plus its format and encoding, so the
 * transports' event loop never decodes. A consumer without it is given decoded logs as before.
 */
import type { AuditError } from '@otel-audit/core';
import type { IngestContext, IngestResult, LogsConsumer } from '../contracts.ts';

/** An encoded OTLP `ExportLogsServiceRequest` as a transport received it. */
export interface EncodedLogsRequest {
  /** The body as received (still gzip-compressed when `encoding` is `gzip`). */
  body: Uint8Array;
  format: 'protobuf' | 'json';
  encoding: 'identity' | 'gzip';
  /** Largest body after inflation (→ 413). */
  maxBytes: number;
  /**
   * The caller gives up `body` (it spans its whole ArrayBuffer and nothing else uses it): it may be
   * transferred to a worker thread instead of copied. Default false.
   */
  transferable?: boolean;
}

/**
 * Answer of {@link EncodedLogsConsumer.consumeEncoded}: the body did not decode, or it did and the
 * pipeline answered `result`. A failure says at which `stage`, so a transport answers exactly as if
 * it had inflated and decoded itself: `inflate` (corrupt gzip → 400, inflated past the limit → 413,
 * as a body-read failure) or `decode` (400 + BadRequest naming `error.path`). `bytes` is the body
 * size after inflation (0 when inflation failed).
 */
export type EncodedIngestResult =
  | { decoded: false; stage: 'inflate' | 'decode'; status: 400 | 413; error: AuditError; bytes: number }
  | { decoded: true; records: number; bytes: number; result: IngestResult };

/** A {@link LogsConsumer} that also accepts encoded requests. */
export interface EncodedLogsConsumer extends LogsConsumer {
  consumeEncoded(request: EncodedLogsRequest, context: IngestContext): Promise<EncodedIngestResult>;
}

/** Whether `consumer` accepts encoded requests. */
export function isEncodedLogsConsumer(consumer: LogsConsumer): consumer is EncodedLogsConsumer {
  return typeof (consumer as Partial<EncodedLogsConsumer>).consumeEncoded === 'function';
}
