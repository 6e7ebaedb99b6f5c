/**
 * The OTLP exporters the sender uses, and what their results mean for an audit spool.
 *
 * The exporters are the ones `@opentelemetry/exporter-logs-otlp-proto`, `-http` and `-grpc` build
 * (same delegate, transport and serializer factories, same options), with one difference: the
 * serializer is wrapped so that the decoded `ExportLogsServiceResponse` of each export is kept.
 * The stock `OTLPLogExporter` classes report a partial success only through `diag.warn` and
 * return `SUCCESS`, so the number of records the receiver rejected never reaches the caller; an
 * audit SDK must report it (OTLP spec: rejected records are not retried, but they are not silent).
 *
 * What the exporters expose on failure (0.301), and how {@link classifyExportError} reads it:
 * - HTTP: non-retryable statuses give `OTLPExporterError` with `code` = the HTTP status. Retryable
 *   statuses (429/502/503/504) and network errors are first retried *inside* the exporter
 *   (`RetryingTransport`: up to 5 attempts, 1 s → 5 s backoff, `Retry-After` honoured) as long as
 *   they fit in `timeoutMillis`; after that the result is a FAILED `OTLPExporterError` without a
 *   code (or the network error): the Retry-After value does not reach the caller, so the sender's
 *   own backoff applies from there.
 * - gRPC: any error is FAILED with the grpc-js `ServiceError` (`code` = gRPC status, `metadata`);
 *   there is no retry inside the exporter. `google.rpc.RetryInfo` in `grpc-status-details-bin` is
 *   read for the retry delay.
 */
