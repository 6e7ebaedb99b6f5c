/**
 * `walEntryToAuditRow` builds rows in one pass for speed; this checks it against its definition —
 * the row as derived from `auditEventToLogRecord` and BigInt nanoseconds — over many events.
 */
import { type AuditEvent, validateAuditEvent } from '@otel-audit/schema';
import { type AuditRow, nanosToDateTime64, walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { describe, expect, it } from 'vitest';
import { computeEntryHash, GENESIS_HASH } from '../../integrity/chain-hash.ts';
import type { WalEventEntry } from '../../receiver/contracts.ts';
import { isoToUnixNanos } from '../../schema/audit-event.ts';
import { auditEventToLogRecord } from '../../schema/otlp-mapping.ts';
import { makeEntries } from '../exporters/coldstore/fixtures.ts';

function stringifyAttr(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) ?? '';
}

function stringMap(attrs: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) out[k] = stringifyAttr(v);
  return out;
}

/** The row by definition: through the LogRecord mapping and exact nanoseconds. */
function referenceRow(entry: WalEventEntry): AuditRow {
  const e = entry.event;
  const record = auditEventToLogRecord(e);
  const timestamp = nanosToDateTime64(isoToUnixNanos(e.occurredAt));
  const targets = e.targets ?? [];
  const serviceName = entry.resource.attributes['service.name'];
  return {
    Timestamp: timestamp,
    TimestampTime: timestamp.slice(0, 19),
    TraceId: e.trace?.traceId ?? '',
    SpanId: e.trace?.spanId ?? '',
    TraceFlags: e.trace?.traceFlags ?? 0,
    SeverityText: record.severityText,
    SeverityNumber: record.severityNumber,
    ServiceName: typeof serviceName === 'string' ? serviceName : '',
    Body: record.body ?? '',
    ResourceSchemaUrl: entry.resource.schemaUrl,
    ResourceAttributes: stringMap(entry.resource.attributes),
    ScopeSchemaUrl: '',
    ScopeName: entry.scope.name,
    ScopeVersion: entry.scope.version,
    ScopeAttributes: {},
    LogAttributes: { ...stringMap(entry.extraAttributes), ...stringMap(record.attributes) },
    EventName: e.action,
    EventId: e.eventId,
    SchemaVersion: e.schemaVersion,
    TenantId: e.tenant.id,
    TenantName: e.tenant.name ?? '',
    Action: e.action,
    Outcome: e.outcome,
    ActorId: e.actor.id,
    ActorType: e.actor.type,
    ActorName: e.actor.name ?? '',
    ActorAuthMethod: e.actor.authMethod ?? '',
    ActorImpersonatorId: e.actor.impersonatorId ?? '',
    TargetType: targets[0]?.type ?? '',
    TargetId: targets[0]?.id ?? '',
    TargetTypes: targets.map((t) => t.type),
    TargetIds: targets.map((t) => t.id),
    TargetNames: targets.map((t) => t.name ?? ''),
    Reason: e.reason ?? '',
    SessionId: e.session?.id ?? '',
    RequestId: e.request?.id ?? '',
    SourceIp: e.request?.ip ?? '',
    UserAgent: e.request?.userAgent ?? '',
    HttpMethod: e.request?.method ?? '',
    UrlPath: e.request?.path ?? '',
    ChangesBefore: e.changes?.before === undefined ? '' : JSON.stringify(e.changes.before),
    ChangesAfter: e.changes?.after === undefined ? '' : JSON.stringify(e.changes.after),
    ChainId: entry.chainId,
    Seq: entry.seq,
    PrevHash: entry.prevHash,
    Hash: entry.hash,
    ReceivedAt: nanosToDateTime64(BigInt(entry.receivedAtNanos)),
    ChainVersion: entry.chainVersion ?? 1,
  };
}

