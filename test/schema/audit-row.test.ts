import { type AuditEvent, validateAuditEvent } from '@otel-audit/schema';
import { auditRowToEvent, dateTime64ToNanos, nanosToDateTime64, walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { describe, expect, it } from 'vitest';
import { computeEntryHash, GENESIS_HASH } from '../../integrity/chain-hash.ts';
import type { WalEventEntry } from '../../receiver/contracts.ts';

function entry(event: AuditEvent): WalEventEntry {
  const valid = validateAuditEvent(event);
  if (!valid.ok) throw valid.error;
  return {
    kind: 'event',
    lsn: 1,
    chainId: `${valid.event.tenant.id}/r1`,
    tenantId: valid.event.tenant.id,
    seq: 1,
    prevHash: GENESIS_HASH,
    hash: computeEntryHash(GENESIS_HASH, valid.event),
    receivedAtNanos: '1795000000123456789',
    event: valid.event,
    resource: { attributes: { 'service.name': 'billing', 'host.cpus': 2n }, schemaUrl: '' },
    scope: { name: 'otel-audit', version: '0.1.0' },
    extraAttributes: { 'custom.flag': true },
  };
}

const full: AuditEvent = {
  eventId: '01936f6e-8a8b-7c3d-9e4f-0123456789ab',
  schemaVersion: '1.0',
  occurredAt: '2026-11-22T10:00:00.000001Z',
  action: 'grant.issue',
  outcome: 'denied',
  actor: { id: 'u-1', type: 'user', name: 'Ada', authMethod: 'oidc', impersonatorId: 'admin' },
  tenant: { id: 'acme', name: 'Acme' },
  targets: [
    { type: 'grant', id: 'g-1' },
    { type: 'user', id: 'u-2', name: 'Bob' },
  ],
  reason: 'why not',
  session: { id: 's-1' },
  request: { id: 'r-1', ip: '::1', userAgent: 'curl/8', method: 'POST', path: '/grants' },
  changes: { before: null, after: { role: 'admin' } },
  details: { a: [1, 2.5, 'x', null, { b: false }] },
  trace: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' },
};

describe('audit row mapping', () => {
  it('rebuilds exactly the hashed event from the row, for full and minimal events', () => {
    const minimal: AuditEvent = {
      eventId: full.eventId,
      schemaVersion: '1.0',
      occurredAt: '2026-11-22T10:00:00.000Z',
      action: 'login',
      outcome: 'success',
      actor: { id: 'anon', type: 'anonymous' },
      tenant: { id: 't' },
    };
    for (const event of [full, minimal]) {
      const e = entry(event);
      const row = walEntryToAuditRow(e);
      const rebuilt = auditRowToEvent(row);
      expect(rebuilt).toEqual(e.event);
      expect(computeEntryHash(GENESIS_HASH, rebuilt)).toBe(e.hash);
    }
  });

  it('maps the otel_logs-compatible columns', () => {
    const row = walEntryToAuditRow(entry(full));
    expect(row).toMatchObject({
      Timestamp: '2026-11-22 10:00:00.000001000',
      ServiceName: 'billing',
      EventName: 'grant.issue',
      SeverityText: 'WARN',
      TargetType: 'grant',
      TargetId: 'g-1',
      SourceIp: '::1',
      ReceivedAt: nanosToDateTime64(1795000000123456789n),
    });
    expect(row.LogAttributes['audit.actor.id']).toBe('u-1');
    expect(row.LogAttributes['custom.flag']).toBe('true');
    expect(row.ResourceAttributes['host.cpus']).toBe('2');
    expect(dateTime64ToNanos(row.Timestamp)).toBe(1795341600000001000n);
  });

  it('detects an edited column as a hash mismatch', () => {
    const e = entry(full);
    const row = { ...walEntryToAuditRow(e), ActorId: 'mallory' };
    expect(computeEntryHash(GENESIS_HASH, auditRowToEvent(row))).not.toBe(e.hash);
  });
});
