/**
 * The relay's OTLP client: the SDK's OTel JS log exporters (`http/protobuf`, `http/json`, `grpc`,
 * built like the stock `OTLPLogExporter`s but keeping each response's partial success; see
 * sdk/otlp-exporter.ts) driven one batch at a time, so every `export()` call is one request and its
 * callback is the receiver's acknowledgement of exactly that batch.
 */
import type { HrTime } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { AUDIT_SCHEMA_URL, type AuditEvent, auditEventToLogRecord } from '@otel-audit/schema';
import { classifyExportError as classifySdkExportError, createCapturingExporter, type OtlpProtocol } from '../otlp-exporter.ts';

export type { OtlpProtocol };

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
 * - `record`: the request was refused for its content (HTTP 400/413, gRPC INVALID_ARGUMENT): some
 *   record in it may be poison (or the request too large); split the batch to find out.
 */
export type ExportFailureKind = 'transient' | 'record';

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

/** Resolve the URL the chosen exporter posts to. */
export function exporterUrl(protocol: OtlpProtocol, endpoint: string): string {
  const trimmed = endpoint.replace(/\/+$/, '');
  if (protocol === 'grpc') return trimmed;
  return trimmed.endsWith('/v1/logs') ? trimmed : `${trimmed}/v1/logs`;
}

/** Create the exporter for `settings`. */
export function createAuditBatchExporter(settings: OtlpExportSettings): AuditBatchExporter {
  const { exporter, takePartialSuccess } = createCapturingExporter({
    protocol: settings.protocol,
    endpoint: exporterUrl(settings.protocol, settings.endpoint),
    headers: settings.headers,
    timeoutMillis: settings.timeoutMillis,
    compression: 'none',
  });
  return {
    export(records) {
      return new Promise<ExportOutcome>((resolve) => {
        exporter.export(records, (result) => {
          if (result.code === ExportResultCode.SUCCESS) {
            const partial = takePartialSuccess();
            resolve({ status: 'success', rejected: partial?.rejected ?? 0, message: partial?.message || undefined });
            return;
          }
          takePartialSuccess();
          resolve({ status: 'failed', ...classifyRelayExportError(result.error) });
        });
      });
    },
    shutdown: () => exporter.shutdown(),
  };
}

/** Classify the error an exporter reported (the SDK's rules); see {@link ExportFailureKind}. */
export function classifyRelayExportError(error: unknown): { kind: ExportFailureKind; message: string } {
  const c = classifySdkExportError(error);
  const e = error as { message?: string; data?: unknown } | undefined;
  const detail = typeof e?.data === 'string' && e.data !== '' ? `: ${e.data.slice(0, 500)}` : '';
  const message = `${e?.message ?? String(error)} (${c.status})${detail}`;
  return { kind: c.kind === 'invalid' ? 'record' : 'transient', message };
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
