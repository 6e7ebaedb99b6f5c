/**
 * The forwarding path: events produced through the stock OpenTelemetry JS SDK (LoggerProvider +
 * stock OTLP exporters, records built with the documented mapping `auditEventToLogRecord`) and
 * through the otel-audit SDK, sent through OTLP/HTTP hops standing in for a Collector pipeline
 * (examples/otlp-hop: pass-through and decode/re-encode), into a real `otel-audit start` process.
 * Read back from ClickHouse through the receiver, every event is the one that was sent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { context, type SeverityNumber, TraceFlags, trace } from '@opentelemetry/api';
import { OTLPLogExporter as OtlpHttpJsonExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as OtlpProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { type AuditEvent, type AuditEventInput, auditEventToLogRecord, validateAuditEvent } from '@otel-audit/schema';
import { createAuditLogger, uuidv7 } from '@otel-audit/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OtlpHop, startOtlpHop } from '../../examples/otlp-hop/hop.ts';
import { eventually, type ReceiverProcess, startReceiverProcess } from './helpers/receiver-process.ts';

const RECEIVER_ENV = { OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false', OTEL_AUDIT_PIPELINE__EXPORTERS__MAX_BATCH_DELAY_MILLIS: '20' };
let dataDir: string;
let receiver: ReceiverProcess;
let gateway: OtlpHop;
let agent: OtlpHop;
let plain: OtlpHop;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-forwarding-'));
  receiver = await startReceiverProcess({ dataDir, env: RECEIVER_ENV });
  // agent (pass-through) → gateway (decode, add a resource attribute, re-encode) → receiver
  gateway = await startOtlpHop({ upstream: receiver.http, mode: 'reencode', resourceAttributes: { 'collector.gateway': 'gw-1' } });
  agent = await startOtlpHop({ upstream: gateway.url, mode: 'passthrough' });
  plain = await startOtlpHop({ upstream: receiver.http, mode: 'passthrough' });
});

afterAll(async () => {
  await agent?.close();
  await gateway?.close();
  await plain?.close();
  await receiver?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function completeEvent(input: AuditEventInput & { eventId: string }): AuditEvent {
  const v = validateAuditEvent({ schemaVersion: '1.0', occurredAt: new Date().toISOString(), ...input });
  if (!v.ok) throw v.error;
  return v.event;
}

function richEvent(tenant: string, n: number): AuditEvent {
  return completeEvent({
    eventId: uuidv7(),
    // Nanoseconds beyond milliseconds must survive every hop.
    occurredAt: `2026-11-22T06:0${n % 10}:00.123456789Z`,
    action: n % 2 === 0 ? 'grant.issue' : 'grant.revoke',
    outcome: (['success', 'failure', 'denied'] as const)[n % 3]!,
    actor: { id: `user-${n}`, type: 'user', name: 'Ada Lovelace', authMethod: 'oidc' },
    tenant: { id: tenant, name: 'Acme Corp' },
    targets: [
      { type: 'grant', id: `g-${n}`, name: 'billing admin' },
      { type: 'user', id: `u-${n}` },
    ],
    reason: n % 3 === 0 ? undefined : 'policy p-7',
    session: { id: `s-${n}` },
    request: { id: `req-${n}`, ip: n % 2 === 0 ? '198.51.100.23' : '2001:db8::7', userAgent: 'curl/8.5', method: 'POST', path: '/grants' },
    changes: { before: { role: null }, after: { role: 'admin', scopes: ['a', 'b'] } },
    details: { n, nested: { ok: true, list: [1, 'two', null] }, unicode: 'Grüße ✓' },
  });
}

/** Emit through a stock LoggerProvider; one of the records inside an active span context. */
async function emitWithStockSdk(
  exporter: OtlpProtoExporter | OtlpHttpJsonExporter,
  events: AuditEvent[],
  traced: Map<string, { traceId: string; spanId: string }>,
): Promise<void> {
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'stock-otel-app', 'deployment.environment.name': 'test' }),
    processors: [new BatchLogRecordProcessor({ exporter, maxExportBatchSize: 7, scheduledDelayMillis: 10 })],
  });
  const logger = provider.getLogger('app-audit', '2.1.0');
  for (const [i, event] of events.entries()) {
    const fields = auditEventToLogRecord(event);
    const record = { ...fields, severityNumber: fields.severityNumber as SeverityNumber };
    if (i === 0) {
      const spanContext = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED };
      traced.set(event.eventId, spanContext);
      logger.emit({ ...record, context: trace.setSpanContext(context.active(), spanContext) });
    } else {
      logger.emit(record);
    }
  }
  await provider.forceFlush();
  await provider.shutdown();
}

async function readBack(tenant: string, count: number): Promise<Map<string, AuditEvent>> {
  const events = await eventually(async () => {
    const res = await fetch(`${receiver.http}/v1/audit/events?tenant=${encodeURIComponent(tenant)}&limit=1000`);
    const page = (await res.json()) as { events: Array<{ event: AuditEvent }> };
    return page.events.length >= count ? page.events.map((e) => e.event) : undefined;
  });
  expect(events).toHaveLength(count);
  return new Map(events.map((e) => [e.eventId, e]));
}

interface StoredRow {
  EventId: string;
  EventName: string;
  Body: string;
  ServiceName: string;
  ScopeName: string;
  ScopeVersion: string;
  TraceId: string;
  SpanId: string;
  SeverityText: string;
  LogAttributes: Record<string, string>;
  ResourceAttributes: Record<string, string>;
}

