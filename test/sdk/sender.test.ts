import { ExportResultCode } from '@opentelemetry/core';
import { OTLPExporterError } from '@opentelemetry/otlp-exporter-base';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { backoffDelayMillis } from '@otel-audit/core';
import { parseAuditLoggerOptions } from '@otel-audit/sdk';
import { Sender } from '@otel-audit/sdk/sender';
import { createMemorySpool } from '@otel-audit/sdk/spool/memory-spool';
import { afterEach, describe, expect, it, vi } from 'vitest';

afterEach(() => {
  vi.useRealTimers();
});

describe('backoff', () => {
  // The SDK's defaults of the shared policy: doubling, equal jitter.
  const settings = { initialIntervalMillis: 100, maxIntervalMillis: 1000, multiplier: 2, jitter: 0.5 };
  it('doubles the cap per attempt up to the maximum, with the delay in [cap/2, cap]', () => {
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelayMillis(settings, a, { random: () => 0 }))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([0, 1, 2, 3, 4].map((a) => backoffDelayMillis(settings, a, { random: () => 0.999999 }))).toEqual([99, 199, 399, 799, 999]);
  });
  it('options: one backoff vocabulary, the old keys accepted as aliases', () => {
    expect(parseAuditLoggerOptions({}, {}).backoff).toEqual({
      initialIntervalMillis: 1000,
      maxIntervalMillis: 30_000,
      multiplier: 2,
      jitter: 0.5,
    });
    expect(parseAuditLoggerOptions({ minBackoffMillis: 10, maxBackoffMillis: 50 }, {}).backoff).toEqual({
      initialIntervalMillis: 10,
      maxIntervalMillis: 50,
      multiplier: 2,
      jitter: 0.5,
    });
    expect(parseAuditLoggerOptions({ backoff: { multiplier: 1.5, jitter: 1 }, maxBackoffMillis: 5000 }, {}).backoff).toEqual({
      initialIntervalMillis: 1000,
      maxIntervalMillis: 5000,
      multiplier: 1.5,
      jitter: 1,
    });
  });
  it("uses the receiver's Retry-After instead, bounded at 5 minutes", () => {
    expect(backoffDelayMillis(settings, 7, { retryAfterMillis: 2500, random: () => 0.5 })).toBe(2500);
    expect(backoffDelayMillis(settings, 0, { retryAfterMillis: 3_600_000 })).toBe(300_000);
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
      backoff: { initialIntervalMillis: 100, maxIntervalMillis: 10_000, multiplier: 2, jitter: 0.5 },
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

describe('gRPC RetryInfo', () => {
  it('reads google.rpc.RetryInfo from grpc-status-details-bin', async () => {
    const { Metadata } = await import('@grpc/grpc-js');
    const protobuf = (await import('protobufjs')).default;
    const { grpcRetryDelayMillis, classifyExportError } = await import('@otel-audit/sdk/otlp-exporter');
    const duration = protobuf.Writer.create().uint32(8).int64(2).uint32(16).int32(500_000_000).finish();
    const retryInfo = protobuf.Writer.create().uint32(10).bytes(duration).finish();
    const any = protobuf.Writer.create().uint32(10).string('type.googleapis.com/google.rpc.RetryInfo').uint32(18).bytes(retryInfo).finish();
    const status = protobuf.Writer.create().uint32(8).int32(14).uint32(18).string('overloaded').uint32(26).bytes(any).finish();
    const metadata = new Metadata();
    metadata.set('grpc-status-details-bin', Buffer.from(status));
    expect(grpcRetryDelayMillis(metadata)).toBe(2500);
    expect(classifyExportError(Object.assign(new Error('unavailable'), { code: 14, metadata }))).toEqual({
      kind: 'retryable',
      status: 'gRPC 14',
      retryAfterMillis: 2500,
    });
    expect(classifyExportError(Object.assign(new Error('bad'), { code: 3, metadata: new Metadata() }))).toEqual({
      kind: 'invalid',
      status: 'gRPC 3',
    });
    expect(classifyExportError(new OTLPExporterError('Bad Request', 400))).toEqual({ kind: 'invalid', status: 'HTTP 400' });
    expect(classifyExportError(new OTLPExporterError('Unauthorized', 401))).toEqual({ kind: 'retryable', status: 'HTTP 401' });
    expect(classifyExportError(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))).toEqual({
      kind: 'retryable',
      status: 'ECONNREFUSED',
    });
  });
});
