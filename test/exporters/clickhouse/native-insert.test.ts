/**
 * The Native insert path against the real engine (chDB): rows inserted from the JS-built Native
 * blocks are identical, column by column, to those of the JSONEachRow path, for events that
 * exercise every encoding (maps, empty and multi-element arrays, LowCardinality dictionaries past
 * 256 and 65,536 values, unicode, long strings, nanosecond timestamps, batches spanning partitions);
 * an insert deduplication token on `INSERT … SELECT FROM file()` drops a replay; the worker-thread
 * and inline builders, and the payload (unparsed) entry point, give the same rows.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEvent } from '@otel-audit/schema';
import { AUDIT_ROW_COLUMNS, walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { AUDIT_ROW_BINARY_KINDS, dateTime64TextToNanos, writeAuditRowBinary } from '@otel-audit/schema/audit-row-binary';
import { ClickHouseBinaryBuffer } from '@otel-audit/schema/binary-buffer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseHandle, openClickHouse } from '../../../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../../../exporters/clickhouse/config.ts';
import { AUDIT_EVENTS_COLUMNS } from '../../../exporters/clickhouse/ddl.ts';
import { createClickHouseExporter } from '../../../exporters/clickhouse/exporter.ts';
import { insertNative } from '../../../exporters/clickhouse/insert.ts';
import { applyMigrations } from '../../../exporters/clickhouse/migrations.ts';
import { buildNative, type NativeChunk, removeFiles } from '../../../exporters/clickhouse/native-build.ts';
import { encodeAuditRowsNative, encodeColumnNative } from '../../../exporters/clickhouse/native-format.ts';
import type { WalEventEntry } from '../../../receiver/contracts.ts';
import { packPayloads } from '../../../receiver/wal/packed-payloads.ts';
import { batchOf, makeEntries, removeTempDirs, tempDir, uniqueDatabase } from './fixtures.ts';

let handle: ClickHouseHandle;
let dataDir: string;
beforeAll(() => {
  dataDir = tempDir('native');
  handle = openClickHouse(parseClickHouseConfig({ dataDir }));
});
afterAll(async () => {
  await handle.close();
  removeTempDirs();
});

const COLUMNS = AUDIT_EVENTS_COLUMNS.map((c) => c.name);

async function allRows(db: string): Promise<unknown[]> {
  // Every column except ExportedAt (the insert time), in a stable order; TabSeparated keeps every
  // value's exact text (DateTime64 with 9 digits, maps, arrays).
  const r = await handle.chdb!.chdb.queryAsync(
    `SELECT ${COLUMNS.join(', ')} FROM ${db}.audit_events ORDER BY ChainId, Seq FORMAT JSONCompactEachRow`,
    {},
  );
  return r
    .text()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);
}

async function count(db: string): Promise<number> {
  const r = await handle.chdb!.chdb.queryAsync(`SELECT count() FROM ${db}.audit_events`, { format: 'TabSeparated' });
  return Number(r.text().trim());
}

const LONG = 'ä'.repeat(200); // 400 UTF-8 bytes: a two-byte length prefix

/** Events that cover every column encoding, and a few hundred distinct values per LowCardinality column. */
function variedEntries(count: number): WalEventEntry[] {
  const entries = makeEntries({
    count,
    tenants: ['acme', 'globex', 'ünïcødé-tenant', '租户'],
    startMs: Date.parse('2026-11-22T23:59:58Z'), // crosses midnight: two partitions in one block
    mutate: (e: AuditEvent, i: number): AuditEvent => {
      const ns = String((i * 7919) % 1_000_000_000).padStart(9, '0');
      const out: AuditEvent = {
        ...e,
        occurredAt: e.occurredAt.replace(/\.\d+Z$/, `.${ns}Z`),
        action: `act${i % 300}.do`, // > 256 distinct: UInt16 dictionary indexes
      };
      if (i % 5 === 0) delete out.targets; // empty arrays
      if (i % 5 === 1)
        out.targets = [
          { type: 'doc', id: 'd1', name: 'Ünïcødé 📄' },
          { type: 'folder', id: `f${i}` },
          { type: `type${i % 400}`, id: LONG },
        ];
      if (i % 3 === 0) out.reason = `line1\nline2\ttab "quoted" \\backslash\\ 'single' — emoji 🎉 ${LONG}`;
      if (i % 4 === 0) out.changes = { before: { a: 1, nested: { x: [1, 2, null] } }, after: { a: 2, s: '☃' } };
      if (i % 7 === 0) out.trace = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
      if (i % 2 === 0) out.tenant = { ...out.tenant, name: `Tenant ✓ ${i % 3}` };
      if (i % 6 === 0) delete out.request;
      out.details = { i, text: i % 2 === 0 ? '' : 'x'.repeat(i % 300), unicode: '𝔘𝔫𝔦𝔠𝔬𝔡𝔢' };
      return out;
    },
  });
  return entries.map((e, i) => ({
    ...e,
    resource: {
      attributes: {
        'service.name': i % 2 === 0 ? 'billing' : 'платёжи',
        'host.name': `host-${i % 50}`,
        ...(i % 9 === 0 ? {} : { 'deployment.environment': 'prod', [`key.${i % 700}`]: `v${i}` }), // > 256 distinct map keys
      },
      schemaUrl: i % 2 === 0 ? '' : 'https://opentelemetry.io/schemas/1.26.0',
    },
    extraAttributes:
      i % 4 === 0 ? {} : { 'extra.count': 42n, 'extra.bytes': new Uint8Array([1, 2, 255]), 'extra.obj': { a: [1, 'b'] }, 'extra.ü': 'ö' },
  }));
}

