import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { isAuditError } from '@otel-audit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { hashToken } from '../../../receiver/auth/index.ts';
import {
  createGrpcServer,
  type GrpcServer,
  type GrpcServerConfigInput,
  LOGS_EXPORT_METHOD_PATH,
  parseGrpcServerConfig,
} from '../../../receiver/grpc/index.ts';
import type { IngestObserver, IngestRequestEvent } from '../../../receiver/otlp/index.ts';
import { decodeExportResponse, decodeStatus, decodeStatusDetail } from '../helpers/http-client.ts';
import { InMemoryLogsConsumer } from '../helpers/in-memory-consumer.ts';
import { auditRequestObject, encodeRequest } from '../helpers/otlp-fixtures.ts';

const servers: GrpcServer[] = [];
const clients: grpc.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.shutdown()));
});

async function startServer(config: GrpcServerConfigInput = {}, consumer = new InMemoryLogsConsumer(), onRequest?: IngestObserver) {
  const server = createGrpcServer({ config: { port: 0, ...config }, consumer, onRequest });
  servers.push(server);
  const address = await server.start();
  return { server, consumer, target: address.target };
}

interface CallResult {
  error: grpc.ServiceError | null;
  response: Buffer | undefined;
}

/** One unary Export call with raw bytes (no proto-loader), optionally gzip-compressed by the channel. */
function exportCall(
  target: string,
  body: Buffer,
  options: { metadata?: Record<string, string>; gzip?: boolean } = {},
): Promise<CallResult> {
  const channelOptions: grpc.ChannelOptions = options.gzip ? { 'grpc.default_compression_algorithm': 2 } : {};
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), channelOptions);
  clients.push(client);
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      LOGS_EXPORT_METHOD_PATH,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      md,
      {},
      (error, response) => resolve({ error: error ?? null, response }),
    );
  });
}

