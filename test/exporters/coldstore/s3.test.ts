/**
 * Cold storage on S3, against s3rver on 127.0.0.1 (port 0): partitions, chDB `s3()` with globs,
 * SHA-256 checksums on uploads, outage and recovery without loss or duplicates, re-upload of the
 * same key, credentials refused, multipart. One chDB engine for the file.
 */

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import { type AuditRow, auditRowToEvent } from '@otel-audit/schema/audit-row';
import { createChdbConnection } from 'chdb/connection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClickHouseReplaySink,
  createColdStoreExporter,
  listColdObjects,
  parseColdStoreConfig,
  readColdObject,
  replayColdStorage,
  type S3BackendConfig,
  S3ObjectStore,
  sha256Hex,
} from '../../../exporters/coldstore/index.ts';
import { computeEntryHash } from '../../../integrity/chain-hash.ts';
import { batchOf, makeEntries } from './fixtures.ts';
import { S3RVER_CREDENTIALS, startS3, type TestS3 } from './s3-server.ts';

/** Encode in the test's own thread: a worker per exporter costs seconds on a loaded machine (one test keeps the worker). */
const inline = { buildInline: true };
const root = mkdtempSync(join(tmpdir(), 'coldstore-s3-'));
let ch: ClickHouseClient;
let s3: TestS3;

