import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AuditError, encodeWalEntry } from '@otel-audit/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AuditExporter, ExportBatch, ExportResult } from '../../../receiver/contracts.ts';
import { backoffDelay, ExporterRunner } from '../../../receiver/exporting/index.ts';
import { Wal } from '../../../receiver/wal/wal.ts';

let dir: string;
let wal: Wal;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'runner-test-'));
  wal = (await Wal.open({ dir, segmentBytes: 1 << 20, durability: 'fsync', retentionMillis: 0 }, () => undefined)).wal;
});
afterEach(async () => {
  vi.useRealTimers();
  await wal.close();
  await rm(dir, { recursive: true, force: true });
});

const words = new Uint32Array([1, 2, 3, 4]);
async function append(n: number): Promise<void> {
  let last = 0;
  for (let i = 0; i < n; i++) {
    last = wal.nextLsn;
    wal.append(
      last,
      words,
      1,
      encodeWalEntry({
        kind: 'event',
        lsn: last,
        chainId: 'acme/runner-test',
        tenantId: 'acme',
        seq: last,
        prevHash: '0'.repeat(64),
        hash: 'f'.repeat(64),
        receivedAtNanos: '1700000000000000000',
        event: { eventId: `lsn-${last}` },
        resource: { attributes: {}, schemaUrl: '' },
        scope: { name: '', version: '' },
        extraAttributes: {},
      }),
    );
  }
  await wal.waitDurable(last);
}

/** Yield to I/O without timers (they may be faked). */
async function settle(cond: () => boolean, what: string): Promise<void> {
  // A safety net against hangs, not a timing assertion: real I/O (fsync) completes between turns.
  const giveUp = performance.now() + 20_000;
  while (performance.now() < giveUp) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

class ScriptedExporter implements AuditExporter {
  readonly name = 'scripted';
  calls: ExportBatch[] = [];
  script: ExportResult[] = [];
  hold: Promise<void> | undefined;
  async start() {}
  async shutdown() {}
  async export(batch: ExportBatch): Promise<ExportResult> {
    this.calls.push(batch);
    if (this.hold) await this.hold;
    return this.script.shift() ?? { status: 'success' };
  }
}

const retryable = (ms?: number): ExportResult => ({
  status: 'retryable',
  error: new AuditError('AUDIT_ERR_STORE_UNAVAILABLE', 'down'),
  ...(ms === undefined ? {} : { retryAfterMillis: ms }),
});

async function cursorOnDisk(): Promise<number> {
  return (JSON.parse(await readFile(path.join(dir, 'cursors', 'scripted.json'), 'utf8')) as { lsn: number }).lsn;
}

describe('backoffDelay', () => {
  it('is full jitter over a doubling cap', () => {
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, 100, 1000, () => 0.999999))).toEqual([99, 199, 399, 799, 999, 999]);
    expect(backoffDelay(3, 100, 1000, () => 0)).toBe(0);
  });
});

