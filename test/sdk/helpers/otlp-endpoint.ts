/**
 * A small OTLP logs endpoint for SDK tests: OTLP/HTTP (protobuf and JSON, gzip) and OTLP/gRPC on
 * 127.0.0.1 with port 0, decoding with protobufjs from the project's proto/ files. It records
 * what it received and can be told how to answer (503, 400, partial_success, gRPC codes).
 * Not the receiver: no validation, no durability.
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { type AuditEvent, type LogRecordView, logRecordToAuditEvent } from '@otel-audit/schema';
import protobuf from 'protobufjs';

const PROTO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../proto');

/** How to answer one export request. */
export type EndpointAnswer =
  | { kind: 'ok' }
  | { kind: 'partial'; rejected: number; message: string }
  /** HTTP status (and Retry-After seconds) for HTTP; gRPC status code for gRPC. */
  | { kind: 'error'; httpStatus: number; grpcCode: number; retryAfterSeconds?: number; message?: string };

/** One received log record with its resource and scope. */
export interface ReceivedRecord {
  transport: 'http/protobuf' | 'http/json' | 'grpc';
  resource: Record<string, unknown>;
  scope: { name: string; version: string };
  scopeSchemaUrl: string;
  record: LogRecordView;
}

export interface OtlpEndpoint {
  httpUrl: string;
  grpcUrl: string;
  /** Records of requests answered `ok` or `partial` (what a receiver would have accepted). */
  accepted: ReceivedRecord[];
  /** Count of requests seen, whatever the answer. */
  requestCount: number;
  /** Answers used in order for the next requests; after them, `defaultAnswer`. */
  script(...answers: EndpointAnswer[]): void;
  defaultAnswer: EndpointAnswer;
  /** Audit events (via the schema mapping) of accepted records; throws on a record that does not map. */
  events(): AuditEvent[];
  eventIds(): string[];
  /** Resolve when `predicate()` holds (polled); rejects after `timeoutMillis`. */
  waitFor(predicate: () => boolean, timeoutMillis?: number): Promise<void>;
  close(): Promise<void>;
}

let rootPromise: Promise<protobuf.Root> | undefined;
function loadRoot(): Promise<protobuf.Root> {
  rootPromise ??= (async () => {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_DIR, target));
    await root.load('opentelemetry/proto/collector/logs/v1/logs_service.proto', { keepCase: false });
    return root;
  })();
  return rootPromise;
}

/** Start an endpoint; close it with `close()`. */
export async function startOtlpEndpoint(options: { httpPort?: number } = {}): Promise<OtlpEndpoint> {
  const root = await loadRoot();
  const Req = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
  const Res = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse');
  const queue: EndpointAnswer[] = [];
  const ep: OtlpEndpoint = {
    httpUrl: '',
    grpcUrl: '',
    accepted: [],
    requestCount: 0,
    defaultAnswer: { kind: 'ok' },
    script: (...answers) => void queue.push(...answers),
    events: () =>
      ep.accepted.map((r) => {
        const result = logRecordToAuditEvent(r.record);
        if (!result.ok) throw result.error;
        return result.event;
      }),
    eventIds: () => ep.accepted.map((r) => String(r.record.attributes['audit.event_id'])),
    waitFor: async (predicate, timeoutMillis = 15_000) => {
      const deadline = Date.now() + timeoutMillis;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: async () => {
      await new Promise<void>((r) => httpServer.close(() => r()));
      httpServer.closeAllConnections();
      await new Promise<void>((r) => grpcServer.tryShutdown(() => r()));
    },
  };
  const next = (): EndpointAnswer => queue.shift() ?? ep.defaultAnswer;
  const accept = (transport: ReceivedRecord['transport'], req: RequestObject): void => {
    for (const rl of req.resourceLogs ?? []) {
      const resource = attrsToObject(rl.resource?.attributes);
      for (const sl of rl.scopeLogs ?? []) {
        for (const lr of sl.logRecords ?? []) {
          ep.accepted.push({
            transport,
            resource,
            scope: { name: sl.scope?.name ?? '', version: sl.scope?.version ?? '' },
            scopeSchemaUrl: sl.schemaUrl ?? '',
            record: toView(lr),
          });
        }
      }
    }
  };

  const httpServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      ep.requestCount++;
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      const json = (req.headers['content-type'] ?? '').includes('json');
      const answer = next();
      if (answer.kind === 'error') {
        const headers: Record<string, string> = { 'content-type': 'text/plain' };
        if (answer.retryAfterSeconds !== undefined) headers['retry-after'] = String(answer.retryAfterSeconds);
        res.writeHead(answer.httpStatus, headers).end(answer.message ?? 'scripted error');
        return;
      }
      if (json) {
        accept('http/json', normalizeJson(JSON.parse(body.toString('utf8'))));
      } else {
        accept('http/protobuf', Req.toObject(Req.decode(body), { longs: String, bytes: Buffer, defaults: false }) as RequestObject);
      }
      const response =
        answer.kind === 'partial' ? { partialSuccess: { rejectedLogRecords: answer.rejected, errorMessage: answer.message } } : {};
      if (json) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(response));
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(Res.encode(Res.fromObject(response)).finish()));
    });
  });
  await new Promise<void>((r) => httpServer.listen(options.httpPort ?? 0, '127.0.0.1', () => r()));
  ep.httpUrl = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/v1/logs`;

  const grpcServer = new grpc.Server();
  grpcServer.addService(
    {
      Export: {
        path: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: Buffer) => v,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (v: Buffer) => v,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        ep.requestCount++;
        const answer = next();
        if (answer.kind === 'error') {
          callback({ code: answer.grpcCode, details: answer.message ?? 'scripted error' });
          return;
        }
        accept('grpc', Req.toObject(Req.decode(call.request), { longs: String, bytes: Buffer, defaults: false }) as RequestObject);
        const response =
          answer.kind === 'partial' ? { partialSuccess: { rejectedLogRecords: answer.rejected, errorMessage: answer.message } } : {};
        callback(null, Buffer.from(Res.encode(Res.fromObject(response)).finish()));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  ep.grpcUrl = `http://127.0.0.1:${port}`;
  return ep;
}

