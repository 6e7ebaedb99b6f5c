/**
 * How the webhook exporter cuts a WAL batch into requests: deterministic (the same range always
 * gives the same keys and bodies — what makes a redelivery byte-identical), bounded by
 * maxBatchEvents and maxBatchBytes, with keys that differ between receivers and between settings.
 */
import { describe, expect, it } from 'vitest';
import { chunkBodies, createWebhookExporter, signatureHeader, verifySignature } from '../../../exporters/webhook/index.ts';
import type { ExportBatch, WalEntry } from '../../../receiver/contracts.ts';
import { batchOf, makeEntries } from '../coldstore/fixtures.ts';

const base = { name: 'siem', url: 'http://127.0.0.1:9/x', secret: 'plan-secret-0123456789' };

describe('webhook request plan', () => {
  it('is deterministic and bounded by maxBatchEvents and maxBatchBytes', () => {
    const batch = batchOf(makeEntries({ count: 230 }));
    const a = createWebhookExporter({ ...base, maxBatchEvents: 50, maxBatchBytes: 64 * 1024 });
    const b = createWebhookExporter({ ...base, maxBatchEvents: 50, maxBatchBytes: 64 * 1024 });
    const p1 = a.plan(batch);
    expect(b.plan(batch)).toEqual(p1);
    expect(p1.reduce((n, r) => n + r.events, 0)).toBe(230);
    for (const r of p1) {
      expect(r.events).toBeLessThanOrEqual(50);
      expect(Buffer.byteLength(r.body)).toBeLessThanOrEqual(64 * 1024);
      expect(r.key).toBe(`siem:${r.firstLsn}-${r.lastLsn}:${r.key.split(':')[2]}`);
    }
    // Contiguous LSN ranges covering the batch.
    expect(p1[0]!.firstLsn).toBe(batch.firstLsn);
    expect(p1.at(-1)!.lastLsn).toBe(batch.lastLsn);
    for (let i = 1; i < p1.length; i++) expect(p1[i]!.firstLsn).toBe(p1[i - 1]!.lastLsn + 1);
    // A byte limit below one event sends each event alone.
    const tiny = createWebhookExporter({ ...base, maxBatchBytes: 1024 }).plan(batchOf(makeEntries({ count: 3 })));
    expect(tiny.map((r) => r.events)).toEqual([1, 1, 1]);
  });

  it('changes the key with the settings and between receivers, never for the same range and settings', () => {
    const entries = makeEntries({ count: 10 });
    const other = makeEntries({ count: 10, instanceId: 'r2' }); // another receiver: same LSNs, other hashes
    const key = (cfg: object, e = entries) => createWebhookExporter({ ...base, ...cfg }).plan(batchOf(e))[0]!.key;
    expect(key({})).toBe(key({}));
    expect(key({ format: 'ocsf' })).not.toBe(key({}));
    expect(key({ encoding: 'json-array' })).not.toBe(key({}));
    expect(key({ format: 'ocsf', ocsf: { overrides: [{ prefix: 'user', classUid: 6003 }] } })).not.toBe(key({ format: 'ocsf' }));
    expect(key({}, other)).not.toBe(key({}));
    expect(key({}, other).split(':')[1]).toBe(key({}).split(':')[1]);
    // The timeout or the headers do not change the body, so not the key either.
    expect(key({ timeoutMillis: 500, headers: { authorization: 'x' } })).toBe(key({}));
  });

  it('sends events only: a batch of checkpoints is acknowledged without a request', async () => {
    const entries = makeEntries({ count: 2 });
    const checkpoint = {
      kind: 'checkpoint',
      lsn: 3,
      chainId: entries[0]!.chainId,
      tenantId: 'acme',
      checkpoint: {},
    } as unknown as WalEntry;
    const exporter = createWebhookExporter(base);
    expect(exporter.plan({ firstLsn: 3, lastLsn: 3, entries: [checkpoint] })).toEqual([]);
    const mixed: ExportBatch = { firstLsn: 1, lastLsn: 3, entries: [...entries, checkpoint] };
    expect(exporter.plan(mixed).map((r) => [r.firstLsn, r.lastLsn])).toEqual([[1, 2]]);
    await exporter.start();
    expect(await exporter.export({ firstLsn: 3, lastLsn: 3, entries: [checkpoint] })).toEqual({ status: 'success' });
    expect(exporter.stats().requests).toBe(0);
    await exporter.shutdown();
  });

  it('chunks NDJSON and JSON arrays within the byte limit, and signs what it sends', () => {
    const lines = ['{"a":1}', '{"b":22}', '{"c":333}'];
    expect(chunkBodies(lines, 'ndjson', 10, 1024).map((c) => c.body)).toEqual(['{"a":1}\n{"b":22}\n{"c":333}\n']);
    expect(chunkBodies(lines, 'json-array', 2, 1024).map((c) => c.body)).toEqual(['[{"a":1},{"b":22}]', '[{"c":333}]']);
    expect(chunkBodies(lines, 'ndjson', 10, 17).map((c) => c.body)).toEqual(['{"a":1}\n{"b":22}\n', '{"c":333}\n']);
    const h = signatureHeader('k'.repeat(16), 1_800_000_000, 'body');
    expect(verifySignature('k'.repeat(16), h, 'body', { nowSeconds: 1_800_000_010 })).toEqual({
      ok: true,
      timestampSeconds: 1_800_000_000,
    });
    expect(verifySignature('k'.repeat(16), h, 'body!', { nowSeconds: 1_800_000_010 })).toEqual({ ok: false, reason: 'signature mismatch' });
    expect(verifySignature('k'.repeat(16), h, 'body', { nowSeconds: 1_800_001_000 }).ok).toBe(false);
  });
});
