/**
 * End to end with the real pipeline (WAL, durable cursor, runner) feeding the cold-storage exporter
 * into s3rver: events acknowledged while S3 is down and across a receiver restart all end up in S3
 * exactly once, and every hash recomputes from the archived rows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditRow, auditRowToEvent } from '@otel-audit/schema/audit-row';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createColdStoreExporter,
  listColdObjects,
  parseColdStoreConfig,
  readColdObject,
  type S3BackendConfig,
  S3ObjectStore,
} from '../../../exporters/coldstore/index.ts';
import { computeEntryHash } from '../../../integrity/chain-hash.ts';
import { type AuditPipeline, createAuditPipeline } from '../../../receiver/pipeline/index.ts';
import { eventToRecord, makeEvent, request } from '../../receiver/pipeline/fixtures.ts';
import { S3RVER_CREDENTIALS, startS3, type TestS3 } from './s3-server.ts';

const root = mkdtempSync(join(tmpdir(), 'coldstore-e2e-'));
let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3.dispose();
  rmSync(root, { recursive: true, force: true });
});

function pipelineWithColdStore(dataDir: string): AuditPipeline {
  const pipeline = createAuditPipeline({
    dataDir,
    instanceId: 'r1',
    minFreeDiskBytes: 0,
    exporters: { maxBatchEntries: 100, maxBatchDelayMillis: 10, initialBackoffMillis: 10, maxBackoffMillis: 200 },
  });
  pipeline.addExporter(
    createColdStoreExporter({
      dataDir,
      maxObjectAgeMillis: 150,
      uploadRetryMillis: 50,
      backend: {
        type: 's3',
        bucket: s3.bucket,
        prefix: 'e2e',
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
        requestTimeoutMillis: 2000,
      },
    }),
  );
  return pipeline;
}

async function archivedRows(): Promise<AuditRow[]> {
  const store = new S3ObjectStore(
    parseColdStoreConfig({
      backend: {
        type: 's3',
        bucket: s3.bucket,
        prefix: 'e2e',
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
      },
    }).backend as S3BackendConfig,
  );
  try {
    const listing = await listColdObjects(store);
    if (listing.status !== 'success') return [];
    const rows: AuditRow[] = [];
    for (const o of listing.value.objects) {
      const r = await readColdObject(store, o.key);
      if (r.ok) rows.push(...r.rows!);
    }
    return rows;
  } finally {
    store.destroy();
  }
}

async function ingest(pipeline: AuditPipeline, n: number, ids: string[]): Promise<void> {
  const events = Array.from({ length: n }, () => makeEvent());
  const result = await pipeline.consume(request(events.map((e) => eventToRecord(e))), { transport: 'http' });
  expect(result.status).toBe('success');
  ids.push(...events.map((e) => e.eventId));
}

describe('pipeline → cold storage → S3', () => {
  it('loses nothing and duplicates nothing across an S3 outage and a receiver restart', async () => {
    const dataDir = join(root, 'data');
    const ids: string[] = [];
    let pipeline = pipelineWithColdStore(dataDir);
    await pipeline.start();
    await ingest(pipeline, 200, ids);
    await expect.poll(async () => (await archivedRows()).length, { timeout: 10_000, interval: 100 }).toBe(200);

    await s3.stop();
    try {
      await ingest(pipeline, 150, ids); // acknowledged while S3 is down
      await new Promise((r) => setTimeout(r, 400)); // exporter stages, uploads fail and back off
      await pipeline.shutdown(); // receiver restart with staged, un-uploaded rows
      pipeline = pipelineWithColdStore(dataDir);
      await pipeline.start();
      await ingest(pipeline, 150, ids);
    } finally {
      await s3.restart();
    }
    await expect.poll(async () => (await archivedRows()).length, { timeout: 15_000, interval: 200 }).toBe(500);
    await pipeline.shutdown();

    const rows = await archivedRows();
    expect(new Set(rows.map((r) => r.EventId))).toEqual(new Set(ids));
    const seqs = rows.map((r) => r.Seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 500 }, (_v, i) => i + 1));
    for (const r of rows) expect(computeEntryHash(r.PrevHash, auditRowToEvent(r))).toBe(r.Hash);
  });
});
