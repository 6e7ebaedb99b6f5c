import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AuditError, isAuditError } from '@otel-audit/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_HASH } from '../../../integrity/chain-hash.ts';
import type { CheckpointRecord } from '../../../integrity/checkpointer.ts';
import type { AuditExporter, ExportBatch, ExportResult, IngestResult, WalEventEntry } from '../../../receiver/contracts.ts';
import { readDeadLetters } from '../../../receiver/dead-letter/index.ts';
import {
  type AuditPipeline,
  createAuditPipeline,
  type PipelineConfigInput,
  renderPrometheusMetrics,
} from '../../../receiver/pipeline/index.ts';
import { checkWal, eventToRecord, makeEvent, plainRecord, request } from './fixtures.ts';

let dir: string;
const open: AuditPipeline[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pipeline-test-'));
});
afterEach(async () => {
  for (const p of open.splice(0)) await p.shutdown();
  await rm(dir, { recursive: true, force: true });
});

async function startPipeline(config: PipelineConfigInput = {}, exporters: AuditExporter[] = [], hooks = {}): Promise<AuditPipeline> {
  const p = createAuditPipeline({ dataDir: dir, instanceId: 'test-1', ...config }, hooks);
  for (const e of exporters) p.addExporter(e, { maxBatchDelayMillis: 0, initialBackoffMillis: 1, maxBackoffMillis: 20 });
  await p.start();
  open.push(p);
  return p;
}

function success(r: IngestResult) {
  if (r.status !== 'success') throw new Error(`expected success, got ${r.status}: ${'error' in r ? r.error.message : ''}`);
  return r;
}

