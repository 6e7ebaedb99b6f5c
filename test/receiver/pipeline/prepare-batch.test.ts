import type { AuditEvent, LogRecordView } from '@otel-audit/schema';
import { AuditEventSchema, validateAuditEvent } from '@otel-audit/schema';
import { describe, expect, it } from 'vitest';
import { canonicalEventJson } from '../../../integrity/chain-hash.ts';
import type { DecodedLogs, IngestContext } from '../../../receiver/contracts.ts';
import { decodeLogsProtobuf } from '../../../receiver/otlp/protobuf-decoder.ts';
import { CanonicalWriter, canonicalValidatedEventJson, EVENT_SHAPE, writeCanonicalEvent } from '../../../receiver/pipeline/fast-jcs.ts';
import { extraAttributesJson, prepareBatch, writeExtraAttributes } from '../../../receiver/pipeline/prepare-stage.ts';
import type { PreparedBatch } from '../../../receiver/pipeline/prepared-batch.ts';
import { auditRequestObject, encodeRequest } from '../helpers/otlp-fixtures.ts';
import { eventToRecord, makeEvent, plainRecord, randomJsonValue, uuidv7 } from './fixtures.ts';
import { packPreparedRequest, prepareRequest } from './helpers/two-pass-prepare.ts';

/** The batch as comparable plain data (typed arrays as bytes). */
function plain(b: PreparedBatch) {
  return {
    ...b,
    meta: Buffer.from(b.meta.buffer, b.meta.byteOffset, b.meta.byteLength).toString('hex'),
    digests: Buffer.from(b.digests).toString('hex'),
    payload: Buffer.from(b.payload).toString('latin1'),
  };
}

function expectSameBatch(logs: DecodedLogs, context: IngestContext, nonAudit: 'drop' | 'reject', defaultTenantId?: string) {
  const before = packPreparedRequest(prepareRequest(logs, context, nonAudit, defaultTenantId));
  // A hint of 0 starts the payload buffer small, so growing it is exercised too.
  for (const hint of [0, 1 << 20]) {
    const after = prepareBatch(logs, context, nonAudit, defaultTenantId, hint);
    expect(plain(after)).toEqual(plain(before));
  }
  return before;
}

// Code points (not UTF-16 units) plus one deliberate lone surrogate now and then.
const chars = [...'aZ09 _-."\\/\n\té漢😀\u0001\u007f\u2028'];
const rnd = (n: number) => Math.floor(Math.random() * n);
const plainChars = [...'aZ09 _-./~'];
const asciiChars = [...'aZ09 _-./~"\\\n\t\u0001\u001f\u007f'];
// Mostly short strings, some past the writer's native-write threshold (40 characters); of them a
// third plain ASCII (copied as is), a third ASCII with characters to escape or the DEL edge.
const rstr = (loneSurrogates = true) => {
  const set = [plainChars, asciiChars, chars][rnd(3)]!;
  return Array.from({ length: rnd(4) === 0 ? rnd(120) : rnd(12) }, () =>
    loneSurrogates && Math.random() < 0.01 ? '\ud800' : set[rnd(set.length)],
  ).join('');
};
const rjson = (depth: number): unknown => randomJsonValue(rstr, depth);

/** An attribute value as the decoders produce them, including the rare kinds. */
function rattr(): unknown {
  switch (rnd(14)) {
    case 0:
      return rstr();
    case 1:
      return rnd(1000);
    case 2:
      return Math.random() * 100;
    case 3:
      return [Number.NaN, Number.POSITIVE_INFINITY, -0][rnd(3)];
    case 4:
      return rnd(2) === 0;
    case 5:
      return null;
    case 6:
      return 2n ** 63n - 1n;
    case 7:
      return -(2n ** 60n);
    case 8:
      return [rstr(), rstr()];
    case 9:
      // A hole, then numbers (OTLP arrays are homogeneous, the view does not enforce it).
      // biome-ignore lint/suspicious/noSparseArray: a hole is what this case is about
      return [1, , 2.5, 'x'];
    case 10:
      return new Uint8Array([1, 2, 250]);
    case 11:
      return { k: rstr(), n: [1, 2n] };
    case 12:
      return [[1], { a: 1 }];
    default:
      return '';
  }
}

function rattrs(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = rnd(5); i > 0; i--) out[[rstr(false) || 'k', '10', '2', 'retry.count', 'sampled'][rnd(5)]!] = rattr();
  if (rnd(20) === 0) Object.defineProperty(out, '__proto__', { value: rattr(), enumerable: true, writable: true, configurable: true });
  return out;
}

