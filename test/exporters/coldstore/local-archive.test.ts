/**
 * Cold storage on the local archive (the embedded default): partitions, Parquet read-back, chDB
 * `file()`, hash recomputation, crash recovery of staging, bad objects, replay into chDB, retention.
 * One chDB engine for the whole file (one engine per data path per process).
 */
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import { isAuditError } from '@otel-audit/core';
import { type AuditRow, auditRowToEvent, walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { createChdbConnection } from 'chdb/connection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClickHouseReplaySink,
  createColdStoreExporter,
  decodeParquet,
  escapeKeySegment,
  LocalDirectoryStore,
  listColdObjects,
  parseColdStoreConfig,
  parseObjectKey,
  readColdObject,
  replayColdStorage,
  replayTableDdl,
  unescapeKeySegment,
} from '../../../exporters/coldstore/index.ts';
import { computeEntryHash } from '../../../integrity/chain-hash.ts';
import type { WalEventEntry } from '../../../receiver/contracts.ts';
import { batchOf, makeEntries } from './fixtures.ts';

/** Encode in the test's own thread: a worker per exporter costs seconds on a loaded machine (one test keeps the worker). */
const inline = { buildInline: true };
const root = mkdtempSync(join(tmpdir(), 'coldstore-local-'));
let ch: ClickHouseClient;

