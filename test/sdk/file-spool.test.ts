import fs from 'node:fs';
import path from 'node:path';
import type { AuditError } from '@otel-audit/core';
import { openFileSpool } from '@otel-audit/sdk/spool/file-spool';
import type { Spool } from '@otel-audit/sdk/spool/types';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/util.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const CTX = JSON.stringify({ resource: { attributes: { 'service.name': 't' } }, scope: { name: 's' } });

function open(dir: string, problems: AuditError[] = [], maxSegmentBytes = 1 << 20): Spool {
  const spool = openFileSpool({ dir, maxBytes: 1 << 24, maxSegmentBytes, onProblem: (e) => problems.push(e) });
  cleanups.push(() => spool.close());
  return spool;
}

async function appendAll(spool: Spool, items: string[]): Promise<void> {
  const results = await Promise.all(items.map((t) => spool.append(CTX, Buffer.from(t))));
  expect(results.every((r) => r.status === 'success')).toBe(true);
}

async function readAll(spool: Spool): Promise<{ texts: string[]; end: { segment: number; offset: number } }> {
  const batch = await spool.read(100_000);
  return { texts: batch.records.map((r) => r.payload.toString()), end: batch.end };
}

const segments = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.seg'))
    .sort();

describe('file spool', () => {
  it('reopens with unacknowledged records after the cursor, and deletes acknowledged segments', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const a = open(dir, [], 4096);
    const items = Array.from({ length: 100 }, (_, i) => `record-${i}-${'x'.repeat(100)}`);
    await appendAll(a, items.slice(0, 50));
    await appendAll(a, items.slice(50));
    expect(segments(dir).length).toBeGreaterThan(2);
    const first = await a.read(30);
    expect(first.records.map((r) => r.payload.toString())).toEqual(items.slice(0, 30));
    await a.ack(first.end, 30);
    await a.close();

    const b = open(dir);
    expect(b.stats().pendingRecords).toBe(70);
    const rest = await readAll(b);
    expect(rest.texts).toEqual(items.slice(30));
    await b.ack(rest.end, rest.texts.length);
    expect(b.stats()).toMatchObject({ pendingRecords: 0, pendingBytes: 0 });
    // Every segment before the cursor's is gone.
    expect(segments(dir).length).toBeLessThanOrEqual(1);
  });

  it('cuts a torn tail of the newest segment without reporting it', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const a = open(dir);
    await appendAll(a, ['one', 'two', 'three']);
    await a.close();
    const file = path.join(dir, segments(dir).at(-1)!);
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 3); // the last frame lost its end, as after a crash mid-write
    const problems: AuditError[] = [];
    const b = open(dir, problems);
    expect((await readAll(b)).texts).toEqual(['one', 'two']);
    expect(problems).toEqual([]);
    expect(fs.statSync(file).size).toBeLessThan(size - 3);
    // New appends go on and are readable after the surviving ones.
    await appendAll(b, ['four']);
    expect((await readAll(b)).texts).toEqual(['one', 'two', 'four']);
  });

  it('reports damage inside an older segment as AUDIT_ERR_SPOOL_CORRUPT and keeps the readable part', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const a = open(dir, [], 4096);
    const items = Array.from({ length: 60 }, (_, i) => `r${i}-${'y'.repeat(100)}`);
    for (const t of items) await appendAll(a, [t]);
    await a.close();
    const [oldest] = segments(dir);
    const file = path.join(dir, oldest!);
    const bytes = fs.readFileSync(file);
    const at = bytes.length - 20; // a byte in the last frame of the oldest segment
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    fs.writeFileSync(file, bytes);
    fs.writeFileSync(path.join(dir, '00000000000000000099.seg.bogus'), 'ignored: not a segment name');
    const problems: AuditError[] = [];
    const b = open(dir, problems);
    const { texts } = await readAll(b);
    expect(problems.map((p) => p.code)).toEqual(['AUDIT_ERR_SPOOL_CORRUPT']);
    expect(texts.length).toBe(items.length - 1);
    expect(texts).toEqual(items.filter((t) => texts.includes(t)));
  });

  it('moves a file that is not a segment aside', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const a = open(dir);
    await appendAll(a, ['kept']);
    await a.close();
    fs.writeFileSync(path.join(dir, '00000000000000000000.seg'), 'garbage that is long enough to not be a fresh header');
    const problems: AuditError[] = [];
    const b = open(dir, problems);
    expect((await readAll(b)).texts).toEqual(['kept']);
    expect(problems.map((p) => p.code)).toEqual(['AUDIT_ERR_SPOOL_CORRUPT']);
    expect(fs.existsSync(path.join(dir, '00000000000000000000.seg.corrupt'))).toBe(true);
  });
});