function randomRecord(): LogRecordView {
  switch (rnd(10)) {
    case 0:
      return plainRecord(rstr());
    case 1: {
      // Invalid: an outcome the schema refuses.
      const r = eventToRecord(makeEvent());
      r.attributes['audit.outcome'] = 'maybe';
      return r;
    }
    default: {
      const event = makeEvent({
        eventId: uuidv7(),
        reason: rstr() || 'r',
        actor: { id: rstr(false) || 'a', type: 'user', ...(rnd(2) ? { name: rstr() || 'n' } : {}) },
        tenant: { id: ['acme', 'globex', 'initech'][rnd(3)]! },
        details: { x: rjson(0), y: rstr() } as AuditEvent['details'],
        ...(rnd(3) === 0 ? { message: rstr() || 'text' } : {}),
        ...(rnd(3) === 0 ? { changes: { before: rjson(1), after: rjson(1) } as AuditEvent['changes'] } : {}),
        ...(rnd(4) === 0 ? { session: { id: 's-1' } } : {}),
        ...(rnd(4) === 0 ? { targets: [] } : {}),
      });
      const r = eventToRecord(event, rattrs());
      if (rnd(4) === 0) delete r.attributes['audit.event_id']; // derived id
      if (rnd(6) === 0) delete r.attributes['audit.tenant.id']; // default tenant
      if (rnd(3) === 0) {
        r.traceId = '5b8efff798038103d269b633813fc60c';
        r.spanId = 'eee19b7ec3c1b174';
        r.flags = rnd(256);
      }
      if (rnd(5) === 0) r.body = { kv: rstr(), n: 1n, b: new Uint8Array([7]) };
      else if (rnd(8) === 0) r.body = [1, 'two'];
      return r;
    }
  }
}

function randomLogs(): DecodedLogs {
  return {
    resourceLogs: Array.from({ length: 1 + rnd(2) }, () => ({
      resource: { attributes: { 'service.name': rstr(false) || 'svc', big: 2n ** 64n, bytes: new Uint8Array([1]) } },
      schemaUrl: rstr(false),
      scopeLogs: Array.from({ length: 1 + rnd(2) }, () => ({
        scope: { name: rstr(false), version: '1.0', attributes: {} },
        schemaUrl: '',
        logRecords: Array.from({ length: rnd(12) }, randomRecord),
      })),
    })),
  };
}

describe('prepareBatch', () => {
  it('equals packPreparedRequest(prepareRequest(…)) byte for byte on the 512-record fixture batch', () => {
    const decoded = decodeLogsProtobuf(encodeRequest(auditRequestObject(512)));
    if (!decoded.ok) throw new Error('fixture does not decode');
    const batch = expectSameBatch(decoded.logs, { transport: 'http' }, 'reject');
    expect(batch.count).toBe(512);
  });

  it('equals packPreparedRequest(prepareRequest(…)) on random requests (invalid, non-audit, derived ids, odd attributes)', () => {
    let prepared = 0;
    let rejected = 0;
    for (let i = 0; i < 300; i++) {
      const logs = randomLogs();
      const bound = rnd(4) === 0 ? { boundTenantId: 'acme' } : {};
      const b = expectSameBatch(
        logs,
        { transport: 'grpc', ...bound },
        rnd(2) === 0 ? 'drop' : 'reject',
        rnd(2) ? 'default-tenant' : undefined,
      );
      prepared += b.count;
      rejected += b.rejections.length;
    }
    // Both paths were exercised.
    expect(prepared).toBeGreaterThan(500);
    expect(rejected).toBeGreaterThan(100);
  });

  it('rejects an event JCS cannot represent (lone surrogate) like prepareRequest, and goes on', () => {
    const bad = eventToRecord(makeEvent({ message: 'lone \ud800 surrogate', details: undefined }));
    const good = eventToRecord(makeEvent());
    const b = expectSameBatch(
      {
        resourceLogs: [
          {
            resource: { attributes: {} },
            schemaUrl: '',
            scopeLogs: [{ scope: { name: '', version: '', attributes: {} }, schemaUrl: '', logRecords: [bad, good] }],
          },
        ],
      },
      { transport: 'http' },
      'reject',
    );
    expect(b.count).toBe(1);
    expect(b.rejections.map((r) => [r.index, r.code])).toEqual([[0, 'AUDIT_ERR_INVALID_EVENT']]);
    expect(b.rejections[0]!.reason).toMatch(/Lone surrogate/);
  });
});

describe('writeExtraAttributes', () => {
  it('writes what extraAttributesJson returns', () => {
    for (let i = 0; i < 2000; i++) {
      const attrs = { 'audit.action': 'x.y', ...rattrs() };
      const w = new CanonicalWriter(8);
      writeExtraAttributes(w, attrs);
      expect(w.text(0, w.off)).toBe(extraAttributesJson(attrs));
    }
  });
});

