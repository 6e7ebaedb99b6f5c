/**
 * A small OTLP/HTTP logs endpoint for tests and the outbox benchmark: decodes
 * `application/x-protobuf` (protobufjs over the project's `proto/` files) and `application/json`,
 * records the `audit.event_id` of every acknowledged record, and can be told to answer 503, hold
 * requests open, refuse chosen records (partial success or 400) or close its port.
 * (No shared helper existed under test/sdk or test/receiver when this was written.)
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const PROTO_ROOT = fileURLToPath(new URL('../../../proto/', import.meta.url));

let root: protobuf.Root | undefined;
function otlpRoot(): protobuf.Root {
  if (!root) {
    root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_ROOT, target));
    root.loadSync('opentelemetry/proto/collector/logs/v1/logs_service.proto', { keepCase: false });
    root.resolveAll();
  }
  return root;
}

/** What the endpoint does with the next requests. */
export type EndpointMode =
  | 'ok'
  /** Answer 503 (retryable) to everything. */
  | 'unavailable'
  /** Keep requests open without answering until the mode changes or the endpoint closes. */
  | 'hold';

interface LogRecordLike {
  attributes?: Array<{ key?: string; value?: { stringValue?: string } }>;
  eventName?: string;
}

interface ExportRequestLike {
  resourceLogs?: Array<{
    resource?: { attributes?: Array<{ key?: string; value?: { stringValue?: string } }> };
    scopeLogs?: Array<{ logRecords?: LogRecordLike[] }>;
  }>;
}

/** The test endpoint. */
export interface TestOtlpEndpoint {
  /** Base URL, e.g. `http://127.0.0.1:40123` (the relay appends `/v1/logs`). */
  readonly url: string;
  readonly port: number;
  /** Event ids of acknowledged records, in arrival order, duplicates included. */
  readonly acked: string[];
  /** `service.name` of acknowledged records' resources, parallel to {@link acked}. */
  readonly serviceNames: string[];
  /** Requests received (any answer). */
  requests: number;
  /** Requests currently held open. */
  readonly held: number;
  /** Event ids refused through partial success (still answered 200). */
  rejectViaPartialSuccess: Set<string>;
  /** Event ids whose request is answered 400 as a whole. */
  rejectWith400: Set<string>;
  /** When set, the request with this 1-based number and all later ones are held open (as in mode `hold`). */
  holdFrom: number | undefined;
  /**
   * When true, records of held requests count as acknowledged at once: a receiver that stored them
   * but whose answer never reached the client (the at-least-once duplicate case).
   */
  recordHeld: boolean;
  /** Answer every held request: 200 (its records acknowledged, if not already) or 503. */
  releaseHeld(status: 200 | 503): void;
  /** When true, decode nothing (benchmark): count records by a cheap scan and answer 200. */
  countOnly: boolean;
  /** Records counted in countOnly mode. */
  counted: number;
  setMode(mode: EndpointMode): void;
  /** Resolves once `count` requests are held open. */
  waitForHeld(count?: number): Promise<void>;
  /** Resolves once every id in `ids` was acknowledged at least once. */
  waitForIds(ids: Iterable<string>, timeoutMillis?: number): Promise<void>;
  /** Stop listening and drop open connections (the port is then refused). */
  closePort(): Promise<void>;
  /** Listen again on the same port. */
  reopenPort(): Promise<void>;
  close(): Promise<void>;
}

