/**
 * Builders for OTLP logs requests used by the transport tests: a realistic audit record, encoded as
 * binary protobuf (through protobufjs and the project's .proto files) and as OTLP/JSON.
 */
import type protobuf from 'protobufjs';
import { EXPORT_LOGS_REQUEST_TYPE, loadOtlpLogsRoot } from './protobufjs-decoder.ts';

let requestType: protobuf.Type | undefined;

/** The protobufjs type of ExportLogsServiceRequest (loaded once). */
export function exportLogsRequestType(): protobuf.Type {
  requestType ??= loadOtlpLogsRoot().lookupType(EXPORT_LOGS_REQUEST_TYPE);
  return requestType;
}

/** Encode a protobufjs-style plain object (camelCase, bytes as Uint8Array, fixed64 as string). */
export function encodeRequest(object: Record<string, unknown>): Buffer {
  const type = exportLogsRequestType();
  return Buffer.from(type.encode(type.fromObject(object)).finish());
}

/**
 * A request in OTLP/JSON (OTLP/HTTP "JSON Protobuf Encoding"): camelCase, int64 as strings, enums as
 * numbers, and trace and span ids as hex, not base64 as protobuf's JSON mapping would have them.
 */
export function encodeRequestJson(object: Record<string, unknown>): Buffer {
  const type = exportLogsRequestType();
  const json = type.toObject(type.fromObject(object), { longs: String, enums: Number, bytes: String }) as {
    resourceLogs?: Array<{ scopeLogs?: Array<{ logRecords?: Array<{ traceId?: string; spanId?: string }> }> }>;
  };
  for (const rl of json.resourceLogs ?? [])
    for (const sl of rl.scopeLogs ?? [])
      for (const rec of sl.logRecords ?? []) {
        if (rec.traceId !== undefined) rec.traceId = Buffer.from(rec.traceId, 'base64').toString('hex');
        if (rec.spanId !== undefined) rec.spanId = Buffer.from(rec.spanId, 'base64').toString('hex');
      }
  return Buffer.from(JSON.stringify(json));
}

export const TRACE_ID = '5b8efff798038103d269b633813fc60c';
export const SPAN_ID = 'eee19b7ec3c1b174';

/** One realistic audit LogRecord (protobufjs object form); `i` varies ids. */
export function auditRecordObject(i: number): Record<string, unknown> {
  const eventId = `0190b5c8-6a1e-7${String(i % 1000).padStart(3, '0')}-8000-00000000${String(i).padStart(4, '0')}`;
  return {
    timeUnixNano: String(1_732_000_000_123_456_789n + BigInt(i)),
    observedTimeUnixNano: '1732000000200000000',
    severityNumber: 9,
    severityText: 'INFO',
    eventName: 'grant.issue',
    body: { stringValue: JSON.stringify({ grant: { role: 'admin', scope: `project-${i}` }, ticket: 'SEC-1234' }) },
    attributes: [
      { key: 'audit.schema_version', value: { stringValue: '1.0' } },
      { key: 'audit.event_id', value: { stringValue: eventId } },
      { key: 'audit.action', value: { stringValue: 'grant.issue' } },
      { key: 'audit.outcome', value: { stringValue: 'success' } },
      { key: 'audit.actor.id', value: { stringValue: `user-${i % 97}` } },
      { key: 'audit.actor.type', value: { stringValue: 'user' } },
      { key: 'audit.actor.name', value: { stringValue: 'Zoë Müller' } },
      { key: 'audit.tenant.id', value: { stringValue: 'acme' } },
      { key: 'audit.target.types', value: { arrayValue: { values: [{ stringValue: 'project' }, { stringValue: 'role' }] } } },
      { key: 'audit.target.ids', value: { arrayValue: { values: [{ stringValue: `p-${i}` }, { stringValue: 'admin' }] } } },
      { key: 'client.address', value: { stringValue: '203.0.113.7' } },
      { key: 'user_agent.original', value: { stringValue: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36' } },
      { key: 'http.request.method', value: { stringValue: 'POST' } },
      { key: 'url.path', value: { stringValue: `/api/projects/p-${i}/grants` } },
      { key: 'retry.count', value: { intValue: i } },
      { key: 'sampled', value: { boolValue: true } },
      { key: 'ratio', value: { doubleValue: 0.25 } },
    ],
    traceId: Buffer.from(TRACE_ID, 'hex'),
    spanId: Buffer.from(SPAN_ID, 'hex'),
    flags: 1,
  };
}

/** A request with `count` audit records in one resource/scope (protobufjs object form). */
export function auditRequestObject(count: number): Record<string, unknown> {
  return {
    resourceLogs: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: 'billing-api' } },
            { key: 'service.version', value: { stringValue: '2.3.1' } },
            { key: 'deployment.environment.name', value: { stringValue: 'production' } },
          ],
        },
        schemaUrl: 'https://opentelemetry.io/schemas/1.28.0',
        scopeLogs: [
          {
            scope: { name: 'otel-audit', version: '0.1.0' },
            schemaUrl: '',
            logRecords: Array.from({ length: count }, (_, i) => auditRecordObject(i)),
          },
        ],
      },
    ],
  };
}

/** A minimal OTLP/JSON request with one record (camelCase, hex ids, int64 as strings). */
export function otlpJsonRequest(record: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'json-client' } }] },
        scopeLogs: [
          {
            scope: { name: 'curl', version: '1' },
            logRecords: [
              {
                timeUnixNano: '1732000000123456789',
                observedTimeUnixNano: '1732000000200000000',
                severityNumber: 9,
                severityText: 'INFO',
                eventName: 'user.login',
                traceId: TRACE_ID,
                spanId: SPAN_ID,
                flags: 1,
                body: { stringValue: '{"method":"password"}' },
                attributes: [
                  { key: 'audit.schema_version', value: { stringValue: '1.0' } },
                  { key: 'audit.event_id', value: { stringValue: '0190b5c8-6a1e-7000-8000-000000000001' } },
                  { key: 'count', value: { intValue: '42' } },
                ],
                ...record,
              },
            ],
          },
        ],
      },
    ],
  };
}
