import { context, trace } from '@opentelemetry/api';
import { AUDIT_EVENT_LIMITS } from '@otel-audit/schema';
import {
  type AuditLogger,
  type AuditLoggerOptions,
  createAuditLogger,
  getAuditContext,
  runWithAuditContext,
  updateAuditContext,
  uuidv7,
} from '@otel-audit/sdk';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type OtlpEndpoint, startOtlpEndpoint } from './helpers/otlp-endpoint.ts';
import { installContextManager, sampleEvent, tempDir } from './helpers/util.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
beforeAll(() => installContextManager());
/** `recordThread` of the loggers `setup()` creates (each record() test runs in both modes). */
let recordThread: 'main' | 'worker' = 'main';

async function setup(extra: AuditLoggerOptions = {}): Promise<{ audit: AuditLogger; endpoint: OtlpEndpoint }> {
  const endpoint = await startOtlpEndpoint();
  cleanups.push(() => endpoint.close());
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const audit = createAuditLogger({
    spoolDir: dir,
    recordThread,
    exporter: { endpoint: endpoint.httpUrl, timeoutMillis: 1000 },
    ...extra,
  });
  cleanups.push(async () => void (await audit.shutdown({ timeoutMillis: 100 })));
  return { audit, endpoint };
}

describe.each(['main', 'worker'] as const)('record() (recordThread: %s)', (mode) => {
  beforeEach(() => {
    recordThread = mode;
  });
  it('fills eventId (UUIDv7), schemaVersion, occurredAt and returns the id', async () => {
    const { audit, endpoint } = await setup();
    const before = Date.now();
    const id = await audit.record(sampleEvent());
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await audit.flush();
    const [event] = endpoint.events();
    expect(event).toMatchObject({ eventId: id, schemaVersion: '1.0', action: 'grant.issue' });
    expect(Date.parse(event!.occurredAt)).toBeGreaterThanOrEqual(before - 1);
    // A producer-assigned id and a Date occurredAt are kept.
    const own = uuidv7();
    await expect(audit.record(sampleEvent({ eventId: own, occurredAt: new Date('2026-01-02T03:04:05.678Z') }))).resolves.toBe(own);
    await audit.flush();
    expect(endpoint.events()[1]).toMatchObject({ eventId: own, occurredAt: '2026-01-02T03:04:05.678Z' });
  });

  it('throws AUDIT_ERR_INVALID_EVENT synchronously, naming the field path', async () => {
    const { audit } = await setup();
    expect(() => audit.record(sampleEvent({ actor: { id: '', type: 'robot' } }) as never)).toThrowError(
      expect.objectContaining({ code: 'AUDIT_ERR_INVALID_EVENT', path: 'actor.id' }),
    );
    expect(() => audit.record(sampleEvent({ action: 'not valid!' }) as never)).toThrowError(expect.objectContaining({ path: 'action' }));
    expect(() => audit.record(sampleEvent({ tenant: undefined }) as never)).toThrowError(expect.objectContaining({ path: 'tenant' }));
    expect(() => audit.record(sampleEvent({ extra: 1 }) as never)).toThrowError(
      expect.objectContaining({ code: 'AUDIT_ERR_INVALID_EVENT' }),
    );
    expect(audit.stats().invalid).toBe(4);
  });

  it("rejects oversize details (limit: 64 KiB) with the path 'details'", async () => {
    const { audit } = await setup();
    const big = { blob: 'x'.repeat(AUDIT_EVENT_LIMITS.maxJsonBytes) };
    let err: unknown;
    try {
      audit.record(sampleEvent({ details: big }) as never);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'AUDIT_ERR_INVALID_EVENT', path: 'details' });
    expect(String((err as Error).message)).toContain('65536');
  });

  it("with onInvalid: 'report' returns a rejected promise and counts it", async () => {
    const { audit } = await setup({ onInvalid: 'report' });
    const p = audit.record(sampleEvent({ outcome: 'maybe' }) as never);
    await expect(p).rejects.toMatchObject({ code: 'AUDIT_ERR_INVALID_EVENT', path: 'outcome' });
    expect(audit.stats().invalid).toBe(1);
  });

  it('redacts secret keys in details and changes, case-insensitively and nested', async () => {
    const { audit, endpoint } = await setup({ redactKeys: ['password', 'token', 'api_key', 'authorization', 'cookie', 'ssn'] });
    const details = {
      user: 'ada',
      Password: 'hunter2',
      nested: { accessToken: 'abc', list: [{ 'X-Api-Key': 'k' }, { ok: 1 }], headers: { Authorization: 'Bearer x', Cookie: 'sid=1' } },
      SSN: '123',
    };
    const input = sampleEvent({ details, changes: { before: { password: 'old' }, after: { password: 'new', role: 'admin' } } });
    await audit.record(input);
    await audit.flush();
    const [event] = endpoint.events();
    expect(event!.details).toEqual({
      user: 'ada',
      Password: '[REDACTED]',
      nested: {
        accessToken: '[REDACTED]',
        list: [{ 'X-Api-Key': '[REDACTED]' }, { ok: 1 }],
        headers: { Authorization: '[REDACTED]', Cookie: '[REDACTED]' },
      },
      SSN: '[REDACTED]',
    });
    expect(event!.changes).toEqual({ before: { password: '[REDACTED]' }, after: { password: '[REDACTED]', role: 'admin' } });
    // The caller's object is not modified, and the raw secret never reached the wire.
    expect(details.Password).toBe('hunter2');
    expect(JSON.stringify(endpoint.accepted, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('hunter2');
  });

  it('fills actor, tenant, request and session from the audit context across async calls', async () => {
    const { audit, endpoint } = await setup();
    const deep = async (): Promise<string> => {
      await new Promise((r) => setTimeout(r, 5));
      await Promise.resolve();
      return audit.record({ action: 'document.delete', outcome: 'success', targets: [{ type: 'document', id: 'd-1' }] });
    };
    const [a, b] = await Promise.all([
      runWithAuditContext(
        { actor: { id: 'u-a', type: 'user' }, tenant: { id: 't-a' }, request: { id: 'req-a', ip: '10.0.0.1' }, session: { id: 's-a' } },
        deep,
      ),
      runWithAuditContext({ actor: { id: 'u-b', type: 'service' }, tenant: { id: 't-b' } }, async () => {
        // Nested context: inherits tenant, overrides actor; updateAuditContext changes the current scope.
        return runWithAuditContext({ actor: { id: 'u-b2', type: 'user' } }, async () => {
          expect(updateAuditContext({ session: { id: 's-b' } })).toBe(true);
          return deep();
        });
      }),
    ]);
    // Explicit fields win over the context.
    const c = await runWithAuditContext({ actor: { id: 'ctx', type: 'user' }, tenant: { id: 't' } }, () =>
      audit.record(sampleEvent({ actor: { id: 'explicit', type: 'system' }, tenant: undefined })),
    );
    expect(getAuditContext()).toBeUndefined();
    expect(updateAuditContext({ tenant: { id: 'x' } })).toBe(false);
    await audit.flush();
    const byId = new Map(endpoint.events().map((e) => [e.eventId, e]));
    expect(byId.get(a)).toMatchObject({
      actor: { id: 'u-a', type: 'user' },
      tenant: { id: 't-a' },
      request: { id: 'req-a', ip: '10.0.0.1' },
      session: { id: 's-a' },
    });
    expect(byId.get(b)).toMatchObject({ actor: { id: 'u-b2', type: 'user' }, tenant: { id: 't-b' }, session: { id: 's-b' } });
    expect(byId.get(b)!.request).toBeUndefined();
    expect(byId.get(c)).toMatchObject({ actor: { id: 'explicit', type: 'system' }, tenant: { id: 't' } });
  });

  it('takes the trace context from the active span, across awaits', async () => {
    const { audit, endpoint } = await setup();
    const sc = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 };
    const id = await context.with(trace.setSpanContext(context.active(), sc), async () => {
      await new Promise((r) => setTimeout(r, 1));
      return audit.record(sampleEvent());
    });
    const noTrace = await audit.record(sampleEvent());
    await audit.flush();
    const byId = new Map(endpoint.events().map((e) => [e.eventId, e]));
    expect(byId.get(id)!.trace).toEqual(sc);
    expect(byId.get(noTrace)!.trace).toBeUndefined();
  });

  it('rejects record() after shutdown with AUDIT_ERR_SHUTDOWN', async () => {
    const { audit } = await setup();
    await audit.shutdown();
    await expect(audit.record(sampleEvent())).rejects.toMatchObject({ code: 'AUDIT_ERR_SHUTDOWN' });
  });
});