describe('ExporterRunner', () => {
  it('retries with exponential backoff and full jitter, and advances the cursor only after success', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    await append(10);
    const exp = new ScriptedExporter();
    exp.script = [retryable(), retryable(), retryable(), retryable()];
    const runner = new ExporterRunner(wal, exp, {
      maxBatchEntries: 100,
      maxBatchDelayMillis: 0,
      initialBackoffMillis: 100,
      maxBackoffMillis: 300,
      random: () => 0.5,
    });
    await runner.start();
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      await settle(() => exp.calls.length === attempt && runner.status().state === 'backoff', `attempt ${attempt}`);
      expect(runner.status().cursorLsn).toBe(0);
      delays.push(runner.status().lastBackoffMillis);
      await vi.advanceTimersByTimeAsync(runner.status().lastBackoffMillis);
    }
    expect(delays).toEqual([50, 100, 150, 150]);
    await settle(() => runner.status().cursorLsn === 10, 'cursor after success');
    expect(exp.calls.map((b) => [b.firstLsn, b.lastLsn])).toEqual(Array(5).fill([1, 10]));
    expect(await cursorOnDisk()).toBe(10);
    expect(runner.status()).toMatchObject({ failing: false, consecutiveFailures: 0, lagEntries: 0, exportedEntries: 10 });
    await runner.stop();
  });

  it('honours retryAfterMillis', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    await append(3);
    const exp = new ScriptedExporter();
    exp.script = [retryable(5000)];
    const runner = new ExporterRunner(wal, exp, {
      maxBatchEntries: 100,
      maxBatchDelayMillis: 0,
      initialBackoffMillis: 10,
      maxBackoffMillis: 100,
      random: () => 0.5,
    });
    await runner.start();
    await settle(() => runner.status().state === 'backoff', 'backoff');
    expect(runner.status().lastBackoffMillis).toBe(5000);
    await vi.advanceTimersByTimeAsync(4999);
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(exp.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await settle(() => runner.status().cursorLsn === 3, 'cursor');
    expect(exp.calls).toHaveLength(2);
    await runner.stop();
  });

  it('never skips a batch that failed permanently: retries at max backoff, flagged as failing', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    await append(4);
    const exp = new ScriptedExporter();
    const failure: ExportResult = { status: 'failure', error: new AuditError('AUDIT_ERR_EXPORT_REJECTED', 'schema mismatch') };
    exp.script = [failure, failure, failure];
    const runner = new ExporterRunner(wal, exp, {
      maxBatchEntries: 100,
      maxBatchDelayMillis: 0,
      initialBackoffMillis: 10,
      maxBackoffMillis: 700,
      random: () => 0.5,
    });
    await runner.start();
    for (let attempt = 1; attempt <= 3; attempt++) {
      await settle(() => exp.calls.length === attempt && runner.status().state === 'backoff', `attempt ${attempt}`);
      expect(runner.status()).toMatchObject({ failing: true, lastBackoffMillis: 700, cursorLsn: 0 });
      expect(runner.status().lastError?.code).toBe('AUDIT_ERR_EXPORT_REJECTED');
      await vi.advanceTimersByTimeAsync(700);
    }
    await settle(() => runner.status().cursorLsn === 4, 'eventual success');
    expect(new Set(exp.calls.map((b) => `${b.firstLsn}-${b.lastLsn}`))).toEqual(new Set(['1-4']));
    expect(runner.status().failing).toBe(false);
    await runner.stop();
  });

  it('wakes on new appends, respects maxBatchEntries, and re-delivers exactly the same range after a crash before the cursor save', async () => {
    const exp = new ScriptedExporter();
    const runner = new ExporterRunner(wal, exp, {
      maxBatchEntries: 4,
      maxBatchDelayMillis: 0,
      initialBackoffMillis: 10,
      maxBackoffMillis: 100,
    });
    await runner.start();
    await append(10);
    await settle(() => runner.status().cursorLsn === 10, 'catch up');
    expect(exp.calls.map((b) => [b.firstLsn, b.lastLsn])).toEqual([
      [1, 4],
      [5, 8],
      [9, 10],
    ]);
    // Export of 11..12 succeeds at the destination, but the process "crashes" before the cursor save.
    let release!: () => void;
    exp.hold = new Promise((r) => (release = r));
    await append(2);
    await settle(() => exp.calls.length === 4, 'export started');
    expect(await cursorOnDisk()).toBe(10);
    // More entries arrive before the restart: the re-sent batch must still be exactly 11..12.
    await append(5);
    // A new runner (as after a restart) starts from the saved cursor: the same range again.
    const exp2 = new ScriptedExporter();
    const runner2 = new ExporterRunner(wal, Object.assign(exp2, {}), {
      maxBatchEntries: 4,
      maxBatchDelayMillis: 0,
      initialBackoffMillis: 10,
      maxBackoffMillis: 100,
    });
    await runner2.start();
    await settle(() => exp2.calls.length === 1, 're-delivery');
    expect([exp2.calls[0]!.firstLsn, exp2.calls[0]!.lastLsn]).toEqual([11, 12]);
    await settle(() => exp2.calls.length === 3, 'the rest');
    expect(exp2.calls.map((b) => [b.firstLsn, b.lastLsn])).toEqual([
      [11, 12],
      [13, 16],
      [17, 17],
    ]);
    release();
    await runner.stop();
    await runner2.stop();
  });

  it('waits up to maxBatchDelayMillis for a fuller batch', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const exp = new ScriptedExporter();
    const runner = new ExporterRunner(wal, exp, {
      maxBatchEntries: 100,
      maxBatchDelayMillis: 1000,
      initialBackoffMillis: 10,
      maxBackoffMillis: 100,
    });
    await runner.start();
    await append(3);
    await settle(() => runner.status().state === 'batching', 'batching');
    await append(2);
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(exp.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1000);
    await settle(() => exp.calls.length === 1, 'batch');
    expect([exp.calls[0]!.firstLsn, exp.calls[0]!.lastLsn]).toEqual([1, 5]);
    await runner.stop();
  });
});

