import { describe, expect, it } from 'vitest';
import { decodeLogsJson } from '../../../receiver/otlp/json-decoder.ts';
import { decodeLogsProtobuf } from '../../../receiver/otlp/protobuf-decoder.ts';
import { auditRequestObject, encodeRequest, exportLogsRequestType, otlpJsonRequest, SPAN_ID, TRACE_ID } from '../helpers/otlp-fixtures.ts';

function ok(value: unknown) {
  const r = decodeLogsJson(typeof value === 'string' ? value : JSON.stringify(value));
  if (!r.ok) throw new Error(`unexpected decode failure: ${r.error.message}`);
  return r;
}

function fail(value: unknown) {
  const r = decodeLogsJson(typeof value === 'string' ? value : JSON.stringify(value));
  if (r.ok) throw new Error('expected a decode failure');
  expect(r.error.code).toBe('AUDIT_ERR_DECODE');
  return r.error;
}

const first = (r: ReturnType<typeof ok>) => r.logs.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!;

describe('OTLP/JSON decoder', () => {
  it('decodes the OTLP JSON encoding (hex ids, int64 strings, camelCase)', () => {
    const r = ok(otlpJsonRequest());
    expect(r.recordCount).toBe(1);
    const rec = first(r);
    expect(rec).toEqual({
      timeUnixNano: 1732000000123456789n,
      observedTimeUnixNano: 1732000000200000000n,
      severityNumber: 9,
      severityText: 'INFO',
      eventName: 'user.login',
      body: '{"method":"password"}',
      attributes: { 'audit.schema_version': '1.0', 'audit.event_id': '0190b5c8-6a1e-7000-8000-000000000001', count: 42 },
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      flags: 1,
    });
    expect(r.logs.resourceLogs[0]!.resource.attributes).toEqual({ 'service.name': 'json-client' });
    expect(r.logs.resourceLogs[0]!.scopeLogs[0]!.scope).toEqual({ name: 'curl', version: '1', attributes: {} });
  });

  it('gives the same result as the protobuf decoder for the same request', () => {
    const obj = auditRequestObject(5);
    const type = exportLogsRequestType();
    // protobufjs toJSON: camelCase, longs as strings, bytes as base64 → convert ids to hex like OTLP/JSON.
    // biome-ignore lint/suspicious/noExplicitAny: protobufjs toObject is untyped; the test walks it as JSON
    const json = type.toObject(type.fromObject(obj), { longs: String, enums: Number, bytes: String, oneofs: false }) as any;
    for (const rec of json.resourceLogs[0].scopeLogs[0].logRecords) {
      rec.traceId = Buffer.from(rec.traceId, 'base64').toString('hex');
      rec.spanId = Buffer.from(rec.spanId, 'base64').toString('hex');
    }
    const fromJson = ok(json);
    const fromProto = decodeLogsProtobuf(encodeRequest(obj));
    expect(fromJson).toEqual(fromProto);
  });

  it('accepts int64 as numbers and as strings, keeping values beyond 2^53 exact', () => {
    const text = JSON.stringify(otlpJsonRequest({ timeUnixNano: 0, observedTimeUnixNano: '5' })).replace(
      '"timeUnixNano":0',
      '"timeUnixNano":1732000000123456789',
    );
    const rec = first(ok(text));
    expect(rec.timeUnixNano).toBe(1732000000123456789n);
    expect(rec.observedTimeUnixNano).toBe(5n);
    const big = JSON.stringify(
      otlpJsonRequest({
        attributes: [
          { key: 'n', value: { intValue: 1 } },
          { key: 's', value: { intValue: '-9223372036854775808' } },
        ],
      }),
    ).replace('"intValue":1}', '"intValue":9007199254740993}');
    const attrs = first(ok(big)).attributes;
    expect(attrs.n).toBe(9007199254740993n);
    expect(attrs.s).toBe(-9223372036854775808n);
    // Exponent form of an integer is accepted as the number it denotes.
    expect(first(ok(JSON.stringify(otlpJsonRequest()).replace('"1732000000123456789"', '1.7e18'))).timeUnixNano).toBe(1700000000000000000n);
  });

  it('accepts proto field names, severity names, null fields and missing fields', () => {
    const r = ok({
      resource_logs: [
        {
          scope_logs: [
            {
              log_records: [
                {
                  time_unix_nano: '7',
                  severity_number: 'SEVERITY_NUMBER_WARN',
                  event_name: 'x.y',
                  trace_id: TRACE_ID.toUpperCase(),
                  span_id: null,
                  body: null,
                  attributes: null,
                },
                {},
              ],
            },
          ],
          resource: null,
        },
      ],
    });
    expect(r.recordCount).toBe(2);
    const [a, b] = r.logs.resourceLogs[0]!.scopeLogs[0]!.logRecords;
    expect(a).toMatchObject({
      timeUnixNano: 7n,
      severityNumber: 13,
      eventName: 'x.y',
      traceId: TRACE_ID,
      spanId: '',
      body: undefined,
      attributes: {},
    });
    expect(b).toEqual({
      timeUnixNano: 0n,
      observedTimeUnixNano: 0n,
      severityNumber: 0,
      severityText: '',
      eventName: '',
      body: undefined,
      attributes: {},
      traceId: '',
      spanId: '',
      flags: 0,
    });
    expect(ok({}).recordCount).toBe(0);
  });

  it('decodes every AnyValue kind', () => {
    const rec = first(
      ok(
        otlpJsonRequest({
          body: {
            kvlistValue: {
              values: [
                { key: 's', value: { stringValue: 'x' } },
                { key: 'b', value: { boolValue: false } },
                { key: 'd', value: { doubleValue: 1.5 } },
                { key: 'nan', value: { doubleValue: 'NaN' } },
                { key: 'a', value: { arrayValue: { values: [{ intValue: '1' }, { stringValue: 'two' }, {}] } } },
                { key: 'bytes', value: { bytesValue: Buffer.from([0, 1, 254]).toString('base64') } },
                { key: 'empty' },
              ],
            },
          },
        }),
      ),
    );
    expect(rec.body).toEqual({
      s: 'x',
      b: false,
      d: 1.5,
      nan: Number.NaN,
      a: [1, 'two', null],
      bytes: new Uint8Array([0, 1, 254]),
      empty: null,
    });
  });

  it('rejects wrong types saying what and where', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ timeUnixNano: true }, 'resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano: expected a string or number, got a boolean'],
      [{ timeUnixNano: '12abc' }, 'resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano: expected a decimal integer string'],
      [{ severityNumber: 'LOUD' }, 'logRecords[0].severityNumber: expected an integer or a SeverityNumber name'],
      [{ traceId: 'not-hex' }, 'logRecords[0].traceId: expected 32 hex characters'],
      [{ spanId: Buffer.from(SPAN_ID, 'hex').toString('base64') }, 'logRecords[0].spanId: expected 16 hex characters'],
      [{ eventName: 5 }, 'logRecords[0].eventName: expected a string, got a number'],
      [{ attributes: {} }, 'logRecords[0].attributes: expected an array, got an object'],
      [
        { attributes: [{ key: 'k', value: { intValue: 1.5 } }] },
        'logRecords[0].attributes[0].value.intValue: expected an integer, got 1.5',
      ],
      [
        { attributes: [{ key: 'k', value: { stringValue: 'a', intValue: '1' } }] },
        'logRecords[0].attributes[0].value: more than one value set',
      ],
      [
        { body: { arrayValue: { values: [{ boolValue: 'yes' }] } } },
        'logRecords[0].body.arrayValue.values[0].boolValue: expected a boolean',
      ],
      [{ flags: -1 }, 'logRecords[0].flags: expected an unsigned 32-bit integer'],
    ];
    for (const [record, expected] of cases) {
      const err = fail(otlpJsonRequest(record));
      expect(err.message).toContain(expected);
    }
    expect(fail({ resourceLogs: {} }).message).toContain('resourceLogs: expected an array, got an object');
    expect(fail({ resourceLogs: [{ scopeLogs: [{}, { logRecords: [1] }] }] }).path).toBe('resourceLogs[0].scopeLogs[1].logRecords[0]');
    expect(fail([]).message).toContain('expected an object, got an array');
  });

  it('rejects invalid JSON and invalid UTF-8', () => {
    expect(fail('{"resourceLogs": [').message).toMatch(/json: invalid JSON/);
    const r = decodeLogsJson(Buffer.from([0x7b, 0xff, 0x7d]));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toContain('not valid UTF-8');
  });

  it('accepts and refuses bytes exactly as a fatal TextDecoder (the WHATWG UTF-8 decode), BOM included', () => {
    const BOM = [0xef, 0xbb, 0xbf];
    const inner = [
      [],
      [0xc3, 0xa9], // é
      [0xf0, 0x9f, 0x98, 0x80], // 😀
      [0xef, 0xbb, 0xbf], // a BOM inside a string
      [0xc0, 0x80], // overlong NUL
      [0xe0, 0x80, 0xaf], // overlong
      [0xed, 0xa0, 0x80], // an encoded surrogate
      [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
      [0xf8, 0x88, 0x80, 0x80, 0x80], // 5-byte form
      [0x80], // lone continuation byte
      [0xe2, 0x82], // truncated
      [0xfe],
    ];
    for (const prefix of [[], BOM, [...BOM, ...BOM]]) {
      for (const bytes of inner) {
        const body = Buffer.concat([Buffer.from(prefix), Buffer.from('{"resourceLogs":[],"x":"'), Buffer.from(bytes), Buffer.from('"}')]);
        let expected: string;
        try {
          const text = new TextDecoder('utf-8', { fatal: true }).decode(body);
          JSON.parse(text);
          expected = 'ok';
        } catch (err) {
          expected = err instanceof SyntaxError ? 'invalid JSON' : 'not valid UTF-8';
        }
        const r = decodeLogsJson(new Uint8Array(body));
        expect(r.ok ? 'ok' : r.error.message.includes('not valid UTF-8') ? 'not valid UTF-8' : 'invalid JSON', body.toString('hex')).toBe(
          expected,
        );
      }
    }
  });
});
