/**
 * `FileSpool.appendBatch` (the record worker's path) against the reference it replaces: one
 * `append()` per record. Same sequence of records into two spools; the segment files must be
 * byte-identical (frames, context frames, segment rolls), the refusals the same, and the records
 * read back (from the in-memory cache and from disk after a reopen) the same.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AuditError } from '@otel-audit/core';
import { type FileSpoolHandle, openFileSpool } from '@otel-audit/sdk/spool/file-spool';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/util.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const CTX_A = JSON.stringify({ resource: { attributes: { 'service.name': 'a' } }, scope: { name: 's' } });
const CTX_B = JSON.stringify({ resource: { attributes: { 'service.name': 'b', note: 'é😀' } }, scope: { name: 's' } });

function open(dir: string, options: { maxBytes?: number; maxSegmentBytes?: number } = {}): FileSpoolHandle {
  const problems: AuditError[] = [];
  const spool = openFileSpool({
    dir,
    maxBytes: options.maxBytes ?? 1 << 24,
    maxSegmentBytes: options.maxSegmentBytes ?? 1 << 20,
    onProblem: (e) => problems.push(e),
  });
  cleanups.push(() => spool.close());
  return spool;
}

function newDir(): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return dir;
}

const files = (dir: string): Record<string, Buffer> =>
  Object.fromEntries(
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.seg'))
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(dir, f))]),
  );

/** Records of varied sizes and scripts (multi-byte UTF-8, a lone surrogate, which both paths write as U+FFFD). */
const records = (n: number, seed: number): string[] =>
  Array.from({ length: n }, (_, i) => {
    const k = (i * 7919 + seed) % 97;
    return `[${i},"${'x'.repeat(k)}","ü€😀${i % 3 === 0 ? '\ud800' : ''}",${seed}]`;
  });

type Step = { ctx: string; texts: string[] };

/** Apply the steps to a spool one append() per record (the reference) and with appendBatch. */
async function both(steps: Step[], options: { maxBytes?: number; maxSegmentBytes?: number }) {
  const refDir = newDir();
  const batchDir = newDir();
  const ref = open(refDir, options);
  const batch = open(batchDir, options);
  const refFailures: number[][] = [];
  const batchFailures: number[][] = [];
  for (const step of steps) {
    const results = await Promise.all(step.texts.map((t) => ref.append(step.ctx, Buffer.from(t, 'utf8'))));
    refFailures.push(results.flatMap((r, i) => (r.status === 'success' ? [] : [i])));
    const failed = await batch.appendBatch(step.ctx, step.texts);
    batchFailures.push(failed.map(([i]) => i));
    for (const [, error] of failed) expect(error.code).toBe('AUDIT_ERR_SPOOL_FULL');
  }
  return { refDir, batchDir, ref, batch, refFailures, batchFailures };
}

describe('FileSpool.appendBatch', () => {
  it('writes the same bytes as one append() per record, across contexts and segment rolls', async () => {
    const steps: Step[] = [
      { ctx: CTX_A, texts: records(40, 1) },
      { ctx: CTX_B, texts: records(3, 2) },
      { ctx: CTX_A, texts: records(200, 3) },
      { ctx: CTX_A, texts: [] },
      { ctx: CTX_B, texts: records(1, 4) },
    ];
    const { refDir, batchDir, ref, batch, refFailures, batchFailures } = await both(steps, { maxSegmentBytes: 4096 });
    expect(batchFailures).toEqual(refFailures);
    expect(refFailures.flat()).toEqual([]);
    const refFiles = files(refDir);
    expect(Object.keys(refFiles).length).toBeGreaterThan(5);
    expect(files(batchDir)).toEqual(refFiles);
    expect(batch.stats()).toEqual(ref.stats());

    // Read back from the cache (just appended), then from disk after a reopen.
    const all = steps.flatMap((s) => s.texts.map((t) => ({ ctx: s.ctx, text: Buffer.from(t, 'utf8').toString('utf8') })));
    const cached = await batch.read(100_000);
    expect(cached.records.map((r) => ({ ctx: r.contextJson, text: r.payload.toString('utf8') }))).toEqual(all);
    expect(cached.end).toEqual((await ref.read(100_000)).end);
    await batch.close();
    const reopened = open(batchDir, { maxSegmentBytes: 4096 });
    const fromDisk = await reopened.read(100_000);
    expect(fromDisk.records.map((r) => ({ ctx: r.contextJson, text: r.payload.toString('utf8') }))).toEqual(all);
  });

  it('refuses what does not fit (AUDIT_ERR_SPOOL_FULL) exactly where append() does, and keeps the rest', async () => {
    // Room for part of the second step; smaller records later in it still fit, as with append().
    const big = records(30, 5).map((t, i) => (i % 2 ? t : t + 'y'.repeat(600)));
    const steps: Step[] = [
      { ctx: CTX_A, texts: records(20, 6) },
      { ctx: CTX_A, texts: big },
    ];
    const { refDir, batchDir, ref, batch, refFailures, batchFailures } = await both(steps, { maxBytes: 9000, maxSegmentBytes: 2048 });
    expect(refFailures[1]!.length).toBeGreaterThan(0);
    expect(refFailures[1]!.length).toBeLessThan(big.length);
    expect(batchFailures).toEqual(refFailures);
    expect(files(batchDir)).toEqual(files(refDir));
    expect(batch.stats()).toEqual(ref.stats());
  });

  it('fails the whole batch with AUDIT_ERR_SHUTDOWN after close', async () => {
    const spool = open(newDir());
    await spool.close();
    const failed = await spool.appendBatch(CTX_A, ['[1]', '[2]']);
    expect(failed.map(([i, e]) => [i, e.code])).toEqual([
      [0, 'AUDIT_ERR_SHUTDOWN'],
      [1, 'AUDIT_ERR_SHUTDOWN'],
    ]);
  });
});
