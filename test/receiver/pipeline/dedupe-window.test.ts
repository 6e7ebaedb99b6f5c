/**
 * The dedupe window is set by time, not by the in-memory table: a real pipeline with a tiny
 * `dedupeMaxIds`, real WAL segments exported and deleted, real run files, restarts.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAuditError } from '@otel-audit/core';
import type { AuditEvent } from '@otel-audit/schema';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditExporter, ExportBatch, ExportResult, IngestResult, WalEventEntry } from '../../../receiver/contracts.ts';
import {
  type AuditPipeline,
  createAuditPipeline,
  type PipelineConfigInput,
  type PipelineHooks,
  renderPrometheusMetrics,
} from '../../../receiver/pipeline/index.ts';
import { readRunSummary } from '../../../receiver/wal/dedupe-run.ts';
import { wordsToUuid } from '../../../receiver/wal/format.ts';
import { eventToRecord, makeEvent, request } from './fixtures.ts';

let dir: string;
const open: AuditPipeline[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dedupe-window-pipeline-'));
});
afterEach(async () => {
  for (const p of open.splice(0)) await p.shutdown();
  await rm(dir, { recursive: true, force: true });
});

/** Records every exported event entry. */
class CountingExporter implements AuditExporter {
  readonly name = 'counting';
  entries: WalEventEntry[] = [];
  async start() {}
  async shutdown() {}
  async export(batch: ExportBatch): Promise<ExportResult> {
    for (const e of batch.entries) if (e.kind === 'event') this.entries.push(e);
    return { status: 'success' };
  }
  count(eventId: string): number {
    return this.entries.filter((e) => e.event.eventId === eventId).length;
  }
}

async function start(config: PipelineConfigInput, exporter: AuditExporter, hooks: PipelineHooks = {}): Promise<AuditPipeline> {
  const p = createAuditPipeline(
    { dataDir: dir, instanceId: 'dedupe-1', wal: { segmentBytes: 64 * 1024 }, dedupeMaxIds: 1024, ...config },
    hooks,
  );
  p.addExporter(exporter, { maxBatchDelayMillis: 0, initialBackoffMillis: 1, maxBackoffMillis: 20 });
  await p.start();
  open.push(p);
  return p;
}

function success(r: IngestResult) {
  if (r.status !== 'success') throw new Error(`expected success, got ${r.status}: ${'error' in r ? r.error.message : ''}`);
  return r;
}

