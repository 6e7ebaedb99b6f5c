/**
 * The row-by-row Native block writer against the column codecs it replaced on the hot path: the
 * same rows give byte-identical blocks, whatever the mix of values, and blocks stand alone.
 */
import { type AuditRow, walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { ClickHouseBinaryBuffer } from '@otel-audit/schema/binary-buffer';
import { describe, expect, it } from 'vitest';
import { AUDIT_EVENTS_COLUMNS } from '../../../exporters/clickhouse/ddl.ts';
import { AuditNativeBlockWriter, encodeAuditRowsNative } from '../../../exporters/clickhouse/native-format.ts';
import { makeEntries } from '../coldstore/fixtures.ts';
import { codecFor } from './helpers/column-codecs.ts';

/** One block encoded column by column from all rows at once (the codec path). */
function referenceBlock(rows: ReadonlyArray<AuditRow>): Buffer {
  const out = new ClickHouseBinaryBuffer(1 << 16);
  out.varUInt(AUDIT_EVENTS_COLUMNS.length);
  out.varUInt(rows.length);
  for (const col of AUDIT_EVENTS_COLUMNS) {
    out.string(col.name);
    out.string(col.type);
    if (rows.length === 0) continue;
    const codec = codecFor(col.type);
    codec.prefix(out);
    codec.data(
      out,
      rows.map((r) => r[col.name as keyof AuditRow]),
    );
  }
  return Buffer.from(out.bytes());
}

describe('AuditNativeBlockWriter', () => {
  const rows = [
    ...makeEntries({ count: 300 }),
    ...makeEntries({ count: 40, tenantId: 'globex', startAt: '2026-12-31T23:59:59.999Z', stepMillis: 3 }),
  ].map((e) => walEntryToAuditRow(e));
  // Values the fixtures lack: non-ASCII and long strings, empty maps, many distinct LC values.
  rows.push({
    ...rows[0]!,
    ActorName: 'Zoë ✓ 𝄞',
    Body: 'x'.repeat(70_000),
    LogAttributes: {},
    ResourceAttributes: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, `v${i}`])),
    TargetTypes: [],
    TargetIds: [],
    TargetNames: [],
  });
  // DateTime64(9) edges: before the epoch (negative nanoseconds), around it, the far end of the
  // type's range (near 2^63 ns), a value without fraction digits, one with more than nine.
  for (const t of [
    '1900-01-01 00:00:00.000000001',
    '1969-12-31 23:59:59.999999999',
    '1970-01-01 00:00:00.000000000',
    '1970-01-01 00:00:01.5',
    '2106-02-07 06:28:16.000000000',
    '2262-04-11 23:47:16.854775807',
    '2026-12-07 15:00:00.',
    '2026-12-07 15:00:00.1234567891',
  ]) {
    rows.push({ ...rows[1]!, Timestamp: t, ReceivedAt: t });
  }

  it('writes the blocks the column codecs write, byte for byte', () => {
    for (const n of [0, 1, 7, 256, rows.length]) {
      expect(encodeAuditRowsNative(rows.slice(0, n)).equals(referenceBlock(rows.slice(0, n))), `${n} rows`).toBe(true);
    }
  });

  it('starts every block fresh: the second block equals one written alone', () => {
    const writer = new AuditNativeBlockWriter();
    for (const r of rows.slice(0, 100)) writer.add(r);
    expect(writer.finish().equals(referenceBlock(rows.slice(0, 100)))).toBe(true);
    for (const r of rows.slice(100)) writer.add(r);
    expect(writer.rowCount).toBe(rows.length - 100);
    expect(writer.finish().equals(referenceBlock(rows.slice(100)))).toBe(true);
    expect(writer.finish().equals(referenceBlock([]))).toBe(true);
  });

  it('refuses a value its column cannot hold', () => {
    const writer = new AuditNativeBlockWriter();
    expect(() => writer.add({ ...rows[0]!, Timestamp: 'yesterday' } as AuditRow)).toThrow(/DateTime64/);
  });
});
