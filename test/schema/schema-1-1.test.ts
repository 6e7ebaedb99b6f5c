/**
 * Schema 1.1: every log body is kept (`message`, `details`, `bodyValue`), any RFC 9562 event id,
 * derived ids for id-less records, the default tenant, lenient attribute types — and 1.0 events
 * hash exactly as before. Both directions of the OTLP mapping and the storage row are checked to be
 * lossless for every combination of the new fields.
 */
import { createHash } from 'node:crypto';
import { type AuditEvent, auditEventToLogRecord, type LogRecordView, logRecordToAuditEvent, validateAuditEvent } from '@otel-audit/schema';
import { auditRowToEvent, walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { canonicalWithDerivedId, DERIVED_EVENT_ID_DOMAIN, deriveEventId, withoutEventId } from '@otel-audit/schema/event-id';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { canonicalEventJson, computeEntryHash, GENESIS_HASH } from '../../integrity/chain-hash.ts';
import type { WalEventEntry } from '../../receiver/contracts.ts';

function toView(event: AuditEvent, attributes: Record<string, unknown> = {}): LogRecordView {
  const r = auditEventToLogRecord(event);
  return {
    timeUnixNano: BigInt(r.timestamp[0]) * 1_000_000_000n + BigInt(r.timestamp[1]),
    observedTimeUnixNano: 0n,
    severityNumber: r.severityNumber,
    severityText: r.severityText,
    eventName: r.eventName,
    body: r.body,
    attributes: { ...r.attributes, ...attributes },
    traceId: event.trace?.traceId ?? '',
    spanId: event.trace?.spanId ?? '',
    flags: event.trace?.traceFlags ?? 0,
  };
}

function valid(input: unknown): AuditEvent {
  const v = validateAuditEvent(input);
  if (!v.ok) throw v.error;
  return v.event;
}

function entry(event: AuditEvent): WalEventEntry {
  return {
    kind: 'event',
    lsn: 1,
    chainId: `${event.tenant.id}/r1`,
    tenantId: event.tenant.id,
    seq: 1,
    prevHash: GENESIS_HASH,
    hash: computeEntryHash(GENESIS_HASH, event),
    receivedAtNanos: '1795000000123456789',
    event,
    resource: { attributes: {}, schemaUrl: '' },
    scope: { name: 'fluent-bit', version: '' },
    extraAttributes: { 'log.file.path': '/var/log/a.log' },
  };
}

const base = {
  eventId: '01936f6e-8a8b-7c3d-9e4f-0123456789ab',
  schemaVersion: '1.0',
  occurredAt: '2026-11-22T10:00:00.000001Z',
  action: 'user.login',
  outcome: 'success',
  actor: { id: 'alice', type: 'user' },
  tenant: { id: 'acme' },
} as const;

/** A record as a shipper sends it: attributes only, a text body, no event id unless given. */
function shipped(body: unknown, attributes: Record<string, unknown> = {}): LogRecordView {
  return {
    timeUnixNano: 1_795_341_600_000_000_000n,
    observedTimeUnixNano: 0n,
    severityNumber: 0,
    severityText: 'info',
    eventName: '',
    body,
    attributes: {
      'audit.schema_version': '1.0',
      'audit.action': 'user.login',
      'audit.outcome': 'success',
      'audit.actor.id': 'alice',
      'audit.actor.type': 'user',
      'audit.tenant.id': 'acme',
      ...attributes,
    },
    traceId: '',
    spanId: '',
    flags: 0,
  };
}

describe('schema 1.1: bodies', () => {
  it('maps a text body to message, JSON-object text and kvlists to details, any other AnyValue to bodyValue', () => {
    const cases: Array<[unknown, Partial<AuditEvent>]> = [
      ['user alice logged in', { message: 'user alice logged in' }],
      ['{"ticket":"T-1"}', { details: { ticket: 'T-1' } }],
      [' \n{"a":[1]}', { details: { a: [1] } }],
      [{ ticket: 'T-1', n: 2n }, { details: { ticket: 'T-1', n: 2 } }],
      ['[1,2]', { message: '[1,2]' }],
      ['42', { message: '42' }],
      ['{"a":1} and more', { message: '{"a":1} and more' }],
      ['"quoted"', { message: '"quoted"' }],
      [42, { bodyValue: { intValue: '42' } }],
      [2n ** 63n - 1n, { bodyValue: { intValue: '9223372036854775807' } }],
      [2.5, { bodyValue: { doubleValue: 2.5 } }],
      [Number.NaN, { bodyValue: { doubleValue: 'NaN' } }],
      [false, { bodyValue: { boolValue: false } }],
      [new Uint8Array([0, 255]), { bodyValue: { bytesValue: 'AP8=' } }],
      [
        ['a', 1, { k: 'v' }],
        {
          bodyValue: {
            arrayValue: {
              values: [{ stringValue: 'a' }, { intValue: '1' }, { kvlistValue: { values: [{ key: 'k', value: { stringValue: 'v' } }] } }],
            },
          },
        },
      ],
      ['', {}],
      [null, {}],
    ];
    for (const [body, expected] of cases) {
      const r = logRecordToAuditEvent(shipped(body, { 'audit.event_id': base.eventId }));
      expect(r.ok, String(body)).toBe(true);
      if (!r.ok) continue;
      const { details, message, bodyValue } = r.event;
      expect({ details, message, bodyValue }).toEqual({ details: undefined, message: undefined, bodyValue: undefined, ...expected });
      // Version label: 1.1 exactly when a 1.1 field is used.
      expect(r.event.schemaVersion).toBe(message !== undefined || bodyValue !== undefined ? '1.1' : '1.0');
    }
  });

  it('round-trips every combination of details, message and bodyValue through OTLP and the storage row, hash included', () => {
    const messages = [undefined, 'plain text', '{"looks":"like details"}', '  {"x":1}', '[1]'];
    const detailsOptions = [undefined, { a: 1 }];
    const bodyValues = [undefined, { intValue: '7' }];
    let n = 0;
    for (const message of messages) {
      for (const details of detailsOptions) {
        for (const bodyValue of bodyValues) {
          for (const eventIdDerived of [undefined, true] as const) {
            const event = valid({
              ...base,
              ...(message && { message }),
              ...(details && { details }),
              ...(bodyValue && { bodyValue }),
              ...(eventIdDerived && { eventIdDerived }),
            });
            const label = JSON.stringify({ message, details, bodyValue, eventIdDerived });
            const back = logRecordToAuditEvent(toView(event));
            expect(back.ok && back.event, label).toEqual(event);
            const e = entry(event);
            const row = walEntryToAuditRow(e);
            const rebuilt = auditRowToEvent(row);
            expect(rebuilt, label).toEqual(event);
            expect(computeEntryHash(GENESIS_HASH, rebuilt)).toBe(e.hash);
            // A text message that cannot be mistaken for details is the body, stored verbatim in Body.
            if (message === 'plain text' || (message === '[1]' && details === undefined)) {
              if (details === undefined) expect(row.Body).toBe(message);
            }
            n++;
          }
        }
      }
    }
    expect(n).toBe(40);
  });

  it('reads a 1.0 row as before 1.1 (Body is details) and detects an edited Body or message', () => {
    const e10 = entry(valid({ ...base, details: { a: 1 } }));
    const row10 = walEntryToAuditRow(e10);
    expect(row10.SchemaVersion).toBe('1.0');
    expect(computeEntryHash(GENESIS_HASH, auditRowToEvent({ ...row10, Body: 'not json' }))).not.toBe(e10.hash);
    const e11 = entry(valid({ ...base, message: 'user alice logged in' }));
    const row11 = walEntryToAuditRow(e11);
    expect(row11.Body).toBe('user alice logged in');
    expect(computeEntryHash(GENESIS_HASH, auditRowToEvent(row11))).toBe(e11.hash);
    expect(computeEntryHash(GENESIS_HASH, auditRowToEvent({ ...row11, Body: 'user mallory logged in' }))).not.toBe(e11.hash);
    expect(
      computeEntryHash(
        GENESIS_HASH,
        auditRowToEvent({ ...row11, LogAttributes: { ...row11.LogAttributes, 'audit.event_id_derived': 'true' } }),
      ),
    ).not.toBe(e11.hash);
  });

  it('refuses two messages (text body and audit.message) and a message over the limit, with the field named', () => {
    const two = logRecordToAuditEvent(shipped('text', { 'audit.message': 'other' }));
    expect(!two.ok && two.issues[0]!.path).toBe('message');
    const long = logRecordToAuditEvent(shipped('x'.repeat(64 * 1024 + 1)));
    expect(!long.ok && long.issues[0]!.path).toBe('message');
  });
});

describe('schema 1.1: 1.0 events are unchanged', () => {
  it('normalizes and canonicalizes an event without 1.1 fields exactly as 1.0 did (docs/integrity.md vector)', () => {
    const e1 = valid({
      eventId: '0193A1B2-C3D4-7E5F-8A9B-00000000000A',
      schemaVersion: '1.0',
      occurredAt: '2026-11-22T11:00:01.5+01:00',
      action: 'grant.issue',
      outcome: 'success',
      actor: { type: 'user', id: 'u-1' },
      tenant: { id: 'acme' },
      targets: [{ type: 'grant', id: 'g-7' }],
      details: { scope: 'reports', days: 30 },
      trace: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' },
    });
    expect(canonicalEventJson(e1)).toBe(
      '{"action":"grant.issue","actor":{"id":"u-1","type":"user"},"details":{"days":30,"scope":"reports"},"eventId":"0193a1b2-c3d4-7e5f-8a9b-00000000000a","occurredAt":"2026-11-22T10:00:01.500Z","outcome":"success","schemaVersion":"1.0","targets":[{"id":"g-7","type":"grant"}],"tenant":{"id":"acme"},"trace":{"spanId":"00f067aa0ba902b7","traceFlags":0,"traceId":"4bf92f3577b34da6a3ce929d0e0e4736"}}',
    );
    expect(computeEntryHash(GENESIS_HASH, e1, 1)).toBe('3752631a96704449889e51f22ac9995ab0cdc7b6b17a39b885e40273608412a5');
    // Over OTLP too (the SDK's record carries details in the body, as in 1.0).
    const back = logRecordToAuditEvent(toView(e1));
    expect(back.ok && computeEntryHash(GENESIS_HASH, back.event, 1)).toBe(
      '3752631a96704449889e51f22ac9995ab0cdc7b6b17a39b885e40273608412a5',
    );
  });

  it('labels versions: known minors by the fields used, newer minors kept', () => {
    const label = (schemaVersion: string, extra: object = {}) => valid({ ...base, schemaVersion, ...extra }).schemaVersion;
    expect([
      label('1.0'),
      label('1.00'),
      label('1.1'),
      label('1.01'),
      label('1.0', { message: 'm' }),
      label('1.7'),
      label('1.7', { message: 'm' }),
    ]).toEqual(['1.0', '1.0', '1.1', '1.1', '1.1', '1.7', '1.7']);
  });
});

describe('schema 1.1: derived event ids', () => {
  it('derives a UUIDv8 from SHA-256 over the domain and the JCS of the event without eventId (the documented definition)', () => {
    const r = logRecordToAuditEvent(shipped('user alice logged in'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const { eventId, ...rest } = r.event;
    expect(rest).toMatchObject({ eventIdDerived: true, schemaVersion: '1.1', message: 'user alice logged in' });
    // Independently: the hash, then version 8 in octet 6 and variant 10 in octet 8 (RFC 9562 §5.8).
    const digest = createHash('sha256')
      .update(DERIVED_EVENT_ID_DOMAIN + canonicalize(rest)!, 'utf8')
      .digest();
    digest[6] = (digest[6]! & 0x0f) | 0x80;
    digest[8] = (digest[8]! & 0x3f) | 0x80;
    const hex = digest.subarray(0, 16).toString('hex');
    expect(eventId).toBe(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`);
    expect(deriveEventId(r.event)).toBe(eventId);
  });

  it('inserts the id into the canonical JSON exactly where RFC 8785 puts it, also with nested eventIdDerived keys', () => {
    const nested = { eventIdDerived: true, 'eventIdDerived":true': 1 };
    for (const extra of [
      {},
      { details: nested },
      { changes: { before: nested, after: [nested] } },
      { bodyValue: { kvlistValue: nested } },
      { message: '"eventIdDerived":true' },
      { reason: 'x"eventIdDerived":true' },
    ]) {
      const r = logRecordToAuditEvent(shipped('m'));
      if (!r.ok) throw r.error;
      const event = valid({ ...r.event, message: undefined, ...extra });
      expect(canonicalWithDerivedId(canonicalEventJson(withoutEventId(event) as AuditEvent), event.eventId)).toBe(
        canonicalEventJson(event),
      );
    }
  });

  it('matches the worked example of docs/schema.md', () => {
    const r = logRecordToAuditEvent(shipped('user alice logged in'));
    expect(r.ok && canonicalEventJson(r.event)).toBe(
      '{"action":"user.login","actor":{"id":"alice","type":"user"},"eventId":"DERIVED","eventIdDerived":true,"message":"user alice logged in","occurredAt":"2026-11-22T10:00:00.000Z","outcome":"success","schemaVersion":"1.1","tenant":{"id":"acme"}}'.replace(
        'DERIVED',
        r.ok ? r.event.eventId : '',
      ),
    );
    expect(r.ok && r.event.eventId).toBe(DOCS_DERIVED_ID);
  });

  it('is the same for the same content (a resend) and differs when any event field differs', () => {
    const id = (rec: LogRecordView) => {
      const r = logRecordToAuditEvent(rec);
      if (!r.ok) throw r.error;
      return r.event.eventId;
    };
    const a = id(shipped('user alice logged in'));
    expect(id(shipped('user alice logged in'))).toBe(a);
    // Not part of the event: severity, observed time, unmapped attributes.
    expect(id({ ...shipped('user alice logged in', { 'log.file.path': '/x' }), severityText: 'WARN', observedTimeUnixNano: 5n })).toBe(a);
    expect(id(shipped('user alice logged out'))).not.toBe(a);
    expect(id({ ...shipped('user alice logged in'), timeUnixNano: 1_795_341_600_000_000_001n })).not.toBe(a);
    expect(id(shipped('user alice logged in', { 'audit.tenant.id': 'globex' }))).not.toBe(a);
    // A producer id is kept, not derived.
    const given = logRecordToAuditEvent(shipped('x', { 'audit.event_id': '9B2F3C1E-4D5A-4B6C-8D7E-0F1A2B3C4D5E' }));
    expect(given.ok && [given.event.eventId, given.event.eventIdDerived]).toEqual(['9b2f3c1e-4d5a-4b6c-8d7e-0f1a2b3c4d5e', undefined]);
    // A forwarded derived event keeps its id and its mark.
    const fwd = logRecordToAuditEvent(
      toView(
        logRecordToAuditEvent(shipped('x')).ok
          ? (logRecordToAuditEvent(shipped('x')) as { event: AuditEvent }).event
          : (undefined as never),
      ),
    );
    expect(fwd.ok && [fwd.event.eventId, fwd.event.eventIdDerived]).toEqual([id(shipped('x')), true]);
  });
});

describe('schema 1.1: default tenant and cosmetic shape', () => {
  it('takes the default tenant only when the record has none', () => {
    const none = shipped('m');
    delete none.attributes['audit.tenant.id'];
    const refused = logRecordToAuditEvent(none);
    expect(!refused.ok && refused.issues[0]!.path).toBe('tenant.id');
    const filled = logRecordToAuditEvent(none, { defaultTenantId: 'dflt' });
    expect(filled.ok && filled.event.tenant).toEqual({ id: 'dflt' });
    const own = logRecordToAuditEvent(shipped('m'), { defaultTenantId: 'dflt' });
    expect(own.ok && own.event.tenant).toEqual({ id: 'acme' });
  });

  it('takes numbers as their text, a single value as a one-element array, structured changes as JSON', () => {
    const r = logRecordToAuditEvent(
      shipped('m', {
        'audit.schema_version': 1,
        'audit.actor.id': 1001,
        'audit.target.types': 'document',
        'audit.target.ids': 77n,
        'audit.changes.after': { role: 'admin', level: 3 },
        'audit.changes.before': 'null',
      }),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect([r.event.actor.id, r.event.targets, r.event.changes, r.event.schemaVersion]).toEqual([
      '1001',
      [{ type: 'document', id: '77' }],
      { before: null, after: { role: 'admin', level: 3 } },
      '1.1',
    ]);
    const bad = logRecordToAuditEvent(shipped('m', { 'audit.actor.id': true, 'audit.event_id_derived': 'yes' }));
    expect(!bad.ok && bad.issues.map((i) => i.path)).toEqual(['attribute audit.event_id_derived', 'attribute audit.actor.id']);
  });
});

/** The derived id of the docs/schema.md worked example. */
const DOCS_DERIVED_ID = 'c0ba6508-28c8-8cf2-8421-966c4f5137d5';
