/**
 * The transports hand the real pipeline raw bytes (`consumeEncoded`: inflate and decode in its
 * worker threads). Every answer must be exactly what the transport gives when it decodes on its
 * own thread and calls `consume()`: the same status, headers that matter, body bytes (400 with
 * google.rpc.BadRequest, 413, partial success), and for gRPC the same code, message and status
 * details. Each case is sent to two servers in front of the same pipeline: one through the
 * encoded path, one through a plain LogsConsumer wrapper.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogsConsumer } from '../../../receiver/contracts.ts';
import { createGrpcServer, type GrpcServer, LOGS_EXPORT_METHOD_PATH } from '../../../receiver/grpc/index.ts';
import { createHttpServer, type HttpServer } from '../../../receiver/http/index.ts';
import type { IngestRequestEvent } from '../../../receiver/otlp/index.ts';
import { type AuditPipeline, createAuditPipeline } from '../../../receiver/pipeline/index.ts';
import { post } from '../helpers/http-client.ts';
import { auditRecordObject, encodeRequest, otlpJsonRequest } from '../helpers/otlp-fixtures.ts';

let dir: string;
let pipeline: AuditPipeline;
const servers: Array<HttpServer | GrpcServer> = [];
const events: { encoded: IngestRequestEvent[]; plain: IngestRequestEvent[] } = { encoded: [], plain: [] };
let http: { encoded: string; plain: string };
let rpc: { encoded: string; plain: string };
const MAX = 64 * 1024;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'encoded-path-'));
  pipeline = createAuditPipeline({ dataDir: dir, instanceId: 'enc', prepareWorkers: 1, nonAudit: 'reject' });
  await pipeline.start();
  const plain: LogsConsumer = { consume: (logs, ctx) => pipeline.consume(logs, ctx) };
  const h = async (consumer: LogsConsumer, sink: IngestRequestEvent[]) => {
    const s = createHttpServer({ config: { port: 0, maxMessageBytes: MAX }, consumer, onRequest: (e) => sink.push(e) });
    servers.push(s);
    return `${(await s.start()).url}/v1/logs`;
  };
  const g = async (consumer: LogsConsumer) => {
    const s = createGrpcServer({ config: { port: 0 }, consumer });
    servers.push(s);
    return (await s.start()).target;
  };
  http = { encoded: await h(pipeline, events.encoded), plain: await h(plain, events.plain) };
  rpc = { encoded: await g(pipeline), plain: await g(plain) };
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.shutdown()));
  await pipeline.shutdown();
  await rm(dir, { recursive: true, force: true });
});

let serial = 0;
/** A protobuf request of `n` audit records with ids not used before (so neither side dedupes). */
function freshProtobuf(n: number, mutate: (r: Record<string, unknown>, i: number) => void = () => undefined): Buffer {
  const base = serial;
  serial += n;
  const records = Array.from({ length: n }, (_, i) => {
    const r = auditRecordObject(i); // same content and size per position; only the event id is fresh
    const attrs = r.attributes as Array<{ key: string; value: { stringValue?: string } }>;
    const id = attrs.find((a) => a.key === 'audit.event_id')!;
    id.value = { stringValue: `0190b5c8-6a1e-7000-8000-${(base + i + 1).toString(16).padStart(12, '0')}` };
    mutate(r, i);
    return r;
  });
  return encodeRequest({
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
        scopeLogs: [{ scope: { name: 's' }, logRecords: records }],
      },
    ],
  });
}

async function both(headers: Record<string, string>, body: () => Buffer) {
  const a = await post(http.encoded, { headers, body: body() });
  const b = await post(http.plain, { headers, body: body() });
  const pick = (r: typeof a) => ({
    status: r.status,
    type: r.headers['content-type'],
    retryAfter: r.headers['retry-after'],
    body: r.body.toString('base64'),
  });
  return { encoded: pick(a), plain: pick(b) };
}

const PB = { 'content-type': 'application/x-protobuf' };
const JSON_CT = { 'content-type': 'application/json' };

