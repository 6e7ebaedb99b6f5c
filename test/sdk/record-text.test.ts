/**
 * The record worker encodes events without building a LogRecordImpl (sdk/record-text.ts). The
 * spooled text must be exactly what the SDK's own LoggerProvider would have produced
 * (`encodeRecord` of the emitted record, the reference path), for every shape of event.
 */
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { LoggerProvider, type ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import { AUDIT_SCHEMA_URL, type AuditEvent, type AuditEventInput, auditEventToLogRecord, validateAuditEvent } from '@otel-audit/schema';
import { AUDIT_SCOPE_NAME, ownResource, SDK_VERSION } from '@otel-audit/sdk/own-provider';
import { encodeRecord } from '@otel-audit/sdk/record-codec';
import { encodeAuditEventRecordText } from '@otel-audit/sdk/record-text';
import { describe, expect, it } from 'vitest';

let emitted: ReadWriteLogRecord | undefined;
const provider = new LoggerProvider({
  resource: ownResource({ resourceAttributes: {} }),
  processors: [{ onEmit: (r) => void (emitted = r), forceFlush: async () => {}, shutdown: async () => {} }],
});
const logger = provider.getLogger(AUDIT_SCOPE_NAME, SDK_VERSION, { schemaUrl: AUDIT_SCHEMA_URL });

/** The reference: what the record worker did before (emit through the provider, encode the record). */
function reference(event: AuditEvent, observed: number): string {
  const tc = event.trace;
  emitted = undefined;
  logger.emit({
    ...auditEventToLogRecord(event),
    observedTimestamp: observed,
    context: tc
      ? trace.setSpanContext(ROOT_CONTEXT, { traceId: tc.traceId, spanId: tc.spanId, traceFlags: tc.traceFlags ?? 0, isRemote: false })
      : ROOT_CONTEXT,
  });
  return encodeRecord(emitted!).toString('utf8');
}

function valid(input: Record<string, unknown>): AuditEvent {
  const r = validateAuditEvent({
    eventId: '0190a7f0-1234-7abc-8def-0123456789ab',
    schemaVersion: '1.0',
    occurredAt: '2026-12-07T14:30:00.123Z',
    ...input,
  } as unknown as AuditEventInput);
  if (!r.ok) throw r.error;
  return r.event;
}

const base = { action: 'document.update', outcome: 'success', actor: { id: 'u-1', type: 'user' }, tenant: { id: 't-1' } };
const events: Array<[string, AuditEvent]> = [
  ['minimal', valid(base)],
  [
    'every field',
    valid({
      ...base,
      outcome: 'denied',
      occurredAt: '2026-12-07T14:30:00.123456789+02:00',
      actor: { id: 'u-2', type: 'user', name: 'Zoë 😀', authMethod: 'oidc', impersonatorId: 'admin-1' },
      tenant: { id: 't-2', name: 'Tenant ü' },
      targets: [
        { type: 'document', id: 'd-1', name: 'Plan' },
        { type: 'folder', id: 'f-1' },
      ],
      reason: 'policy',
      session: { id: 's-1' },
      request: { id: 'r-1', ip: '2001:db8::1', userAgent: 'UA', method: 'PUT', path: '/d/1' },
      changes: { before: { title: 'a', n: 1 }, after: { title: 'b', tags: ['x'], nested: { ok: true } } },
      details: { fields: ['title'], size: 12, note: 'lone \ud800 surrogate' },
    }),
  ],
  ['message in the body', valid({ ...base, message: 'plain text message' })],
  ['message beside details', valid({ ...base, message: 'm', details: { a: 1 } })],
  ['JSON-object message', valid({ ...base, message: '{"looks":"like details"}' })],
  ['bodyValue', valid({ ...base, bodyValue: { list: [1, 'two'], three: 3 } })],
  ['outcome failure', valid({ ...base, outcome: 'failure' })],
  ['sampled trace', valid({ ...base, trace: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 } })],
  [
    'unsampled trace',
    valid({ ...base, trace: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 0 } }),
  ],
  ['trace without flags', valid({ ...base, trace: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' } })],
];
// An all-zero trace id is not a valid span context: the provider drops it, so must the direct path.
const zeroTrace = valid(base);
(zeroTrace as { trace?: unknown }).trace = { traceId: '0'.repeat(32), spanId: 'b7ad6b7169203331', traceFlags: 1 };
events.push(['invalid (all-zero) trace id', zeroTrace]);

describe('encodeAuditEventRecordText', () => {
  it.each(events)('equals the provider-built record (%s)', (_name, event) => {
    for (const observed of [1_765_117_800_123, 1_765_117_800_123.456, Date.now()]) {
      expect(encodeAuditEventRecordText(event, observed)).toBe(reference(event, observed));
    }
  });

  it('covers what the mapping can produce: derived ids, and events with trace flags and bodies at once', () => {
    const derived = valid({ ...base, details: { x: 1 } });
    (derived as { eventIdDerived?: boolean }).eventIdDerived = true;
    const text = encodeAuditEventRecordText(derived, 1_765_117_800_000);
    expect(text).toBe(reference(derived, 1_765_117_800_000));
    expect(text).toContain('"audit.event_id_derived":true');
  });
});