/** An exporter that records batches and can be told to refuse. */
class TestExporter implements AuditExporter {
  readonly name: string;
  batches: ExportBatch[] = [];
  refuse: ExportResult | undefined;
  constructor(name = 'test') {
    this.name = name;
  }
  async start() {}
  async shutdown() {}
  async export(batch: ExportBatch): Promise<ExportResult> {
    if (this.refuse) return this.refuse;
    this.batches.push(batch);
    return { status: 'success' };
  }
  get lsns(): number[] {
    return this.batches.flatMap((b) => b.entries.map((e) => e.lsn));
  }
}

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('pipeline: sequencing and hash chains', () => {
  it('sequences per tenant chain with contiguous seq, recomputable hashes and a global LSN', async () => {
    const p = await startPipeline();
    const tenants = ['acme', 'globex', 'acme', 'initech'];
    for (const t of tenants) {
      success(
        await p.consume(request(Array.from({ length: 5 }, () => eventToRecord(makeEvent({ tenant: { id: t } })))), { transport: 'http' }),
      );
    }
    const st = p.status();
    expect(st.chains.map((c) => [c.chainId, c.seq]).sort()).toEqual([
      ['acme/test-1', 10],
      ['globex/test-1', 5],
      ['initech/test-1', 5],
    ]);
    await p.shutdown();
    const check = await checkWal(dir);
    expect(check.problems).toEqual([]);
    expect(check.entries.map((e) => e.lsn)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const first = check.entries[0]!;
    expect(first.prevHash).toBe(GENESIS_HASH);
    expect(first.resource.attributes['service.name']).toBe('billing');
    expect(first.scope).toEqual({ name: 'otel-audit-sdk', version: '0.1.0' });
  });

  it('keeps chains contiguous and ids unique under many concurrent requests with overlapping ids', async () => {
    let dataSyncs = 0;
    const p = await startPipeline({}, [], { onFsync: (k: string) => void (k === 'data' && dataSyncs++) });
    const events = Array.from({ length: 400 }, (_, i) => makeEvent({ tenant: { id: `t${i % 3}` } }));
    const calls: Array<Promise<IngestResult>> = [];
    for (let r = 0; r < 40; r++) {
      // Each request carries 20 events, half of them shared with another concurrent request.
      const slice = events.slice(r * 10, r * 10 + 20);
      calls.push(p.consume(request(slice.map((e) => eventToRecord(e))), { transport: 'grpc' }));
    }
    const results = (await Promise.all(calls)).map(success);
    const accepted = results.reduce((n, r) => n + r.accepted, 0);
    const duplicates = results.reduce((n, r) => n + r.duplicates, 0);
    expect(accepted).toBe(400);
    expect(accepted + duplicates).toBe(40 * 20 - 10); // the last request has only 10
    expect(dataSyncs).toBeLessThan(40);
    await p.shutdown();
    const check = await checkWal(dir);
    expect(check.problems).toEqual([]);
    expect(check.ids.size).toBe(400);
  });

  it('does not acknowledge a duplicate before its in-flight original is durable', async () => {
    const p = await startPipeline();
    const e = makeEvent();
    const first = p.consume(request([eventToRecord(e)]), { transport: 'http' });
    const second = p.consume(request([eventToRecord(e)]), { transport: 'http' });
    let firstDone = false;
    void first.then(() => (firstDone = true));
    const r2 = success(await second);
    expect(r2.duplicates).toBe(1);
    // The duplicate's answer came after (or with) the original's fsync.
    await Promise.resolve();
    expect(firstDone || p.status().wal.lastLsn >= 1).toBe(true);
    expect(p.status().wal.lastLsn).toBe(1);
    success(await first);
  });
});

describe('pipeline: dedupe', () => {
  it('stores duplicates once within a request, across requests and across a restart', async () => {
    let p = await startPipeline();
    const a = makeEvent();
    const b = makeEvent();
    const r1 = success(await p.consume(request([eventToRecord(a), eventToRecord(a), eventToRecord(b)]), { transport: 'http' }));
    expect([r1.accepted, r1.duplicates]).toEqual([2, 1]);
    const r2 = success(await p.consume(request([eventToRecord(b)]), { transport: 'http' }));
    expect([r2.accepted, r2.duplicates]).toEqual([0, 1]);
    await p.shutdown();
    open.length = 0;
    p = await startPipeline();
    const r3 = success(await p.consume(request([eventToRecord(a), eventToRecord(b), eventToRecord(makeEvent())]), { transport: 'http' }));
    expect([r3.accepted, r3.duplicates]).toEqual([1, 2]);
    expect(p.status().counters.deduped).toBe(2);
    await p.shutdown();
    const check = await checkWal(dir);
    expect(check.problems).toEqual([]);
    expect(check.entries).toHaveLength(3);
  });

  it('remembers ids after their WAL segments were exported and deleted, across restarts', async () => {
    const exp = new TestExporter();
    let p = await startPipeline({ wal: { segmentBytes: 8192 } }, [exp]);
    const events = Array.from({ length: 60 }, () => makeEvent());
    for (let i = 0; i < 60; i += 5)
      success(await p.consume(request(events.slice(i, i + 5).map((e) => eventToRecord(e))), { transport: 'http' }));
    await until(() => exp.lsns.length === 60, 'export');
    await until(async () => {
      await p.maintain();
      return p.status().dedupe.chunkFiles > 0;
    }, 'segment deletion');
    const st = p.status();
    expect(st.wal.firstLsn).toBeGreaterThan(1);
    await p.shutdown();
    open.length = 0;
    const exp2 = new TestExporter();
    p = await startPipeline({ wal: { segmentBytes: 8192 } }, [exp2]);
    expect(p.status().chains[0]!.seq).toBe(60);
    const r = success(await p.consume(request(events.map((e) => eventToRecord(e))), { transport: 'http' }));
    expect([r.accepted, r.duplicates]).toEqual([0, 60]);
    const fresh = success(await p.consume(request([eventToRecord(makeEvent())]), { transport: 'http' }));
    expect(fresh.accepted).toBe(1);
    // The chain continues from the persisted head, not from genesis.
    await until(() => exp2.lsns.includes(61), 'export of the new entry');
    const entry = exp2.batches.flatMap((b) => b.entries).find((e) => e.lsn === 61) as WalEventEntry;
    expect(entry.seq).toBe(61);
    expect(entry.prevHash).not.toBe(GENESIS_HASH);
  });
});

describe('pipeline: rejection, tenant binding, non-audit records, dead letters', () => {
  it('rejects records of another tenant when the token is bound, accepts the rest', async () => {
    const p = await startPipeline();
    const mine = makeEvent({ tenant: { id: 'acme' } });
    const theirs = makeEvent({ tenant: { id: 'globex' } });
    const r = success(
      await p.consume(request([eventToRecord(mine), eventToRecord(theirs)]), {
        transport: 'http',
        boundTenantId: 'acme',
        principal: 'ci-token',
      }),
    );
    expect([r.accepted, r.rejected]).toEqual([1, 1]);
    expect(r.message).toContain('record 1');
    expect(r.message).toContain('globex');
    await p.shutdown();
    const letters = await readDeadLetters(dir);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ transport: 'http', principal: 'ci-token', code: 'AUDIT_ERR_FORBIDDEN', recordIndex: 1 });
    // The CLI prints it.
    const cli = spawnSync(process.execPath, [path.join(import.meta.dirname, '../../../cli/main.ts'), 'dead-letters', '--data-dir', dir], {
      encoding: 'utf8',
    });
    expect(cli.status).toBe(0);
    expect(cli.stdout).toMatch(/http token=ci-token record 1 AUDIT_ERR_FORBIDDEN: tenant "globex"/);
  });

  it('drops non-audit records by default (counted, warned) and rejects them with nonAudit: reject', async () => {
    let p = await startPipeline();
    let r = success(await p.consume(request([plainRecord(), eventToRecord(makeEvent()), plainRecord()]), { transport: 'http' }));
    expect([r.accepted, r.rejected]).toEqual([1, 0]);
    expect(r.message).toMatch(/warning: dropped 2 non-audit record/);
    expect(p.status().counters.nonAudit).toBe(2);
    await p.shutdown();
    open.length = 0;
    p = await startPipeline({ nonAudit: 'reject' });
    r = success(await p.consume(request([plainRecord(), eventToRecord(makeEvent())]), { transport: 'grpc' }));
    expect([r.accepted, r.rejected]).toEqual([1, 1]);
    expect(r.message).toMatch(/record 0: not an audit record/);
    await p.shutdown();
    const letters = await readDeadLetters(dir);
    expect(letters.map((l) => l.reason)).toEqual([expect.stringMatching(/not an audit record/)]);
  });

  it('dead-letters invalid records with the reason and the original record, and caps the message', async () => {
    const p = await startPipeline({ maxMessageLength: 200 });
    const bad = Array.from({ length: 30 }, () => eventToRecord(makeEvent(), { 'audit.outcome': 'maybe' }));
    const surrogate = eventToRecord(makeEvent({ reason: 'bad \ud800 text' }));
    const r = success(await p.consume(request([...bad, surrogate, eventToRecord(makeEvent())]), { transport: 'http' }));
    expect([r.accepted, r.rejected]).toEqual([1, 31]);
    expect(r.message.length).toBeLessThanOrEqual(200);
    expect(r.message).toMatch(/more \(see dead letters\)/);
    await p.shutdown();
    const letters = await readDeadLetters(dir, { limit: 1000 });
    expect(letters).toHaveLength(31);
    expect(letters[0]!.reason).toMatch(/outcome/);
    expect(letters[30]!.reason).toMatch(/RFC 8785|surrogate/i);
    const rec = letters[0]!.record as { logRecord: { attributes: Record<string, unknown>; timeUnixNano: string } };
    expect(rec.logRecord.attributes['audit.outcome']).toBe('maybe');
    expect(typeof rec.logRecord.timeUnixNano).toBe('string');
  });

  it('rejects unknown or mistyped config keys with AUDIT_ERR_INVALID_CONFIG naming the key', () => {
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as AuditError;
      }
      throw new Error('no error');
    };
    const e1 = err(() => createAuditPipeline({ durability: 'sometimes' } as never));
    expect(isAuditError(e1, 'AUDIT_ERR_INVALID_CONFIG')).toBe(true);
    expect(e1.message).toContain('durability');
    const e2 = err(() => createAuditPipeline({ wal: { segmentBytez: 1 } } as never));
    expect(e2.message).toContain('segmentBytez');
    const e3 = err(() => createAuditPipeline({ exporters: { maxBatchEntries: 0 } }));
    expect(e3.message).toContain('exporters.maxBatchEntries');
  });
});

