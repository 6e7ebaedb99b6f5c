/**
 * A minimal OTLP/HTTP logs gateway: receives `POST /v1/logs` and forwards it to the next hop (the
 * otel-audit receiver, or another gateway), standing in for an OpenTelemetry Collector in a
 * pipeline such as `service → collector → otel-audit`. No Collector binary ships on npm, and this
 * workplace reaches nothing else, so this hop plays the Collector's part (see README.md).
 *
 * Two modes, the two things a Collector does to logs in practice:
 * - `passthrough`: the request bytes go on untouched (content type, encoding, authorization kept).
 * - `reencode`: the request is decoded — validated first with the receiver's own protobuf decoder,
 *   then decoded into messages with protobufjs from the repository's `proto/` files — optionally
 *   changed (resource attributes added, like the Collector's `resource` processor), and encoded
 *   again with protobufjs. That is what a transforming collector does to every record it forwards,
 *   and it must not change the audit mapping. OTLP/JSON is forwarded as it came in this mode too
 *   (a JSON → protobuf conversion would need the hex-id rules of OTLP/JSON; not needed here).
 *
 * The hop answers the client only after the next hop answered, with that answer (status, body,
 * `Retry-After`): the client's acknowledgement stays end to end, as with a Collector configured
 * without an in-memory sending queue, which is how audit pipelines should be configured (an
 * in-memory queue would acknowledge events that a crash of the collector then loses). An
 * unreachable next hop is answered 503 with `Retry-After`, which OTLP clients retry.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { decodeLogsProtobuf } from '../../receiver/otlp/index.ts';
// The protobufjs reference codec (a test oracle) re-encodes in the 'reencode' mode.
import { EXPORT_LOGS_REQUEST_TYPE, loadOtlpLogsRoot } from '../../test/receiver/helpers/protobufjs-decoder.ts';

/** How the hop forwards. */
export type HopMode = 'passthrough' | 'reencode';

/** One forwarded exchange, given to {@link OtlpHopOptions.beforeRespond}. */
export interface HopExchange {
  /** Status the next hop answered (503 when it was unreachable). */
  upstreamStatus: number;
  /** Log records in the request (counted in `reencode` mode; undefined in `passthrough`). */
  records: number | undefined;
}

/** Options of {@link startOtlpHop}. */
export interface OtlpHopOptions {
  /** Base URL of the next hop, e.g. `http://127.0.0.1:4318` (`/v1/logs` is appended). */
  upstream: string;
  /** Default `passthrough`. */
  mode?: HopMode;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** `reencode` only: string attributes added to every resource (existing keys are kept). */
  resourceAttributes?: Record<string, string>;
  /** Largest request accepted (bytes, after decompression). Default 16 MiB; larger → 413. */
  maxRequestBytes?: number;
  /** Milliseconds to wait for the next hop. Default 30 000. */
  upstreamTimeoutMillis?: number;
  /**
   * Called after the next hop answered and before the client gets the answer. A test can hold an
   * answer here (the next hop has the records, the client does not know yet).
   */
  beforeRespond?: (exchange: HopExchange) => void | Promise<void>;
}

/** Counters of a hop. */
export interface OtlpHopStats {
  requests: number;
  /** Requests the next hop answered 2xx. */
  forwarded: number;
  /** Records in forwarded requests (`reencode` only). */
  records: number;
  /** Requests refused by the hop itself (malformed, too large). */
  refused: number;
  /** Requests the next hop did not answer (unreachable, timeout). */
  upstreamErrors: number;
}

/** A running hop. */
export interface OtlpHop {
  /** `http://host:port`; clients send to `<url>/v1/logs`. */
  readonly url: string;
  readonly port: number;
  stats(): OtlpHopStats;
  /** Stop listening; open connections are closed. */
  close(): Promise<void>;
}

const FORWARDED_REQUEST_HEADERS = ['content-type', 'content-encoding', 'authorization'] as const;

/** Start a hop listening on `host:port`. */
export async function startOtlpHop(options: OtlpHopOptions): Promise<OtlpHop> {
  const mode = options.mode ?? 'passthrough';
  const target = new URL(options.upstream.replace(/\/+$/, '').replace(/\/v1\/logs$/, '') + '/v1/logs');
  const maxBytes = options.maxRequestBytes ?? 16 * 1024 * 1024;
  const timeoutMillis = options.upstreamTimeoutMillis ?? 30_000;
  const requestType = mode === 'reencode' ? loadOtlpLogsRoot().lookupType(EXPORT_LOGS_REQUEST_TYPE) : undefined;
  const stats: OtlpHopStats = { requests: 0, forwarded: 0, records: 0, refused: 0, upstreamErrors: 0 };
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(`hop error: ${(err as Error).message}`);
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/v1/logs') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only POST /v1/logs');
      return;
    }
    stats.requests += 1;
    let body = await readBody(req, maxBytes);
    if (body === undefined) {
      stats.refused += 1;
      res.writeHead(413, { 'content-type': 'text/plain' }).end('request too large');
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    let records: number | undefined;
    const isProtobuf = (headers['content-type'] ?? '').startsWith('application/x-protobuf');
    if (requestType && isProtobuf) {
      if (headers['content-encoding'] === 'gzip') {
        body = gunzipSync(body, { maxOutputLength: maxBytes });
        delete headers['content-encoding'];
      }
      // A collector's receiver refuses what it cannot decode; the same decoder as the receiver's.
      const checked = decodeLogsProtobuf(body);
      if (!checked.ok) {
        stats.refused += 1;
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`hop: ${checked.error.message}`);
        return;
      }
      records = checked.recordCount;
      const message = requestType.decode(body) as unknown as DecodedRequest;
      addResourceAttributes(message, options.resourceAttributes ?? {});
      body = Buffer.from(requestType.encode(message as unknown as Record<string, unknown>).finish());
    }

    let upstream: Response;
    try {
      upstream = await fetch(target, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMillis) });
    } catch (err) {
      stats.upstreamErrors += 1;
      await options.beforeRespond?.({ upstreamStatus: 503, records });
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end(`hop: next hop unreachable: ${(err as Error).message}`);
      return;
    }
    const answer = Buffer.from(await upstream.arrayBuffer());
    if (upstream.ok) {
      stats.forwarded += 1;
      stats.records += records ?? 0;
    }
    await options.beforeRespond?.({ upstreamStatus: upstream.status, records });
    const out: Record<string, string> = {};
    for (const name of ['content-type', 'retry-after'] as const) {
      const v = upstream.headers.get(name);
      if (v !== null) out[name] = v;
    }
    res.writeHead(upstream.status, out).end(answer);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.address}:${address.port}`,
    port: address.port,
    stats: () => ({ ...stats }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

interface DecodedKeyValue {
  key: string;
  value?: { stringValue?: string };
}

interface DecodedRequest {
  resourceLogs?: Array<{ resource?: { attributes?: DecodedKeyValue[] } }>;
}

function addResourceAttributes(message: DecodedRequest, attributes: Record<string, string>): void {
  const entries = Object.entries(attributes);
  if (entries.length === 0) return;
  for (const rl of message.resourceLogs ?? []) {
    rl.resource ??= {};
    rl.resource.attributes ??= [];
    const present = new Set(rl.resource.attributes.map((a) => a.key));
    for (const [key, value] of entries) if (!present.has(key)) rl.resource.attributes.push({ key, value: { stringValue: value } });
  }
}

/** Read the whole body; undefined when it exceeds `max` bytes. */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) tooLarge = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
