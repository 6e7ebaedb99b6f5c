import { describe, expect, it } from 'vitest';
import { decodeLogsProtobuf } from '../../../receiver/otlp/protobuf-decoder.ts';
import { auditRequestObject, encodeRequest, SPAN_ID, TRACE_ID } from '../helpers/otlp-fixtures.ts';
import { createProtobufjsLogsDecoder } from '../helpers/protobufjs-decoder.ts';

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

function ok(bytes: Uint8Array) {
  const r = decodeLogsProtobuf(bytes);
  if (!r.ok) throw new Error(`unexpected decode failure: ${r.error.message}`);
  return r;
}

function fail(bytes: Uint8Array) {
  const r = decodeLogsProtobuf(bytes);
  if (r.ok) throw new Error('expected a decode failure');
  expect(r.error.code).toBe('AUDIT_ERR_DECODE');
  return r.error;
}

describe('hand-rolled protobuf decoder', () => {
  it('decodes a realistic audit batch into plain JS (ids hex, times bigint)', () => {
    const r = ok(encodeRequest(auditRequestObject(3)));
    expect(r.recordCount).toBe(3);
    const rl = r.logs.resourceLogs[0]!;
    expect(rl.resource.attributes['service.name']).toBe('billing-api');
    expect(rl.schemaUrl).toBe('https://opentelemetry.io/schemas/1.28.0');
    const sl = rl.scopeLogs[0]!;
    expect(sl.scope).toEqual({ name: 'otel-audit', version: '0.1.0', attributes: {} });
    const rec = sl.logRecords[2]!;
    expect(rec.timeUnixNano).toBe(1_732_000_000_123_456_791n);
    expect(rec.observedTimeUnixNano).toBe(1_732_000_000_200_000_000n);
    expect(rec.eventName).toBe('grant.issue');
    expect(rec.severityNumber).toBe(9);
    expect(rec.severityText).toBe('INFO');
    expect(rec.traceId).toBe(TRACE_ID);
    expect(rec.spanId).toBe(SPAN_ID);
    expect(rec.flags).toBe(1);
    expect(JSON.parse(rec.body as string)).toEqual({ grant: { role: 'admin', scope: 'project-2' }, ticket: 'SEC-1234' });
    expect(rec.attributes['audit.actor.name']).toBe('Zoë Müller');
    expect(rec.attributes['audit.target.ids']).toEqual(['p-2', 'admin']);
    expect(rec.attributes['retry.count']).toBe(2);
    expect(rec.attributes['sampled']).toBe(true);
    expect(rec.attributes['ratio']).toBe(0.25);
  });

  it('agrees with the protobufjs reference decoder on the same bytes', () => {
    const bytes = encodeRequest(auditRequestObject(64));
    const ref = createProtobufjsLogsDecoder().decode(bytes);
    expect(ref.ok).toBe(true);
    expect(ok(bytes)).toEqual(ref);
  });

  it('decodes int64 edge values, bytes, kvlists, empty AnyValue and absent body', () => {
    const bytes = encodeRequest({
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                {
                  attributes: [
                    { key: 'neg', value: { intValue: '-5' } },
                    { key: 'big', value: { intValue: '9007199254740993' } },
                    { key: 'min', value: { intValue: '-9223372036854775808' } },
                    { key: 'raw', value: { bytesValue: Buffer.from([1, 2, 255]) } },
                    {
                      key: 'kv',
                      value: {
                        kvlistValue: {
                          values: [
                            { key: 'a', value: { stringValue: 'b' } },
                            { key: '__proto__', value: { intValue: 1 } },
                          ],
                        },
                      },
                    },
                    { key: 'empty', value: {} },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    const rec = ok(bytes).logs.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!;
    expect(rec.attributes.neg).toBe(-5);
    expect(rec.attributes.big).toBe(9007199254740993n);
    expect(rec.attributes.min).toBe(-9223372036854775808n);
    expect(rec.attributes.raw).toEqual(new Uint8Array([1, 2, 255]));
    const kv = rec.attributes.kv as Record<string, unknown>;
    expect(kv.a).toBe('b');
    expect(Object.getOwnPropertyDescriptor(kv, '__proto__')?.value).toBe(1);
    expect(Object.getPrototypeOf(kv)).toBe(Object.prototype);
    expect(rec.attributes.empty).toBeNull();
    expect(rec.body).toBeUndefined();
    expect(rec.timeUnixNano).toBe(0n);
    expect(rec.traceId).toBe('');
    expect(rec.eventName).toBe('');
  });

  it('decodes an empty request and skips unknown fields', () => {
    expect(ok(new Uint8Array(0)).recordCount).toBe(0);
    const known = encodeRequest(auditRequestObject(1));
    // Unknown field 15 (varint) and 16 (length-delimited) at the top level.
    const withUnknown = Buffer.concat([Buffer.from([0x78, 0x05, 0x82, 0x01, 0x02, 0x61, 0x62]), known]);
    expect(ok(withUnknown).logs).toEqual(ok(known).logs);
  });

  it('rejects garbage with a message', () => {
    const err = fail(Buffer.from('this is not protobuf at all, just text'));
    expect(err.message).toMatch(/^request could not be decoded: protobuf: /);
  });

  it('rejects a truncated message and names where', () => {
    const bytes = encodeRequest(auditRequestObject(2));
    const err = fail(bytes.subarray(0, bytes.length - 10));
    expect(err.message).toMatch(/truncated/);
    expect(err.path).toMatch(/^resourceLogs\[0\]/);
  });

  it('rejects a trace id of the wrong length with the field path', () => {
    const obj = auditRequestObject(5);
    // biome-ignore lint/suspicious/noExplicitAny: protobufjs toObject is untyped; the test walks it as JSON
    const rl = (obj.resourceLogs as any[])[0];
    rl.scopeLogs[0].logRecords[3].traceId = Buffer.from([1, 2, 3, 4, 5]);
    const err = fail(encodeRequest(obj));
    expect(err.path).toBe('resourceLogs[0].scopeLogs[0].logRecords[3].traceId');
    expect(err.message).toContain('expected 16 bytes or none, got 5');
  });

  it('rejects invalid UTF-8 in strings', () => {
    const obj = auditRequestObject(1);
    const bytes = encodeRequest(obj);
    // Replace the 'ë' (c3 ab) of 'Zoë' by an invalid sequence (c3 28).
    const at = bytes.indexOf(Buffer.from('Zo\u00eb', 'utf8'));
    bytes[at + 3] = 0x28;
    const err = fail(bytes);
    expect(err.message).toContain('not valid UTF-8');
    expect(err.path).toMatch(/logRecords\[0\]\.attributes\[6\]\.value\.stringValue|logRecords\[0\]\.attributes\[6\]/);
  });

  it('rejects a known field with the wrong wire type', () => {
    // resourceLogs (field 1) encoded as a varint.
    const err = fail(Buffer.from([0x08, 0x01]));
    expect(err.message).toContain('wrong wire type 0');
    expect(err.path).toBe('resourceLogs[0]');
  });

  it('rejects AnyValue nesting beyond the limit instead of overflowing the stack', () => {
    // Hand-encoded: protobufjs refuses to build such deep objects itself.
    const field = (no: number, payload: Buffer) => Buffer.concat([Buffer.from([(no << 3) | 2]), varint(payload.length), payload]);
    let anyValue = field(1, Buffer.from('x'));
    for (let i = 0; i < 200; i++) anyValue = field(5, field(1, anyValue));
    const err = fail(field(1, field(2, field(2, field(5, anyValue)))));
    expect(err.message).toContain('nested deeper than 64');
  });

  it('string caches never return a stale key or value for same-length different bytes', () => {
    const rec = (k: string, v: string) => ({
      attributes: [
        { key: k, value: { stringValue: v } },
        { key: `${k}-2`, value: { stringValue: v.toUpperCase() } },
      ],
    });
    const bytes = encodeRequest({
      resourceLogs: [{ scopeLogs: [{ logRecords: [rec('aa', 'x1'), rec('ab', 'x2'), rec('ab', 'x2'), rec('ba', 'é1')] }] }],
    });
    const attrs = ok(bytes).logs.resourceLogs[0]!.scopeLogs[0]!.logRecords.map((r) => r.attributes);
    expect(attrs).toEqual([
      { aa: 'x1', 'aa-2': 'X1' },
      { ab: 'x2', 'ab-2': 'X2' },
      { ab: 'x2', 'ab-2': 'X2' },
      { ba: 'é1', 'ba-2': 'É1' },
    ]);
  });

  it('never throws on mutated input, and agrees with protobufjs whenever both accept it', () => {
    const valid = encodeRequest(auditRequestObject(8));
    const reference = createProtobufjsLogsDecoder();
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    let accepted = 0;
    for (let i = 0; i < 400; i++) {
      const bytes = Buffer.from(valid);
      const mutations = 1 + Math.floor(random() * 4);
      for (let m = 0; m < mutations; m++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      const cut = random() < 0.2 ? Math.floor(random() * bytes.length) : bytes.length;
      const input = bytes.subarray(0, cut);
      const mine = decodeLogsProtobuf(input);
      if (!mine.ok) {
        expect(mine.error.code).toBe('AUDIT_ERR_DECODE');
        continue;
      }
      accepted++;
      const ref = reference.decode(input);
      if (ref.ok) expect(mine).toEqual(ref);
    }
    expect(accepted).toBeGreaterThan(0);
  });
});
