import { ExportResultCode } from '@opentelemetry/core';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { OTLPExporterError } from '@opentelemetry/otlp-exporter-base';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffDelayMillis } from '../../sdk/backoff.ts';
import { Sender } from '../../sdk/sender.ts';
import { createMemorySpool } from '../../sdk/spool/memory-spool.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('backoff', () => {
  const settings = { minBackoffMillis: 100, maxBackoffMillis: 1000 };
  it('doubles the cap per attempt up to the maximum, with the delay in [cap/2, cap]', () => {
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelayMillis(a, settings, undefined, () => 0))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([0, 1, 2, 3, 4].map((a) => backoffDelayMillis(a, settings, undefined, () => 0.999999))).toEqual([100, 200, 400, 800, 1000]);
  });
  it("uses the receiver's Retry-After instead, bounded at 5 minutes", () => {
    expect(backoffDelayMillis(7, settings, 2500, () => 0.5)).toBe(2500);
    expect(backoffDelayMillis(0, settings, 3_600_000)).toBe(300_000);
  });
});

describe('sender retry schedule (fake timers)', () => {
  it('retries a retryable failure after the backoff delays, then acknowledges', async () => {
    vi.useFakeTimers();
    const calls: number[] = [];
    let failures = 3;
    const exporter: LogRecordExporter = {
      export(records: ReadableLogRecord[], done) {
        calls.push(Date.now());
        if (failures-- > 0) done({ code: ExportResultCode.FAILED, error: new OTLPExporterError('Service Unavailable', 503) });
        else done({ code: ExportResultCode.SUCCESS });
        void records;
      },
      shutdown: () => Promise.resolve(),
      forceFlush: () => Promise.resolve(),
    };
    const spool = createMemorySpool(1 << 20);
    const errors: string[] = [];
    const sender = new Sender({
      spool,
      exporter,
      takePartialSuccess: undefined,
      maxExportBatchSize: 10,
      exportDelayMillis: 0,
      exportTimeoutMillis: 60_000,
      minBackoffMillis: 100,
      maxBackoffMillis: 10_000,
      random: () => 0,
      onError: (e) => errors.push(`${e.code} ${e.message}`),
      onRejected: () => undefined,
    });
    const ctx = JSON.stringify({ resource: { attributes: {} }, scope: { name: 's' } });
    const payload = Buffer.from(JSON.stringify([1, 0, 1, 0, 9, 'INFO', 'a.b', null, { 'audit.event_id': 'x' }, null, null, null, 0]));
    await spool.append(ctx, payload);
    sender.start();
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(1);
    // Delays with random() = 0: 50, 100, 200 ms.
    await vi.advanceTimersByTimeAsync(49);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(199);
    expect(calls).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.map((t) => t - t0)).toEqual([0, 50, 150, 350]);
    expect(spool.stats().pendingRecords).toBe(0);
    expect(sender.stats()).toEqual({ exported: 1, rejected: 0, failedAttempts: 3 });
    expect(errors[0]).toContain('HTTP 503');
    await sender.stop();
  });
});