beforeAll(() => {
  ch = createClient({ connection: createChdbConnection({ path: join(root, 'chdb') }) } as Parameters<typeof createClient>[0]);
});
afterAll(async () => {
  await ch.close();
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
function dataDir(): string {
  const d = join(root, `data-${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(dir.length + 1))
    .sort();
}

function checkRows(rows: AuditRow[], entries: WalEventEntry[]): void {
  const byHash = new Map(entries.map((e) => [e.hash, e]));
  for (const row of rows) {
    const e = byHash.get(row.Hash);
    expect(e, `row ${row.Seq} hash is one of the input's`).toBeDefined();
    expect(row.Seq).toBe(e!.seq);
    expect(row.PrevHash).toBe(e!.prevHash);
    // The stored columns rebuild exactly the hashed event.
    expect(computeEntryHash(row.PrevHash, auditRowToEvent(row))).toBe(row.Hash);
  }
}

async function chQuery<T>(query: string): Promise<T[]> {
  const r = await ch.query({ query, format: 'JSONEachRow' });
  return (await r.json()) as T[];
}

describe('cold storage on the local archive', () => {
  it('writes event-time partitions that read back with hyparquet and chDB file(), hashes intact', async () => {
    const dir = dataDir();
    const exporter = createColdStoreExporter({ dataDir: dir, maxObjectAgeMillis: 60_000 });
    await exporter.start();
    // Two tenants, events crossing an hour boundary (10:59:30 … 11:00:29) and a day boundary for tenant b.
    const a = makeEntries({ tenantId: 'acme', count: 60, startAt: '2026-11-22T10:59:30.000Z', stepMillis: 1000 });
    const b = makeEntries({
      tenantId: 'beta/β',
      instanceId: 'r 2',
      count: 20,
      startAt: '2026-11-22T23:59:50.000Z',
      stepMillis: 1000,
      firstLsn: 100,
    });
    expect(await exporter.export(batchOf(a.slice(0, 30)))).toEqual({ status: 'success' });
    expect(await exporter.export(batchOf([...a.slice(30), ...b]))).toEqual({ status: 'success' });
    // Nothing uploaded yet: accumulated until size/age.
    expect(filesUnder(join(dir, 'archive'))).toEqual([]);
    expect(await exporter.flush()).toEqual({ status: 'success' });
    const files = filesUnder(join(dir, 'archive'));
    expect(files).toEqual([
      'tenant=acme/date=2026-11-22/hour=10/acme%2Fr1-1-30.parquet',
      'tenant=acme/date=2026-11-22/hour=10/acme%2Fr1-1-30.parquet.manifest.json',
      'tenant=acme/date=2026-11-22/hour=11/acme%2Fr1-31-60.parquet',
      'tenant=acme/date=2026-11-22/hour=11/acme%2Fr1-31-60.parquet.manifest.json',
      'tenant=beta%2F%CE%B2/date=2026-11-22/hour=23/beta%2F%CE%B2%2Fr%202-1-10.parquet',
      'tenant=beta%2F%CE%B2/date=2026-11-22/hour=23/beta%2F%CE%B2%2Fr%202-1-10.parquet.manifest.json',
      'tenant=beta%2F%CE%B2/date=2026-11-23/hour=00/beta%2F%CE%B2%2Fr%202-11-20.parquet',
      'tenant=beta%2F%CE%B2/date=2026-11-23/hour=00/beta%2F%CE%B2%2Fr%202-11-20.parquet.manifest.json',
    ]);
    const archive = join(dir, 'archive');
    const all: AuditRow[] = [];
    for (const f of files.filter((x) => x.endsWith('.parquet'))) {
      const rows = await decodeParquet(new Uint8Array(readFileSync(join(archive, f))));
      const parts = parseObjectKey(f)!;
      for (const r of rows) expect(r.Timestamp.slice(0, 13)).toBe(`${parts.date} ${parts.hour}`);
      all.push(...rows);
      const manifest = JSON.parse(readFileSync(join(archive, `${f}.manifest.json`), 'utf8'));
      expect(manifest).toMatchObject({
        key: f,
        rowCount: rows.length,
        firstSeq: rows[0]!.Seq,
        lastSeq: rows.at(-1)!.Seq,
        lastHash: rows.at(-1)!.Hash,
        firstPrevHash: rows[0]!.PrevHash,
        format: 'parquet',
        formatVersion: '1',
      });
    }
    expect(all).toHaveLength(80);
    checkRows(all, [...a, ...b]);

    const [agg] = await chQuery<{ c: number; h: string; types: string }>(
      `SELECT count() AS c, groupBitXor(cityHash64(EventId, Hash)) AS h, toTypeName(any(ResourceAttributes)) AS types FROM file('${archive}/tenant=*/date=*/*/*.parquet', 'Parquet')`,
    );
    expect(Number(agg!.c)).toBe(80);
    expect(agg!.types).toBe('Map(String, String)');
    const [v] = await chQuery<{ s: string }>(
      `SELECT toString(max(Timestamp)) AS s FROM file('${archive}/tenant=acme/date=*/*/*.parquet', 'Parquet')`,
    );
    expect(v!.s).toBe(a.at(-1)!.event.occurredAt.replace('T', ' ').replace('Z', '000'));
    const st = exporter.status();
    expect(st).toMatchObject({ openSegments: 0, sealedSegments: 0, stagedBytes: 0, uploadedObjects: 4, uploadedRows: 80 });
    await exporter.shutdown();
  });

  it('flushes by age, survives a restart with staged rows, and drops a re-exported range', async () => {
    const dir = dataDir();
    const entries = makeEntries({ count: 40 });
    let exporter = createColdStoreExporter({ dataDir: dir, maxObjectAgeMillis: 60_000 }, inline);
    await exporter.start();
    expect((await exporter.export(batchOf(entries.slice(0, 25)))).status).toBe('success');
    // "Crash": the exporter goes away without uploading; rows are staged and fsync'd.
    await exporter.shutdown();
    // A torn append (crash mid-write) must not break recovery.
    const openDir = join(dir, 'coldstore-staging', 'coldstore', 'open');
    appendFileSync(join(openDir, readdirSync(openDir)[0]!), '{"Timestamp":"2026-');
    exporter = createColdStoreExporter({ dataDir: dir, maxObjectAgeMillis: 100 }, inline);
    await exporter.start();
    // The runner re-sends from its cursor (it saved none): 1..40; 1..25 are dropped by the watermark.
    expect((await exporter.export(batchOf(entries))).status).toBe('success');
    await expect
      .poll(() => filesUnder(join(dir, 'archive')).filter((f) => f.endsWith('.parquet')), { timeout: 5000, interval: 50 })
      .toEqual(['tenant=acme/date=2026-11-22/hour=10/acme%2Fr1-1-40.parquet']);
    const rows = await decodeParquet(
      new Uint8Array(readFileSync(join(dir, 'archive', 'tenant=acme/date=2026-11-22/hour=10/acme%2Fr1-1-40.parquet'))),
    );
    expect(rows.map((r) => r.Seq)).toEqual(entries.map((e) => e.seq));
    checkRows(rows, entries);
    // Re-exporting an already uploaded range adds nothing.
    expect((await exporter.export(batchOf(entries.slice(10, 20)))).status).toBe('success');
    expect(await exporter.flush()).toEqual({ status: 'success' });
    expect(filesUnder(join(dir, 'archive')).filter((f) => f.endsWith('.parquet'))).toHaveLength(1);
    await exporter.shutdown();
  });

  it('re-uploads the same key after a crash between upload and staging cleanup', async () => {
    const dir = dataDir();
    const entries = makeEntries({ count: 10 });
    let exporter = createColdStoreExporter({ dataDir: dir }, inline);
    await exporter.start();
    await exporter.export(batchOf(entries));
    await exporter.sealAll();
    const sealedDir = join(dir, 'coldstore-staging', 'coldstore', 'sealed');
    const [sealed] = readdirSync(sealedDir);
    copyFileSync(join(sealedDir, sealed!), join(root, 'sealed-copy'));
    expect(await exporter.uploadSealed()).toEqual({ status: 'success' });
    const before = filesUnder(join(dir, 'archive'));
    const bytes = readFileSync(join(dir, 'archive', before[0]!));
    await exporter.shutdown();
    // Crash after the upload, before the sealed file was removed: it is still there at restart.
    copyFileSync(join(root, 'sealed-copy'), join(sealedDir, sealed!));
    exporter = createColdStoreExporter({ dataDir: dir }, inline);
    await exporter.start();
    expect(await exporter.flush()).toEqual({ status: 'success' });
    expect(filesUnder(join(dir, 'archive'))).toEqual(before);
    expect(readFileSync(join(dir, 'archive', before[0]!)).equals(bytes)).toBe(true);
    expect(readdirSync(sealedDir)).toEqual([]);
    await exporter.shutdown();
  });

  it('seals at maxObjectBytes, and writes NDJSON.gz when asked', async () => {
    const dir = dataDir();
    const entries = makeEntries({ count: 30 });
    const exporter = createColdStoreExporter({ dataDir: dir, maxObjectBytes: 10 * 1024, format: 'ndjson.gz' }, { buildInline: true });
    await exporter.start();
    for (let i = 0; i < 30; i += 5) expect((await exporter.export(batchOf(entries.slice(i, i + 5)))).status).toBe('success');
    expect(await exporter.flush()).toEqual({ status: 'success' });
    const objects = filesUnder(join(dir, 'archive')).filter((f) => f.endsWith('.ndjson.gz'));
    expect(objects.length).toBeGreaterThan(1);
    const store = new LocalDirectoryStore(join(dir, 'archive'));
    const rows: AuditRow[] = [];
    for (const key of objects) {
      const r = await readColdObject(store, key);
      expect(r.ok).toBe(true);
      if (r.ok) rows.push(...r.rows!);
    }
    expect(rows.map((r) => r.Seq)).toEqual(entries.map((e) => e.seq));
    checkRows(rows, entries);
    const [agg] = await chQuery<{ c: number }>(
      `SELECT count() AS c FROM file('${join(dir, 'archive')}/tenant=*/date=*/*/*.ndjson.gz', 'JSONEachRow')`,
    );
    expect(Number(agg!.c)).toBe(30);
    await exporter.shutdown();
  });

  it('reports truncated, modified and foreign files clearly and skips them in replay; replay is idempotent', async () => {
    const dir = dataDir();
    const entries = [
      ...makeEntries({ count: 30, startAt: '2026-11-20T08:00:00.000Z', stepMillis: 120_000 }), // hours 08 … 08:58
      ...makeEntries({ tenantId: 'other', count: 10, startAt: '2026-11-21T12:00:00.000Z' }),
    ];
    const exporter = createColdStoreExporter({ dataDir: dir }, inline);
    await exporter.start();
    await exporter.export(batchOf(entries));
    expect(await exporter.flush()).toEqual({ status: 'success' });
    await exporter.shutdown();
    const archive = join(dir, 'archive');
    const good = filesUnder(archive).filter((f) => f.endsWith('.parquet'));
    expect(good).toHaveLength(2);
    // Bad objects: a truncated copy with a matching key, a foreign Parquet-named file, a stray file.
    const truncatedKey = 'tenant=acme/date=2026-11-20/hour=09/acme%2Fr1-100-110.parquet';
    mkdirSync(join(archive, 'tenant=acme/date=2026-11-20/hour=09'), { recursive: true });
    const goodBytes = readFileSync(join(archive, good[0]!));
    writeFileSync(join(archive, truncatedKey), goodBytes.subarray(0, goodBytes.length >> 1));
    const foreignKey = 'tenant=acme/date=2026-11-20/hour=09/acme%2Fr1-200-201.parquet';
    writeFileSync(join(archive, foreignKey), 'PAR1 this is not parquet at all');
    writeFileSync(join(archive, 'tenant=acme/notes.txt'), 'hello');
    // A modified object whose manifest no longer matches.
    const modifiedKey = good[1]!;
    const original = readFileSync(join(archive, modifiedKey));
    const modified = Buffer.from(original);
    modified[100] = modified[100]! ^ 0xff;
    writeFileSync(join(archive, modifiedKey), modified);

    const store = new LocalDirectoryStore(archive);
    const t = await readColdObject(store, truncatedKey);
    expect(t).toMatchObject({ ok: false });
    expect(!t.ok && t.reason).toMatch(/not a Parquet file.*truncated or foreign/);
    const f = await readColdObject(store, foreignKey);
    expect(!f.ok && f.reason).toMatch(/not a Parquet file|unreadable/);
    const m = await readColdObject(store, modifiedKey);
    expect(!m.ok && m.reason).toMatch(/checksum mismatch.*truncated or modified/);
    // Without its manifest an intact object is still read, checked against its embedded metadata.
    const manifestPath = join(archive, `${good[0]!}.manifest.json`);
    const manifestText = readFileSync(manifestPath);
    rmSync(manifestPath);
    const noManifest = await readColdObject(store, good[0]!);
    expect(noManifest.ok && noManifest.warnings).toEqual(['no manifest beside the object: checked against its embedded metadata only']);
    writeFileSync(manifestPath, manifestText);

    const skippedSeen: string[] = [];
    const sink = createClickHouseReplaySink({ client: ch, database: 'replay1' });
    const first = await replayColdStorage({ source: store, sink, onSkip: (s) => skippedSeen.push(`${s.key}: ${s.reason}`) });
    expect(first.status).toBe('success');
    if (first.status !== 'success') return;
    expect(first.value).toMatchObject({ objectsTotal: 4, objectsDone: 4, skipped: 4, rowsInserted: 30 });
    expect(skippedSeen.map((s) => s.split(':')[0])).toEqual(
      expect.arrayContaining(['tenant=acme/notes.txt', truncatedKey, foreignKey, modifiedKey]),
    );

    // Restore the modified object; replay everything; then once more: nothing added.
    writeFileSync(join(archive, modifiedKey), original);
    const second = await replayColdStorage({ source: store, sink });
    expect(second.status === 'success' && second.value.rowsInserted).toBe(10);
    const third = await replayColdStorage({ source: store, sink });
    expect(third.status === 'success' && third.value).toMatchObject({ rowsInserted: 0, rowsAlreadyPresent: 40 });
    const [agg] = await chQuery<{ c: string; h: string }>(
      'SELECT count() AS c, groupBitXor(cityHash64(EventId, Hash)) AS h FROM replay1.audit_events',
    );
    const [src] = await chQuery<{ c: string; h: string }>(
      `SELECT count() AS c, groupBitXor(cityHash64(EventId, Hash)) AS h FROM file('${archive}/tenant=*/date=*/*/*-1-*.parquet', 'Parquet')`,
    );
    expect(agg).toEqual(src);
    expect(Number(agg!.c)).toBe(40);
    // Hashes recompute from the ClickHouse rows too.
    const back = await chQuery<AuditRow>('SELECT * FROM replay1.audit_events ORDER BY ChainId, Seq');
    checkRows(
      back.map((r) => ({ ...r, Seq: Number(r.Seq) })),
      entries,
    );
  });

  it('replays with tenant and time pruning; the sink token makes a lost-answer retry harmless', async () => {
    const dir = dataDir();
    const entries = [
      ...makeEntries({ count: 20, startAt: '2026-11-20T08:30:00.000Z', stepMillis: 180_000 }), // 08:30 … 09:27
      ...makeEntries({ tenantId: 'other', count: 5, startAt: '2026-11-20T08:00:00.000Z' }),
    ];
    const exporter = createColdStoreExporter({ dataDir: dir }, inline);
    await exporter.start();
    await exporter.export(batchOf(entries));
    await exporter.flush();
    await exporter.shutdown();
    const store = new LocalDirectoryStore(join(dir, 'archive'));
    const listing = await listColdObjects(store, { tenant: 'acme', since: new Date('2026-11-20T09:10:00Z') });
    expect(listing.status === 'success' && listing.value.objects.map((o) => o.hour)).toEqual(['09']);
    const progress: number[] = [];
    const sink = createClickHouseReplaySink({ client: ch, database: 'replay2', embedded: true });
    // The live path already delivered two of the hour's rows: replay adds only the other eight.
    await ch.command({ query: 'CREATE DATABASE IF NOT EXISTS replay2' });
    await ch.command({ query: replayTableDdl('replay2.audit_events') });
    await ch.insert({ table: 'replay2.audit_events', values: [entries[1]!, entries[4]!].map(walEntryToAuditRow), format: 'JSONEachRow' });
    const r = await replayColdStorage({
      source: store,
      sink,
      tenant: 'acme',
      until: new Date('2026-11-20T09:00:00Z'),
      onProgress: (p) => progress.push(p.objectsDone),
    });
    expect(r.status === 'success' && r.value).toMatchObject({ objectsTotal: 1, rowsInserted: 8, rowsAlreadyPresent: 2 });
    expect(progress).toEqual([0, 1]);
    const [c] = await chQuery<{ c: string }>('SELECT count() AS c FROM replay2.audit_events');
    expect(Number(c!.c)).toBe(10);
  });

  it('retention removes whole expired date partitions of the local archive only', async () => {
    const dir = dataDir();
    const exporter = createColdStoreExporter({ dataDir: dir, retentionDays: 30 }, inline);
    await exporter.start();
    await exporter.export(batchOf(makeEntries({ count: 3, startAt: '2026-10-01T10:00:00.000Z' })));
    await exporter.export(batchOf(makeEntries({ count: 3, startAt: '2026-11-20T10:00:00.000Z', after: { seq: 3, hash: '0'.repeat(64) } })));
    await exporter.flush();
    const report = await exporter.applyRetention(new Date('2026-11-22T12:00:00Z'));
    expect(report.removedPartitions).toEqual(['tenant=acme/date=2026-10-01']);
    expect(report.keptPartitions).toBe(1);
    expect(filesUnder(join(dir, 'archive')).every((f) => f.includes('date=2026-11-20'))).toBe(true);
    await exporter.shutdown();
  });

  it('stores exactly the row walEntryToAuditRow makes, also for bigint and bytes attributes', async () => {
    const dir = dataDir();
    const entries = makeEntries({ count: 3 }).map((e) => ({
      ...e,
      resource: { ...e.resource, attributes: { ...e.resource.attributes, 'host.cpus': 2n, 'host.id': new Uint8Array([1, 2, 255]) } },
      extraAttributes: { 'custom.big': 12345678901234567890n, 'custom.list': ['a', 1, true] },
    }));
    const exporter = createColdStoreExporter({ dataDir: dir }, inline);
    await exporter.start();
    expect(await exporter.export(batchOf(entries))).toEqual({ status: 'success' });
    expect(await exporter.flush()).toEqual({ status: 'success' });
    await exporter.shutdown();
    const [file] = filesUnder(join(dir, 'archive')).filter((f) => f.endsWith('.parquet'));
    const rows = await decodeParquet(new Uint8Array(readFileSync(join(dir, 'archive', file!))));
    expect(rows).toEqual(entries.map(walEntryToAuditRow));
    expect(rows[0]!.ResourceAttributes).toMatchObject({ 'host.cpus': '2', 'host.id': 'AQL/' });
    expect(rows[0]!.LogAttributes['custom.big']).toBe('12345678901234567890');
  });

  it('validates config strictly, naming the key', () => {
    expect(() => parseColdStoreConfig({ maxObjectBytes: 'big' })).toThrowError(/exporters\.coldstore\.maxObjectBytes/);
    try {
      parseColdStoreConfig({ backend: { type: 's3', bucket: 'b', forcePathstyle: true } });
      expect.unreachable();
    } catch (err) {
      expect(isAuditError(err, 'AUDIT_ERR_INVALID_CONFIG')).toBe(true);
      expect((err as Error).message).toContain('exporters.coldstore.backend.forcePathstyle: unknown key');
    }
    const c = parseColdStoreConfig({});
    expect(c).toMatchObject({
      format: 'parquet',
      maxObjectBytes: 64 * 1024 * 1024,
      maxObjectAgeMillis: 60_000,
      backend: { type: 'local' },
    });
  });

  it('escapes tenant and chain ids reversibly, never producing path segments', () => {
    for (const id of ['acme', 'a/b', '..', '.', 'x%41', 'über tenant', 'a-1-2', 'tenant=x/date=y']) {
      const e = escapeKeySegment(id);
      expect(e).not.toMatch(/[/\\ ]/);
      expect(e === '.' || e === '..').toBe(false);
      expect(unescapeKeySegment(e)).toBe(id);
    }
    expect(parseObjectKey('p/tenant=a-1/date=2026-01-02/hour=03/a-1%2Fr-1-5-9.parquet')).toMatchObject({
      tenantId: 'a-1',
      chainId: 'a-1/r-1',
      firstSeq: 5,
      lastSeq: 9,
    });
  });
});
