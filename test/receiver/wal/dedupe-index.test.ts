import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DedupeIndex, decodeDedupeChunk, encodeDedupeChunk } from '../../../receiver/wal/dedupe-index.ts';
import { uuidToWords } from '../../../receiver/wal/format.ts';
import { uuidv7 } from '../pipeline/fixtures.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dedupe-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function ids(n: number): Uint32Array[] {
  return Array.from({ length: n }, () => {
    const w = new Uint32Array(4);
    uuidToWords(uuidv7(), w);
    return w;
  });
}

describe('DedupeIndex', () => {
  it('finds duplicates, grows, and expires by window', () => {
    const idx = new DedupeIndex({ windowMillis: 60_000, maxIds: 100_000, initialCapacity: 16 });
    const all = ids(5000);
    for (const w of all) expect(idx.checkAndInsert(w[0]!, w[1]!, w[2]!, w[3]!, 1000, 1000)).toBe(false);
    expect(idx.size).toBe(5000);
    for (const w of all) expect(idx.checkAndInsert(w[0]!, w[1]!, w[2]!, w[3]!, 1001, 1001)).toBe(true);
    // After the window an id is new again.
    const w = all[0]!;
    expect(idx.checkAndInsert(w[0]!, w[1]!, w[2]!, w[3]!, 1100, 1100)).toBe(false);
    idx.expire(1100);
    expect(idx.size).toBe(1);
  });

  it('keeps memory bounded by maxIds, evicting the oldest first', () => {
    const idx = new DedupeIndex({ windowMillis: 3600_000, maxIds: 2000, initialCapacity: 16 });
    const all = ids(10_000);
    all.forEach((w, i) => {
      idx.checkAndInsert(w[0]!, w[1]!, w[2]!, w[3]!, 1000 + i, 1000 + i);
    });
    expect(idx.size).toBeLessThanOrEqual(2000);
    const cap = idx.bytes;
    const last = all.at(-1)!;
    expect(idx.checkAndInsert(last[0]!, last[1]!, last[2]!, last[3]!, 20_000, 11_000)).toBe(true);
    expect(idx.effectiveWindowMillis(11_000)).toBeLessThan(3600_000);
    for (const w of all.slice(0, 100)) idx.checkAndInsert(w[0]!, w[1]!, w[2]!, w[3]!, 11_000, 11_000);
    expect(idx.bytes).toBe(cap);
  });

  it('still makes room when every id was seen in the same second (a burst)', () => {
    const idx = new DedupeIndex({ windowMillis: 3600_000, maxIds: 1000, initialCapacity: 16 });
    const all = ids(5000);
    for (const w of all) idx.checkAndInsert(w[0]!, w[1]!, w[2]!, w[3]!, 1000, 1000);
    expect(idx.size).toBeLessThanOrEqual(1000);
    expect(idx.size).toBeGreaterThan(500);
    const last = all.at(-1)!;
    expect(idx.checkAndInsert(last[0]!, last[1]!, last[2]!, last[3]!, 1000, 1000)).toBe(true);
  });

  it('measures bytes per id (documented in docs/wal.md)', () => {
    const n = 1_000_000;
    const idx = new DedupeIndex({ windowMillis: 3600_000, maxIds: 10_000_000 });
    const w = new Uint32Array(4);
    for (let i = 0; i < n; i++) {
      w[0] = i;
      w[1] = 0x70000000;
      w[2] = Math.imul(i, 2654435761) >>> 0;
      w[3] = (i * 7919) >>> 0;
      idx.checkAndInsert(w[0]!, w[1]!, w[2]!, w[3]!, 1000, 1000);
    }
    const perId = idx.bytes / idx.size;
    console.log(`dedupe index: ${idx.size} ids in ${idx.bytes} bytes = ${perId.toFixed(1)} bytes/id`);
    expect(perId).toBeGreaterThanOrEqual(20);
    expect(perId).toBeLessThanOrEqual(54);
  });
});

describe('legacy dedupe chunks', () => {
  it('round-trip and reject a damaged one', () => {
    const buf = encodeDedupeChunk([{ a: 1, b: 2, c: 3, d: 4, seenAtSec: 5 }]);
    expect(decodeDedupeChunk(buf, 'x')).toEqual([{ a: 1, b: 2, c: 3, d: 4, seenAtSec: 5 }]);
    buf[20]! ^= 1;
    expect(() => decodeDedupeChunk(buf, 'x')).toThrow(/checksum/);
  });
});

describe('DedupeIndex.remove (rollback of a failed WAL write)', () => {
  it('removes exactly the given ids; every other id is still found, across colliding probe runs', () => {
    const idx = new DedupeIndex({ windowMillis: 60_000, maxIds: 100_000, initialCapacity: 16 });
    // Few distinct trailing words: many ids share home slots, so removal must shift probe runs.
    const ids = Array.from({ length: 5000 }, (_, i) => [0x01900000 + i, 0x7000 + (i % 3), 0x80000000 + (i % 7), i % 11]);
    for (const [a, b, c, d] of ids) expect(idx.checkAndInsert(a!, b!, c!, d!, 100, 100)).toBe(false);
    const removed = ids.filter((_, i) => i % 3 === 0);
    for (const [a, b, c, d] of removed) expect(idx.remove(a!, b!, c!, d!)).toBe(true);
    expect(idx.size).toBe(ids.length - removed.length);
    expect(idx.remove(removed[0]![0]!, removed[0]![1]!, removed[0]![2]!, removed[0]![3]!)).toBe(false);
    ids.forEach(([a, b, c, d], i) => {
      // Kept ids are duplicates; removed ids are new again (and get inserted by this call).
      expect(idx.checkAndInsert(a!, b!, c!, d!, 100, 100)).toBe(i % 3 !== 0);
    });
    expect(idx.size).toBe(ids.length);
  });
});