describe('pipeline: back-pressure', () => {
  it('answers retryable past maxBacklogBytes while an exporter refuses, accepts again after it recovers, loses nothing', async () => {
    const exp = new TestExporter();
    exp.refuse = { status: 'retryable', error: new AuditError('AUDIT_ERR_STORE_UNAVAILABLE', 'down') };
    const p = await startPipeline({ maxBacklogBytes: 20_000, backpressureRetryAfterMillis: 250 }, [exp]);
    const acked: string[] = [];
    let refused: IngestResult | undefined;
    for (let i = 0; i < 100 && !refused; i++) {
      const evs = Array.from({ length: 5 }, () => makeEvent());
      const r = await p.consume(request(evs.map((e) => eventToRecord(e))), { transport: 'http' });
      if (r.status === 'success') acked.push(...evs.map((e) => e.eventId));
      else refused = r;
    }
    expect(refused).toMatchObject({ status: 'retryable', retryAfterMillis: 250 });
    expect(refused?.status === 'retryable' && refused.error.code).toBe('AUDIT_ERR_BACKPRESSURE');
    expect(p.status().backpressure.active).toBe(true);
    expect(p.status().exporters[0]!.lagEntries).toBe(acked.length);
    exp.refuse = undefined;
    await until(() => !p.status().backpressure.active, 'backlog to drain');
    const after = makeEvent();
    success(await p.consume(request([eventToRecord(after)]), { transport: 'http' }));
    acked.push(after.eventId);
    await until(() => exp.lsns.length === acked.length, 'export of everything');
    const exported = new Set(exp.batches.flatMap((b) => b.entries.flatMap((e) => (e.kind === 'event' ? [e.event.eventId] : []))));
    expect(acked.every((id) => exported.has(id))).toBe(true);
  });

  it('answers retryable when free disk space is below minFreeDiskBytes', async () => {
    let free = 10 * 1024 ** 3;
    const p = await startPipeline({ minFreeDiskBytes: 1024 ** 3 }, [], { freeDiskBytes: async () => free });
    success(await p.consume(request([eventToRecord(makeEvent())]), { transport: 'http' }));
    free = 100;
    await p.maintain();
    const r = await p.consume(request([eventToRecord(makeEvent())]), { transport: 'http' });
    expect(r.status).toBe('retryable');
    free = 10 * 1024 ** 3;
    await p.maintain();
    success(await p.consume(request([eventToRecord(makeEvent())]), { transport: 'http' }));
  });
});

