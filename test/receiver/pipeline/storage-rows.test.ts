/**
 * Storage rows in the WAL (docs/wal.md, "Storage rows"): the prepare stage writes each event's row
 * (event columns, RowBinary) next to its JSON; an exporter completes it with the chain columns of
 * the entry's head. Checked against the exporters' own definition — `walEntryToAuditRow` of the
 * parsed entry — byte for byte, for events that exercise every mapping rule, through a real
 * pipeline and WAL (inline and in prepare workers); the Native blocks built from rows equal those
 * built from parsed entries; records without rows (the option off, or a version 1 segment written
 * before rows existed) are still read and exported the same way; cold objects built by the
 * engine from lines staged with rows are byte-identical to those built from the JSON alone.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, readSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import type { AuditEvent } from '@otel-audit/schema';
import { walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { writeAuditRowBinary, writeAuditRowBinaryChainColumns } from '@otel-audit/schema/audit-row-binary';
import { ClickHouseBinaryBuffer } from '@otel-audit/schema/binary-buffer';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openClickHouse } from '../../../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../../../exporters/clickhouse/config.ts';
import { buildNative } from '../../../exporters/clickhouse/native-build.ts';
import {
  chdbParquetEngine,
  createColdStoreExporter,
  LocalDirectoryStore,
  listColdObjects,
  parseColdStoreConfig,
} from '../../../exporters/coldstore/index.ts';
import type { AuditExporter, ExportBatch, ExportResult, WalEntry, WalEventEntry } from '../../../receiver/contracts.ts';
import type { PayloadBatch } from '../../../receiver/exporting/runner.ts';
import { type AuditPipeline, createAuditPipeline, type PipelineConfigInput } from '../../../receiver/pipeline/index.ts';
import { walEventHead } from '../../../receiver/wal/event-head.ts';
import { type PackedPayloads, payloadRow, payloadStart, payloadTexts } from '../../../receiver/wal/packed-payloads.ts';
import { auditRequestObject, encodeRequest } from '../helpers/otlp-fixtures.ts';
import { eventToRecord, makeEvent, randomJsonValue, request } from './fixtures.ts';

let dir: string;
const open: AuditPipeline[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'storage-rows-'));
});
afterEach(async () => {
  for (const p of open.splice(0)) await p.shutdown();
  await rm(dir, { recursive: true, force: true });
});

/** Keeps a copy of every payload batch it is given (the runner's views are reused). */
class PayloadCapture implements AuditExporter {
  readonly name: string;
  readonly storageRows: boolean;
  constructor(name = 'capture', storageRows = true) {
    this.name = name;
    this.storageRows = storageRows;
  }
  readonly batches: PackedPayloads[] = [];
  async start() {}
  async shutdown() {}
  async export(_batch: ExportBatch): Promise<ExportResult> {
    throw new Error('the runner should hand payloads to an exporter that takes them');
  }
  async exportPayloads(batch: PayloadBatch): Promise<ExportResult> {
    const p = batch.payloads;
    const copy = (x: { data: Uint8Array; ends: Uint32Array }) => ({ data: Buffer.from(x.data), ends: new Uint32Array(x.ends) });
    this.batches.push({ ...copy(p), ...(p.rows === undefined ? {} : { rows: copy(p.rows) }) });
    return { status: 'success' };
  }
  get count(): number {
    return this.batches.reduce((n, b) => n + b.ends.length, 0);
  }
}

