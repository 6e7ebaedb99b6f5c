/**
 * `recordThread: 'worker'`: what is specific to the record worker (the shared behaviour runs in
 * both modes in record.test.ts, delivery.test.ts and crash.test.ts).
 */

import type { Worker } from 'node:worker_threads';
import { context, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import { type AuditError, createAuditLogger, uuidv7 } from '@otel-audit/sdk';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOtlpEndpoint } from './helpers/otlp-endpoint.ts';
import { installContextManager, sampleEvent, tempDir } from './helpers/util.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
beforeAll(() => installContextManager());

async function env() {
  const endpoint = await startOtlpEndpoint();
  cleanups.push(() => endpoint.close());
  const dirs = [tempDir(), tempDir()];
  for (const d of dirs) cleanups.push(d.cleanup);
  return { endpoint, dirs: dirs.map((d) => d.dir) };
}

describe("recordThread: 'worker'", () => {
  it("spools the same record as the caller's thread: resource, scope, attributes, body, times, trace", async () => {
    const { endpoint, dirs } = await env();
    const common = {
      serviceName: 'billing',
      resourceAttributes: { 'deployment.environment.name': 'test', 'service.instance.id': 'i-1' },
      exporter: { endpoint: endpoint.httpUrl },
    };
    const main = createAuditLogger({ ...common, spoolDir: dirs[0]!, recordThread: 'main' });
    const worker = createAuditLogger({ ...common, spoolDir: dirs[1]!, recordThread: 'worker' });
    cleanups.push(async () => void (await main.shutdown({ timeoutMillis: 100 })));
    cleanups.push(async () => void (await worker.shutdown({ timeoutMillis: 100 })));
    const span = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
    const input = sampleEvent({
      occurredAt: '2026-03-04T05:06:07.123456789Z',
      reason: 'quarterly review',
      targets: [
        { type: 'invoice', id: 'inv-1', name: 'Invoice 1' },
        { type: 'customer', id: 'c-9' },
      ],
      request: { id: 'r-1', ip: '10.0.0.1', userAgent: 'ua', method: 'POST', path: '/x' },
      changes: { before: { amount: 1 }, after: { amount: 2, password: 'hunter2' } },
      details: { nested: { token: 'abc', list: [1, 2.5, 'x', null, true] }, unicode: 'é✓' },
    });
    const eventId = uuidv7();
    const before = Date.now();
    await context.with(trace.setSpanContext(context.active(), span), async () => {
      await main.record({ ...input, eventId });
      await worker.record({ ...input, eventId });
    });
    const after = Date.now();
    expect(await main.flush()).toEqual({ status: 'success' });
    expect(await worker.flush()).toEqual({ status: 'success' });
    expect(endpoint.accepted).toHaveLength(2);
    const [a, b] = endpoint.accepted;
    const { observedTimeUnixNano: observedA, ...restA } = a!.record;
    const { observedTimeUnixNano: observedB, ...restB } = b!.record;
    expect(restB).toEqual(restA);
    expect({ ...b, record: undefined }).toEqual({ ...a, record: undefined });
    expect(restB).toMatchObject({ traceId: span.traceId, spanId: span.spanId, flags: 1 });
    expect(b!.resource).toMatchObject({ 'service.name': 'billing', 'deployment.environment.name': 'test' });
    // The observed time is the time of the record() call (Date.now() on the caller's thread).
    for (const observed of [observedA, observedB]) {
      expect(Number(observed / 1_000_000n)).toBeGreaterThanOrEqual(before);
      expect(Number(observed / 1_000_000n)).toBeLessThanOrEqual(after);
    }
  });

  it("shutdown() drains the worker's pending appends: every record() resolves and the next logger delivers them", async () => {
    const { endpoint, dirs } = await env();
    endpoint.defaultAnswer = { kind: 'error', httpStatus: 503, grpcCode: 14 };
    const audit = createAuditLogger({
      spoolDir: dirs[0]!,
      recordThread: 'worker',
      exporter: { endpoint: endpoint.httpUrl, timeoutMillis: 500 },
    });
    // Not awaited: shutdown() comes while the appends are on their way to the worker.
    const pending = Array.from({ length: 300 }, (_, i) => audit.record(sampleEvent({ details: { i } })));
    const result = await audit.shutdown({ timeoutMillis: 50 });
    expect(result).toMatchObject({ status: 'retryable', pendingRecords: 300 });
    const ids = await Promise.all(pending);
    await expect(audit.record(sampleEvent())).rejects.toMatchObject({ code: 'AUDIT_ERR_SHUTDOWN' });

    endpoint.defaultAnswer = { kind: 'ok' };
    // The spool format is the same in both modes: a main-thread logger delivers what the worker wrote.
    const next = createAuditLogger({ spoolDir: dirs[0]!, recordThread: 'main', exporter: { endpoint: endpoint.httpUrl } });
    cleanups.push(async () => void (await next.shutdown({ timeoutMillis: 100 })));
    expect(await next.flush({ timeoutMillis: 10_000 })).toEqual({ status: 'success' });
    expect(new Set(endpoint.eventIds())).toEqual(new Set(ids));
  });

  it('refuses a spool directory in use synchronously, and releases it at shutdown', async () => {
    const { endpoint, dirs } = await env();
    endpoint.defaultAnswer = { kind: 'error', httpStatus: 503, grpcCode: 14 };
    const exporter = { endpoint: endpoint.httpUrl, timeoutMillis: 200 };
    const a = createAuditLogger({ spoolDir: dirs[0]!, recordThread: 'worker', exporter });
    expect(() => createAuditLogger({ spoolDir: dirs[0]!, recordThread: 'worker' })).toThrowError(
      expect.objectContaining({ code: 'AUDIT_ERR_DATA_DIR_LOCKED', path: 'spoolDir' }),
    );
    expect(() => createAuditLogger({ spoolDir: dirs[0]!, recordThread: 'main' })).toThrowError(
      expect.objectContaining({ code: 'AUDIT_ERR_DATA_DIR_LOCKED' }),
    );
    await a.record(sampleEvent());
    await a.shutdown({ timeoutMillis: 50 });
    const b = createAuditLogger({ spoolDir: dirs[0]!, recordThread: 'worker', exporter });
    expect(b.stats().pendingRecords).toBe(0); // not known before the worker has opened the spool…
    await b.flush({ timeoutMillis: 50 });
    expect(b.stats().pendingRecords).toBe(1); // …and counted once it has
    await b.shutdown({ timeoutMillis: 50 });
  });

  it("keeps an app's LoggerProvider working: the record is emitted there and spooled by the worker", async () => {
    const { endpoint, dirs } = await env();
    let provider: LoggerProvider | undefined;
    const audit = createAuditLogger({
      loggerProvider: () => provider!,
      recordThread: 'worker',
      spoolDir: dirs[0]!,
      exporter: { endpoint: endpoint.httpUrl },
    });
    provider = new LoggerProvider({ resource: resourceFromAttributes({ 'service.name': 'checkout' }), processors: [audit.processor] });
    cleanups.push(async () => void (await audit.shutdown({ timeoutMillis: 100 })));
    const ids = await Promise.all([audit.record(sampleEvent()), audit.record(sampleEvent({ action: 'grant.revoke' }))]);
    expect(await audit.flush()).toEqual({ status: 'success' });
    expect(endpoint.eventIds()).toEqual(ids);
    expect(endpoint.accepted[0]!.resource['service.name']).toBe('checkout');
    expect(audit.stats()).toMatchObject({ recorded: 2, exported: 2, pendingRecords: 0 });
  });

  it('replaces a record worker that dies; what was acknowledged before is still delivered', async () => {
    const { endpoint, dirs } = await env();
    const errors: AuditError[] = [];
    const audit = createAuditLogger({
      spoolDir: dirs[0]!,
      recordThread: 'worker',
      exporter: { endpoint: endpoint.httpUrl },
      onError: (e) => errors.push(e),
    });
    cleanups.push(async () => void (await audit.shutdown({ timeoutMillis: 100 })));
    const before = await audit.record(sampleEvent());
    // Ends the worker thread the way a crash in it would (there is no other way in from outside).
    const thread = (audit as unknown as { thread: { worker: Worker } }).thread;
    const inFlight = audit.record(sampleEvent()).then(
      (id) => ({ id }),
      (error: AuditError) => ({ error }),
    );
    await thread.worker.terminate();
    // Taken by the old worker before it ended (durable), or failed as retryable — never lost silently.
    const outcome = await inFlight;
    if ('error' in outcome) expect(outcome.error).toMatchObject({ code: 'AUDIT_ERR_INTERNAL', retryable: true });
    const after = await audit.record(sampleEvent());
    expect(await audit.flush({ timeoutMillis: 10_000 })).toEqual({ status: 'success' });
    const delivered = endpoint.eventIds();
    expect(delivered).toEqual(expect.arrayContaining([before, after, ...('id' in outcome ? [outcome.id] : [])]));
    expect(errors.map((e) => e.message).join('\n')).toContain('starting a new one');
  });
});
