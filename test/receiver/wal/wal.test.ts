import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { isAuditError } from '@otel-audit/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decodeSegmentHeader,
  encodeSegmentHeader,
  parseRecord,
  RECORD_HEADER_BYTES,
  RECORD_TYPE_EVENT,
  RECORD_TYPE_EVENT_WITH_ROW,
  ROW_TRAILER_BYTES,
  SEGMENT_HEADER_BYTES,
  sealRecord,
  uuidToWords,
  wordsToUuid,
} from '../../../receiver/wal/format.ts';
import { payloadCount, payloadTexts } from '../../../receiver/wal/packed-payloads.ts';
import { Wal, type WalOptions } from '../../../receiver/wal/wal.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'wal-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const words = new Uint32Array([0x01234567, 0x89abcdef, 0x01234567, 0x89abcdef]);

function opts(extra: Partial<WalOptions> = {}): WalOptions {
  return { dir, segmentBytes: 1 << 20, durability: 'fsync', retentionMillis: 0, ...extra };
}

async function openWal(extra: Partial<WalOptions> = {}) {
  const seen: number[] = [];
  const { wal, report } = await Wal.open(opts(extra), (r) => seen.push(r.lsn));
  return { wal, report, seen };
}

async function appendN(wal: Wal, n: number, text = (i: number) => `{"n":${i}}`): Promise<void> {
  let last = 0;
  for (let i = 0; i < n; i++) {
    last = wal.nextLsn;
    wal.append(last, words, 1_700_000_000, text(last));
  }
  expect(await wal.waitDurable(last)).toBeUndefined();
}

async function segments(): Promise<string[]> {
  return (await readdir(path.join(dir, 'segments'))).sort().map((n) => path.join(dir, 'segments', n));
}

describe('WAL framing', () => {
  it('round-trips a segment header and rejects a damaged one', () => {
    const h = encodeSegmentHeader(42, 1_700_000_000_000);
    expect(h.length).toBe(SEGMENT_HEADER_BYTES);
    expect(decodeSegmentHeader(h)).toEqual({ ok: true, version: 2, firstLsn: 42, createdAtMillis: 1_700_000_000_000 });
    // Version 1 (before records with storage rows) is read the same way; an unknown version is refused.
    for (const [version, ok] of [
      [1, true],
      [3, false],
    ] as const) {
      const v = Buffer.from(h);
      v.writeUInt16LE(version, 8);
      v.writeUInt32LE(crc32(v.subarray(0, 28)), 28);
      expect(decodeSegmentHeader(v)).toMatchObject(
        ok ? { ok: true, version } : { ok: false, reason: `unsupported segment version ${version}` },
      );
    }
    h[13]! ^= 1;
    expect(decodeSegmentHeader(h)).toMatchObject({ ok: false, reason: 'header checksum mismatch' });
  });

  it('parses an event record with a storage row: JSON payload and row apart; a row length that does not fit is bad', () => {
    const json = '{"kind":"event","x":"wörld"}';
    const row = Buffer.from([1, 2, 3, 0x80, 0xff]);
    const buf = Buffer.alloc(300);
    let n = buf.write(json, RECORD_HEADER_BYTES, 'utf8');
    row.copy(buf, RECORD_HEADER_BYTES + n);
    n += row.length;
    buf.writeUInt32LE(row.length, RECORD_HEADER_BYTES + n);
    n += ROW_TRAILER_BYTES;
    sealRecord(buf, 0, n, RECORD_TYPE_EVENT_WITH_ROW, 9, words, 5);
    const r = parseRecord(buf, 0, RECORD_HEADER_BYTES + n);
    if (r.kind !== 'record') throw new Error(`expected a record, got ${r.kind}`);
    expect(r.record.type).toBe(RECORD_TYPE_EVENT);
    expect(r.record.payload.toString()).toBe(json);
    expect(r.record.row?.toString('hex')).toBe(row.toString('hex'));
    expect(r.record.size).toBe(RECORD_HEADER_BYTES + n);
    // A trailer claiming more bytes than the payload holds (re-sealed, so only the length is wrong).
    buf.writeUInt32LE(n, RECORD_HEADER_BYTES + n - ROW_TRAILER_BYTES);
    sealRecord(buf, 0, n, RECORD_TYPE_EVENT_WITH_ROW, 9, words, 5);
    expect(parseRecord(buf, 0, RECORD_HEADER_BYTES + n)).toMatchObject({ kind: 'bad', reason: expect.stringContaining('row length') });
    // A plain event record has no row.
    const plain = Buffer.alloc(200);
    const m = plain.write(json, RECORD_HEADER_BYTES, 'utf8');
    sealRecord(plain, 0, m, RECORD_TYPE_EVENT, 10, words, 5);
    const q = parseRecord(plain, 0, RECORD_HEADER_BYTES + m);
    expect(q.kind === 'record' && q.record.row).toBeUndefined();
  });

  it('seals and parses a record; any flipped byte fails the checksum', () => {
    const payload = '{"hello":"wörld"}';
    const buf = Buffer.alloc(200);
    const n = buf.write(payload, RECORD_HEADER_BYTES, 'utf8');
    sealRecord(buf, 0, n, 1, 2 ** 40 + 7, words, 123);
    const r = parseRecord(buf, 0, RECORD_HEADER_BYTES + n);
    expect(r.kind).toBe('record');
    if (r.kind !== 'record') return;
    expect(r.record.lsn).toBe(2 ** 40 + 7);
    expect(r.record.receivedAtSeconds).toBe(123);
    expect(r.record.payload.toString()).toBe(payload);
    expect(wordsToUuid(r.record.id0, r.record.id1, r.record.id2, r.record.id3)).toBe('01234567-89ab-cdef-0123-456789abcdef');
    for (const at of [4, 8, 12, 20, 36, RECORD_HEADER_BYTES + 3]) {
      const copy = Buffer.from(buf);
      copy[at]! ^= 0x40;
      expect(parseRecord(copy, 0, RECORD_HEADER_BYTES + n).kind, `byte ${at}`).toBe('bad');
    }
    expect(parseRecord(buf, 0, RECORD_HEADER_BYTES + n - 1)).toEqual({ kind: 'short', needBytes: RECORD_HEADER_BYTES + n });
  });

  it('parses UUIDs into words', () => {
    const w = new Uint32Array(4);
    expect(uuidToWords('0190a5e2-7c3b-7def-8abc-0123456789ab', w)).toBe(true);
    expect(wordsToUuid(w[0]!, w[1]!, w[2]!, w[3]!)).toBe('0190a5e2-7c3b-7def-8abc-0123456789ab');
    expect(uuidToWords('not-a-uuid', w)).toBe(false);
  });
});

