import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DedupeWindow } from '../../../receiver/wal/dedupe-window.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dedupe-window-table-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the in-memory table after a spill', () => {
  it('starts at the size the spilled table reached, and the spilled ids are still duplicates', async () => {
    const w = new DedupeWindow({ dir, windowMillis: 3600_000, maxIds: 1_000_000 });
    const now = Math.floor(Date.now() / 1000);
    await w.open(now);
    w.finishRecovery();
    const fresh = w.status(now).memoryTableBytes; // the default first table
    const n = 50_000;
    for (let i = 1; i <= n; i++) expect(w.checkAndInsert(0x0190f3a0, 0x7abc0000, 0x80000000 + i, i * 7919, now, now, i)).toBe(false);
    const grown = w.status(now).memoryTableBytes;
    expect(grown).toBeGreaterThan(fresh);
    // The WAL deletes the segments of LSN 1..n: their ids go to runs and a new table takes over.
    await w.add(1, n, [], now);
    await w.idle();
    const s = w.status(now);
    expect(s).toMatchObject({ memoryIds: 0, pendingTables: 0, runIds: n, coveredLsn: n });
    // Not back to the default size: no doubling (a rehash on the ingest path) until it holds as many again.
    expect(s.memoryTableBytes).toBe(grown);
    expect(w.checkAndInsert(0x0190f3a0, 0x7abc0000, 0x80000000 + 1, 7919, now, now, n + 1)).toBe(true);
    expect(w.checkAndInsert(0x0190f3a0, 0x7abc0000, 0x80000000 + n + 1, 1, now, now, n + 1)).toBe(false);
    await w.close();
  });
});