async function send(p: AuditPipeline, events: AuditEvent[]) {
  return success(await p.consume(request(events.map((e) => eventToRecord(e))), { transport: 'http' }));
}

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 4000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('pipeline: a dedupe window set by time', () => {
  it('acknowledges a resend as a duplicate after the in-memory table turned over ten times, and after a restart; stored once', {
    timeout: 120_000,
  }, async () => {
    const exp = new CountingExporter();
    let p = await start({}, exp);
    const first = makeEvent();
    expect((await send(p, [first])).accepted).toBe(1);
    const others: AuditEvent[] = [];
    for (let n = 0; n < 20; n++) {
      const batch = Array.from({ length: 512 }, () => makeEvent());
      others.push(...batch);
      expect((await send(p, batch)).accepted).toBe(512);
    }
    await until(() => exp.entries.length === 1 + others.length, 'export');
    await until(async () => {
      await p.maintain();
      return p.status().wal.firstLsn > 1 && p.status().dedupe.runIds > 9000 && p.status().dedupe.pendingTables === 0;
    }, 'deletion of the first segment and the spills');
    const st = p.status().dedupe;
    expect(st.ids).toBeLessThanOrEqual(1024 * 5); // live table + frozen ones awaiting their spill
    expect(st.runIds).toBeGreaterThan(9000);
    expect(st.effectiveWindowMillis).toBe(st.windowMillis);
    expect(st.diskBytesPerRunId).toBeGreaterThan(0);
    expect(renderPrometheusMetrics(p.status())).toMatch(/otel_audit_dedupe_window_short 0/);

    const again = await send(p, [first, others[100]!, others[5000]!]);
    expect([again.accepted, again.duplicates]).toEqual([0, 3]);

    await p.shutdown();
    open.length = 0;
    const exp2 = new CountingExporter();
    p = await start({}, exp2);
    expect(p.status().recovery!.dedupeIdsLoaded).toBeGreaterThan(9000);
    const afterRestart = await send(p, [first, ...others.filter((_, i) => i % 50 === 0)]);
    expect(afterRestart.accepted).toBe(0);
    expect(afterRestart.duplicates).toBe(1 + Math.ceil(others.length / 50));
    const fresh = makeEvent();
    expect((await send(p, [fresh])).accepted).toBe(1);
    await until(() => exp2.count(fresh.eventId) === 1, 'export of the fresh event');
    // Stored once: exported once in the first life, never again.
    expect(exp.count(first.eventId)).toBe(1);
    expect(exp2.count(first.eventId)).toBe(0);
    expect(exp2.entries.length).toBe(1);
  });

  it('accepts an id again once it is older than the window (plus at most one slice)', { timeout: 120_000 }, async () => {
    let now = Date.now();
    const exp = new CountingExporter();
    const p = await start({ dedupeWindowMillis: 60_000, dedupeSliceMillis: 1000 }, exp, { now: () => now });
    const first = makeEvent();
    await send(p, [first]);
    for (let n = 0; n < 6; n++) {
      now += 1000;
      await send(
        p,
        Array.from({ length: 512 }, () => makeEvent()),
      );
    }
    await until(async () => {
      await p.maintain();
      return p.status().dedupe.runIds > 2000;
    }, 'spills');
    now += 30_000;
    expect((await send(p, [first])).duplicates).toBe(1);
    now += 62_000; // past the window and the slice it was accepted in
    const r = await send(p, [first]);
    expect([r.accepted, r.duplicates]).toEqual([1, 0]);
    await until(() => exp.count(first.eventId) === 2, 'export of the re-accepted event');
    // Runs whose every id left the window are deleted (what is left: the re-accepted id, spilled
    // before its segment was deleted).
    // (Merges, spills and expiry run in the background: poll until the files on disk agree.)
    const runFiles = async () => (await readdir(path.join(dir, 'wal', 'dedupe'))).filter((n) => /^run-\d{12}\.bin$/.test(n));
    await until(async () => {
      await p.maintain();
      return p.status().dedupe.runIds <= 1 && (await runFiles()).length <= 1;
    }, 'expiry of runs');
  });

  it('remembers every acknowledged id after SIGKILLs at arbitrary points of spills, manifest writes and segment deletions', {
    timeout: 180_000,
  }, async () => {
    const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dedupe-crash-child.ts');
    const acked: string[] = [];
    for (let life = 0; life < 3; life++) {
      const proc = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let buf = '';
      let ready = false;
      let lifeAcks = 0;
      let stderr = '';
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      proc.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === 'READY') ready = true;
          else if (line.startsWith('ACK ')) {
            const ids = line.slice(4).split(',');
            acked.push(...ids);
            lifeAcks += ids.length;
          }
        }
      });
      const exited = new Promise<void>((r) => proc.on('exit', () => r()));
      await until(() => ready || proc.exitCode !== null, 'child ready');
      expect(stderr).not.toMatch(/Error/);
      // Run past several spills and segment deletions, then kill at a random moment.
      await until(() => lifeAcks >= 3000 || proc.exitCode !== null, 'acks');
      await new Promise((r) => setTimeout(r, Math.random() * 300));
      proc.kill('SIGKILL');
      await exited;
    }
    expect(acked.length).toBeGreaterThan(9000);
    const exp = new CountingExporter();
    const p = await start({ dedupeMaxIds: 1024 }, exp);
    expect(p.status().dedupe.runIds).toBeGreaterThan(0);
    const byId = new Map(acked.map((id) => [id, true]));
    const events = [...byId.keys()].map((eventId) => makeEvent({ eventId }));
    let accepted = 0;
    for (let i = 0; i < events.length; i += 500) accepted += (await send(p, events.slice(i, i + 500))).accepted;
    expect(accepted).toBe(0);
  });

  it('answers failure with AUDIT_ERR_DEDUPE_CORRUPT when a lookup needs a damaged run page, and reports it', {
    timeout: 120_000,
  }, async () => {
    const exp = new CountingExporter();
    let p = await start({}, exp);
    for (let n = 0; n < 6; n++)
      await send(
        p,
        Array.from({ length: 512 }, () => makeEvent()),
      );
    await until(async () => {
      await p.maintain();
      return p.status().dedupe.runIds > 2000;
    }, 'spills');
    await p.shutdown();
    open.length = 0;
    const dedupeDir = path.join(dir, 'wal', 'dedupe');
    const run = (await readdir(dedupeDir)).find((n) => n.startsWith('run-'))!;
    const summary = readRunSummary(path.join(dedupeDir, run));
    const firstId = wordsToUuid(summary.first[0]!, summary.first[1]!, summary.first[2]!, summary.first[3]!);
    const buf = await readFile(path.join(dedupeDir, run));
    buf[16 + 200]! ^= 0x08; // inside page 0, which holds the run's first id
    await writeFile(path.join(dedupeDir, run), buf);

    const exp2 = new CountingExporter();
    p = await start({}, exp2);
    const before = makeEvent();
    const r = await p.consume(request([eventToRecord(before), eventToRecord(makeEvent({ eventId: firstId }))]), { transport: 'http' });
    expect(r.status).toBe('failure');
    if (r.status === 'failure') {
      expect(isAuditError(r.error, 'AUDIT_ERR_DEDUPE_CORRUPT')).toBe(true);
      expect(r.error.message).toContain(run);
    }
    // The record sequenced before the failing lookup is kept (durable, exported once).
    await until(() => exp2.count(before.eventId) === 1, 'export of the record before the failure');
    // The background scrub finds the page too.
    await until(async () => {
      await p.maintain();
      return p.status().dedupe.corrupt.length === 1;
    }, 'scrub');
    expect(renderPrometheusMetrics(p.status())).toMatch(/otel_audit_dedupe_corrupt_pages 1/);
  });
});