describe('Native encoding', () => {
  it('writes the bytes ClickHouse itself writes for Array(LowCardinality(String)) and Map columns', async () => {
    // Reference bytes from the engine's own Native writer for the same values.
    const engine = async (sql: string) => Buffer.from((await handle.chdb!.chdb.queryAsync(sql, { format: 'Native' })).bytes());
    const ours = (name: string, type: string, values: unknown[]) => encodeColumnNative(name, type, values);
    expect(ours('a', 'Array(LowCardinality(String))', [[]])).toEqual(await engine('SELECT CAST([] AS Array(LowCardinality(String))) AS a'));
    expect(ours('a', 'Array(LowCardinality(String))', [['x']])).toEqual(
      await engine("SELECT CAST(['x'] AS Array(LowCardinality(String))) AS a"),
    );
    expect(ours('a', 'Map(LowCardinality(String), String)', [{ k: 'v' }])).toEqual(
      await engine("SELECT CAST(map('k','v') AS Map(LowCardinality(String), String)) AS a"),
    );
    expect(ours('a', "DateTime64(9, 'UTC')", ['2026-11-22 10:00:00.123456789'])).toEqual(
      await engine("SELECT toDateTime64('2026-11-22 10:00:00.123456789', 9, 'UTC') AS a"),
    );
    expect(ours('a', 'String', ['ü'.repeat(100)])).toEqual(await engine(`SELECT '${'ü'.repeat(100)}' AS a`));
  });

  it('an empty block is just the header', () => {
    const b = encodeAuditRowsNative([]);
    expect(b[0]).toBe(AUDIT_EVENTS_COLUMNS.length);
    expect(b[1]).toBe(0);
  });
});

