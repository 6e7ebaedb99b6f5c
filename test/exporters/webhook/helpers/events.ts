/**
 * Audit events for the webhook tests, and sending them to a receiver as a real OTLP/HTTP JSON
 * request (the wire format any OTel exporter produces), answered only once they are fsync'd.
 */
import { type AuditEvent, type AuditEventInput, auditEventToLogRecord, validateAuditEvent } from '@otel-audit/schema';
import { uuidv7 } from '@otel-audit/sdk';

/** A validated event from partial input (id, version and time filled in). */
export function makeEvent(input: Partial<AuditEventInput> & Pick<AuditEventInput, 'action'>): AuditEvent {
  const v = validateAuditEvent({
    eventId: uuidv7(),
    schemaVersion: '1.0',
    occurredAt: new Date().toISOString(),
    outcome: 'success',
    actor: { id: 'u-1', type: 'user' },
    tenant: { id: 'acme' },
    ...input,
  });
  if (!v.ok) throw v.error;
  return v.event;
}

function anyValue(v: string | boolean | string[]): Record<string, unknown> {
  if (typeof v === 'boolean') return { boolValue: v };
  return Array.isArray(v) ? { arrayValue: { values: v.map((s) => ({ stringValue: s })) } } : { stringValue: v };
}

/** OTLP/JSON ExportLogsServiceRequest of `events`. */
export function otlpJson(events: AuditEvent[]): string {
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'webhook-test' } }] },
        scopeLogs: [
          {
            scope: { name: 'otel-audit-test' },
            logRecords: events.map((e) => {
              const f = auditEventToLogRecord(e);
              return {
                timeUnixNano: (BigInt(f.timestamp[0]) * 1_000_000_000n + BigInt(f.timestamp[1])).toString(),
                eventName: f.eventName,
                severityNumber: f.severityNumber,
                severityText: f.severityText,
                ...(f.body !== undefined ? { body: { stringValue: f.body } } : {}),
                ...(e.trace ? { traceId: e.trace.traceId, spanId: e.trace.spanId, flags: e.trace.traceFlags ?? 0 } : {}),
                attributes: Object.entries(f.attributes).map(([key, value]) => ({ key, value: anyValue(value) })),
              };
            }),
          },
        ],
      },
    ],
  });
}

/** POST events to `<http>/v1/logs`; resolves with the number accepted (throws on a non-200). */
export async function sendEvents(http: string, events: AuditEvent[]): Promise<void> {
  const res = await fetch(`${http}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: otlpJson(events) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${text}`);
  const parsed = JSON.parse(text || '{}') as { partialSuccess?: { rejectedLogRecords?: string | number; errorMessage?: string } };
  if (Number(parsed.partialSuccess?.rejectedLogRecords ?? 0) > 0)
    throw new Error(`ingest rejected records: ${parsed.partialSuccess?.errorMessage}`);
}

/** `n` simple events of one tenant. */
export function manyEvents(n: number, tenant: string, action = 'doc.read'): AuditEvent[] {
  return Array.from({ length: n }, (_, i) =>
    makeEvent({ action, tenant: { id: tenant }, actor: { id: `u-${i % 7}`, type: 'user' }, targets: [{ type: 'doc', id: `d-${i}` }] }),
  );
}