describe('pipeline: lifecycle and status', () => {
  it('is not ready before start, refuses after shutdown, and shutdown is idempotent', async () => {
    const p = createAuditPipeline({ dataDir: dir });
    const r = await p.consume(request([eventToRecord(makeEvent())]), { transport: 'http' });
    expect(r).toMatchObject({ status: 'retryable' });
    await p.start();
    expect(p.ready).toBe(true);
    const inflight = p.consume(request([eventToRecord(makeEvent())]), { transport: 'http' });
    const s1 = p.shutdown();
    const s2 = p.shutdown();
    success(await inflight);
    await Promise.all([s1, s2]);
    expect((await p.consume(request([eventToRecord(makeEvent())]), { transport: 'http' })).status).toBe('retryable');
    // The instance id was generated once and persisted.
    const p2 = createAuditPipeline({ dataDir: dir });
    await p2.start();
    open.push(p2);
    expect(p2.status().instanceId).toBe(p.status().instanceId);
    expect(p2.status().chains[0]!.seq).toBe(1);
  });

  it('refuses a second pipeline on the same data dir while the first runs', async () => {
    await startPipeline();
    // The lock names a live process other than us (the test runner's parent), as a second receiver would.
    await writeFile(path.join(dir, 'LOCK'), `${process.ppid}\n`);
    const p2 = createAuditPipeline({ dataDir: dir });
    await expect(p2.start()).rejects.toMatchObject({ code: 'AUDIT_ERR_DATA_DIR_LOCKED' });
  });

  it('reports status and renders Prometheus metrics', async () => {
    const exp = new TestExporter('clickhouse');
    const p = await startPipeline({}, [exp]);
    success(await p.consume(request([eventToRecord(makeEvent()), plainRecord()]), { transport: 'http' }));
    await until(() => p.status().exporters[0]!.cursorLsn === 1, 'export');
    const st = p.status();
    expect(st.counters).toMatchObject({ received: 2, accepted: 1, nonAudit: 1 });
    expect(st.wal).toMatchObject({ firstLsn: 1, lastLsn: 1, segments: 1 });
    expect(st.exporters[0]).toMatchObject({ name: 'clickhouse', lagEntries: 0, lagBytes: 0, failing: false });
    expect(st.fsync.byKind.data).toBeGreaterThan(0);
    const text = renderPrometheusMetrics(st);
    expect(text).toContain('otel_audit_records_accepted_total 1');
    expect(text).toContain('otel_audit_exporter_lag_entries{exporter="clickhouse"} 0');
    expect(text).toMatch(/otel_audit_fsync_duration_seconds_bucket\{le="\+Inf"\} \d+/);
    expect(text).toContain('otel_audit_chain_seq{chain_id="acme/test-1",tenant_id="acme"} 1');
    expect(await readdir(path.join(dir, 'wal', 'cursors'))).toEqual(['clickhouse.json']);
  });
});