describe('OTLP/gRPC server', () => {
  it('accepts an export, decodes it with our decoder and answers an empty response', async () => {
    const { consumer, target } = await startServer();
    const r = await exportCall(target, encodeRequest(auditRequestObject(3)));
    expect(r.error).toBeNull();
    expect(r.response!.length).toBe(0);
    expect(consumer.records()).toHaveLength(3);
    expect(consumer.requests[0]!.context).toEqual({ transport: 'grpc' });
  });

  it('accepts gzip-compressed messages', async () => {
    const { consumer, target } = await startServer();
    const r = await exportCall(target, encodeRequest(auditRequestObject(512)), { gzip: true });
    expect(r.error).toBeNull();
    expect(consumer.records()).toHaveLength(512);
  });

  it('garbage → INVALID_ARGUMENT with the decoder message', async () => {
    const { consumer, target } = await startServer();
    const r = await exportCall(target, Buffer.from('\x0a\xff\xff\xff\xff\x0fgarbage'));
    expect(r.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.error?.details).toMatch(/^request could not be decoded: protobuf: resourceLogs\[0\]: truncated/);
    const status = decodeStatus(r.error!.metadata.get('grpc-status-details-bin')[0] as Buffer);
    expect(status.code).toBe(3);
    expect(status.details.map(decodeStatusDetail)).toEqual([
      {
        typeUrl: 'type.googleapis.com/google.rpc.BadRequest',
        value: { fieldViolations: [{ field: 'resourceLogs[0]', description: r.error!.details }] },
      },
    ]);
    expect(consumer.requests).toHaveLength(0);
  });

  it('oversize → RESOURCE_EXHAUSTED, also when the size is only reached by decompression', async () => {
    const { consumer, target } = await startServer({ maxMessageBytes: 4096 });
    const big = encodeRequest(auditRequestObject(50));
    expect(big.length).toBeGreaterThan(4096);
    const plain = await exportCall(target, big);
    expect(plain.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(zlib.gzipSync(big).length).toBeLessThan(4096);
    const compressed = await exportCall(target, big, { gzip: true });
    expect(compressed.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(consumer.requests).toHaveLength(0);
  });

  it('auth: missing or wrong token → UNAUTHENTICATED; the bound tenant reaches the context', async () => {
    const { consumer, target } = await startServer({
      auth: { tokens: [{ name: 'billing', sha256: hashToken('tok-1'), tenantId: 'acme' }] },
    });
    const body = encodeRequest(auditRequestObject(1));
    const missing = await exportCall(target, body);
    expect(missing.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(missing.error?.details).toContain('missing bearer token');
    const wrong = await exportCall(target, body, { metadata: { authorization: 'Bearer tok-2' } });
    expect(wrong.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    const right = await exportCall(target, body, { metadata: { authorization: 'Bearer tok-1' } });
    expect(right.error).toBeNull();
    expect(consumer.requests.map((r) => r.context)).toEqual([{ transport: 'grpc', principal: 'billing', boundTenantId: 'acme' }]);
  });

  it('retryable → UNAVAILABLE with RetryInfo; failure → INTERNAL; partial success in the response', async () => {
    const { consumer, target } = await startServer();
    const body = encodeRequest(auditRequestObject(4));
    consumer.mode = { kind: 'retryable', retryAfterMillis: 1500 };
    const retry = await exportCall(target, body);
    expect(retry.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(retry.error?.details).toContain('back-pressure');
    const details = retry.error!.metadata.get('grpc-status-details-bin')[0] as Buffer;
    const status = decodeStatus(details);
    expect(status.code).toBe(14);
    // Any { type_url, value = RetryInfo { retry_delay = Duration { seconds: 1, nanos: 500000000 } } }
    expect(status.details.map(decodeStatusDetail)).toEqual([
      { typeUrl: 'type.googleapis.com/google.rpc.RetryInfo', value: { retryDelay: { seconds: 1, nanos: 500_000_000 } } },
    ]);

    consumer.mode = { kind: 'failure' };
    expect((await exportCall(target, body)).error?.code).toBe(grpc.status.INTERNAL);
    consumer.mode = { kind: 'throw' };
    expect((await exportCall(target, body)).error?.code).toBe(grpc.status.INTERNAL);

    consumer.mode = { kind: 'success', rejected: 1, message: 'record 2: wrong tenant' };
    const partial = await exportCall(target, body);
    expect(partial.error).toBeNull();
    expect(decodeExportResponse(partial.response!)).toEqual({
      partialSuccess: { rejectedLogRecords: '1', errorMessage: 'record 2: wrong tenant' },
    });
  });

  it('shutdown lets an in-flight call finish and is idempotent', async () => {
    const { server, consumer, target } = await startServer();
    let open!: () => void;
    consumer.gate = new Promise<void>((r) => {
      open = r;
    });
    const arrived = consumer.nextArrival();
    const call = exportCall(target, encodeRequest(auditRequestObject(1)));
    await arrived;
    const stopped = server.shutdown();
    expect(server.shutdown()).toBe(stopped);
    open();
    expect((await call).error).toBeNull();
    await stopped;
    await expect(server.start()).rejects.toSatisfy((e: unknown) => isAuditError(e, 'AUDIT_ERR_SHUTDOWN'));
  });

  it('reports every Export outcome to the observer', async () => {
    const events: IngestRequestEvent[] = [];
    const consumer = new InMemoryLogsConsumer();
    const { target } = await startServer({ auth: { tokens: [{ name: 't', sha256: hashToken('tok') }] } }, consumer, (e) => events.push(e));
    const metadata = { authorization: 'Bearer tok' };
    const body = encodeRequest(auditRequestObject(2));
    await exportCall(target, body, { metadata });
    consumer.mode = { kind: 'retryable', retryAfterMillis: 10 };
    await exportCall(target, body, { metadata });
    consumer.mode = { kind: 'throw' };
    await exportCall(target, body, { metadata });
    await exportCall(target, Buffer.from('garbage'), { metadata });
    await exportCall(target, body);
    expect(events.map((e) => [e.transport, e.outcome, e.records])).toEqual([
      ['grpc', 'success', 2],
      ['grpc', 'retryable', 2],
      ['grpc', 'failure', 2],
      ['grpc', 'decode_error', 0],
      ['grpc', 'unauthenticated', 0],
    ]);
    expect(events[0]!.bytes).toBe(body.length);
  });

  it('shutdown cancels calls still running after shutdownTimeoutMillis', async () => {
    const { server, consumer, target } = await startServer({ shutdownTimeoutMillis: 50 });
    consumer.gate = new Promise<void>(() => {}); // the pipeline never answers
    const arrived = consumer.nextArrival();
    const call = exportCall(target, encodeRequest(auditRequestObject(1)));
    await arrived;
    await server.shutdown();
    const r = await call;
    expect(r.error).not.toBeNull();
  });

  it('start is idempotent; a port in use is a clear error', async () => {
    const server = createGrpcServer({ config: { port: 0 }, consumer: new InMemoryLogsConsumer() });
    servers.push(server);
    const [a, b] = await Promise.all([server.start(), server.start()]);
    expect(a).toBe(b);
    const clash = createGrpcServer({ config: { port: a.port }, consumer: new InMemoryLogsConsumer() });
    servers.push(clash);
    await expect(clash.start()).rejects.toSatisfy((e: unknown) => isAuditError(e, 'AUDIT_ERR_INTERNAL'));
  });

  it('config is strict with defaults', () => {
    expect(parseGrpcServerConfig({})).toMatchObject({
      host: '127.0.0.1',
      port: 4317,
      maxMessageBytes: 64 * 1024 * 1024,
      shutdownTimeoutMillis: 10_000,
    });
    expect(() => parseGrpcServerConfig({ port: 70000 })).toThrow(/receiver\.grpc\.port/);
    expect(() => parseGrpcServerConfig({ tls: true })).toThrow(/receiver\.grpc\.tls: unknown key/);
  });
});
