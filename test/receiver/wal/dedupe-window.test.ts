import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { isAuditError } from '@otel-audit/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeDedupeChunk } from '../../../receiver/wal/dedupe-index.ts';
import {
  compareIds,
  RUN_KIND_FULL,
  RUN_KIND_V7,
  RunPageCache,
  RunWriter,
  readRunSummary,
  runContains,
} from '../../../receiver/wal/dedupe-run.ts';
import { DedupeWindow } from '../../../receiver/wal/dedupe-window.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dedupe-window-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Id = [number, number, number, number];

/** A UUIDv7 as words, at `ms`. */
function v7(ms: number): Id {
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return [b.readUInt32BE(0), b.readUInt32BE(4), b.readUInt32BE(8), b.readUInt32BE(12)];
}

/** A UUIDv4 as words. */
function v4(): Id {
  const b = randomBytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return [b.readUInt32BE(0), b.readUInt32BE(4), b.readUInt32BE(8), b.readUInt32BE(12)];
}

const sortIds = (ids: Id[]) => [...ids].sort((x, y) => compareIds(...x, ...y));

function writeRun(file: string, kind: 1 | 2, ids: Id[], idSlice: number, sliceMillis: number): void {
  const w = new RunWriter({ kind, sliceMillis, receiveSlice: 0, idSlice, minSeenAtSec: 0, maxSeenAtSec: 0, coveredLsn: 0 }, ids.length, {
    pageBytes: 4096,
    bloomBitsPerId: 10,
  });
  for (const id of sortIds(ids)) w.add(...id, 1000);
  fs.writeFileSync(file, Buffer.concat(w.finish().chunks));
}

describe('dedupe runs', () => {
  it('find every stored UUIDv7 with about one page read, and no fresh one (10 bytes per id)', () => {
    const slice = 3600_000;
    const base = 500_000 * slice;
    // ~14 ids per ms in one slice, with a few sparse stretches (escaped deltas).
    const ids: Id[] = [];
    for (let i = 0; i < 20_000; i++) ids.push(v7(base + Math.floor(i / 14) + (i % 1000 === 0 ? 5000 : 0)));
    for (let i = 0; i < 50; i++) ids.push(v7(base + 2_000_000 + i * 1000));
    const file = path.join(dir, 'v7.bin');
    writeRun(file, RUN_KIND_V7, ids, 500_000, slice);
    const s = readRunSummary(file);
    expect(s.meta.count).toBe(ids.length);
    const bytesPerId = fs.statSync(file).size / ids.length;
    expect(bytesPerId).toBeLessThan(10.7); // 10 per id, the page headers, padding and the footer
    const cache = new RunPageCache(4);
    for (const id of ids) expect(runContains(file, s, cache, ...id)).toBe(true);
    const readsBefore = cache.reads;
    let found = 0;
    for (let i = 0; i < 5000; i++) if (runContains(file, s, cache, ...v7(base + Math.floor(Math.random() * 1500)))) found++;
    expect(found).toBe(0);
    // Fresh ids inside the run's range read at most ~one page each (the cache holds only 4).
    expect((cache.reads - readsBefore) / 5000).toBeLessThan(1.2);
    // Same millisecond and same leading random bits, differing only in the last word.
    const [a, b, c, d] = ids[123]!;
    expect(runContains(file, s, cache, a, b, c, (d + 1) >>> 0)).toBe(false);
    expect(runContains(file, s, cache, a, b, c ^ 1, d)).toBe(false);
    cache.close();
  });

  it('find every stored full-width id; the Bloom filter spares most reads for absent ones', () => {
    const ids = Array.from({ length: 20_000 }, () => v4());
    const file = path.join(dir, 'full.bin');
    writeRun(file, RUN_KIND_FULL, ids, -1, 3600_000);
    const s = readRunSummary(file);
    expect(s.bloom.length).toBeGreaterThan(0);
    const cache = new RunPageCache(4);
    for (const id of ids) expect(runContains(file, s, cache, ...id)).toBe(true);
    const before = cache.reads;
    for (let i = 0; i < 10_000; i++) expect(runContains(file, s, cache, ...v4())).toBe(false);
    expect((cache.reads - before) / 10_000).toBeLessThan(0.05); // ~1 % false positives at 10 bits per id
    cache.close();
  });

  it('detects a damaged page on lookup and a damaged footer on load (AUDIT_ERR_DEDUPE_CORRUPT)', () => {
    const ids = Array.from({ length: 3000 }, () => v4());
    const file = path.join(dir, 'bad.bin');
    writeRun(file, RUN_KIND_FULL, ids, -1, 3600_000);
    const s = readRunSummary(file);
    const buf = fs.readFileSync(file);
    buf[16 + 100]! ^= 0x40; // inside page 0
    fs.writeFileSync(file, buf);
    const cache = new RunPageCache(4);
    const first = sortIds(ids)[0]!;
    let err: unknown;
    try {
      runContains(file, s, cache, ...first);
    } catch (e) {
      err = e;
    }
    expect(isAuditError(err, 'AUDIT_ERR_DEDUPE_CORRUPT')).toBe(true);
    expect((err as Error).message).toMatch(/page 0 checksum mismatch/);
    cache.close();
    buf[buf.length - 40]! ^= 1; // inside the footer
    fs.writeFileSync(file, buf);
    expect(() => readRunSummary(file)).toThrow(/footer checksum mismatch/);
  });
});