describe('encoded requests through the pipeline answer exactly like decoded ones', () => {
  it('HTTP: success, partial success, undecodable protobuf and JSON, corrupt and oversize gzip', async () => {
    const cases: Array<[string, Record<string, string>, () => Buffer, number]> = [
      ['protobuf success', PB, () => freshProtobuf(8), 200],
      ['gzip protobuf success', { ...PB, 'content-encoding': 'gzip' }, () => zlib.gzipSync(freshProtobuf(8)), 200],
      [
        'partial success (invalid + non-audit records)',
        PB,
        () =>
          freshProtobuf(6, (r, i) => {
            if (i === 1) r.attributes = (r.attributes as Array<{ key: string }>).filter((a) => a.key !== 'audit.actor.id');
            if (i === 4) r.attributes = [];
          }),
        200,
      ],
      ['garbage protobuf', PB, () => Buffer.from('\x0a\xff\xff\xff\xff\x0fgarbage', 'latin1'), 400],
      ['JSON with a wrong type', JSON_CT, () => Buffer.from(JSON.stringify(otlpJsonRequest({ timeUnixNano: { no: 1 } }))), 400],
      ['JSON that does not parse', JSON_CT, () => Buffer.from('{"resourceLogs":['), 400],
      ['corrupt gzip', { ...PB, 'content-encoding': 'gzip' }, () => Buffer.from('\x1f\x8b\x08\x00garbage-not-deflate', 'latin1'), 400],
      ['gzip inflating past maxMessageBytes', { ...PB, 'content-encoding': 'gzip' }, () => zlib.gzipSync(Buffer.alloc(MAX * 4)), 413],
    ];
    for (const [name, headers, body, status] of cases) {
      const r = await both(headers, body);
      expect(r.encoded, name).toEqual(r.plain);
      expect(r.encoded.status, name).toBe(status);
    }
    // The same self-metrics (outcome, records, rejected, bytes after inflation) on both paths.
    const strip = (e: IngestRequestEvent) => ({ ...e, durationSeconds: 0 });
    expect(events.encoded.map(strip)).toEqual(events.plain.map(strip));
    expect(events.encoded.map((e) => e.outcome)).toEqual([
      'success',
      'success',
      'success',
      'decode_error',
      'decode_error',
      'decode_error',
      'decode_error',
      'too_large',
    ]);
  });

  it('gRPC: success, partial success and INVALID_ARGUMENT with the same status details', async () => {
    const call = (target: string, body: Buffer) =>
      new Promise<{ code: number; details: string; statusBin: string; response: string }>((resolve) => {
        const client = new grpc.Client(target, grpc.credentials.createInsecure());
        client.makeUnaryRequest(
          LOGS_EXPORT_METHOD_PATH,
          (b: Buffer) => b,
          (b: Buffer) => b,
          body,
          new grpc.Metadata(),
          {},
          (error, response) => {
            client.close();
            const bin = error?.metadata?.get('grpc-status-details-bin')[0];
            resolve({
              code: error?.code ?? 0,
              details: error?.details ?? '',
              statusBin: bin ? Buffer.from(bin as Buffer).toString('base64') : '',
              response: response ? Buffer.from(response).toString('base64') : '',
            });
          },
        );
      });
    const cases: Array<[() => Buffer, number]> = [
      [() => freshProtobuf(5), grpc.status.OK],
      [() => freshProtobuf(3, (r, i) => i === 0 && (r.attributes = [])), grpc.status.OK],
      [() => Buffer.from('\x0a\xff\xff\xff\xff\x0fgarbage', 'latin1'), grpc.status.INVALID_ARGUMENT],
    ];
    for (const [body, code] of cases) {
      const a = await call(rpc.encoded, body());
      const b = await call(rpc.plain, body());
      expect(a).toEqual(b);
      expect(a.code).toBe(code);
    }
  });

  it('went through the worker threads', () => {
    expect(pipeline.status().prepare).toEqual({ workers: 1, pending: 0 });
  });
});
