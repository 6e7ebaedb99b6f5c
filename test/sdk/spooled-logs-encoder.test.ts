/**
 * The export worker encodes spooled records straight to OTLP/protobuf (sdk/spooled-logs-encoder.ts).
 * Its bytes must be exactly what the OTel serializer writes for the records `RecordDecoder` decodes
 * from the same spool: the reference path, for every shape of record a spool can hold.
 */
import type { HrTime } from '@opentelemetry/api';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { ContextEncoder, encodeRecord, RecordDecoder } from '@otel-audit/sdk/record-codec';
import { packSpoolRecords } from '@otel-audit/sdk/spool/packed-records';
import { SpooledLogsEncoder } from '@otel-audit/sdk/spooled-logs-encoder';
import { describe, expect, it } from 'vitest';

const resourceA = resourceFromAttributes({ 'service.name': 'billing', 'service.version': '1.2.3', 'host.cores': 2, 'k8s.pod.ready': true });
const resourceB = resourceFromAttributes(
  { 'service.name': 'ünicode ✓', tags: ['a', 'b'], ratio: 0.25 },
  { schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' },
);
const scopeA = { name: 'otel-audit', version: '0.1.0', schemaUrl: 'https://otel-audit.dev/schemas/audit/1.0' };
const scopeB = { name: 'other-scope', attributes: { 'scope.attr': 'x', n: 7 } };
const scopeEmpty = { name: '' };

type Mutable = { -readonly [K in keyof ReadableLogRecord]: ReadableLogRecord[K] };

function record(
  over: Partial<Mutable>,
  resource = resourceA,
  scope: ReadableLogRecord['instrumentationScope'] = scopeA,
): ReadableLogRecord {
  return {
    hrTime: [1_796_600_000, 123_456_789] as HrTime,
    hrTimeObserved: [1_796_600_001, 5] as HrTime,
    resource,
    instrumentationScope: scope,
    attributes: {},
    droppedAttributesCount: 0,
    ...over,
  } as ReadableLogRecord;
}

const long = 'x'.repeat(300);
const records: Array<[string, ReadableLogRecord]> = [
  ['minimal', record({})],
  [
    'audit-shaped',
    record({
      severityNumber: 9,
      severityText: 'INFO',
      eventName: 'audit.document.update',
      body: 'document.update by u-1',
      attributes: {
        'audit.schema_version': '1.0',
        'audit.event.id': '0190a7f0-1234-7abc-8def-0123456789ab',
        'audit.targets.ids': ['d-1', 'd-2'],
        'audit.redacted': false,
      },
    }),
  ],
  [
    'traced',
    record({
      spanContext: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 },
      attributes: { a: 1 },
    }),
  ],
  ['traced, flags 0', record({ spanContext: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 0 } })],
  [
    'every value kind',
    record({
      body: { nested: { deeper: [1, 'two', true, null, 2.5, { k: 'v' }] }, bytes: new Uint8Array([0, 1, 254, 255]) },
      attributes: {
        int: 42,
        negative: -7,
        big: 2 ** 53 - 1,
        beyondInt64: 2 ** 70,
        double: 1.0625,
        negDouble: -0.5,
        zero: 0,
        bool: true,
        empty: '',
        unicode: 'Zoë 😀 ✓',
        long,
        list: ['a', 1, false, [2, 3]],
        map: { '2': 'integer-like key', a: 'first', '1': 'one' },
        '10': 'integer-like attribute key',
        nothing: null,
      } as unknown as ReadableLogRecord['attributes'],
    }),
  ],
  ['null body', record({ body: null as unknown as ReadableLogRecord['body'] })],
  ['bytes body', record({ body: new Uint8Array(200).fill(7) })],
  ['severity 0 and empty text', record({ severityNumber: 0, severityText: '', eventName: '' })],
  ['dropped attributes', record({ droppedAttributesCount: 3, attributes: { kept: 'yes' } })],
  ['large', record({ body: 'y'.repeat(70_000), attributes: { big: 'z'.repeat(20_000) } })],
  ['second context', record({ body: 'b' }, resourceB, scopeB)],
  ['empty scope name', record({ body: 'c' }, resourceA, scopeEmpty)],
];

/** Spool the records (as the spool stores them) and pack them for the export worker. */
function spool(rs: ReadableLogRecord[]) {
  const contexts = new ContextEncoder();
  return packSpoolRecords(
    rs.map((r, i) => ({ seq: i + 1, contextJson: contexts.encode(r.resource, r.instrumentationScope), payload: encodeRecord(r) })),
  );
}

/** The reference: decode as the worker did, serialize with the OTel serializer. */
function reference(packed: ReturnType<typeof spool>): Uint8Array {
  const decoder = new RecordDecoder();
  const decoded = Array.from(packed.contextOf, (c, i) =>
    decoder.decode(packed.contexts[c]!, packed.data.subarray(packed.offsets[i]!, packed.offsets[i + 1]!)),
  );
  return ProtobufLogsSerializer.serializeRequest(decoded)!;
}

describe('SpooledLogsEncoder', () => {
  for (const [name, r] of records)
    it(`encodes "${name}" byte for byte as the OTel serializer`, () => {
      const packed = spool([r]);
      const out = new SpooledLogsEncoder().encode(packed);
      expect(out.ok).toBe(true);
      expect(Buffer.from((out as { bytes: Uint8Array }).bytes).equals(Buffer.from(reference(packed)))).toBe(true);
    });

  it('groups records by context in order of first appearance, keeping their order within a context', () => {
    const mixed = [records[1]![1], records[10]![1], records[2]![1], records[11]![1], records[0]![1], records[10]![1]];
    const packed = spool(mixed);
    const encoder = new SpooledLogsEncoder();
    for (let round = 0; round < 2; round++) {
      // The second round uses the cached contexts.
      const out = encoder.encode(packed);
      expect(out.ok).toBe(true);
      expect(Buffer.from((out as { bytes: Uint8Array }).bytes).equals(Buffer.from(reference(packed)))).toBe(true);
    }
  });

  it('answers a record that is not spool text with an error naming it, instead of throwing', () => {
    const packed = spool([records[0]![1], records[1]![1]]);
    const data = Buffer.from(packed.data);
    data[packed.offsets[1]!] = 0x7b; // '{' where the record's '[' was: not a spool record
    data.write('}}}}', packed.offsets[2]! - 4);
    const out = new SpooledLogsEncoder().encode({ ...packed, data });
    expect(out).toMatchObject({ ok: false, message: expect.stringMatching(/^spool record 1: /) });
  });
});