beforeAll(async () => {
  ch = createClient({ connection: createChdbConnection({ path: join(root, 'chdb') }) } as Parameters<typeof createClient>[0]);
  s3 = await startS3();
});
afterAll(async () => {
  await ch.close();
  await s3.dispose();
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
function dataDir(): string {
  const d = join(root, `data-${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
}

function backend(prefix: string, extra: Partial<S3BackendConfig> = {}): S3BackendConfig {
  return parseColdStoreConfig({
    backend: {
      type: 's3',
      bucket: s3.bucket,
      prefix,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      requestTimeoutMillis: 3000,
      ...extra,
    },
  }).backend as S3BackendConfig;
}

async function keys(prefix: string): Promise<string[]> {
  const store = new S3ObjectStore(backend(prefix));
  const l = await store.list(`${prefix}/`);
  store.destroy();
  if (l.status !== 'success') throw l.error;
  return l.value.map((o) => o.key);
}

async function chQuery<T>(query: string): Promise<T[]> {
  const r = await ch.query({ query, format: 'JSONEachRow' });
  return (await r.json()) as T[];
}

const s3fn = (glob: string): string => `s3('${s3.endpoint}/${s3.bucket}/${glob}', 'S3RVER', 'S3RVER', 'Parquet')`;

describe('cold storage on S3 (s3rver)', () => {
  it('uploads partitioned Parquet objects with a SHA-256 checksum; chDB s3() reads them with globs', async () => {
    const store = new S3ObjectStore(backend('p1'));
    const sent: Array<Record<string, string>> = [];
    store.client.middlewareStack.add(
      (next) => async (args) => {
        sent.push({ ...(args.request as { headers: Record<string, string> }).headers });
        return next(args);
      },
      { step: 'finalizeRequest', name: 'captureHeaders' },
    );
    const exporter = createColdStoreExporter(
      { dataDir: dataDir(), backend: { type: 's3', bucket: s3.bucket } },
      { store, buildInline: true },
    );
    await exporter.start();
    const a = makeEntries({ count: 50, startAt: '2026-11-22T09:59:35.000Z' });
    const b = makeEntries({ tenantId: 'globex', count: 30, startAt: '2026-11-22T10:15:00.000Z', firstLsn: 51 });
    expect(await exporter.export(batchOf([...a, ...b]))).toEqual({ status: 'success' });
    expect(await exporter.flush()).toEqual({ status: 'success' });
    const all = await keys('p1');
    expect(all).toEqual([
      'p1/tenant=acme/date=2026-11-22/hour=09/acme%2Fr1-1-25.parquet',
      'p1/tenant=acme/date=2026-11-22/hour=09/acme%2Fr1-1-25.parquet.manifest.json',
      'p1/tenant=acme/date=2026-11-22/hour=10/acme%2Fr1-26-50.parquet',
      'p1/tenant=acme/date=2026-11-22/hour=10/acme%2Fr1-26-50.parquet.manifest.json',
      'p1/tenant=globex/date=2026-11-22/hour=10/globex%2Fr1-1-30.parquet',
      'p1/tenant=globex/date=2026-11-22/hour=10/globex%2Fr1-1-30.parquet.manifest.json',
    ]);
    // Every PUT carried x-amz-checksum-sha256 = base64(SHA-256(body)), the value S3 and Object Lock check.
    const puts = sent.filter((h) => h['x-amz-checksum-sha256'] !== undefined);
    expect(puts).toHaveLength(6);
    const read = await readColdObject(store, all[0]!);
    expect(read.ok).toBe(true);
    if (read.ok) {
      expect(puts[0]!['x-amz-checksum-sha256']).toBe(Buffer.from(read.sha256, 'hex').toString('base64'));
      const head = await store.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: all[0]! }));
      expect(head.Metadata?.sha256).toBe(read.sha256);
    }

    const [agg] = await chQuery<{ c: string; t: string }>(
      `SELECT count() AS c, groupBitXor(cityHash64(EventId, Hash)) AS h, uniqExact(TenantId) AS t FROM ${s3fn('p1/tenant=*/date=*/*/*.parquet')}`,
    );
    expect(Number(agg!.c)).toBe(80);
    expect(Number(agg!.t)).toBe(2);
    const rows = await chQuery<AuditRow>(`SELECT * FROM ${s3fn('p1/tenant=acme/date=2026-11-22/hour=*/*.parquet')} ORDER BY Seq`);
    expect(rows.map((r) => r.Hash)).toEqual(a.map((e) => e.hash));
    for (const r of rows) expect(computeEntryHash(r.PrevHash, auditRowToEvent(r))).toBe(r.Hash);
    await exporter.shutdown();
    store.destroy();
  });

  it('records what s3rver does with a wrong checksum (it does not verify: real S3 answers BadDigest)', async () => {
    const store = new S3ObjectStore(backend('p-bad'));
    const bytes = Buffer.from('hello');
    const r = await store.put('p-bad/x.bin', bytes, sha256Hex(Buffer.from('other')));
    // s3rver ignores x-amz-checksum-sha256; against AWS this is `retryable` (BadDigest, bytes damaged in transit).
    expect(r.status).toBe('success');
    store.destroy();
  });

  it('keeps everything staged while S3 is down and uploads on recovery: nothing lost, no duplicates', async () => {
    const dir = dataDir();
    const exporter = createColdStoreExporter(
      {
        dataDir: dir,
        uploadRetryMillis: 50,
        maxObjectAgeMillis: 100,
        backend: {
          type: 's3',
          bucket: s3.bucket,
          prefix: 'p2',
          endpoint: s3.endpoint,
          forcePathStyle: true,
          credentials: S3RVER_CREDENTIALS,
          requestTimeoutMillis: 2000,
        },
      },
      inline,
    );
    await exporter.start();
    const entries = makeEntries({ count: 60 });
    expect(await exporter.export(batchOf(entries.slice(0, 20)))).toEqual({ status: 'success' });
    await exporter.flush();
    await s3.stop();
    try {
      // Acknowledged while S3 is down: staged and fsync'd.
      expect(await exporter.export(batchOf(entries.slice(20, 40)))).toEqual({ status: 'success' });
      const down = await exporter.flush();
      expect(down.status).toBe('retryable');
      expect(exporter.status().lastError?.message).toMatch(/cannot upload s3:\/\/audit-archive\/p2\/tenant=acme/);
      expect(await exporter.export(batchOf(entries.slice(40)))).toEqual({ status: 'success' });
    } finally {
      await s3.restart();
    }
    // The background uploader (timer + backoff) catches up by itself.
    await expect.poll(async () => exporter.status().stagedBytes, { timeout: 10_000, interval: 100 }).toBe(0);
    const objects = (await keys('p2')).filter((k) => k.endsWith('.parquet'));
    expect(objects).toEqual([
      'p2/tenant=acme/date=2026-11-22/hour=10/acme%2Fr1-1-20.parquet',
      // flush() while down sealed 21-40; 41-60 were staged after it and sealed by age.
      'p2/tenant=acme/date=2026-11-22/hour=10/acme%2Fr1-21-40.parquet',
      'p2/tenant=acme/date=2026-11-22/hour=10/acme%2Fr1-41-60.parquet',
    ]);
    const [agg] = await chQuery<{ c: string; u: string }>(
      `SELECT count() AS c, uniqExact(EventId) AS u FROM ${s3fn('p2/tenant=*/date=*/*/*.parquet')}`,
    );
    expect([Number(agg!.c), Number(agg!.u)]).toEqual([60, 60]);
    await exporter.shutdown();
  });

  it('answers retryable with a clear error when the endpoint refuses connections, back-pressure at the staging bound', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const exporter = createColdStoreExporter(
      {
        dataDir: dataDir(),
        maxStagingBytes: 4096,
        uploadRetryMillis: 10_000,
        backend: {
          type: 's3',
          bucket: 'b-closed',
          endpoint: `http://127.0.0.1:${port}`,
          forcePathStyle: true,
          credentials: S3RVER_CREDENTIALS,
        },
      },
      inline,
    );
    await exporter.start();
    const entries = makeEntries({ count: 20 });
    expect((await exporter.export(batchOf(entries.slice(0, 10)))).status).toBe('success');
    const r = await exporter.flush();
    expect(r.status).toBe('retryable');
    expect(r.status !== 'success' && r.error.message).toMatch(/ECONNREFUSED|connect/i);
    const full = await exporter.export(batchOf(entries.slice(10)));
    expect(full.status).toBe('retryable');
    expect(full.status === 'retryable' && full.error.code).toBe('AUDIT_ERR_BACKPRESSURE');
    await exporter.shutdown();
  });

  it('a re-export of the same range after lost staging re-uploads the same key, identical bytes', async () => {
    const entries = makeEntries({ count: 15 });
    const cfg = {
      backend: {
        type: 's3' as const,
        bucket: s3.bucket,
        prefix: 'p3',
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
      },
    };
    const first = createColdStoreExporter({ ...cfg, dataDir: dataDir() }, inline);
    await first.start();
    await first.export(batchOf(entries));
    expect(await first.flush()).toEqual({ status: 'success' });
    await first.shutdown();
    const before = await keys('p3');
    const store = new S3ObjectStore(backend('p3'));
    const r1 = await readColdObject(store, before[0]!);
    // Crash between upload and cursor save, on a machine that also lost its staging dir.
    const second = createColdStoreExporter({ ...cfg, dataDir: dataDir() }, inline);
    await second.start();
    await second.export(batchOf(entries));
    expect(await second.flush()).toEqual({ status: 'success' });
    await second.shutdown();
    expect(await keys('p3')).toEqual(before);
    const r2 = await readColdObject(store, before[0]!);
    expect(r1.ok && r2.ok && r1.sha256 === r2.sha256).toBe(true);
    store.destroy();
  });

  it('refused credentials are a permanent failure with a clear message', async () => {
    const exporter = createColdStoreExporter(
      {
        dataDir: dataDir(),
        backend: {
          type: 's3',
          bucket: s3.bucket,
          prefix: 'p4',
          endpoint: s3.endpoint,
          forcePathStyle: true,
          credentials: { accessKeyId: 'WRONG', secretAccessKey: 'nope' },
        },
      },
      inline,
    );
    await exporter.start();
    await exporter.export(batchOf(makeEntries({ count: 3 })));
    const r = await exporter.flush();
    expect(r.status).toBe('failure');
    expect(r.status !== 'success' && r.error.message).toMatch(/HTTP 403.*check the S3 credentials/);
    const next = await exporter.export(batchOf(makeEntries({ count: 3 })));
    expect(next.status).toBe('failure');
    await exporter.shutdown();
  });

  it('uploads large objects as multipart with per-part SHA-256 checksums', async () => {
    const store = new S3ObjectStore(backend('p5', { multipartThresholdBytes: 5 * 1024 * 1024, partSizeBytes: 5 * 1024 * 1024 }));
    const bytes = new Uint8Array(11 * 1024 * 1024).map((_v, i) => (i * 7919) & 0xff);
    const parts: string[] = [];
    store.client.middlewareStack.add(
      (next) => async (args) => {
        const q = (args.request as { query?: Record<string, string> }).query ?? {};
        if (q.partNumber) parts.push(q.partNumber);
        return next(args);
      },
      { step: 'finalizeRequest', name: 'captureParts' },
    );
    expect(await store.put('p5/big.bin', bytes, sha256Hex(bytes))).toEqual({ status: 'success', value: undefined });
    expect(parts).toEqual(['1', '2', '3']);
    const back = await store.get('p5/big.bin');
    expect(back.status === 'success' && back.value && sha256Hex(back.value)).toBe(sha256Hex(bytes));
    store.destroy();
  });

  it('replays from S3 into an empty ClickHouse twice: same rows, nothing added the second time', async () => {
    const store = new S3ObjectStore(backend('p1'));
    const sink = createClickHouseReplaySink({ client: ch, database: 'replay_s3', embedded: true });
    const listing = await listColdObjects(store, {});
    expect(listing.status === 'success' && listing.value.objects).toHaveLength(3);
    const first = await replayColdStorage({ source: store, sink });
    expect(first.status === 'success' && first.value).toMatchObject({ rowsInserted: 80, skipped: 0 });
    const second = await replayColdStorage({ source: store, sink });
    expect(second.status === 'success' && second.value).toMatchObject({ rowsInserted: 0, rowsAlreadyPresent: 80 });
    const [db] = await chQuery<{ c: string; h: string }>(
      'SELECT count() AS c, groupBitXor(cityHash64(EventId, Hash)) AS h FROM replay_s3.audit_events',
    );
    const [src] = await chQuery<{ c: string; h: string }>(
      `SELECT count() AS c, groupBitXor(cityHash64(EventId, Hash)) AS h FROM ${s3fn('p1/tenant=*/date=*/*/*.parquet')}`,
    );
    expect(db).toEqual(src);
    store.destroy();
  });
});