describe('options', () => {
  it.each([
    [{ delivery: 'sometimes' }, 'delivery'],
    [{ maxSpoolBytes: -1 }, 'maxSpoolBytes'],
    [{ exporter: { protocol: 'udp' } }, 'exporter.protocol'],
    [{ exporter: { endpoint: 'not a url' } }, 'exporter.endpoint'],
    [{ spoolDirectory: '/tmp/x' }, 'spoolDirectory'],
    [{ exporter: { timeout: 5 } }, 'exporter.timeout'],
    [{ onError: 'log' }, 'onError'],
    [{ minBackoffMillis: 100, maxBackoffMillis: 10 }, 'maxBackoffMillis'],
    [{ backoff: { initialIntervalMillis: 100, maxIntervalMillis: 10 } }, 'backoff.maxIntervalMillis'],
    [{ backoff: { jitter: 2 } }, 'backoff.jitter'],
    [{ backoff: { initialIntervalMillis: 5 }, minBackoffMillis: 5 }, 'minBackoffMillis'],
  ])('rejects %j naming %s', (options, key) => {
    expect(() => createAuditLogger(options as never)).toThrowError(
      expect.objectContaining({ code: 'AUDIT_ERR_INVALID_CONFIG', path: key }),
    );
  });

  it('refuses a spool directory in use by another logger', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const a = createAuditLogger({ spoolDir: dir });
    cleanups.push(async () => void (await a.shutdown({ timeoutMillis: 10 })));
    expect(() => createAuditLogger({ spoolDir: dir })).toThrowError(
      expect.objectContaining({ code: 'AUDIT_ERR_DATA_DIR_LOCKED', path: 'spoolDir' }),
    );
  });
});