async function startPipeline(config: PipelineConfigInput, ...captures: PayloadCapture[]): Promise<AuditPipeline> {
  const p = createAuditPipeline({ dataDir: dir, instanceId: 'rows-1', ...config });
  for (const c of captures) p.addExporter(c, { maxBatchDelayMillis: 0, initialBackoffMillis: 1, maxBackoffMillis: 20 });
  await p.start();
  open.push(p);
  return p;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

const rnd = (n: number) => Math.floor(Math.random() * n);
const chars = [...'aZ09 _-."\\/\né漢😀\u2028'];
const randomString = () => Array.from({ length: rnd(12) }, () => chars[rnd(chars.length)]).join('');

/** Events over every mapping rule of the row: optional fields, JSON columns, message vs details, targets. */
function variedEvent(i: number): { event: AuditEvent; extra: Record<string, unknown> } {
  const o: Partial<AuditEvent> = { tenant: { id: `tenant-${i % 3}`, ...(i % 2 ? { name: `Tenant ${randomString()}` } : {}) } };
  if (i % 4 === 0) o.details = { v: randomJsonValue(randomString) } as AuditEvent['details'];
  if (i % 4 === 1) o.details = undefined;
  if (i % 3 === 0) o.message = i % 2 ? `{"looks":"like details ${i}"}` : `message ${randomString()}`;
  if (i % 5 === 0) o.changes = { before: { role: 'viewer', '10': 1, '9': [1.5, -0, 1e21] }, after: { role: 'admin' } };
  if (i % 6 === 0) o.targets = [];
  if (i % 6 === 1)
    o.targets = [
      { type: 'a', id: 'x' },
      { type: 'b', id: 'y', name: randomString() },
    ];
  if (i % 7 === 0) o.occurredAt = '2026-02-28T23:59:59.123456789Z';
  if (i % 7 === 1) o.occurredAt = '2024-02-29T00:00:00+02:00';
  if (i % 8 === 0) o.trace = { traceId: '0123456789abcdef0123456789abcdef', spanId: '0123456789abcdef', traceFlags: 1 };
  if (i % 9 === 0) o.reason = `because ${randomString()}`;
  // Keys in neither insertion nor RFC 8785 order once read back: integer-like keys come first.
  if (i % 11 === 5) Object.assign(o, { schemaVersion: '1.1', details: undefined, bodyValue: { '3': [1, { y: 2, x: 1 }], b: 'text' } });
  if (i % 10 === 3) o.details = { zeta: 1, '10': 'ten', '9': { b: -0, a: [3, '2'] }, alpha: null };
  const extra: Record<string, unknown> = {};
  if (i % 2 === 0) extra['app.flag'] = i % 4 === 0;
  if (i % 3 === 0) extra['app.count'] = BigInt(i) * 10_000_000_000_000_000n;
  if (i % 3 === 1) extra['app.small'] = BigInt(i);
  if (i % 5 === 0) extra['app.bytes'] = new Uint8Array([1, 2, 3, i & 0xff]);
  if (i % 5 === 1) extra['app.list'] = [1n, 'two', 3.5, true];
  if (i % 5 === 2) extra['app.kv'] = { nested: { deep: [1, 2] }, s: randomString() };
  if (i % 4 === 3) extra['app.text'] = randomString();
  if (i % 6 === 2) extra['app.double'] = 0.1 + 0.2;
  if (i % 6 === 3) extra['app.nan'] = Number.NaN;
  if (i % 6 === 4) extra['app.negzero'] = -0;
  if (i % 7 === 2) extra['app.missing'] = undefined;
  if (i % 7 === 3) extra['app.mixed'] = [new Uint8Array([9, 8]), 2n ** 64n, { '2': 'b', '1': 'a' }, null];
  return { event: makeEvent(o), extra };
}

/** The row of an entry as the exporters define it, in RowBinary. */
function expectedRow(entry: WalEventEntry): Buffer {
  const out = new ClickHouseBinaryBuffer(4096);
  writeAuditRowBinary(walEntryToAuditRow(entry), out);
  return Buffer.from(out.bytes());
}

/** Check every event payload of the captured batches against its row; returns how many carried one. */
function checkRows(batches: PackedPayloads[]): number {
  let withRows = 0;
  for (const p of batches) {
    const texts = payloadTexts(p);
    const buf = Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data);
    for (let i = 0; i < texts.length; i++) {
      const entry = JSON.parse(texts[i]!) as WalEntry;
      const row = payloadRow(p, i);
      if (entry.kind !== 'event') {
        expect(row).toBeUndefined();
        continue;
      }
      if (row === undefined) continue;
      withRows++;
      const head = walEventHead(buf, payloadStart(p, i), p.ends[i]!);
      expect(head).toBeDefined();
      const chain = new ClickHouseBinaryBuffer(256);
      writeAuditRowBinaryChainColumns(head!, chain);
      expect(Buffer.concat([row, chain.bytes()]).toString('hex')).toBe(expectedRow(entry).toString('hex'));
    }
  }
  return withRows;
}

