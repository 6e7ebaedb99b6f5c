import { context, trace } from '@opentelemetry/api';
import { AUDIT_SCHEMA_URL, type AuditEvent, isoToUnixNanos, OUTCOME_SEVERITY } from '@otel-audit/schema';
import { createAuditLogger } from '@otel-audit/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OtlpEndpoint, startOtlpEndpoint } from './helpers/otlp-endpoint.ts';
import { installContextManager, tempDir } from './helpers/util.ts';

const full = {
  action: 'grant.issue',
  outcome: 'denied' as const,
  occurredAt: '2026-11-22T10:00:00.123456789Z',
  actor: { id: 'u-1', type: 'user' as const, name: 'Ada', authMethod: 'oidc', impersonatorId: 'admin-7' },
  tenant: { id: 'acme', name: 'Acme Corp' },
  targets: [
    { type: 'grant', id: 'g-1' },
    { type: 'user', id: 'u-2', name: 'Bob' },
  ],
  reason: 'not an owner',
  session: { id: 's-1' },
  request: { id: 'r-1', ip: '10.0.0.1', userAgent: 'curl/8', method: 'POST', path: '/grants' },
  changes: { before: null, after: { role: 'admin', n: 1.5 } },
  details: { ticket: 'T-1', nested: { list: [1, 'a', true, null] } },
};

describe.each([
  ['http/protobuf', 'worker', 'main'],
  ['http/json', 'worker', 'main'],
  ['grpc', 'worker', 'main'],
  ['http/protobuf', 'main', 'main'],
  ['grpc', 'main', 'main'],
  // The record worker spools; the sender hands its reads to the export worker, or decodes them here.
  ['http/protobuf', 'worker', 'worker'],
  ['grpc', 'worker', 'worker'],
  ['http/json', 'main', 'worker'],
] as const)('OTLP transport %s (export thread: %s, record thread: %s)', (protocol, exportThread, recordThread) => {
  let endpoint: OtlpEndpoint;
  beforeAll(async () => {
    installContextManager();
    endpoint = await startOtlpEndpoint();
  });
  afterAll(async () => {
    await endpoint.close();
  });

  it('delivers events with the documented mapping', async () => {
    const { dir, cleanup } = tempDir();
    const audit = createAuditLogger({
      spoolDir: dir,
      serviceName: 'billing',
      exportThread,
      recordThread,
      exporter: { protocol, endpoint: protocol === 'grpc' ? endpoint.grpcUrl : endpoint.httpUrl, timeoutMillis: 2000 },
    });
    try {
      const spanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
      const id1 = await context.with(trace.setSpanContext(context.active(), spanContext), () => audit.record(full));
      const id2 = await audit.record({
        action: 'user.login',
        outcome: 'success',
        actor: { id: 'u-9', type: 'user' },
        tenant: { id: 'acme' },
      });
      expect(await audit.flush({ timeoutMillis: 10_000 })).toEqual({ status: 'success' });

      const got = endpoint.accepted.filter((r) => r.transport === protocol);
      expect(got.map((r) => r.record.attributes['audit.event_id'])).toEqual([id1, id2]);
      const [first] = got;
      // Resource, scope and schema URL.
      expect(first!.resource['service.name']).toBe('billing');
      expect(first!.scope).toEqual({ name: 'otel-audit', version: '0.1.0' });
      expect(first!.scopeSchemaUrl).toBe(AUDIT_SCHEMA_URL);
      // Record fields.
      const r = first!.record;
      expect(r.eventName).toBe('grant.issue');
      expect(r.severityNumber).toBe(OUTCOME_SEVERITY.denied.number);
      expect(r.severityText).toBe('WARN');
      expect(r.timeUnixNano).toBe(isoToUnixNanos(full.occurredAt));
      expect(r.traceId).toBe(spanContext.traceId);
      expect(r.spanId).toBe(spanContext.spanId);
      expect(r.flags & 0xff).toBe(1);
      expect(r.body).toBe(JSON.stringify(full.details));
      expect(r.attributes).toMatchObject({
        'audit.schema_version': '1.0',
        'audit.action': 'grant.issue',
        'audit.outcome': 'denied',
        'audit.actor.id': 'u-1',
        'audit.actor.type': 'user',
        'audit.actor.name': 'Ada',
        'audit.actor.auth_method': 'oidc',
        'audit.actor.impersonator_id': 'admin-7',
        'audit.tenant.id': 'acme',
        'audit.tenant.name': 'Acme Corp',
        'audit.target.types': ['grant', 'user'],
        'audit.target.ids': ['g-1', 'u-2'],
        'audit.target.names': ['', 'Bob'],
        'audit.reason': 'not an owner',
        'session.id': 's-1',
        'audit.request.id': 'r-1',
        'client.address': '10.0.0.1',
        'user_agent.original': 'curl/8',
        'http.request.method': 'POST',
        'url.path': '/grants',
        'audit.changes.before': 'null',
        'audit.changes.after': '{"role":"admin","n":1.5}',
      });
      // And the whole event survives the round trip through the schema mapping.
      const events = endpoint.events().filter((e) => e.eventId === id1);
      const expected: AuditEvent = { ...full, eventId: id1, schemaVersion: '1.0', trace: spanContext };
      expect(events).toEqual([expected]);
      expect(audit.stats()).toMatchObject({ recorded: 2, exported: 2, pendingRecords: 0, rejected: 0 });
    } finally {
      await audit.shutdown();
      cleanup();
    }
  });
});