// --- decoding helpers -------------------------------------------------------------------------

interface AnyValueObject {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  bytesValue?: Buffer | string;
  arrayValue?: { values?: AnyValueObject[] };
  kvlistValue?: { values?: Array<{ key: string; value?: AnyValueObject }> };
}
interface LogRecordObject {
  timeUnixNano?: string | number;
  observedTimeUnixNano?: string | number;
  severityNumber?: number;
  severityText?: string;
  eventName?: string;
  body?: AnyValueObject;
  attributes?: Array<{ key: string; value?: AnyValueObject }>;
  traceId?: Buffer | string;
  spanId?: Buffer | string;
  flags?: number;
}
interface RequestObject {
  resourceLogs?: Array<{
    resource?: { attributes?: Array<{ key: string; value?: AnyValueObject }> };
    scopeLogs?: Array<{ scope?: { name?: string; version?: string }; schemaUrl?: string; logRecords?: LogRecordObject[] }>;
  }>;
}

function anyToJs(v: AnyValueObject | undefined): unknown {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.bytesValue !== undefined) return typeof v.bytesValue === 'string' ? Buffer.from(v.bytesValue, 'base64') : v.bytesValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyToJs);
  if (v.kvlistValue) return attrsToObject(v.kvlistValue.values);
  return undefined;
}

function attrsToObject(kvs: Array<{ key: string; value?: AnyValueObject }> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs ?? []) out[kv.key] = anyToJs(kv.value);
  return out;
}

function hex(v: Buffer | string | undefined): string {
  if (v === undefined) return '';
  // OTLP/JSON carries ids as hex strings; protobuf as bytes.
  return typeof v === 'string' ? v.toLowerCase() : v.toString('hex');
}

function toView(lr: LogRecordObject): LogRecordView {
  return {
    timeUnixNano: BigInt(lr.timeUnixNano ?? 0),
    observedTimeUnixNano: BigInt(lr.observedTimeUnixNano ?? 0),
    severityNumber: lr.severityNumber ?? 0,
    severityText: lr.severityText ?? '',
    eventName: lr.eventName ?? '',
    body: anyToJs(lr.body),
    attributes: attrsToObject(lr.attributes),
    traceId: hex(lr.traceId),
    spanId: hex(lr.spanId),
    flags: lr.flags ?? 0,
  };
}

/** OTLP/JSON is already in the shape of `RequestObject` (camelCase keys, hex ids). */
function normalizeJson(body: unknown): RequestObject {
  return body as RequestObject;
}