/** A WAL stand-in: ids with their LSN and accept time (what recovery replays). */
interface Rec {
  id: Id;
  lsn: number;
  sec: number;
}

describe('DedupeWindow', () => {
  const windowMillis = 3600_000;
  const make = () => new DedupeWindow({ dir, windowMillis, maxIds: 1024, sliceMillis: 60_000, waitDurable: async () => undefined });

  async function feed(w: DedupeWindow, recs: Rec[], ids: Id[], t0: number, lsn0: number): Promise<void> {
    let lsn = lsn0;
    for (let i = 0; i < ids.length; i++) {
      const sec = t0 + Math.floor(i / 100);
      expect(w.checkAndInsert(...ids[i]!, sec, sec, lsn)).toBe(false);
      recs.push({ id: ids[i]!, lsn, sec });
      lsn++;
      if (i % 500 === 499) await w.idle(); // requests arrive asynchronously; spills run in between
    }
  }

  it('keeps ids after the in-memory table turned over many times, across a restart, and forgets them after the window', async () => {
    const t0 = 1_800_000_000;
    let w = make();
    await w.open(t0);
    w.finishRecovery();
    const recs: Rec[] = [];
    // v7 ids, v4 ids, and v7 ids whose time is years before they are accepted (filed as untimed).
    const ids = Array.from({ length: 12_000 }, (_, i) =>
      i % 10 === 3 ? v4() : i % 10 === 7 ? v7(1_500_000_000_000 + i) : v7(t0 * 1000 + i * 10),
    );
    await feed(w, recs, ids, t0, 1);
    const now = t0 + 200;
    await w.add(1, 12_000, [], now); // as the WAL does before deleting segments
    expect(w.watermark).toBe(12_000);
    expect(w.size).toBe(0);
    expect(w.runCount).toBeGreaterThan(1);
    for (const id of ids) expect(w.checkAndInsert(...id, now, now, 99_999)).toBe(true);
    const st = w.status(now);
    expect(st.runIds).toBe(12_000);
    expect(st.effectiveWindowMillis).toBe(windowMillis);
    await w.close();

    // Restart: the runs are loaded, the WAL tail after the watermark is replayed.
    w = make();
    const opened = await w.open(now);
    expect(opened).toMatchObject({ runIds: 12_000, coveredLsn: 12_000 });
    for (const r of recs) w.addRecovered(...r.id, r.sec, now, r.lsn); // all ≤ watermark: skipped
    w.finishRecovery();
    expect(w.size).toBe(0);
    for (const id of ids.slice(0, 3000)) expect(w.checkAndInsert(...id, now, now, 20_000)).toBe(true);
    const fresh = v7(now * 1000);
    expect(w.checkAndInsert(...fresh, now, now, 20_000)).toBe(false);

    // Past the window (plus one slice of slack) every old id is new again, and expired runs go.
    const later = t0 + 120 + windowMillis / 1000 + 61;
    expect(w.checkAndInsert(...ids[5]!, later, later, 20_001)).toBe(false);
    expect(w.checkAndInsert(...ids[13]!, later, later, 20_002)).toBe(false); // a v4 id
    await w.maintain(later);
    expect(w.runCount).toBe(0);
    expect((await readdir(dir)).filter((n) => n.startsWith('run-'))).toEqual([]);
    await w.close();
  });

  it('merges runs of a slice and still finds every id', async () => {
    const t0 = 1_800_000_000;
    const w = new DedupeWindow({
      dir,
      windowMillis: 24 * 3600_000,
      maxIds: 1024,
      sliceMillis: 3600_000,
      waitDurable: async () => undefined,
    });
    await w.open(t0);
    w.finishRecovery();
    const recs: Rec[] = [];
    const ids = Array.from({ length: 9000 }, (_, i) => (i % 7 === 0 ? v4() : v7(t0 * 1000 + i)));
    await feed(w, recs, ids, t0, 1);
    await w.add(1, 9000, [], t0 + 90);
    const before = w.runCount;
    await w.maintain(t0 + 90); // size-tiered merges while the slice is open
    expect(w.runCount).toBeLessThan(before);
    await w.maintain(t0 + 3 * 3600); // the slice is over: one run per group
    expect(w.runCount).toBe(2);
    for (const id of ids) expect(w.checkAndInsert(...id, t0 + 3 * 3600, t0 + 3 * 3600, 10_000)).toBe(true);
    await w.close();
  });

  it('after a crash between writing a run and the manifest, drops the unlisted run and replays the WAL', async () => {
    const t0 = 1_800_000_000;
    let w = make();
    await w.open(t0);
    w.finishRecovery();
    const recs: Rec[] = [];
    const ids = Array.from({ length: 3000 }, (_, i) => v7(t0 * 1000 + i));
    await feed(w, recs, ids, t0, 1);
    await w.add(1, 1500, [], t0 + 30);
    const watermark = w.watermark;
    expect(watermark).toBeGreaterThanOrEqual(1500);
    await w.close();
    // A run written after the manifest (the crash came before the manifest named it).
    const orphan = path.join(dir, 'run-000000009999.bin');
    writeRun(orphan, RUN_KIND_V7, [v7(t0 * 1000)], Math.floor((t0 * 1000) / 60_000), 60_000);
    await writeFile(path.join(dir, 'manifest.json.tmp-1'), 'partial');
    w = make();
    await w.open(t0 + 30);
    expect(fs.existsSync(orphan)).toBe(false);
    expect((await readdir(dir)).some((n) => n.includes('.tmp-'))).toBe(false);
    for (const r of recs) w.addRecovered(...r.id, r.sec, t0 + 30, r.lsn);
    w.finishRecovery();
    for (const id of ids) expect(w.checkAndInsert(...id, t0 + 30, t0 + 30, 5000)).toBe(true);
    await w.close();
  });

  it('refuses to open on a damaged run or manifest, naming the file', async () => {
    const t0 = 1_800_000_000;
    let w = make();
    await w.open(t0);
    w.finishRecovery();
    await feed(
      w,
      [],
      Array.from({ length: 2000 }, (_, i) => v7(t0 * 1000 + i)),
      t0,
      1,
    );
    await w.add(1, 2000, [], t0 + 20);
    await w.close();
    const run = (await readdir(dir)).find((n) => n.startsWith('run-'))!;
    const buf = fs.readFileSync(path.join(dir, run));
    buf[buf.length - 20]! ^= 1;
    fs.writeFileSync(path.join(dir, run), buf);
    w = make();
    await expect(w.open(t0 + 20)).rejects.toSatisfy(
      (e: unknown) => isAuditError(e, 'AUDIT_ERR_DEDUPE_CORRUPT') && (e as Error).message.includes(run),
    );
    fs.writeFileSync(path.join(dir, 'manifest.json'), '{"body":{"version":1,"coveredLsn":5,"nextSeq":1,"files":[]},"crc":1}');
    await expect(make().open(t0 + 20)).rejects.toSatisfy(
      (e: unknown) => isAuditError(e, 'AUDIT_ERR_DEDUPE_CORRUPT') && /manifest/.test((e as Error).message),
    );
    fs.rmSync(path.join(dir, 'manifest.json'));
    await expect(make().open(t0 + 20)).rejects.toSatisfy(
      (e: unknown) => isAuditError(e, 'AUDIT_ERR_DEDUPE_CORRUPT') && /manifest.json: missing, but \d+ run file/.test((e as Error).message),
    );
  });

  it('finds a damaged page with the background scrub, reports it, and fails lookups that need it', async () => {
    const t0 = 1_800_000_000;
    let w = make();
    await w.open(t0);
    w.finishRecovery();
    const ids = Array.from({ length: 2000 }, (_, i) => v7(t0 * 1000 + i));
    await feed(w, [], ids, t0, 1);
    await w.add(1, 2000, [], t0 + 20);
    await w.close();
    const run = (await readdir(dir)).find((n) => n.startsWith('run-'))!;
    const s = readRunSummary(path.join(dir, run));
    const buf = fs.readFileSync(path.join(dir, run));
    buf[16 + 300]! ^= 0x10; // page 0
    fs.writeFileSync(path.join(dir, run), buf);
    const found: string[] = [];
    w = new DedupeWindow({ dir, windowMillis, maxIds: 1024, sliceMillis: 60_000, onCorrupt: (e) => found.push(e.code) });
    await w.open(t0 + 20); // the footer is intact: it opens
    w.finishRecovery();
    await w.maintain(t0 + 20);
    expect(found).toEqual(['AUDIT_ERR_DEDUPE_CORRUPT']);
    expect(w.status(t0 + 20).corrupt[0]).toMatch(new RegExp(`${run}.*page 0 checksum mismatch`));
    const inPage0 = sortIds(ids).find((id) => compareIds(...id, s.first[0]!, s.first[1]!, s.first[2]!, s.first[3]!) === 0)!;
    expect(() => w.checkAndInsert(...inPage0, t0 + 20, t0 + 20, 5000)).toThrow(/page 0 checksum mismatch/);
    await w.close();
  });

  it('converts chunk files of the previous format into runs', async () => {
    const t0 = 1_800_000_000;
    const ids = Array.from({ length: 50 }, (_, i) => v7(t0 * 1000 + i));
    await writeFile(
      path.join(dir, 'ids-00000000000000000001-00000000000000000050.bin'),
      encodeDedupeChunk(ids.map(([a, b, c, d]) => ({ a, b, c, d, seenAtSec: t0 }))),
    );
    const w = make();
    await w.open(t0 + 5);
    w.finishRecovery();
    await w.maintain(t0 + 5);
    expect((await readdir(dir)).some((n) => n.startsWith('ids-'))).toBe(false);
    expect(w.runCount).toBeGreaterThan(0);
    for (const id of ids) expect(w.checkAndInsert(...id, t0 + 5, t0 + 5, 100)).toBe(true);
    await w.close();
  });

  it('evicts and reports a shorter window only when spills cannot keep up', async () => {
    const t0 = 1_800_000_000;
    const warnings: string[] = [];
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((r) => (release = r));
    const w = new DedupeWindow({
      dir,
      windowMillis,
      maxIds: 1024,
      maxPendingTables: 1,
      waitDurable: async () => (await blocked, undefined),
      onWindowShort: (m) => warnings.push(m),
    });
    await w.open(t0);
    w.finishRecovery();
    for (let i = 0; i < 5000; i++) w.checkAndInsert(...v7(t0 * 1000 + i), t0 + Math.floor(i / 100), t0 + Math.floor(i / 100), i + 1);
    expect(w.effectiveWindowMillis(t0 + 50)).toBeLessThan(windowMillis);
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/shorter than the configured/);
    release();
    await w.close();
    // Still short after a restart (the evicted ids are still missing), and warned about at start.
    const again: string[] = [];
    const w2 = new DedupeWindow({ dir, windowMillis, maxIds: 1024, onWindowShort: (m) => again.push(m) });
    await w2.open(t0 + 60);
    w2.finishRecovery();
    w2.warnIfShort(t0 + 60);
    expect(w2.effectiveWindowMillis(t0 + 60)).toBeLessThan(windowMillis);
    expect(again.length).toBe(1);
    expect(w2.effectiveWindowMillis(t0 + 60 + windowMillis / 1000)).toBe(windowMillis);
    await w2.close();
  });
});