import { credentials as grpcCredentials, Metadata } from '@grpc/grpc-js';
import type { ExportResult } from '@opentelemetry/core';
import { CompressionAlgorithm, type IOtlpExportDelegate, OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { convertLegacyOtlpGrpcOptions, createOtlpGrpcExportDelegate } from '@opentelemetry/otlp-grpc-exporter-base';
import {
  type IExporterMetricsHelper,
  type IExportLogsServiceResponse,
  type ISerializer,
  JsonLogsSerializer,
  LogsExporterMetricsHelper,
  ProtobufLogsSerializer,
} from '@opentelemetry/otlp-transformer';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { AuditError } from '@otel-audit/core';
import protobuf from 'protobufjs';

/** Wire protocol of the OTLP exporter. */
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';

/** Settings of the built-in OTLP exporter (already defaulted by the options schema). */
export interface OtlpExporterSettings {
  protocol: OtlpProtocol;
  endpoint: string;
  headers: Record<string, string>;
  timeoutMillis: number;
  compression: 'none' | 'gzip';
}

/** An OTel `LogRecordExporter` plus the partial success of its last completed export. */
export interface CapturingExporter {
  exporter: LogRecordExporter;
  /** The `partial_success` of the last successful export (undefined when none or empty). */
  takePartialSuccess(): { rejected: number; message: string } | undefined;
}

/** Default endpoint per protocol: the otel-audit receiver's defaults (DESIGN.md). */
export function defaultEndpoint(protocol: OtlpProtocol): string {
  return protocol === 'grpc' ? 'http://127.0.0.1:4317' : 'http://127.0.0.1:4318/v1/logs';
}

/**
 * An OTLP request already encoded as protobuf (sdk/spooled-logs-encoder.ts), sent as is by
 * {@link createEncodedRequestExporter}. `records` is what the exporter's self-metrics count.
 */
export interface PreEncodedLogsRequest {
  bytes: Uint8Array;
  records: number;
}

/**
 * {@link CapturingExporter}'s counterpart for {@link PreEncodedLogsRequest}s: the same transport,
 * retries, compression and partial-success capture, without a serializer of its own.
 */
export interface CapturingEncodedExporter {
  export(request: PreEncodedLogsRequest, done: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
  takePartialSuccess(): { rejected: number; message: string } | undefined;
}

/** Build the exporter for `settings` (see the module comment for how it differs from the stock one). */
export function createCapturingExporter(settings: OtlpExporterSettings): CapturingExporter {
  const serializer = settings.protocol === 'http/json' ? JsonLogsSerializer : ProtobufLogsSerializer;
  const { delegate, takePartialSuccess } = captureDelegate(settings, serializer, LogsExporterMetricsHelper);
  return { exporter: new OTLPExporterBase<ReadableLogRecord[]>(delegate), takePartialSuccess };
}

/**
 * Build an exporter of pre-encoded protobuf requests for `settings` (`http/protobuf` or `grpc`;
 * throws AUDIT_ERR_INVALID_ARGUMENT for `http/json`, which has no protobuf body).
 */
export function createEncodedRequestExporter(settings: OtlpExporterSettings): CapturingEncodedExporter {
  if (settings.protocol === 'http/json')
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'pre-encoded requests are protobuf: not for protocol http/json');
  const passThrough: ISerializer<PreEncodedLogsRequest, IExportLogsServiceResponse> = {
    serializeRequest: (request) => request.bytes,
    deserializeResponse: (data) => ProtobufLogsSerializer.deserializeResponse(data),
  };
  const { delegate, takePartialSuccess } = captureDelegate(settings, passThrough, { name: 'log', countItems: (r) => r.records });
  return {
    export: (request, done) => delegate.export(request, done),
    shutdown: () => delegate.shutdown(),
    takePartialSuccess,
  };
}

/** The OTel export delegate for `settings`, with the partial success of each export kept. */
function captureDelegate<Internal>(
  settings: OtlpExporterSettings,
  serializer: ISerializer<Internal, IExportLogsServiceResponse>,
  metricsHelper: IExporterMetricsHelper<Internal>,
): { delegate: IOtlpExportDelegate<Internal>; takePartialSuccess: CapturingExporter['takePartialSuccess'] } {
  let last: IExportLogsServiceResponse | undefined;
  const captured: ISerializer<Internal, IExportLogsServiceResponse> = {
    serializeRequest: (request) => serializer.serializeRequest(request),
    deserializeResponse: (data) => {
      const response = serializer.deserializeResponse(data);
      last = response;
      return response;
    },
  };
  const compression = settings.compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE;
  let delegate: IOtlpExportDelegate<Internal>;
  if (settings.protocol === 'grpc') {
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(settings.headers)) metadata.set(k, v);
    const secure = settings.endpoint.startsWith('https:');
    delegate = createOtlpGrpcExportDelegate(
      convertLegacyOtlpGrpcOptions(
        {
          url: settings.endpoint,
          timeoutMillis: settings.timeoutMillis,
          compression,
          metadata,
          credentials: secure ? grpcCredentials.createSsl() : grpcCredentials.createInsecure(),
        },
        'LOGS',
      ),
      captured,
      'otlp_grpc_log_exporter',
      metricsHelper,
      undefined,
      'LogsExportService',
      '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
    );
  } else {
    const json = settings.protocol === 'http/json';
    delegate = createOtlpHttpExportDelegate(
      convertLegacyHttpOptions(
        { url: settings.endpoint, headers: settings.headers, timeoutMillis: settings.timeoutMillis, compression },
        'LOGS',
        'v1/logs',
        { 'Content-Type': json ? 'application/json' : 'application/x-protobuf' },
      ),
      captured,
      'otlp_http_log_exporter',
      metricsHelper,
      undefined,
    );
  }
  return {
    delegate,
    takePartialSuccess() {
      const ps = last?.partialSuccess;
      last = undefined;
      if (!ps) return undefined;
      const rejected = Number(ps.rejectedLogRecords ?? 0);
      const message = ps.errorMessage ?? '';
      if (rejected === 0 && message === '') return undefined;
      return { rejected, message };
    },
  };
}