async function storedRows(tenant: string): Promise<Map<string, StoredRow>> {
  const client = createClient({ url: receiver.http, pathname: '/clickhouse', log: { level: ClickHouseLogLevel.OFF } });
  try {
    const rs = await client.query({
      query: `SELECT toString(EventId) AS EventId, EventName, Body, ServiceName, ScopeName, ScopeVersion, TraceId, SpanId, SeverityText, LogAttributes, ResourceAttributes
              FROM otel_audit.audit_events WHERE TenantId = {tenant:String}`,
      query_params: { tenant },
      format: 'JSONEachRow',
    });
    const rows = await rs.json<StoredRow>();
    return new Map(rows.map((r) => [r.EventId, r]));
  } finally {
    await client.close();
  }
}

describe('forwarding through OTLP hops (collector stand-in)', () => {
  it('stock OTel SDK → pass-through agent → re-encoding gateway → receiver: every event arrives unchanged, the mapping intact', async () => {
    const tenant = `fwd-proto-${Date.now()}`;
    const sent = Array.from({ length: 20 }, (_, n) => richEvent(tenant, n));
    const traced = new Map<string, { traceId: string; spanId: string }>();
    await emitWithStockSdk(new OtlpProtoExporter({ url: `${agent.url}/v1/logs` }), sent, traced);

    const back = await readBack(tenant, sent.length);
    for (const event of sent) {
      const expected = traced.has(event.eventId) ? { ...event, trace: { ...traced.get(event.eventId)!, traceFlags: 1 } } : event;
      expect(back.get(event.eventId)).toEqual(expected);
    }

    // The OTel columns: the record's fields as sent, the gateway's resource attribute added.
    const rows = await storedRows(tenant);
    for (const event of sent) {
      const row = rows.get(event.eventId)!;
      const fields = auditEventToLogRecord(event);
      expect(row.EventName).toBe(fields.eventName);
      expect(row.SeverityText).toBe(fields.severityText);
      expect(JSON.parse(row.Body)).toEqual(event.details);
      expect(row.ServiceName).toBe('stock-otel-app');
      expect({ scope: row.ScopeName, version: row.ScopeVersion }).toEqual({ scope: 'app-audit', version: '2.1.0' });
      expect(row.ResourceAttributes).toMatchObject({
        'service.name': 'stock-otel-app',
        'deployment.environment.name': 'test',
        'collector.gateway': 'gw-1',
      });
      for (const [key, value] of Object.entries(fields.attributes)) {
        if (typeof value === 'string') expect(row.LogAttributes[key], key).toBe(value);
      }
    }
    const tracedId = [...traced.keys()][0]!;
    expect({ traceId: rows.get(tracedId)!.TraceId, spanId: rows.get(tracedId)!.SpanId }).toEqual({
      traceId: traced.get(tracedId)!.traceId,
      spanId: traced.get(tracedId)!.spanId,
    });
    expect(agent.stats().forwarded).toBeGreaterThan(0);
    expect(gateway.stats().records).toBeGreaterThanOrEqual(sent.length);
  });

  it('stock OTel SDK over OTLP/JSON through a pass-through hop: unchanged', async () => {
    const tenant = `fwd-json-${Date.now()}`;
    const sent = Array.from({ length: 9 }, (_, n) => richEvent(tenant, n));
    const traced = new Map<string, { traceId: string; spanId: string }>();
    await emitWithStockSdk(new OtlpHttpJsonExporter({ url: `${plain.url}/v1/logs` }), sent, traced);
    const back = await readBack(tenant, sent.length);
    for (const event of sent) {
      const expected = traced.has(event.eventId) ? { ...event, trace: { ...traced.get(event.eventId)!, traceFlags: 1 } } : event;
      expect(back.get(event.eventId)).toEqual(expected);
    }
  });

  it('the otel-audit SDK (gzip protobuf) through agent and gateway: unchanged, duplicates removed by event id', async () => {
    const tenant = `fwd-sdk-${Date.now()}`;
    const audit = createAuditLogger({
      delivery: 'memory',
      serviceName: 'sdk-app',
      exporter: { protocol: 'http/protobuf', endpoint: `${agent.url}/v1/logs`, compression: 'gzip' },
    });
    const sent: AuditEvent[] = [];
    for (let n = 0; n < 12; n++) {
      const event = richEvent(tenant, n);
      await audit.record(event);
      sent.push(event);
    }
    // The same event id again (a producer retry): stored once.
    await audit.record(sent[0]!);
    expect((await audit.shutdown({ timeoutMillis: 20_000 })).status).toBe('success');
    const back = await readBack(tenant, sent.length);
    for (const event of sent) expect(back.get(event.eventId)).toEqual(event);
    const rows = await storedRows(tenant);
    expect(rows.size).toBe(sent.length);
    for (const row of rows.values())
      expect(row.ResourceAttributes).toMatchObject({ 'service.name': 'sdk-app', 'collector.gateway': 'gw-1' });
  });

  it('the gateway refuses a malformed request with 400 (as the receiver would), and answers 503 when the receiver is unreachable', async () => {
    const bad = await fetch(`${gateway.url}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: new Uint8Array([0x0a, 0xff, 0x01]),
    });
    expect(bad.status).toBe(400);
    const orphan = await startOtlpHop({ upstream: 'http://127.0.0.1:1', mode: 'passthrough' });
    try {
      const res = await fetch(`${orphan.url}/v1/logs`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf' },
        body: new Uint8Array(),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
    } finally {
      await orphan.close();
    }
  });
});