describe('WAL append, group commit and recovery', () => {
  it('shares one fsync among concurrent appends (counted on the real implementation)', async () => {
    let dataSyncs = 0;
    const { wal } = await openWal({ onFsync: (k) => void (k === 'data' && dataSyncs++) });
    const waits: Array<Promise<unknown>> = [];
    // 200 "requests" of 10 appends each, issued concurrently.
    for (let r = 0; r < 200; r++) {
      let last = 0;
      for (let i = 0; i < 10; i++) {
        last = wal.nextLsn;
        wal.append(last, words, 1, `{"r":${r},"i":${i}}`);
      }
      waits.push(wal.waitDurable(last));
      if (r % 50 === 0) await new Promise((res) => setImmediate(res));
    }
    await Promise.all(waits);
    expect(wal.durableLsn).toBe(2000);
    expect(dataSyncs).toBeGreaterThan(0);
    expect(dataSyncs).toBeLessThan(200);
    expect(wal.commits).toBe(dataSyncs);
    await wal.close();
    const { report, seen } = await openWal();
    expect(report.records).toBe(2000);
    expect(seen).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
  });

  it('rolls segments, keeps LSNs contiguous across them and reads them back in order', async () => {
    const { wal } = await openWal({ segmentBytes: 4096 });
    for (let i = 0; i < 20; i++) await appendN(wal, 10, (n) => JSON.stringify({ n, pad: 'x'.repeat(100) }));
    expect(wal.segmentCount()).toBeGreaterThan(3);
    const reader = wal.openReader();
    const got: number[] = [];
    for (;;) {
      const r = await reader.read(37);
      if (payloadCount(r.payloads) === 0) break;
      for (const p of payloadTexts(r.payloads)) got.push((JSON.parse(p) as { n: number }).n);
    }
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    await reader.close();
    await wal.close();
    const again = await openWal({ segmentBytes: 4096 });
    expect(again.report.records).toBe(200);
    expect(again.wal.nextLsn).toBe(201);
    await again.wal.close();
  });

  it('truncates a torn tail (record cut mid-way) and continues after it', async () => {
    const { wal } = await openWal();
    await appendN(wal, 10);
    await wal.close();
    const [seg] = await segments();
    const size = (await stat(seg!)).size;
    await truncate(seg!, size - 5); // the last record lost its last 5 bytes
    const { wal: w2, report } = await openWal();
    expect(report.records).toBe(9);
    expect(report.truncatedBytes).toBeGreaterThan(0);
    expect(report.truncatedAt?.reason).toMatch(/truncated/);
    expect(w2.nextLsn).toBe(10);
    await appendN(w2, 3);
    await w2.close();
    const { report: r3, seen } = await openWal();
    expect(r3.records).toBe(12);
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('truncates a torn tail whose last record has a flipped byte', async () => {
    const { wal } = await openWal();
    await appendN(wal, 10);
    await wal.close();
    const [seg] = await segments();
    const buf = await readFile(seg!);
    buf[buf.length - 3]! ^= 0xff;
    await writeFile(seg!, buf);
    const { wal: w2, report } = await openWal();
    expect(report.records).toBe(9);
    expect(report.truncatedAt?.reason).toMatch(/checksum/);
    await w2.close();
  });

  it('fails loudly with AUDIT_ERR_WAL_CORRUPT (segment and offset) on damage in the middle', async () => {
    const { wal } = await openWal();
    await appendN(wal, 10);
    await wal.close();
    const [seg] = await segments();
    const buf = await readFile(seg!);
    const secondRecord = SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + buf.readUInt32LE(SEGMENT_HEADER_BYTES);
    buf[secondRecord + RECORD_HEADER_BYTES + 2]! ^= 0xff;
    await writeFile(seg!, buf);
    const err = await Wal.open(opts(), () => undefined).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAuditError(err, 'AUDIT_ERR_WAL_CORRUPT')).toBe(true);
    expect((err as Error).message).toContain(path.basename(seg!));
    expect((err as Error).message).toContain(`offset ${secondRecord}`);
  });

  it('treats damage in a non-final segment as corruption, never as a torn tail', async () => {
    const { wal } = await openWal({ segmentBytes: 2048 });
    for (let i = 0; i < 10; i++) await appendN(wal, 5, (n) => JSON.stringify({ n, pad: 'y'.repeat(80) }));
    await wal.close();
    const segs = await segments();
    expect(segs.length).toBeGreaterThan(2);
    const size = (await stat(segs[0]!)).size;
    await truncate(segs[0]!, size - 1);
    await expect(Wal.open(opts({ segmentBytes: 2048 }), () => undefined)).rejects.toMatchObject({ code: 'AUDIT_ERR_WAL_CORRUPT' });
  });

  it('removes a final segment whose header was torn while it was being created', async () => {
    const { wal } = await openWal();
    await appendN(wal, 4);
    await wal.close();
    await writeFile(path.join(dir, 'segments', `${String(5).padStart(20, '0')}.wal`), Buffer.from('OTAUD'));
    const { wal: w2, report } = await openWal();
    expect(report.records).toBe(4);
    expect(await segments()).toHaveLength(1);
    await appendN(w2, 2);
    expect(w2.durableLsn).toBe(6);
    await w2.close();
  });

  it('streams from a cursor without loading the backlog, and deletes segments only behind every cursor', async () => {
    const { wal } = await openWal({ segmentBytes: 4096 });
    const a = await wal.registerCursor('a');
    const b = await wal.registerCursor('b');
    expect(a.lsn).toBe(0);
    for (let i = 0; i < 10; i++) await appendN(wal, 10, (n) => JSON.stringify({ n, pad: 'z'.repeat(100) }));
    const before = wal.segmentCount();
    const ra = wal.openReader(a);
    const all = await ra.read(1000);
    expect(all.lastLsn).toBe(100);
    await wal.saveCursor('a', all.end);
    const { DedupeWindow } = await import('../../../receiver/wal/dedupe-window.ts');
    const chunks = new DedupeWindow({ dir: path.join(dir, 'dedupe'), windowMillis: 3600_000, maxIds: 1000 });
    await chunks.open(0);
    chunks.finishRecovery();
    expect(await wal.collectGarbage(chunks, async () => undefined)).toBe(0); // b has not moved
    const rb = wal.openReader(b);
    const half = await rb.read(50);
    await wal.saveCursor('b', half.end);
    const deleted = await wal.collectGarbage(chunks, async () => undefined);
    expect(deleted).toBeGreaterThan(0);
    expect(wal.segmentCount()).toBe(before - deleted);
    expect(wal.firstLsn()).toBeLessThanOrEqual(51);
    // The rest is still readable by b.
    const rest = await rb.read(1000);
    expect(rest.firstLsn).toBe(51);
    expect(rest.lastLsn).toBe(100);
    await ra.close();
    await rb.close();
    await wal.close();
    // Cursors survive a restart.
    const { wal: w2 } = await openWal({ segmentBytes: 4096 });
    expect((await w2.registerCursor('a')).lsn).toBe(100);
    expect((await w2.registerCursor('b')).lsn).toBe(50);
    await w2.close();
  });
});
