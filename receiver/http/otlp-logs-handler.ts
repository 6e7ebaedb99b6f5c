/**
 * `POST /v1/logs` per the OTLP/HTTP specification (opentelemetry-proto docs/specification.md,
 * "OTLP/HTTP"): binary protobuf or JSON bodies, optional gzip, answers in the request's format.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuditError } from '@otel-audit/core';
import type { IngestContext, IngestResult, LogsConsumer } from '../contracts.ts';
import { isEncodedLogsConsumer } from '../otlp/encoded-consumer.ts';
import { type IngestObserver, type IngestOutcome, notifyObserver, secondsSince } from '../otlp/ingest-events.ts';
import { decodeLogsJson } from '../otlp/json-decoder.ts';
import { decodeLogsProtobuf } from '../otlp/protobuf-decoder.ts';
import { badRequestJson, encodeBadRequestAny, encodeExportLogsResponseJson, encodeExportLogsResponseProtobuf } from '../otlp/responses.ts';
import { readRequestBody } from './read-body.ts';
import { type OtlpBodyFormat, sendResponse, sendStatus } from './respond.ts';
import type { RouteContext, RouteHandler } from './router.ts';

/** Options of {@link createOtlpLogsHandler}. */
export interface OtlpLogsHandlerOptions {
  /**
   * Where requests go (the pipeline). A consumer that takes encoded requests
   * (`EncodedLogsConsumer`, the pipeline) gets the body as received and inflates and decodes it in
   * its worker threads; any other consumer gets decoded logs.
   */
  consumer: LogsConsumer;
  /** Maximum body bytes after decompression (→ 413). */
  maxMessageBytes: number;
  /** Told about every finished request (for self-metrics). Optional. */
  onRequest?: IngestObserver;
}

/**
 * Content types of the OTLP/HTTP spec. `application/protobuf` is the registered name of the same
 * format; accepting it costs nothing and some clients send it.
 */
export function parseOtlpContentType(header: string | undefined): { format: OtlpBodyFormat; responseType: string } | undefined {
  if (header === undefined) return undefined;
  const base = header.split(';', 1)[0]!.trim().toLowerCase();
  if (base === 'application/x-protobuf' || base === 'application/protobuf') return { format: 'protobuf', responseType: base };
  if (base === 'application/json') return { format: 'json', responseType: 'application/json' };
  return undefined;
}

/**
 * Retry-After in whole seconds (RFC 9110 §10.2.3 allows only integers), at least 1 so that clients
 * honour it, rounded up so that they never come back early.
 */
export function retryAfterSeconds(millis: number): number {
  return Math.max(1, Math.ceil(millis / 1000));
}

/**
 * Create the handler for the OTLP logs endpoint. Mapping (OTLP/HTTP "Response"):
 * - decoded and consumed with `success` → 200 + `ExportLogsServiceResponse` (partial_success when
 *   records were rejected or the pipeline has a warning);
 * - `retryable` → 503 + `Retry-After` (OTLP: retryable; clients back off);
 * - `failure` → 500; unsupported Content-Type → 415; body too large → 413; undecodable → 400.
 */
export function createOtlpLogsHandler(options: OtlpLogsHandlerOptions): RouteHandler {
  const { consumer, maxMessageBytes, onRequest } = options;
  const encoded = isEncodedLogsConsumer(consumer) ? consumer : undefined;
  return async (req: IncomingMessage, res: ServerResponse, ctx: RouteContext) => {
    const start = process.hrtime.bigint();
    let records = 0;
    let bytes = 0;
    const report = (outcome: IngestOutcome, rejected = 0) =>
      notifyObserver(onRequest, { transport: 'http', outcome, records, rejected, bytes, durationSeconds: secondsSince(start) });
    const type = parseOtlpContentType(req.headers['content-type']);
    if (type === undefined) {
      const got = req.headers['content-type'] ?? '(none)';
      sendStatus(req, res, 415, `unsupported Content-Type ${got}: use application/x-protobuf or application/json`, 'json');
      report('unsupported_media_type');
      return;
    }
    const { format, responseType } = type;
    const read = await readRequestBody(req, {
      maxBytes: maxMessageBytes,
      beforeRead: () => ctx.sendContinue(),
      inflate: encoded === undefined,
    });
    const readFailed = (status: 400 | 413 | 415, message: string) => {
      sendStatus(req, res, status, message, format);
      report(status === 413 ? 'too_large' : status === 415 ? 'unsupported_media_type' : 'decode_error');
    };
    const decodeFailed = (error: AuditError) => {
      // OTLP/HTTP "Bad Data": 400, with a google.rpc.BadRequest naming the field in Status.details.
      const field = error.path ?? '';
      const details = { protobuf: [encodeBadRequestAny(field, error.message)], json: [badRequestJson(field, error.message)] };
      sendStatus(req, res, 400, error.message, format, {}, details);
      report('decode_error');
    };
    if (!read.ok) {
      readFailed(read.status, read.error.message);
      return;
    }
    const context: IngestContext = { transport: 'http' };
    if (ctx.identity.boundTenantId !== undefined) context.boundTenantId = ctx.identity.boundTenantId;
    if (ctx.identity.principal !== undefined) context.principal = ctx.identity.principal;
    let result: IngestResult;
    try {
      if (encoded) {
        // Inflate + decode + prepare run in the pipeline's worker threads; failures are answered
        // exactly as if they had happened here (body-read failure, or 400 + BadRequest).
        const r = await encoded.consumeEncoded(
          // The body is this request's own (read-body.ts concatenated or inflated it) and is not
          // read again here: the pool may move its memory to the worker instead of copying it.
          { body: read.body, format, encoding: read.encoding ?? 'identity', maxBytes: maxMessageBytes, transferable: true },
          context,
        );
        bytes = r.bytes;
        if (!r.decoded) {
          if (r.stage === 'inflate') readFailed(r.status, r.error.message);
          else decodeFailed(r.error);
          return;
        }
        records = r.records;
        result = r.result;
      } else {
        bytes = read.body.length;
        const decoded = format === 'protobuf' ? decodeLogsProtobuf(read.body) : decodeLogsJson(read.body);
        if (!decoded.ok) {
          decodeFailed(decoded.error);
          return;
        }
        records = decoded.recordCount;
        result = await consumer.consume(decoded.logs, context);
      }
    } catch (err) {
      // A throwing consumer is a bug, not an expected failure; answer 500 and keep serving.
      const error = new AuditError('AUDIT_ERR_INTERNAL', 'the pipeline failed unexpectedly', { cause: err });
      result = { status: 'failure', error };
    }
    switch (result.status) {
      case 'success': {
        const fields = { rejected: result.rejected, message: result.message };
        const body = format === 'protobuf' ? encodeExportLogsResponseProtobuf(fields) : encodeExportLogsResponseJson(fields);
        sendResponse(req, res, 200, responseType, body);
        report('success', result.rejected);
        return;
      }
      case 'retryable':
        sendStatus(req, res, 503, result.error.message, format, { 'retry-after': String(retryAfterSeconds(result.retryAfterMillis)) });
        report('retryable');
        return;
      default:
        sendStatus(req, res, 500, result.error.message, format);
        report('failure');
    }
  };
}