function entryOf(input: Record<string, unknown>, receivedAtNanos: string, extra: Record<string, unknown> = {}): WalEventEntry {
  const v = validateAuditEvent(input as unknown as AuditEvent);
  if (!v.ok) throw v.error;
  return {
    kind: 'event',
    lsn: 1,
    chainId: `${v.event.tenant.id}/r1`,
    tenantId: v.event.tenant.id,
    seq: 1,
    prevHash: GENESIS_HASH,
    hash: computeEntryHash(GENESIS_HASH, v.event),
    receivedAtNanos,
    event: v.event,
    resource: { attributes: { 'service.name': 'billing', 'host.cpus': 2n, tags: ['a', 'b'] }, schemaUrl: 'https://example.com/s' },
    scope: { name: 'otel-audit', version: '0.1.0' },
    extraAttributes: extra,
  };
}

const base = {
  eventId: '01936f6e-8a8b-7c3d-9e4f-0123456789ab',
  schemaVersion: '1.0',
  action: 'grant.issue',
  outcome: 'denied',
  actor: { id: 'u-1', type: 'user' },
  tenant: { id: 'acme' },
};

describe('walEntryToAuditRow', () => {
  it('equals the row derived through the LogRecord mapping, key order of LogAttributes included', () => {
    const entries: WalEventEntry[] = [
      ...makeEntries({ count: 60 }),
      ...makeEntries({ count: 20, tenantId: 'globex', startAt: '2026-12-31T23:59:59.999Z', stepMillis: 7 }),
    ];
    const times = [
      '2026-11-22T10:00:00Z',
      '2026-11-22T10:00:00.1Z',
      '2026-11-22T23:59:59.123456789Z',
      '2026-02-28T00:00:00.5Z',
      '2024-02-29T12:00:00.000001Z',
      '2026-11-22T12:00:00.123+02:00',
      '1970-01-01T00:00:00Z',
    ];
    const received = ['1795000000123456789', '0', '1000000', '1795000000000000000', '253402300799999999999'];
    for (const [i, occurredAt] of times.entries()) {
      entries.push(
        entryOf(
          {
            ...base,
            occurredAt,
            actor: { id: 'u-1', type: 'user', name: 'Ada', authMethod: 'oidc', impersonatorId: 'root' },
            tenant: { id: 'acme', name: 'Acme' },
            targets: [
              { type: 'grant', id: 'g-1' },
              { type: 'user', id: 'u-2', name: 'Bøb' },
            ],
            reason: 'r',
            session: { id: 's' },
            request: { id: 'q', ip: '::1', userAgent: 'curl', method: 'GET', path: '/x' },
            changes: i % 2 === 0 ? { before: null, after: { role: 'admin' } } : { after: [1, 2] },
            details: { n: i },
            trace: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 },
          },
          received[i % received.length]!,
          // Extra attributes, one of them under an audit key the event overrides.
          { 'custom.flag': true, 'audit.actor.name': 'stale', n: 12n, b: new Uint8Array([1, 2]) },
        ),
      );
    }
    // Schema 1.1 bodies: a message in the body, a message beside details, a non-object body, a derived id.
    entries.push(entryOf({ ...base, schemaVersion: '1.1', occurredAt: times[1], message: 'plain text' }, '1795000000123456789'));
    entries.push(
      entryOf({ ...base, schemaVersion: '1.1', occurredAt: times[2], message: '{"looks":"like details"}' }, '1795000000123456789'),
    );
    entries.push(
      entryOf({ ...base, schemaVersion: '1.1', occurredAt: times[3], details: { a: 1 }, message: 'both' }, '1795000000123456789'),
    );
    entries.push(
      entryOf(
        {
          ...base,
          schemaVersion: '1.1',
          occurredAt: times[0],
          bodyValue: { arrayValue: { values: [{ intValue: '1' }] } },
          eventIdDerived: true,
        },
        '1795000000123456789',
      ),
    );
    for (const e of entries) {
      const row = walEntryToAuditRow(e);
      const ref = referenceRow(e);
      expect(row).toEqual(ref);
      expect(Object.keys(row.LogAttributes)).toEqual(Object.keys(ref.LogAttributes));
    }
  });
});
