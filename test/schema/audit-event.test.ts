import {
  AUDIT_EVENT_LIMITS,
  type AuditEvent,
  auditEventToLogRecord,
  isoToUnixNanos,
  type LogRecordView,
  logRecordToAuditEvent,
  unixNanosToIso,
  validateAuditEvent,
} from '@otel-audit/schema';
import { describe, expect, it } from 'vitest';

const base: AuditEvent = {
  eventId: '01936f6e-8a8b-7c3d-9e4f-0123456789ab',
  schemaVersion: '1.0',
  occurredAt: '2026-11-22T10:00:00.123456789Z',
  action: 'grant.issue',
  outcome: 'success',
  actor: { id: 'u-1', type: 'user', name: 'Ada', authMethod: 'oidc' },
  tenant: { id: 'acme' },
  targets: [
    { type: 'grant', id: 'g-1' },
    { type: 'user', id: 'u-2', name: 'Bob' },
  ],
  reason: 'onboarding',
  session: { id: 's-1' },
  request: { id: 'r-1', ip: '10.0.0.1', userAgent: 'curl/8', method: 'POST', path: '/grants' },
  changes: { before: null, after: { role: 'admin', n: 1.5 } },
  details: { ticket: 'T-1', nested: { list: [1, 'a', true, null] } },
  trace: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 },
};

function toView(event: AuditEvent): LogRecordView {
  const fields = auditEventToLogRecord(event);
  return {
    timeUnixNano: BigInt(fields.timestamp[0]) * 1_000_000_000n + BigInt(fields.timestamp[1]),
    observedTimeUnixNano: 0n,
    severityNumber: fields.severityNumber,
    severityText: fields.severityText,
    eventName: fields.eventName,
    body: fields.body,
    attributes: fields.attributes,
    traceId: event.trace?.traceId ?? '',
    spanId: event.trace?.spanId ?? '',
    flags: event.trace?.traceFlags ?? 0,
  };
}

describe('audit event schema', () => {
  it('accepts a complete event and round-trips it through the OTLP mapping', () => {
    const valid = validateAuditEvent(base);
    expect(valid.ok).toBe(true);
    const back = logRecordToAuditEvent(toView(base));
    expect(back).toEqual({ ok: true, event: base });
  });

  it('names every failing field path', () => {
    const result = validateAuditEvent({ ...base, actor: { id: '', type: 'robot' }, targets: [{ type: 'x' }] });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe('AUDIT_ERR_INVALID_EVENT');
    const paths = result.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['actor.id', 'actor.type', 'targets[0].id']));
    expect(result.error.message).toContain('targets[0].id');
  });

  it('rejects details over 64 KiB and too many targets', () => {
    const big = validateAuditEvent({ ...base, details: { blob: 'x'.repeat(AUDIT_EVENT_LIMITS.maxJsonBytes) } });
    expect(big.ok).toBe(false);
    if (!big.ok) expect(big.issues[0]?.path).toBe('details');
    const many = validateAuditEvent({
      ...base,
      targets: Array.from({ length: AUDIT_EVENT_LIMITS.maxTargets + 1 }, (_, i) => ({ type: 't', id: String(i) })),
    });
    expect(many.ok).toBe(false);
    if (!many.ok) expect(many.issues[0]?.path).toBe('targets');
  });

  it('accepts every RFC 9562 UUID version (1-8) as the event id, lower-cased; rejects others and unknown fields', () => {
    for (const id of [
      '9B2F3C1E-4D5A-4B6C-8D7E-0F1A2B3C4D5E',
      'c232ab00-9414-11ec-b3c8-9f6bdeced846',
      '5df41881-3aed-3515-88a7-2f4a814cf09e',
      '1ec9414c-232a-6b00-b3c8-9f6bdeced846',
      '2489e9ad-2ee2-8e00-8ec9-32d5f69181c0',
    ]) {
      const r = validateAuditEvent({ ...base, eventId: id });
      expect(r.ok && r.event.eventId).toBe(id.toLowerCase());
      // Producer-assigned: no version bump.
      expect(r.ok && r.event.schemaVersion).toBe('1.0');
    }
    for (const id of [
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      '9b2f3c1e-4d5a-9b6c-8d7e-0f1a2b3c4d5e',
      '9b2f3c1e-4d5a-4b6c-cd7e-0f1a2b3c4d5e',
      '9b2f3c1e4d5a4b6c8d7e0f1a2b3c4d5e',
    ]) {
      const r = validateAuditEvent({ ...base, eventId: id });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.message).toContain('eventId must be an RFC 9562 UUID');
    }
    const extra = validateAuditEvent({ ...base, surprise: 1 });
    expect(extra.ok).toBe(false);
  });

  it('normalizes time to UTC keeping nanoseconds and lower-cases the event id', () => {
    const r = validateAuditEvent({ ...base, eventId: base.eventId.toUpperCase(), occurredAt: '2026-11-22T12:00:00.5+02:00' });
    expect(r.ok && r.event.occurredAt).toBe('2026-11-22T10:00:00.500Z');
    expect(r.ok && r.event.eventId).toBe(base.eventId);
    expect(unixNanosToIso(isoToUnixNanos('1969-12-31T23:59:59.999999999Z'))).toBe('1969-12-31T23:59:59.999999999Z');
  });

  it('rejects a record whose event_name and audit.action disagree', () => {
    const view = toView(base);
    view.attributes['audit.action'] = 'grant.revoke';
    const r = logRecordToAuditEvent(view);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0]?.path).toBe('action');
  });

  it('accepts a kvlist body as details (producers in other languages)', () => {
    const view = toView({ ...base, details: undefined });
    view.body = { ticket: 'T-9' };
    const r = logRecordToAuditEvent(view);
    expect(r.ok && r.event.details).toEqual({ ticket: 'T-9' });
  });
});
