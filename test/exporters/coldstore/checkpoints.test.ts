/**
 * Signed checkpoints in cold storage: written beside the objects they cover, only after those
 * objects are uploaded, under deterministic keys (a re-export writes nothing new), and a checkpoint
 * still waiting survives an exporter restart (its state is staged durably).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkpointKeys,
  createColdStoreExporter,
  LocalDirectoryStore,
  listArchivedCheckpoints,
  listColdObjects,
} from '../../../exporters/coldstore/index.ts';
import { type CheckpointRecord, createCheckpointer } from '../../../integrity/checkpointer.ts';
import { generateNoteKeyPair, parseSignerKey } from '../../../integrity/note.ts';
import type { ExportBatch, WalCheckpointEntry, WalEntry } from '../../../receiver/contracts.ts';
import { makeEntries } from './fixtures.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(): { dataDir: string; archive: string } {
  const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-cold-cp-'));
  dirs.push(dataDir);
  return { dataDir, archive: join(dataDir, 'archive') };
}

const signer = parseSignerKey(generateNoteKeyPair('otel-audit/cold-test').signerKey);

async function checkpointOf(entries: ReturnType<typeof makeEntries>): Promise<CheckpointRecord> {
  const cp = createCheckpointer({ signer, policy: { everyEntries: 1e9, everyMillis: 1e12 } });
  for (const e of entries) cp.append(e);
  return (await cp.checkpoint(entries[0]!.chainId))!;
}

function cpEntry(record: CheckpointRecord, lsn: number): WalCheckpointEntry {
  return { kind: 'checkpoint', lsn, chainId: record.chainId, tenantId: record.chainId.split('/')[0]!, checkpoint: record };
}

function batch(entries: WalEntry[]): ExportBatch {
  return { firstLsn: entries[0]!.lsn, lastLsn: entries.at(-1)!.lsn, entries };
}

describe('cold-storage checkpoints', () => {
  it('waits for the objects it covers, then writes record and note beside them; idempotent', async () => {
    const { dataDir, archive } = setup();
    const config = { dataDir, maxObjectAgeMillis: 3_600_000, uploadRetryMillis: 10 };
    const exporter = createColdStoreExporter(config, { buildInline: true });
    await exporter.start();
    const events = makeEntries({ count: 20 });
    const record = await checkpointOf(events);
    expect(await exporter.export(batch([...events, cpEntry(record, 21)]))).toEqual({ status: 'success' });
    const store = new LocalDirectoryStore(archive);
    // Rows are still staged: no checkpoint yet.
    await exporter.uploadSealed();
    expect(await listArchivedCheckpoints(store)).toMatchObject({ status: 'success', value: [] });

    // Restart before the upload: the pending checkpoint is staged state, not memory.
    await exporter.shutdown();
    const again = createColdStoreExporter(config, { buildInline: true });
    await again.start();
    expect(await again.flush()).toEqual({ status: 'success' });
    const keys = checkpointKeys('', 'acme', 'acme/r1', 20);
    expect(keys.record).toBe('checkpoints/tenant=acme/acme%2Fr1/00000000000000000020.json');
    expect(JSON.parse(readFileSync(join(archive, keys.record), 'utf8'))).toEqual(record);
    expect(readFileSync(join(archive, keys.note), 'utf8')).toBe(record.note);
    const listed = await listColdObjects(store);
    expect(listed.status === 'success' && listed.value.skipped).toEqual([]); // checkpoints are not foreign files
    expect(listed.status === 'success' && listed.value.objects.map((o) => [o.firstSeq, o.lastSeq])).toEqual([[1, 20]]);

    // The same range again (a crash before the cursor save): nothing new, nothing pending.
    expect(await again.export(batch([...events, cpEntry(record, 21)]))).toEqual({ status: 'success' });
    expect(await again.flush()).toEqual({ status: 'success' });
    const cps = await listArchivedCheckpoints(store);
    expect(cps.status === 'success' && cps.value.map((c) => c.ok && c.record.treeSize)).toEqual([20]);
    expect(JSON.parse(readFileSync(join(dataDir, 'coldstore-staging', 'coldstore', 'checkpoints.json'), 'utf8'))).toMatchObject({
      pending: [],
      written: { 'acme/r1': 20 },
    });
    await again.shutdown();
  });

  it('a checkpoint of a chain with nothing staged is written at once', async () => {
    const { dataDir, archive } = setup();
    const exporter = createColdStoreExporter({ dataDir, maxObjectAgeMillis: 20, uploadRetryMillis: 10 }, { buildInline: true });
    await exporter.start();
    const events = makeEntries({ count: 5 });
    expect(await exporter.export(batch(events))).toEqual({ status: 'success' });
    expect(await exporter.flush()).toEqual({ status: 'success' });
    const record = await checkpointOf(events);
    expect(await exporter.export(batch([cpEntry(record, 6)]))).toEqual({ status: 'success' });
    const store = new LocalDirectoryStore(archive);
    await expect
      .poll(
        async () => {
          const cps = await listArchivedCheckpoints(store);
          return cps.status === 'success' ? cps.value.length : -1;
        },
        { timeout: 5000, interval: 20 },
      )
      .toBe(1);
    await exporter.shutdown();
  });
});