describe('pipeline: durability none', () => {
  it('acknowledges after write() without fdatasync', async () => {
    let dataSyncs = 0;
    const p = await startPipeline({ durability: 'none' }, [], { onFsync: (k: string) => void (k === 'data' && dataSyncs++) });
    const r = success(await p.consume(request([eventToRecord(makeEvent()), eventToRecord(makeEvent())]), { transport: 'http' }));
    expect(r.accepted).toBe(2);
    expect(dataSyncs).toBe(0);
    await p.shutdown();
    expect((await checkWal(dir)).entries).toHaveLength(2);
  });
});

describe('pipeline: corrupt WAL', () => {
  it('refuses to start with AUDIT_ERR_WAL_CORRUPT naming the segment, and releases the data dir', async () => {
    const p = await startPipeline();
    for (let i = 0; i < 3; i++)
      success(await p.consume(request([eventToRecord(makeEvent()), eventToRecord(makeEvent())]), { transport: 'http' }));
    await p.shutdown();
    open.length = 0;
    const { readFile } = await import('node:fs/promises');
    const seg = path.join(dir, 'wal', 'segments', (await readdir(path.join(dir, 'wal', 'segments')))[0]!);
    const buf = await readFile(seg);
    buf[32 + 45]! ^= 0xff; // inside the first record's payload; valid records follow
    await writeFile(seg, buf);
    const p2 = createAuditPipeline({ dataDir: dir });
    const err = await p2.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAuditError(err, 'AUDIT_ERR_WAL_CORRUPT')).toBe(true);
    expect((err as Error).message).toContain(path.basename(seg));
    expect((err as Error).message).toContain('offset 32');
    expect((await readdir(dir)).includes('LOCK')).toBe(false);
  });
});

describe('pipeline: checkpoint records in the WAL', () => {
  it('appends a checkpoint after the entries it covers, hands it to exporters in order, and recovers it', async () => {
    const exp = new TestExporter();
    const sequenced: Array<{ seq: number; recovered: boolean }> = [];
    let p = await startPipeline({}, [exp], {
      onSequenced: (e: { seq: number; recovered: boolean }) => sequenced.push({ seq: e.seq, recovered: e.recovered }),
    });
    success(
      await p.consume(request([eventToRecord(makeEvent()), eventToRecord(makeEvent()), eventToRecord(makeEvent())]), { transport: 'http' }),
    );
    expect(sequenced).toEqual([1, 2, 3].map((seq) => ({ seq, recovered: false })));
    const head = p.status().chains[0]!;
    const record = {
      version: 1,
      chainId: head.chainId,
      origin: 'o',
      treeSize: 3,
      rootHash: 'ab'.repeat(32),
      lastSeq: 3,
      note: 'n',
    } as unknown as CheckpointRecord;
    const r = await p.appendCheckpoint(record);
    expect(r).toEqual({ status: 'success', value: { lsn: 4 } });
    const ahead = await p.appendCheckpoint({ ...record, treeSize: 9 });
    expect(ahead.status).toBe('failure');
    await until(() => exp.lsns.length === 4, 'export of the checkpoint');
    const kinds = exp.batches.flatMap((b) => b.entries.map((e) => e.kind));
    expect(kinds).toEqual(['event', 'event', 'event', 'checkpoint']);
    await p.shutdown();
    open.length = 0;
    p = await startPipeline();
    expect(p.lastCheckpoints()).toEqual([record]);
    // The next event continues the chain after the checkpoint record.
    success(await p.consume(request([eventToRecord(makeEvent())]), { transport: 'http' }));
    await p.shutdown();
    const check = await checkWal(dir);
    expect(check.problems).toEqual([]);
    expect(check.entries.map((e) => [e.lsn, e.seq])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [5, 4],
    ]);
  });
});
