/**
 * Background failures of the pipeline (heads snapshot, WAL segment deletion) are logged with their
 * code through the injected logger — a real pino logger writing JSON lines to a collecting stream —
 * and retried, never swallowed. The failures are real: the target path is made unwritable by putting
 * a directory or a file where the pipeline expects the other (the tests run as root, so a read-only
 * mode would not stop a write).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@otel-audit/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditExporter, ExportBatch, ExportResult } from '../../../receiver/contracts.ts';
import { type AuditPipeline, createAuditPipeline } from '../../../receiver/pipeline/index.ts';
import { eventToRecord, makeEvent, request } from './fixtures.ts';

type Line = Record<string, unknown> & { level: number; msg: string; component?: string; err?: { code?: string; message: string } };

/** A pino logger (JSON) whose lines are parsed into `lines`. */
function collectingLogger(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) if (text !== '') lines.push(JSON.parse(text) as Line);
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', destination, pretty: false }), lines };
}

class RecordingExporter implements AuditExporter {
  readonly name = 'recording';
  entries = 0;
  async start() {}
  async shutdown() {}
  async export(batch: ExportBatch): Promise<ExportResult> {
    this.entries += batch.entries.length;
    return { status: 'success' };
  }
}

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const WARN = 40;
const INFO = 30;

let dir: string;
const open: AuditPipeline[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pipeline-logging-'));
});
afterEach(async () => {
  for (const p of open.splice(0)) await p.shutdown().catch(() => undefined); // the broken paths may fail the final snapshot again
  await rm(dir, { recursive: true, force: true });
});

describe('pipeline: background failures are logged', () => {
  it('logs a failed heads snapshot with its code once, retries it, and logs the recovery', async () => {
    const { logger, lines } = collectingLogger();
    // A clock moved past the snapshot interval before each maintenance tick.
    let clock = Date.now();
    const p = createAuditPipeline({ dataDir: dir, instanceId: 'log-1', headsSnapshotIntervalMillis: 100 }, { logger, now: () => clock });
    await p.start();
    open.push(p);
    const headsFile = path.join(dir, 'wal', 'state', 'heads.json');
    // A non-empty directory where the snapshot goes: the atomic rename onto it fails (EISDIR/ENOTEMPTY).
    await rm(headsFile, { force: true });
    await mkdir(path.join(headsFile, 'in-the-way'), { recursive: true });

    for (let i = 0; i < 3; i++) {
      const r = await p.consume(request([eventToRecord(makeEvent())]), { transport: 'http' });
      expect(r.status).toBe('success');
      clock += 1000;
      await p.maintain();
    }
    const failures = lines.filter((l) => l.msg === 'chain heads snapshot not written');
    // The same failure three maintenance ticks in a row is logged once.
    expect(failures).toHaveLength(1);
    const f = failures[0]!;
    expect(f.level).toBe(WARN);
    expect(f.component).toBe('pipeline');
    expect(f.file).toBe(headsFile);
    expect(['EISDIR', 'ENOTEMPTY', 'EEXIST']).toContain(f.code);
    expect(f.err?.message).toContain(f.code as string);

    // Fixed: the next snapshot is written and the recovery is logged.
    await rm(headsFile, { recursive: true });
    const r = await p.consume(request([eventToRecord(makeEvent())]), { transport: 'http' });
    expect(r.status).toBe('success');
    clock += 1000;
    await p.maintain();
    expect(lines.some((l) => l.level === INFO && l.msg === 'chain heads snapshot written again')).toBe(true);
  });

  it('logs a failed WAL segment deletion with its code', async () => {
    const { logger, lines } = collectingLogger();
    const exp = new RecordingExporter();
    const p = createAuditPipeline({ dataDir: dir, instanceId: 'log-2', wal: { segmentBytes: 8192 } }, { logger });
    p.addExporter(exp, { maxBatchDelayMillis: 0, initialBackoffMillis: 1, maxBackoffMillis: 20 });
    await p.start();
    open.push(p);
    // The dedupe directory replaced by a file: the ids of deleted segments cannot be kept, so the
    // segments must not be deleted — the failure is logged and retried.
    const dedupeDir = path.join(dir, 'wal', 'dedupe');
    await rm(dedupeDir, { recursive: true, force: true });
    await writeFile(dedupeDir, 'not a directory');

    const events = Array.from({ length: 60 }, () => makeEvent());
    for (let i = 0; i < 60; i += 5) {
      const r = await p.consume(request(events.slice(i, i + 5).map((e) => eventToRecord(e))), { transport: 'http' });
      expect(r.status).toBe('success');
    }
    await until(() => exp.entries === 60, 'export');
    await until(async () => {
      await p.maintain();
      return lines.some((l) => l.msg === 'WAL segment deletion failed; retrying');
    }, 'the GC failure to be logged');
    const f = lines.find((l) => l.msg === 'WAL segment deletion failed; retrying')!;
    expect(f.level).toBe(WARN);
    expect(f.component).toBe('pipeline');
    expect(f.walDir).toBe(path.join(dir, 'wal'));
    expect(typeof f.code).toBe('string');
    expect(f.err?.message).toMatch(/ENOTDIR|EEXIST|not a directory/i);
    // Nothing was deleted: the first segment is still there.
    expect(p.status().wal.firstLsn).toBe(1);
  });

  it('is silent without a logger (library use)', async () => {
    let clock = Date.now();
    const p = createAuditPipeline({ dataDir: dir, instanceId: 'log-3', headsSnapshotIntervalMillis: 100 }, { now: () => clock });
    await p.start();
    open.push(p);
    const written: unknown[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: unknown) => {
      written.push(chunk);
      return true;
    }) as typeof process.stderr.write;
    try {
      const headsFile = path.join(dir, 'wal', 'state', 'heads.json');
      await rm(headsFile, { force: true });
      await mkdir(path.join(headsFile, 'x'), { recursive: true });
      await p.consume(request([eventToRecord(makeEvent())]), { transport: 'http' });
      clock += 1000;
      await p.maintain();
    } finally {
      process.stderr.write = orig;
    }
    expect(written).toEqual([]);
  });
});
