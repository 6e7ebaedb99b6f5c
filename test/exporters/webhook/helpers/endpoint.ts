/**
 * A real webhook endpoint for the tests: node:http (or node:https with a client-certificate check)
 * on a free loopback port. It checks `Otel-Audit-Signature` over the raw body, records every
 * request (idempotency key, body, status answered) and answers as the test scripts it: 200, a
 * status with headers, or no answer at all (a hang, until the client gives up).
 *
 * `parseHec` reads a body the way Splunk's HTTP Event Collector does: concatenated JSON objects
 * (whitespace between them allowed), each with an `event`, a numeric `time` when present.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { verifySignature } from '../../../../exporters/webhook/index.ts';

/** One request as the endpoint saw it. */
export interface ReceivedRequest {
  n: number;
  key: string | undefined;
  signature: string | undefined;
  signatureOk: boolean;
  signatureProblem?: string;
  contentType: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Status answered (0 = hung). */
  status: number;
  /** Subject CN of the client certificate (https with requestCert). */
  clientCertSubject?: string;
  atMillis: number;
}

/** What to answer to a request. */
export type Answer = { status: number; headers?: Record<string, string>; body?: string; delayMillis?: number } | { hang: true };

/** A running endpoint. */
export interface TestEndpoint {
  url: string;
  requests: ReceivedRequest[];
  /** Decide the answer of the next requests (default: 200). */
  respond: (decide: (req: ReceivedRequest) => Answer) => void;
  /** Requests answered 2xx. */
  accepted(): ReceivedRequest[];
  close(): Promise<void>;
}

/** Options of {@link startEndpoint}. */
export interface EndpointOptions {
  secret: string;
  path?: string;
  tls?: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer; requestCert?: boolean };
  /** Fixed port (to come back on the same one). Default: a free one. */
  port?: number;
}

/** Start an endpoint. */
export async function startEndpoint(options: EndpointOptions): Promise<TestEndpoint> {
  const requests: ReceivedRequest[] = [];
  let decide: (req: ReceivedRequest) => Answer = () => ({ status: 200 });
  const hung = new Set<http.ServerResponse>();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const signature = req.headers['otel-audit-signature'] as string | undefined;
      const check = verifySignature(options.secret, signature, raw);
      const socket = req.socket as TLSSocket;
      const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
      const r: ReceivedRequest = {
        n: requests.length,
        key: req.headers['idempotency-key'] as string | undefined,
        signature,
        signatureOk: check.ok,
        ...(check.ok ? {} : { signatureProblem: check.reason }),
        contentType: req.headers['content-type'],
        headers: req.headers,
        body: raw.toString('utf8'),
        status: 0,
        ...(peer?.subject ? { clientCertSubject: String(peer.subject.CN) } : {}),
        atMillis: Date.now(),
      };
      requests.push(r);
      if (req.url !== (options.path ?? '/ingest')) {
        r.status = 404;
        res.writeHead(404).end('no such path');
        return;
      }
      if (!check.ok) {
        r.status = 401;
        res.writeHead(401).end(`bad signature: ${check.reason}`);
        return;
      }
      const a = decide(r);
      if ('hang' in a) {
        hung.add(res);
        res.on('close', () => hung.delete(res));
        return;
      }
      const answer = () => {
        r.status = a.status;
        res
          .writeHead(a.status, { 'content-type': 'text/plain', ...(a.headers ?? {}) })
          .end(a.body ?? (a.status < 300 ? 'ok' : `status ${a.status}`));
      };
      if (a.delayMillis) setTimeout(answer, a.delayMillis);
      else answer();
    });
  };
  const server = options.tls
    ? https.createServer(
        {
          key: options.tls.key,
          cert: options.tls.cert,
          ...(options.tls.ca ? { ca: options.tls.ca } : {}),
          requestCert: options.tls.requestCert ?? false,
          rejectUnauthorized: options.tls.requestCert ?? false,
        },
        handler,
      )
    : http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}${options.path ?? '/ingest'}`,
    requests,
    respond: (d) => {
      decide = d;
    },
    accepted: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    async close() {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Objects of an NDJSON body. */
export function parseNdjson(body: string): Array<Record<string, unknown>> {
  return body
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * Parse a body as Splunk HEC's `/services/collector/event` does: a stream of JSON objects, one after
 * the other (optionally separated by whitespace), not an array. Each must have `event`; `time`, when
 * present, must be a number (epoch seconds, fraction allowed) or a numeric string; `fields` values
 * must be strings or arrays of strings. Throws like HEC's "Invalid data format" otherwise.
 */
export function parseHec(body: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  let i = 0;
  const ws = /\s/;
  while (i < body.length) {
    while (i < body.length && ws.test(body[i]!)) i++;
    if (i >= body.length) break;
    if (body[i] !== '{') throw new Error(`HEC: invalid data format at ${i}: expected an object`);
    // Find the end of this object with a string-aware brace counter.
    let depth = 0;
    let inString = false;
    let j = i;
    for (; j < body.length; j++) {
      const ch = body[j]!;
      if (inString) {
        if (ch === '\\') j++;
        else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === '{') depth++;
      else if (ch === '}' && --depth === 0) break;
    }
    if (depth !== 0) throw new Error('HEC: invalid data format: unterminated object');
    const obj = JSON.parse(body.slice(i, j + 1)) as Record<string, unknown>;
    if (!('event' in obj) || obj.event === null || obj.event === '') throw new Error('HEC: event field is required');
    if ('time' in obj && !(typeof obj.time === 'number' || (typeof obj.time === 'string' && /^\d+(\.\d+)?$/.test(obj.time))))
      throw new Error('HEC: time must be numeric epoch seconds');
    if ('fields' in obj) {
      const f = obj.fields as Record<string, unknown>;
      for (const [k, v] of Object.entries(f)) {
        if (!(typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'))))
          throw new Error(`HEC: indexed field ${k} must be a string or string array`);
      }
    }
    out.push(obj);
    i = j + 1;
  }
  return out;
}