describe('Native insert ≡ JSONEachRow insert', () => {
  it('every column of every row is identical, through the worker and inline, from entries and from payloads', async () => {
    const entries = variedEntries(1500);
    const batch = batchOf(entries);
    const dbs = {
      json: uniqueDatabase('nat_json'),
      worker: uniqueDatabase('nat_worker'),
      inline: uniqueDatabase('nat_inline'),
      payloads: uniqueDatabase('nat_payloads'),
    };
    const json = createClickHouseExporter({ database: dbs.json, insertFormat: 'JSONEachRow', dataDir }, { handle });
    const worker = createClickHouseExporter({ database: dbs.worker, dataDir, insertChunkRows: 1000 }, { handle });
    const inline = createClickHouseExporter({ database: dbs.inline, dataDir, encodeInWorker: false }, { handle });
    const payloads = createClickHouseExporter({ database: dbs.payloads, dataDir }, { handle });
    try {
      for (const x of [json, worker, inline, payloads]) await x.start();
      expect(await json.export(batch)).toEqual({ status: 'success' });
      expect(await worker.export(batch)).toEqual({ status: 'success' });
      expect(await inline.export(batch)).toEqual({ status: 'success' });
      // As the runner hands it over: WAL payload text (bigint/bytes as the WAL stores them).
      const text = entries.map((e) =>
        JSON.stringify(e, (_k, v: unknown) =>
          typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v,
        ),
      );
      expect(await payloads.exportPayloads({ firstLsn: batch.firstLsn, lastLsn: batch.lastLsn, payloads: packPayloads(text) })).toEqual({
        status: 'success',
      });

      const expected = await allRows(dbs.json);
      expect(expected).toHaveLength(1500);
      for (const db of [dbs.worker, dbs.inline, dbs.payloads]) expect(await allRows(db)).toEqual(expected);
      // Sanity: the stored rows are the ones walEntryToAuditRow builds (nanoseconds included).
      const first = walEntryToAuditRow(entries.find((e) => e.seq === 1 && e.chainId === 'acme/r1')!);
      const stored = expected.find((r) => (r as unknown[])[COLUMNS.indexOf('EventId')] === first.EventId) as unknown[];
      expect(stored[COLUMNS.indexOf('Timestamp')]).toBe(first.Timestamp);
      expect(stored[COLUMNS.indexOf('ReceivedAt')]).toBe(first.ReceivedAt);
      expect(stored[COLUMNS.indexOf('ResourceAttributes')]).toEqual(first.ResourceAttributes);
      // No scratch file is left behind.
      expect(readdirSync(join(dataDir, 'clickhouse-inserts'))).toEqual([]);
    } finally {
      for (const x of [json, worker, inline, payloads]) await x.shutdown();
    }
  });

  it('RowBinary rows (@otel-audit/schema/audit-row-binary) read by the engine equal the JSONEachRow rows', async () => {
    // The RowBinary kind of every column is the DDL type without LowCardinality.
    for (const c of AUDIT_EVENTS_COLUMNS) {
      const kind = c.type
        .replaceAll('LowCardinality(String)', 'String')
        .replace("DateTime64(9, 'UTC')", 'DateTime64')
        .replace("DateTime('UTC')", 'DateTime');
      expect(AUDIT_ROW_BINARY_KINDS[c.name as keyof typeof AUDIT_ROW_BINARY_KINDS], c.name).toBe(kind);
    }
    const entries = variedEntries(600);
    const dbs = { json: uniqueDatabase('rb_json'), rows: uniqueDatabase('rb_rows') };
    const json = createClickHouseExporter({ database: dbs.json, insertFormat: 'JSONEachRow', dataDir }, { handle });
    try {
      await json.start();
      expect(await json.export(batchOf(entries))).toEqual({ status: 'success' });
      await applyMigrations(handle.client, { ...parseClickHouseConfig({ dataDir }), database: dbs.rows });
      const out = new ClickHouseBinaryBuffer(1 << 16);
      out.varUInt(AUDIT_EVENTS_COLUMNS.length);
      for (const c of AUDIT_EVENTS_COLUMNS) out.string(c.name);
      for (const c of AUDIT_EVENTS_COLUMNS) out.string(c.type);
      for (const e of entries) writeAuditRowBinary(walEntryToAuditRow(e), out);
      const file = join(dataDir, `${dbs.rows}.rowbinary`);
      writeFileSync(file, out.bytes());
      await handle.chdb!.chdb.queryAsync(
        `INSERT INTO ${dbs.rows}.audit_events (${COLUMNS.join(', ')}) SELECT * FROM file('${file}', RowBinaryWithNamesAndTypes)`,
        { format: 'TabSeparated' },
      );
      const expected = await allRows(dbs.json);
      expect(expected).toHaveLength(600);
      expect(await allRows(dbs.rows)).toEqual(expected);
    } finally {
      await json.shutdown();
    }
  });

  it('DateTime64 text to nanoseconds: fractions of any length, before the epoch; malformed text throws', () => {
    expect(dateTime64TextToNanos('1970-01-01 00:00:00.000000001')).toBe(1n);
    expect(dateTime64TextToNanos('1969-12-31 23:59:59.5')).toBe(-500_000_000n);
    expect(dateTime64TextToNanos('2026-11-22 10:00:00')).toBe(BigInt(Date.parse('2026-11-22T10:00:00Z')) * 1_000_000n);
    expect(dateTime64TextToNanos('2026-11-22 10:00:00.123')).toBe(BigInt(Date.parse('2026-11-22T10:00:00Z')) * 1_000_000n + 123_000_000n);
    for (const bad of ['2026-11-22T10:00:00', '2026-11-22 10:00:00.1234567890', '2026-11-22 10:00:00.12x', '2026-13-01 00:00:00', 'x'])
      expect(() => dateTime64TextToNanos(bad), bad).toThrow(/not a DateTime64 value/);
  });

  it('a replayed batch (same LSN range, same token) adds no rows; chunked batches too', async () => {
    const db = uniqueDatabase('nat_dedup');
    const exporter = createClickHouseExporter({ database: db, dataDir, insertChunkRows: 1000 }, { handle });
    await exporter.start();
    try {
      const entries = variedEntries(2500);
      const a = batchOf(entries.slice(0, 2200));
      const b = batchOf(entries.slice(2200));
      expect(await exporter.export(a)).toEqual({ status: 'success' });
      expect(await count(db)).toBe(2200);
      expect(await exporter.export(a)).toEqual({ status: 'success' });
      expect(await count(db)).toBe(2200);
      expect(await exporter.export(b)).toEqual({ status: 'success' });
      expect(await exporter.export(b)).toEqual({ status: 'success' });
      expect(await count(db)).toBe(2500);
    } finally {
      await exporter.shutdown();
    }
  });

  it('a chunk written as several Native blocks inserts every row once, and its token drops a replay', async () => {
    const db = uniqueDatabase('nat_blocks');
    const ref = uniqueDatabase('nat_blocks_ref');
    await applyMigrations(handle.client, parseClickHouseConfig({ dataDir, database: db }));
    const json = createClickHouseExporter({ database: ref, insertFormat: 'JSONEachRow', dataDir }, { handle });
    await json.start();
    try {
      const entries = variedEntries(2500);
      const text = entries.map((e) =>
        JSON.stringify(e, (_k, v: unknown) =>
          typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v,
        ),
      );
      const chunks: NativeChunk[] = [];
      buildNative(
        { payloads: packPayloads(text), chunkRows: 10_000, blockRows: 300, fileBase: join(dataDir, 'clickhouse-inserts', 'blocks') },
        { plan: () => {}, chunk: (c) => chunks.push(c), done: () => {} },
      );
      expect(chunks).toHaveLength(1);
      for (let i = 0; i < 2; i++)
        await insertNative(
          handle,
          { database: db, table: 'audit_events' },
          AUDIT_ROW_COLUMNS,
          { file: chunks[0]!.file! },
          { insert_deduplication_token: 'blocks-test', insert_deduplicate: 1 },
        );
      expect(await count(db)).toBe(2500);
      expect(await json.export(batchOf(entries))).toEqual({ status: 'success' });
      expect(await allRows(db)).toEqual(await allRows(ref));
      removeFiles([chunks[0]!.file!]);
    } finally {
      await json.shutdown();
    }
  });

  it('a block the table cannot take is a permanent failure, and its file is removed', async () => {
    const db = uniqueDatabase('nat_bad');
    const exporter = createClickHouseExporter({ database: db, dataDir }, { handle });
    await exporter.start();
    try {
      // A schema the block does not fit (an operator dropped a column).
      await handle.client.command({ query: `ALTER TABLE ${db}.audit_events DROP COLUMN Reason` });
      const r = await exporter.export(batchOf(makeEntries({ count: 10 })));
      expect(r.status).toBe('failure');
      if (r.status === 'failure') expect(r.error.message).toMatch(/NO_SUCH_COLUMN_IN_TABLE|Reason/);
      expect(readdirSync(join(dataDir, 'clickhouse-inserts'))).toEqual([]);
    } finally {
      await exporter.shutdown();
    }
  });
});