/**
 * How the sender treats a failed export:
 * - `invalid`: the receiver says *this request* is bad (HTTP 400/413, gRPC INVALID_ARGUMENT).
 *   Retrying the same bytes can never succeed; the sender splits the batch to isolate the records
 *   at fault and reports them.
 * - `retryable`: everything else. Besides OTLP's retryable codes this deliberately includes other
 *   statuses the OTLP spec calls non-retryable (401/403/404/500, UNAUTHENTICATED, INTERNAL…): they
 *   describe the receiver or its configuration, not the events, and dropping audit events because
 *   a token expired contradicts "nothing accepted is lost". They are reported through `onError`.
 */
export type ExportErrorClass = { kind: 'invalid'; status: string } | { kind: 'retryable'; status: string; retryAfterMillis?: number };

const GRPC_INVALID_ARGUMENT = 3;

/** Classify the `error` of a FAILED `ExportResult` (see {@link ExportErrorClass}). */
export function classifyExportError(error: unknown): ExportErrorClass {
  if (error !== null && typeof error === 'object') {
    const e = error as { name?: unknown; code?: unknown; metadata?: unknown; message?: unknown };
    if (e.name === 'OTLPExporterError' && typeof e.code === 'number') {
      const status = `HTTP ${e.code}`;
      if (e.code === 400 || e.code === 413) return { kind: 'invalid', status };
      return { kind: 'retryable', status };
    }
    if (typeof e.code === 'number' && e.metadata instanceof Metadata) {
      const status = `gRPC ${e.code}`;
      if (e.code === GRPC_INVALID_ARGUMENT) return { kind: 'invalid', status };
      const retryAfterMillis = grpcRetryDelayMillis(e.metadata);
      return retryAfterMillis === undefined ? { kind: 'retryable', status } : { kind: 'retryable', status, retryAfterMillis };
    }
    if (typeof e.code === 'string') return { kind: 'retryable', status: e.code };
  }
  return { kind: 'retryable', status: 'export failed' };
}

// google.rpc.Status { code = 1; message = 2; repeated google.protobuf.Any details = 3 }
// google.protobuf.Any { type_url = 1; value = 2 }; google.rpc.RetryInfo { Duration retry_delay = 1 }
// google.protobuf.Duration { int64 seconds = 1; int32 nanos = 2 }
const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

/** The retry delay of a `google.rpc.RetryInfo` in gRPC status details, if any. */
export function grpcRetryDelayMillis(metadata: Metadata): number | undefined {
  const raw = metadata.get('grpc-status-details-bin')[0];
  if (!raw || typeof raw === 'string') return undefined;
  try {
    const status = protobuf.Reader.create(raw);
    while (status.pos < status.len) {
      const tag = status.uint32();
      if (tag >>> 3 !== 3) {
        status.skipType(tag & 7);
        continue;
      }
      const any = protobuf.Reader.create(status.bytes());
      let typeUrl = '';
      let value: Uint8Array | undefined;
      while (any.pos < any.len) {
        const t = any.uint32();
        if (t >>> 3 === 1) typeUrl = any.string();
        else if (t >>> 3 === 2) value = any.bytes();
        else any.skipType(t & 7);
      }
      if (typeUrl !== RETRY_INFO_TYPE || !value) continue;
      const info = protobuf.Reader.create(value);
      while (info.pos < info.len) {
        const t = info.uint32();
        if (t >>> 3 !== 1) {
          info.skipType(t & 7);
          continue;
        }
        const duration = protobuf.Reader.create(info.bytes());
        let seconds = 0;
        let nanos = 0;
        while (duration.pos < duration.len) {
          const d = duration.uint32();
          if (d >>> 3 === 1) seconds = Number(duration.int64());
          else if (d >>> 3 === 2) nanos = duration.int32();
          else duration.skipType(d & 7);
        }
        return Math.max(0, seconds * 1000 + Math.round(nanos / 1e6));
      }
    }
  } catch {
    // Malformed details: fall back to the sender's own backoff.
  }
  return undefined;
}