/** Start an endpoint on 127.0.0.1 (port 0 = any free port). */
export async function startTestOtlpEndpoint(port = 0): Promise<TestOtlpEndpoint> {
  const requestType = otlpRoot().lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
  const responseType = otlpRoot().lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse');
  let mode: EndpointMode = 'ok';
  const heldResponses = new Map<
    http.ServerResponse,
    { isJson: boolean; records: Array<{ id: string; service: string }>; recorded: boolean }
  >();
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();
  const poke = () => {
    for (const w of [...waiters]) w();
  };

  const endpoint: TestOtlpEndpoint = {
    url: '',
    port: 0,
    acked: [],
    serviceNames: [],
    requests: 0,
    get held() {
      return heldResponses.size;
    },
    rejectViaPartialSuccess: new Set(),
    rejectWith400: new Set(),
    countOnly: false,
    counted: 0,
    holdFrom: undefined,
    recordHeld: false,
    setMode(next) {
      mode = next;
      // Held requests get a 503: the client never got an ack for them.
      if (next !== 'hold') endpoint.releaseHeld(503);
    },
    releaseHeld(status) {
      for (const [res, held] of heldResponses) {
        if (status === 200) {
          if (!held.recorded) ack(held.records);
          answer(res, held.isJson, 0, '');
        } else {
          res.writeHead(503).end();
        }
      }
      heldResponses.clear();
      poke();
    },
    waitForHeld(count = 1) {
      return waitUntil(() => heldResponses.size >= count);
    },
    waitForIds(ids, timeoutMillis = 30_000) {
      const want = [...ids];
      const deadline = Date.now() + timeoutMillis;
      return waitUntil(() => {
        const have = new Set(endpoint.acked);
        if (want.every((id) => have.has(id))) return true;
        if (Date.now() > deadline)
          throw new Error(`timed out: ${want.filter((id) => !have.has(id)).length} of ${want.length} ids not acknowledged`);
        return false;
      });
    },
    closePort: () => closeServer(),
    reopenPort: () => (server.listening ? Promise.resolve() : listen(endpoint.port)),
    async close() {
      await closeServer();
    },
  };

  function waitUntil(done: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        try {
          if (!done()) return;
        } catch (err) {
          waiters.delete(check);
          clearInterval(timer);
          reject(err);
          return;
        }
        waiters.delete(check);
        clearInterval(timer);
        resolve();
      };
      // The interval only bounds how late a timeout is noticed; arrivals poke the check directly.
      const timer = setInterval(check, 100);
      waiters.add(check);
      check();
    });
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      endpoint.requests += 1;
      if (req.url !== '/v1/logs' || req.method !== 'POST') {
        res.writeHead(404).end();
        return;
      }
      if (mode === 'unavailable') {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable');
        poke();
        return;
      }
      const body = Buffer.concat(chunks);
      const isJson = (req.headers['content-type'] ?? '').includes('json');
      if (endpoint.countOnly) {
        endpoint.counted += isJson ? countJsonRecords(body) : countProtoRecords(body);
        answer(res, isJson, 0, '');
        poke();
        return;
      }
      let request: ExportRequestLike;
      try {
        request = isJson
          ? (JSON.parse(body.toString('utf8')) as ExportRequestLike)
          : (requestType.toObject(requestType.decode(body), { longs: String, defaults: false }) as ExportRequestLike);
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`cannot decode: ${(err as Error).message}`);
        return;
      }
      const records: Array<{ id: string; service: string }> = [];
      for (const rl of request.resourceLogs ?? []) {
        const service = rl.resource?.attributes?.find((a) => a.key === 'service.name')?.value?.stringValue ?? '';
        for (const sl of rl.scopeLogs ?? []) {
          for (const lr of sl.logRecords ?? []) {
            const id = lr.attributes?.find((a) => a.key === 'audit.event_id')?.value?.stringValue ?? '';
            records.push({ id, service });
          }
        }
      }
      if (mode === 'hold' || (endpoint.holdFrom !== undefined && endpoint.requests >= endpoint.holdFrom)) {
        const recorded = endpoint.recordHeld;
        if (recorded) ack(records);
        heldResponses.set(res, { isJson, records, recorded });
        res.on('close', () => heldResponses.delete(res));
        poke();
        return;
      }
      if (records.some((r) => endpoint.rejectWith400.has(r.id))) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('invalid record in request');
        poke();
        return;
      }
      const refused = records.filter((r) => endpoint.rejectViaPartialSuccess.has(r.id));
      const rejected = refused.length;
      ack(records.filter((r) => !endpoint.rejectViaPartialSuccess.has(r.id)));
      answer(res, isJson, rejected, rejected > 0 ? 'audit.actor.id: refused by test' : '');
      poke();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  function ack(records: Array<{ id: string; service: string }>): void {
    for (const r of records) {
      endpoint.acked.push(r.id);
      endpoint.serviceNames.push(r.service);
    }
  }

  function answer(res: http.ServerResponse, isJson: boolean, rejected: number, message: string): void {
    const partialSuccess = rejected > 0 ? { rejectedLogRecords: rejected, errorMessage: message } : undefined;
    if (isJson) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(partialSuccess ? { partialSuccess } : {}));
    } else {
      const bytes = responseType.encode(responseType.fromObject(partialSuccess ? { partialSuccess } : {})).finish();
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(bytes));
    }
  }

  function listen(p: number): Promise<void> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        const addr = server.address() as AddressInfo;
        (endpoint as { port: number }).port = addr.port;
        (endpoint as { url: string }).url = `http://127.0.0.1:${addr.port}`;
        resolve();
      });
    });
  }

  function closeServer(): Promise<void> {
    for (const res of heldResponses.keys()) res.destroy();
    heldResponses.clear();
    return new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  }

  await listen(port);
  return endpoint;
}

/** Count LogRecords in an ExportLogsServiceRequest by walking the three length-delimited levels. */
function countProtoRecords(buf: Buffer): number {
  let count = 0;
  forEachField(buf, 0, buf.length, 1, (s1, e1) =>
    forEachField(buf, s1, e1, 2, (s2, e2) =>
      forEachField(buf, s2, e2, 2, () => {
        count += 1;
      }),
    ),
  );
  return count;
}

function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++]!;
    result += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [result, pos];
    shift += 7;
  }
}

/** Call `fn(start, end)` for each length-delimited field number `field` in buf[start, end). */
function forEachField(buf: Buffer, start: number, end: number, field: number, fn: (s: number, e: number) => void): void {
  let pos = start;
  while (pos < end) {
    const [tag, p1] = readVarint(buf, pos);
    pos = p1;
    const wire = tag & 7;
    if (wire === 0) pos = readVarint(buf, pos)[1];
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos);
      if (tag >>> 3 === field) fn(p2, p2 + len);
      pos = p2 + len;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
}

function countJsonRecords(body: Buffer): number {
  const req = JSON.parse(body.toString('utf8')) as ExportRequestLike;
  let n = 0;
  for (const rl of req.resourceLogs ?? []) for (const sl of rl.scopeLogs ?? []) n += sl.logRecords?.length ?? 0;
  return n;
}