describe('ExporterRunner start-up', () => {
  it('retries exporter.start() with backoff while it fails, then exports; shuts the exporter down on stop', async () => {
    await append(2);
    let starts = 0;
    let shutdowns = 0;
    const calls: ExportBatch[] = [];
    const exporter: AuditExporter = {
      name: 'flaky-start',
      async start() {
        if (++starts < 3) throw new Error('connection refused');
      },
      async shutdown() {
        shutdowns++;
      },
      async export(batch) {
        calls.push(batch);
        return { status: 'success' };
      },
    };
    const runner = new ExporterRunner(wal, exporter, {
      maxBatchEntries: 100,
      maxBatchDelayMillis: 0,
      initialBackoffMillis: 1,
      maxBackoffMillis: 2,
    });
    await runner.start();
    await settle(() => calls.length === 1, 'export after start retries');
    expect(starts).toBe(3);
    expect(runner.status().failing).toBe(false);
    expect(runner.status().lastError?.message).toMatch(/connection refused/);
    await runner.stop();
    expect(shutdowns).toBe(1);
  });
  it('enforces exportTimeoutMillis: the exporter gets an aborted signal, the attempt counts as failed, and the batch is exported once the call settles', async () => {
    await append(5);
    const signals: AbortSignal[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const exp = new ScriptedExporter();
    exp.export = async function (this: ScriptedExporter, batch: ExportBatch, options?: { signal?: AbortSignal }) {
      this.calls.push(batch);
      if (options?.signal) signals.push(options.signal);
      // The first call ignores its signal and hangs until released: a stuck store.
      if (this.calls.length === 1) await held;
      return { status: 'success' };
    };
    const runner = new ExporterRunner(wal, exp, {
      maxBatchEntries: 100,
      maxBatchDelayMillis: 0,
      initialBackoffMillis: 1,
      maxBackoffMillis: 5,
      exportTimeoutMillis: 50,
      random: () => 0.5,
    });
    await runner.start();
    await settle(() => runner.status().lastError?.code === 'AUDIT_ERR_EXPORT_FAILED', 'the deadline to pass');
    expect(runner.status().lastError?.message).toMatch(/exceeded exportTimeoutMillis \(50 ms\)/);
    expect(signals[0]!.aborted).toBe(true);
    // No second attempt while the first call is still running.
    expect(exp.calls.length).toBe(1);
    expect(runner.status().cursorLsn).toBe(0);
    release();
    await settle(() => runner.status().cursorLsn === 5, 'the retry to succeed');
    expect(exp.calls.length).toBe(2);
    expect(exp.calls[1]!.firstLsn).toBe(exp.calls[0]!.firstLsn);
    await runner.stop();
  });
});