/** Native chunks of a batch built from its rows (payloads) and from its parsed entries. */
function nativeBothWays(p: PackedPayloads): { fromRows: string[]; fromEntries: string[] } {
  const collect = (req: Parameters<typeof buildNative>[0]) => {
    const chunks: string[] = [];
    buildNative(req, { plan() {}, chunk: (c) => chunks.push(Buffer.from(c.bytes!).toString('hex')), done() {} });
    return chunks;
  };
  const entries = payloadTexts(p).map((t) => JSON.parse(t) as WalEntry);
  return {
    fromRows: collect({ payloads: p, chunkRows: 40, blockRows: 16 }),
    fromEntries: collect({ entries, chunkRows: 40, blockRows: 16 }),
  };
}

describe('storage rows in the WAL', () => {
  it('rows built by the prepare stage and completed from the head are the exporters’ rows, byte for byte', async () => {
    const capture = new PayloadCapture();
    // An exporter that does not read rows gets the JSON payloads alone.
    const jsonOnly = new PayloadCapture('json-only', false);
    const p = await startPipeline({ prepareWorkers: 0, storageRows: true }, capture, jsonOnly);
    const records = Array.from({ length: 120 }, (_, i) => {
      const { event, extra } = variedEvent(i);
      return eventToRecord(event, extra);
    });
    const r = await p.consume(request(records), { transport: 'http' });
    if (r.status !== 'success') throw new Error(r.error.message);
    expect(r, r.message).toMatchObject({ accepted: 120, rejected: 0 });
    await until(() => capture.count >= 120, 'the export');
    expect(checkRows(capture.batches)).toBe(120);
    await until(() => jsonOnly.count >= 120, 'the JSON-only export');
    expect(jsonOnly.batches.every((b) => b.rows === undefined)).toBe(true);
    for (const b of capture.batches) {
      const { fromRows, fromEntries } = nativeBothWays(b);
      expect(fromRows).toEqual(fromEntries);
    }
  });

  it('rows built in prepare workers (an encoded request) match too', async () => {
    const capture = new PayloadCapture();
    const p = await startPipeline({ prepareWorkers: 1, storageRows: true }, capture);
    const body = encodeRequest(auditRequestObject(300));
    const r = await p.consumeEncoded({ body, format: 'protobuf', encoding: 'identity', maxBytes: 1 << 30 }, { transport: 'http' });
    expect(r).toMatchObject({ decoded: true, result: { status: 'success', accepted: 300 } });
    await until(() => capture.count >= 300, 'the export');
    expect(checkRows(capture.batches)).toBe(300);
  });

  it('with storageRows off, records carry no row and build the same Native blocks from JSON', async () => {
    const capture = new PayloadCapture();
    const p = await startPipeline({ prepareWorkers: 0, storageRows: false }, capture);
    const records = Array.from({ length: 50 }, (_, i) => eventToRecord(variedEvent(i).event));
    expect((await p.consume(request(records), { transport: 'http' })).status).toBe('success');
    await until(() => capture.count >= 50, 'the export');
    expect(capture.batches.every((b) => b.rows === undefined)).toBe(true);
    expect(checkRows(capture.batches)).toBe(0);
  });

  it('a version 1 segment (written before rows existed) is still read and exported', async () => {
    const first = new PayloadCapture();
    const p = await startPipeline({ prepareWorkers: 0, storageRows: false }, first);
    const records = Array.from({ length: 20 }, (_, i) => eventToRecord(variedEvent(i).event));
    expect((await p.consume(request(records), { transport: 'http' })).status).toBe('success');
    await until(() => first.count >= 20, 'the export');
    await p.shutdown();
    open.length = 0;
    // Turn the segment's header into version 1's (bytes 8..9, header checksum at 28).
    const segDir = path.join(dir, 'wal', 'segments');
    const seg = readdirSync(segDir).find((f) => f.endsWith('.wal'))!;
    const fd = openSync(path.join(segDir, seg), 'r+');
    const header = Buffer.alloc(32);
    readSync(fd, header, 0, 32, 0);
    expect(header.readUInt16LE(8)).toBe(2);
    header.writeUInt16LE(1, 8);
    header.writeUInt32LE(crc32(header.subarray(0, 28)), 28);
    writeSync(fd, header, 0, 32, 0);
    closeSync(fd);
    // Restart with rows on: the old records are read (and re-exported from the start by a new exporter's cursor).
    const again = new PayloadCapture('capture-after-restart');
    const q = createAuditPipeline({ dataDir: dir, instanceId: 'rows-1', prepareWorkers: 0, storageRows: true });
    q.addExporter(again, { maxBatchDelayMillis: 0, initialBackoffMillis: 1, maxBackoffMillis: 20 });
    await q.start();
    open.push(q);
    const more = Array.from({ length: 10 }, (_, i) => eventToRecord(variedEvent(i + 100).event));
    expect((await q.consume(request(more), { transport: 'http' })).status).toBe('success');
    await until(() => again.count >= 30, 'the export after restart');
    // The 20 version 1 records carry no row; the 10 new ones do, and all check out.
    expect(checkRows(again.batches)).toBe(10);
    const { fromRows, fromEntries } = nativeBothWays(again.batches[0]!);
    expect(fromRows).toEqual(fromEntries);
  });

  it('cold storage: objects built from lines staged with rows equal those built from the JSON, byte for byte', async () => {
    const handle = openClickHouse(parseClickHouseConfig({ dataDir: path.join(dir, 'engine') }));
    try {
      const parquetEngine = chdbParquetEngine((sql, o) => handle.chdb!.chdb.queryAsync(sql, o));
      const cold = (name: string) =>
        createColdStoreExporter(parseColdStoreConfig({ dataDir: path.join(dir, name), maxObjectAgeMillis: 3_600_000 }), {
          name,
          parquetEngine,
          buildInline: true,
        });
      const withRows = cold('cold-rows');
      expect(withRows.storageRows).toBe(true);
      // The same exporter told not to take rows: it stages the JSON alone.
      const plain = cold('cold-json');
      const jsonOnly = { ...plain, storageRows: false };
      const p = createAuditPipeline({ dataDir: path.join(dir, 'pipeline'), instanceId: 'rows-1', prepareWorkers: 0, storageRows: true });
      for (const x of [withRows, jsonOnly]) p.addExporter(x, { maxBatchDelayMillis: 0, initialBackoffMillis: 1, maxBackoffMillis: 20 });
      await p.start();
      open.push(p);
      for (let r = 0; r < 3; r++) {
        const records = Array.from({ length: 200 }, (_, i) => {
          const { event, extra } = variedEvent(r * 200 + i);
          return eventToRecord(event, extra);
        });
        const res = await p.consume(request(records), { transport: 'http' });
        expect(res).toMatchObject({ status: 'success', accepted: 200 });
      }
      await until(() => p.status().exporters.every((e) => e.lagEntries === 0 && e.cursorLsn >= 600), 'both exporters');
      for (const x of [withRows, plain]) expect(await x.flush()).toEqual({ status: 'success' });
      const objects = async (name: string) => {
        const store = new LocalDirectoryStore(path.join(dir, name, 'archive'), '');
        const list = await listColdObjects(store);
        if (list.status !== 'success') throw new Error('listing failed');
        const out: string[] = [];
        for (const o of list.value.objects)
          out.push(
            `${o.key} ${createHash('sha256')
              .update(readFileSync(path.join(store.root, o.key)))
              .digest('hex')}`,
          );
        return out.sort();
      };
      const a = await objects('cold-rows');
      expect(a.length).toBeGreaterThan(2);
      expect(a).toEqual(await objects('cold-json'));
    } finally {
      await handle.close();
    }
  });
});
