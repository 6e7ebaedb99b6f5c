/**
 * The real OpenTelemetry JS exporters (OTLP/HTTP JSON, OTLP/HTTP protobuf, OTLP/gRPC) with the
 * sdk-logs LoggerProvider send to our servers; what the consumer receives must be what was emitted.
 */

import * as grpc from '@grpc/grpc-js';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as HttpJsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as HttpProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { afterEach, describe, expect, it } from 'vitest';
import { hashToken } from '../../../receiver/auth/index.ts';
import { createGrpcServer } from '../../../receiver/grpc/index.ts';
import { createHttpServer } from '../../../receiver/http/index.ts';
import { InMemoryLogsConsumer } from '../helpers/in-memory-consumer.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const TOKEN = 'exporter-token-1';
const auth = { tokens: [{ name: 'exporter', sha256: hashToken(TOKEN), tenantId: 'acme' }] };

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function emitThrough(exporter: LogRecordExporter, batch: boolean): Promise<void> {
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'exporter-test', 'service.version': '1.2.3' }),
    processors: [batch ? new BatchLogRecordProcessor({ exporter }) : new SimpleLogRecordProcessor({ exporter })],
  });
  stops.push(() => provider.shutdown());
  const logger = provider.getLogger('otel-audit-test', '0.9.0');
  const spanContext = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 });
  logger.emit({
    eventName: 'grant.issue',
    timestamp: [1732000000, 123456789],
    observedTimestamp: [1732000001, 5],
    severityNumber: 9,
    severityText: 'INFO',
    body: JSON.stringify({ role: 'admin' }),
    attributes: {
      'audit.schema_version': '1.0',
      'audit.event_id': '0190b5c8-6a1e-7000-8000-000000000001',
      'audit.target.ids': ['p-1', 'p-2'],
      count: 42,
      ratio: 0.5,
      ok: true,
    },
    context: spanContext,
  });
  logger.emit({
    eventName: 'user.login',
    timestamp: [1732000002, 0],
    severityNumber: 13,
    body: { method: 'password', attempts: 3, flags: [true, 'x'] },
    attributes: { 'audit.schema_version': '1.0' },
  });
  await provider.forceFlush();
}

async function expectEmitted(consumer: InMemoryLogsConsumer) {
  // SimpleLogRecordProcessor's forceFlush does not wait for the HTTP response; wait for arrival.
  await consumer.waitForRecords(2);
  const records = consumer.records();
  expect(records).toHaveLength(2);
  const [a, b] = records;
  expect(a).toMatchObject({
    eventName: 'grant.issue',
    timeUnixNano: 1732000000123456789n,
    observedTimeUnixNano: 1732000001000000005n,
    severityNumber: 9,
    severityText: 'INFO',
    body: '{"role":"admin"}',
    traceId: TRACE_ID,
    spanId: SPAN_ID,
    flags: 1,
  });
  expect(a!.attributes).toEqual({
    'audit.schema_version': '1.0',
    'audit.event_id': '0190b5c8-6a1e-7000-8000-000000000001',
    'audit.target.ids': ['p-1', 'p-2'],
    count: 42,
    ratio: 0.5,
    ok: true,
  });
  expect(b).toMatchObject({ eventName: 'user.login', timeUnixNano: 1732000002000000000n, severityNumber: 13, traceId: '', spanId: '' });
  expect(b!.body).toEqual({ method: 'password', attempts: 3, flags: [true, 'x'] });
  const rl = consumer.requests[0]!.logs.resourceLogs[0]!;
  expect(rl.resource.attributes).toMatchObject({ 'service.name': 'exporter-test', 'service.version': '1.2.3' });
  expect(rl.scopeLogs[0]!.scope).toMatchObject({ name: 'otel-audit-test', version: '0.9.0' });
  for (const r of consumer.requests) expect(r.context.boundTenantId).toBe('acme');
}

async function startHttp(consumer: InMemoryLogsConsumer) {
  const server = createHttpServer({ config: { port: 0, auth }, consumer });
  stops.push(() => server.shutdown());
  return `${(await server.start()).url}/v1/logs`;
}

describe('real OTel JS exporters → our servers', () => {
  it('@opentelemetry/exporter-logs-otlp-http (JSON) with SimpleLogRecordProcessor', async () => {
    const consumer = new InMemoryLogsConsumer();
    const url = await startHttp(consumer);
    await emitThrough(new HttpJsonLogExporter({ url, headers: { authorization: `Bearer ${TOKEN}` } }), false);
    await expectEmitted(consumer);
  });

  it('@opentelemetry/exporter-logs-otlp-proto (protobuf, gzip) with BatchLogRecordProcessor', async () => {
    const consumer = new InMemoryLogsConsumer();
    const url = await startHttp(consumer);
    await emitThrough(new HttpProtoLogExporter({ url, headers: { authorization: `Bearer ${TOKEN}` }, compression: 'gzip' as never }), true);
    await expectEmitted(consumer);
  });

  it('@opentelemetry/exporter-logs-otlp-grpc (gzip) with BatchLogRecordProcessor', async () => {
    const consumer = new InMemoryLogsConsumer();
    const server = createGrpcServer({ config: { port: 0, auth }, consumer });
    stops.push(() => server.shutdown());
    const { target } = await server.start();
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${TOKEN}`);
    await emitThrough(new GrpcLogExporter({ url: `http://${target}`, metadata, compression: 'gzip' as never }), true);
    await expectEmitted(consumer);
  });
});
