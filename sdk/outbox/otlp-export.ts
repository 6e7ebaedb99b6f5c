/**
 * The relay's OTLP client: the OTel JS log exporters (`http/protobuf`, `http/json`, `grpc`) driven
 * one batch at a time, so every `export()` call is one request and its callback is the receiver's
 * acknowledgement of exactly that batch. Adds what the relay needs on top: partial-success counts
 * and a classification of failures (retry later, or refused because of the records themselves).
 */
import { Metadata } from '@grpc/grpc-js';
import type { HrTime } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { AUDIT_SCHEMA_URL, type AuditEvent, auditEventToLogRecord } from '../../schema/index.ts';

/** OTLP transport of the relay. */
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';

/** How to reach the receiver. */
export interface OtlpExportSettings {
  protocol: OtlpProtocol;
  /** Base URL (`http://host:4318`, `/v1/logs` is appended) or the full logs URL; for gRPC `http://host:4317`. */
  endpoint: string;
  headers: Record<string, string>;
  timeoutMillis: number;
}

/**
 * Why an export failed, as far as the relay cares:
 * - `transient`: the receiver is down, overloaded, misconfigured or refuses this client (network,
 *   timeout, 429/5xx, UNAVAILABLE, 401/403/404 …): retry the same records later, never drop them.
 * - `record`: the request was refused for its content (HTTP 400, gRPC INVALID_ARGUMENT): some
 *   record in it may be poison; split the batch to find it.
 * - `oversize`: the request was too large (HTTP 413, gRPC RESOURCE_EXHAUSTED): split the batch.
 */
export type ExportFailureKind = 'transient' | 'record' | 'oversize';

/** Outcome of one export request. */
export type ExportOutcome =
  | { status: 'success'; rejected: number; message: string | undefined }
  | { status: 'failed'; kind: ExportFailureKind; message: string };

/** A batch exporter bound to one receiver. */
export interface AuditBatchExporter {
  /** Send `records` as one request; resolves when the receiver answered (or the timeout passed). */
  export(records: ReadableLogRecord[]): Promise<ExportOutcome>;
  /** Close connections. */
  shutdown(): Promise<void>;
}

interface PartialSuccessResponse {
  partialSuccess?: { rejectedLogRecords?: number | string | { low: number; high: number }; errorMessage?: string };
}

interface SerializerLike {
  serializeRequest(request: unknown): Uint8Array | undefined;
  deserializeResponse(data: Uint8Array): unknown;
}

/** Resolve the URL the chosen exporter posts to. */
export function exporterUrl(protocol: OtlpProtocol, endpoint: string): string {
  const trimmed = endpoint.replace(/\/+$/, '');
  if (protocol === 'grpc') return trimmed;
  return trimmed.endsWith('/v1/logs') ? trimmed : `${trimmed}/v1/logs`;
}

/** Create the exporter for `settings`, with a per-instance tap on the response for partial success. */
export function createAuditBatchExporter(settings: OtlpExportSettings): AuditBatchExporter {
  const url = exporterUrl(settings.protocol, settings.endpoint);
  // The relay awaits each request before the next, but the exporter frees its slot a few microtasks
  // after the callback: a limit of 1 would refuse an export issued straight from the callback.
  const common = { url, timeoutMillis: settings.timeoutMillis, concurrencyLimit: 4 };
  let exporter: ProtoLogExporter | JsonLogExporter | GrpcLogExporter;
  if (settings.protocol === 'grpc') {
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(settings.headers)) metadata.set(k.toLowerCase(), v);
    exporter = new GrpcLogExporter({ ...common, metadata });
  } else if (settings.protocol === 'http/json') {
    exporter = new JsonLogExporter({ ...common, headers: settings.headers });
  } else {
    exporter = new ProtoLogExporter({ ...common, headers: settings.headers });
  }

  // The exporters log partial success through `diag` and report SUCCESS. To count rejected records
  // per batch, wrap the response deserializer of this exporter instance only (its delegate's
  // serializer; nothing global is touched). If a future exporter version moves these fields, the
  // tap is simply not installed and partial success goes uncounted (test/outbox covers it).
  let lastResponse: PartialSuccessResponse | undefined;
  const delegate = (exporter as unknown as { _delegate?: { _serializer?: SerializerLike } })._delegate;
  const serializer = delegate?._serializer;
  if (delegate && serializer && typeof serializer.deserializeResponse === 'function') {
    delegate._serializer = {
      serializeRequest: (request) => serializer.serializeRequest(request),
      deserializeResponse: (data) => {
        const response = serializer.deserializeResponse(data);
        lastResponse = response as PartialSuccessResponse;
        return response;
      },
    };
  }

  return {
    export(records) {
      lastResponse = undefined;
      return new Promise<ExportOutcome>((resolve) => {
        exporter.export(records, (result) => {
          if (result.code === ExportResultCode.SUCCESS) {
            const partial = lastResponse?.partialSuccess;
            const rejected = partial ? toNumber(partial.rejectedLogRecords) : 0;
            const message = partial?.errorMessage ? partial.errorMessage : undefined;
            resolve({ status: 'success', rejected, message: rejected > 0 || message ? message : undefined });
            return;
          }
          resolve({ status: 'failed', ...classifyExportError(settings.protocol, result.error) });
        });
      });
    },
    shutdown: () => exporter.shutdown(),
  };
}

