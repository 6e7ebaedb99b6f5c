import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuditError } from '@otel-audit/core';
import { type AuditLogger, createAuditLogger, type RejectedReport } from '@otel-audit/sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startOtlpEndpoint } from './helpers/otlp-endpoint.ts';
import { sampleEvent, tempDir, until } from './helpers/util.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `recordThread` and `exportThread` of the loggers the tests create (each delivery test runs in several modes). */
let recordThread: 'main' | 'worker' = 'main';
let exportThread: 'main' | 'worker' = 'main';

async function setup(
  extra: Record<string, unknown> = {},
  endpointOptions: { httpPort?: number } = {},
  protocol: 'http/protobuf' | 'http/json' | 'grpc' = 'http/protobuf',
  longTimeout = false,
) {
  const endpoint = await startOtlpEndpoint(endpointOptions);
  cleanups.push(() => endpoint.close());
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const errors: AuditError[] = [];
  const rejected: RejectedReport[] = [];
  const audit = createAuditLogger({
    spoolDir: dir,
    recordThread,
    exportThread,
    minBackoffMillis: 10,
    maxBackoffMillis: 50,
    onError: (e) => errors.push(e),
    onRejected: (r) => rejected.push(r),
    ...extra,
    exporter: { protocol, endpoint: protocol === 'grpc' ? endpoint.grpcUrl : endpoint.httpUrl, timeoutMillis: longTimeout ? 5000 : 500 },
  });
  cleanups.push(async () => void (await audit.shutdown({ timeoutMillis: 100 })));
  return { endpoint, audit, errors, rejected, dir };
}

function recordN(audit: AuditLogger, n: number, extra: Record<string, unknown> = {}): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => audit.record(sampleEvent({ details: { i }, ...extra }))));
}