/** Strings around the writer's fast-path boundaries: each special character at the start, middle and end of plain runs. */
function edgeStrings(): string[] {
  const specials = ['"', '\\', '\n', '\u0000', '\u001f', ' ', '~', '\u007f', '\u0080', 'é', '\u2028', '😀', '\ud800', '\udc00'];
  const out: string[] = [];
  for (const len of [0, 1, 38, 39, 40, 41, 42, 100]) {
    const run = 'a'.repeat(len);
    out.push(run);
    for (const c of specials) out.push(c + run, run + c, run.slice(0, len >> 1) + c + run.slice(len >> 1));
  }
  return out;
}

describe('CanonicalWriter strings', () => {
  it('writes JSON.stringify / JCS string literals at every fast-path boundary', () => {
    for (const s of edgeStrings()) {
      const w = new CanonicalWriter(8);
      w.jsonStr(s);
      expect(w.text(0, w.off), JSON.stringify(s)).toBe(JSON.stringify(s));
      const e = makeEvent({ reason: s || 'r', details: { [s]: s } });
      let expected: string;
      try {
        expected = canonicalEventJson(e);
      } catch {
        expect(() => canonicalValidatedEventJson(e)).toThrow(/Lone surrogate/);
        continue;
      }
      expect(canonicalValidatedEventJson(e), JSON.stringify(s)).toBe(expected);
    }
  });
});

describe('writeCanonicalEvent', () => {
  it('lists the schema fields of every fixed-shape object (so the static member order covers them)', () => {
    // Optional fields wrap their schema (unwrap()); targets is an array of the target schema.
    type Shaped = { shape: object; unwrap(): Shaped; element: Shaped };
    const shape = AuditEventSchema.shape as unknown as Record<string, Shaped>;
    const keys = (s: Shaped) => Object.keys(s.shape).sort();
    expect([...EVENT_SHAPE.event].sort()).toEqual(keys(AuditEventSchema as unknown as Shaped));
    expect([...EVENT_SHAPE.actor].sort()).toEqual(keys(shape.actor!));
    expect([...EVENT_SHAPE.tenant].sort()).toEqual(keys(shape.tenant!));
    expect([...EVENT_SHAPE.target].sort()).toEqual(keys(shape.targets!.unwrap().element));
    expect([...EVENT_SHAPE.session].sort()).toEqual(keys(shape.session!.unwrap()));
    expect([...EVENT_SHAPE.request].sort()).toEqual(keys(shape.request!.unwrap()));
    expect([...EVENT_SHAPE.changes].sort()).toEqual(keys(shape.changes!.unwrap()));
    expect([...EVENT_SHAPE.trace].sort()).toEqual(keys(shape.trace!.unwrap()));
  });

  it('equals canonicalEventJson on random validated events, with and without eventId', () => {
    let checked = 0;
    for (let i = 0; i < 2000; i++) {
      const v = validateAuditEvent(
        makeEvent({
          reason: rstr() || 'r',
          actor: { id: rstr() || 'a', type: 'service', ...(rnd(2) ? { impersonatorId: 'u-1' } : {}) },
          tenant: { id: 't', ...(rnd(2) ? { name: rstr() || 'n' } : {}) },
          targets: Array.from({ length: rnd(3) }, () => ({ type: 'doc', id: rstr() || 'd', ...(rnd(2) ? { name: rstr() || 'n' } : {}) })),
          details: { x: rjson(0) } as AuditEvent['details'],
          ...(rnd(2) ? { changes: { before: rjson(1) } as AuditEvent['changes'] } : {}),
          ...(rnd(2) ? { session: { id: rstr() || 's' } } : {}),
          ...(rnd(2) ? { trace: { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', traceFlags: rnd(2) } } : {}),
        }),
      );
      if (!v.ok) continue;
      checked++;
      const outcome = (f: () => string) => {
        try {
          return f();
        } catch (err) {
          return `threw ${(err as { code?: string }).code}`;
        }
      };
      const { eventId: _id, ...withoutId } = v.event;
      for (const e of [v.event, withoutId as AuditEvent]) {
        const expected = outcome(() => canonicalEventJson(e));
        expect(outcome(() => canonicalValidatedEventJson(e))).toBe(
          expected.startsWith('threw') ? 'threw AUDIT_ERR_INVALID_EVENT' : expected,
        );
        // Written after other bytes: the returned start and the bytes from there.
        const w = new CanonicalWriter(16);
        w.latin1('xyz');
        const got = outcome(() => {
          const start = writeCanonicalEvent(w, e);
          return w.text(start, w.off);
        });
        if (got.startsWith('threw')) expect(w.off).toBe(3);
        else expect(got).toBe(expected);
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });
});