/** Classify the error an exporter reported; see {@link ExportFailureKind}. */
export function classifyExportError(protocol: OtlpProtocol, error: unknown): { kind: ExportFailureKind; message: string } {
  const e = error as { code?: unknown; message?: string; data?: unknown; details?: string } | undefined;
  const code = typeof e?.code === 'number' ? e.code : undefined;
  const detail = typeof e?.data === 'string' && e.data !== '' ? `: ${e.data.slice(0, 500)}` : '';
  const message = `${e?.message ?? String(error)}${code !== undefined ? ` (${protocol === 'grpc' ? 'gRPC status' : 'HTTP'} ${code})` : ''}${detail}`;
  if (code === undefined) return { kind: 'transient', message };
  if (protocol === 'grpc') {
    if (code === 3) return { kind: 'record', message };
    if (code === 8) return { kind: 'oversize', message };
    // UNAVAILABLE, DEADLINE_EXCEEDED, … and also UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED:
    // none of them says anything about the records, so all are retried.
    return { kind: 'transient', message };
  }
  if (code === 400) return { kind: 'record', message };
  if (code === 413) return { kind: 'oversize', message };
  return { kind: 'transient', message };
}

function toNumber(v: number | string | { low: number; high: number } | undefined): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  return v.high * 2 ** 32 + (v.low >>> 0);
}

/** Scope of every relayed record (the audit schema URL marks the records' schema, as the SDK does). */
const SCOPE = { name: 'otel-audit/outbox-relay', version: '1', schemaUrl: AUDIT_SCHEMA_URL } as const;

/** Builds OTLP log records from outbox rows; caches one Resource per service name. */
export class LogRecordBuilder {
  readonly #defaultServiceName: string;
  readonly #resources = new Map<string, Resource>();

  /** @param defaultServiceName `service.name` for rows that carry none. */
  constructor(defaultServiceName: string) {
    this.#defaultServiceName = defaultServiceName;
  }

  /** The record for `event`, observed (written to the outbox) at `observedAt`. */
  build(event: AuditEvent, observedAt: Date, serviceName: string | null): ReadableLogRecord {
    const fields = auditEventToLogRecord(event);
    const observedMillis = observedAt.getTime();
    const hrTimeObserved: HrTime = [Math.floor(observedMillis / 1000), (observedMillis % 1000) * 1_000_000];
    return {
      hrTime: fields.timestamp,
      hrTimeObserved,
      spanContext: event.trace
        ? { traceId: event.trace.traceId, spanId: event.trace.spanId, traceFlags: event.trace.traceFlags ?? 0, isRemote: true }
        : undefined,
      severityNumber: fields.severityNumber,
      severityText: fields.severityText,
      body: fields.body,
      eventName: fields.eventName,
      resource: this.#resource(serviceName ?? this.#defaultServiceName),
      // Identity must be stable per scope: the transformer groups records by it.
      instrumentationScope: SCOPE,
      attributes: fields.attributes,
      droppedAttributesCount: 0,
    };
  }

  #resource(name: string): Resource {
    let r = this.#resources.get(name);
    if (!r) {
      r = resourceFromAttributes({ 'service.name': name });
      if (this.#resources.size < 1000) this.#resources.set(name, r);
    }
    return r;
  }
}