describe.each([
  ['main', 'main'],
  ['worker', 'main'],
  // The export worker encodes protobuf requests straight from the spool (sdk/spooled-logs-encoder.ts).
  ['worker', 'worker'],
] as const)('delivery (recordThread: %s, exportThread: %s)', (recordMode, exportMode) => {
  beforeEach(() => {
    recordThread = recordMode;
    exportThread = exportMode;
  });
  it('keeps events in the spool while the receiver answers 503 and delivers them later', async () => {
    const { endpoint, audit, errors } = await setup();
    endpoint.defaultAnswer = { kind: 'error', httpStatus: 503, grpcCode: 14 };
    const ids = await recordN(audit, 5);
    await endpoint.waitFor(() => endpoint.requestCount >= 3);
    expect(endpoint.accepted).toHaveLength(0);
    expect(audit.stats().pendingRecords).toBe(5);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.code).toBe('AUDIT_ERR_EXPORT_FAILED');
    endpoint.defaultAnswer = { kind: 'ok' };
    expect(await audit.flush({ timeoutMillis: 10_000 })).toEqual({ status: 'success' });
    expect(endpoint.eventIds().sort()).toEqual([...ids].sort());
    expect(audit.stats()).toMatchObject({ pendingRecords: 0, exported: 5 });
  });

  it('waits for a receiver that is down and delivers once it is up', async () => {
    // Find a free port, leave it closed while recording.
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const errors: AuditError[] = [];
    const audit = createAuditLogger({
      spoolDir: dir,
      recordThread,
      exporter: { endpoint: `http://127.0.0.1:${port}/v1/logs`, timeoutMillis: 500 },
      minBackoffMillis: 10,
      maxBackoffMillis: 50,
      onError: (e) => errors.push(e),
    });
    cleanups.push(async () => void (await audit.shutdown({ timeoutMillis: 100 })));
    const ids = await recordN(audit, 3);
    await until(() => errors.some((e) => e.code === 'AUDIT_ERR_EXPORT_FAILED'));
    const early = await audit.flush({ timeoutMillis: 50 });
    expect(early).toMatchObject({ status: 'retryable', pendingRecords: 3 });
    const endpoint = await startOtlpEndpoint({ httpPort: port });
    cleanups.push(() => endpoint.close());
    expect(await audit.flush({ timeoutMillis: 10_000 })).toEqual({ status: 'success' });
    expect(endpoint.eventIds().sort()).toEqual([...ids].sort());
  });

  it('honours an HTTP Retry-After that fits in the exporter timeout (the OTel exporter retries itself)', async () => {
    const { endpoint, audit, errors } = await setup({}, {}, 'http/protobuf', true);
    endpoint.script({ kind: 'error', httpStatus: 503, grpcCode: 14, retryAfterSeconds: 1 });
    const ids = await recordN(audit, 2);
    expect(await audit.flush({ timeoutMillis: 10_000 })).toEqual({ status: 'success' });
    expect(endpoint.requestCount).toBe(2);
    expect(endpoint.eventIds()).toEqual(ids);
    // One attempt from the sender's point of view: nothing reported, no backoff of its own.
    expect(errors).toEqual([]);
    expect(audit.stats().failedAttempts).toBe(0);
  });

  it('isolates the records a 400 refers to, reports them, and does not retry them', async () => {
    const { endpoint, audit, rejected } = await setup();
    const bad = { kind: 'error', httpStatus: 400, grpcCode: 3, message: 'bad record' } as const;
    // 4 records → 400; [1,2] ok; [3,4] → 400; [3] ok; [4] → 400: record 4 is rejected.
    endpoint.script(bad, { kind: 'ok' }, bad, { kind: 'ok' }, bad);
    const ids = await recordN(audit, 4);
    expect(await audit.flush({ timeoutMillis: 10_000 })).toEqual({ status: 'success' });
    expect(endpoint.eventIds()).toEqual(ids.slice(0, 3));
    expect(rejected).toEqual([{ reason: 'invalid', count: 1, message: expect.stringContaining('HTTP 400'), eventIds: [ids[3]] }]);
    expect(endpoint.requestCount).toBe(5);
    expect(audit.stats()).toMatchObject({ exported: 3, rejected: 1, pendingRecords: 0 });
  });

  it.each(['http/protobuf', 'http/json', 'grpc'] as const)('reports a partial_success over %s without retrying', async (protocol) => {
    const { endpoint, audit, rejected } = await setup({}, {}, protocol);
    endpoint.script({ kind: 'partial', rejected: 1, message: 'actor.id: unknown actor' });
    const ids = await recordN(audit, 3);
    expect(await audit.flush({ timeoutMillis: 10_000 })).toEqual({ status: 'success' });
    expect(endpoint.requestCount).toBe(1);
    expect(rejected).toEqual([{ reason: 'partial_success', count: 1, message: 'actor.id: unknown actor', eventIds: ids }]);
    expect(audit.stats()).toMatchObject({ exported: 2, rejected: 1, pendingRecords: 0 });
  });

  it('rejects record() with AUDIT_ERR_SPOOL_FULL when the spool is full, and recovers once delivered', async () => {
    const { endpoint, audit } = await setup({ maxSpoolBytes: 8192 });
    endpoint.defaultAnswer = { kind: 'error', httpStatus: 503, grpcCode: 14 };
    const accepted: string[] = [];
    let failure: unknown;
    for (let i = 0; i < 100 && failure === undefined; i++) {
      try {
        accepted.push(await audit.record(sampleEvent({ details: { i, pad: 'x'.repeat(400) } })));
      } catch (err) {
        failure = err;
      }
    }
    expect(failure).toMatchObject({ name: 'AuditError', code: 'AUDIT_ERR_SPOOL_FULL', retryable: true });
    expect(accepted.length).toBeGreaterThan(3);
    expect(audit.stats().spoolFull).toBe(1);
    endpoint.defaultAnswer = { kind: 'ok' };
    expect(await audit.flush({ timeoutMillis: 10_000 })).toEqual({ status: 'success' });
    expect(endpoint.eventIds().sort()).toEqual([...accepted].sort());
    await expect(audit.record(sampleEvent())).resolves.toMatch(/^[0-9a-f-]{36}$/);
  });

  it('memory delivery retries too, and is bounded by maxSpoolBytes', async () => {
    const { endpoint, audit } = await setup({ delivery: 'memory', maxSpoolBytes: 4096 });
    endpoint.script({ kind: 'error', httpStatus: 503, grpcCode: 14 });
    const ids = await recordN(audit, 3);
    expect(await audit.flush({ timeoutMillis: 10_000 })).toEqual({ status: 'success' });
    expect(endpoint.eventIds()).toEqual(ids);
    endpoint.defaultAnswer = { kind: 'error', httpStatus: 503, grpcCode: 14 };
    await expect(recordN(audit, 50, { details: { pad: 'y'.repeat(300) } })).rejects.toMatchObject({ code: 'AUDIT_ERR_SPOOL_FULL' });
  });
});
