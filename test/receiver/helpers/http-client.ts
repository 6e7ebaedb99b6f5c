/**
 * Raw HTTP clients for transport tests: node:http (full control over headers and streaming) and a
 * spawned `curl` (an independent client implementation).
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import protobuf from 'protobufjs';
import { loadOtlpLogsRoot } from './protobufjs-decoder.ts';

/** A complete HTTP response. */
export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Options of {@link post}. */
export interface PostOptions {
  method?: string;
  headers?: Record<string, string | number>;
  /** The whole body, or an async iterable of chunks (sent chunked unless content-length is set). */
  body?: Buffer | string | AsyncIterable<Buffer>;
}

/**
 * Send one request with node:http and read the whole response. Write errors caused by the server
 * closing early (after answering 413) are ignored: the response is what matters.
 */
export function post(url: string, options: PostOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'POST', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    let responded = false;
    req.on('response', () => {
      responded = true;
    });
    req.on('error', (err) => {
      if (!responded) reject(err);
    });
    const body = options.body;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      req.end(body);
      return;
    }
    void (async () => {
      try {
        for await (const chunk of body) {
          if (responded || req.destroyed) break;
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      } catch {
        // The server closed the connection (e.g. after 413); the response handler settles.
      }
    })();
  });
}

/** Run curl with the given arguments and body on stdin; resolves with status, headers and body. */
export function curl(args: string[], stdin?: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'curl',
      ['-sS', '-D', '-', '-o', '-', ...args],
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => {
        if (err) {
          reject(err);
          return;
        }
        // Header block(s) then body; skip "HTTP/1.1 100 Continue" blocks.
        let rest = stdout;
        for (;;) {
          const end = rest.indexOf('\r\n\r\n');
          const head = rest.subarray(0, end).toString('latin1');
          rest = rest.subarray(end + 4);
          const [statusLine, ...lines] = head.split('\r\n');
          const status = Number(statusLine!.split(' ')[1]);
          if (status === 100) continue;
          const headers: http.IncomingHttpHeaders = {};
          for (const line of lines) {
            const i = line.indexOf(':');
            headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
          }
          resolve({ status, headers, body: rest });
          return;
        }
      },
    );
    if (stdin) child.stdin!.end(stdin);
    else child.stdin!.end();
  });
}

const rpcRoot = protobuf.parse(`
  syntax = "proto3";
  package google.rpc;
  message Status { int32 code = 1; string message = 2; repeated bytes details = 3; }
  message Any { string type_url = 1; bytes value = 2; }
  message Duration { int64 seconds = 1; int32 nanos = 2; }
  message RetryInfo { Duration retry_delay = 1; }
  message BadRequest { message FieldViolation { string field = 1; string description = 2; } repeated FieldViolation field_violations = 1; }
`).root;
const statusType = rpcRoot.lookupType('google.rpc.Status');
const anyType = rpcRoot.lookupType('google.rpc.Any');

/** Decode one `google.protobuf.Any` from `Status.details` and its payload (RetryInfo or BadRequest). */
export function decodeStatusDetail(bytes: Uint8Array): { typeUrl: string; value: Record<string, unknown> } {
  const any = anyType.toObject(anyType.decode(bytes)) as { typeUrl: string; value: Uint8Array };
  const name = any.typeUrl.split('/').pop()!;
  const inner = rpcRoot.lookupType(name);
  return { typeUrl: any.typeUrl, value: inner.toObject(inner.decode(any.value), { longs: Number }) };
}

/** Decode a protobuf `google.rpc.Status` body. */
export function decodeStatus(bytes: Uint8Array): { code: number; message: string; details: Uint8Array[] } {
  const o = statusType.toObject(statusType.decode(bytes), { defaults: true }) as { code: number; message: string; details: Uint8Array[] };
  return o;
}

let responseType: protobuf.Type | undefined;

/** Decode a protobuf `ExportLogsServiceResponse` body. */
export function decodeExportResponse(bytes: Uint8Array): { partialSuccess?: { rejectedLogRecords: string; errorMessage: string } } {
  responseType ??= loadOtlpLogsRoot().lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse');
  return responseType.toObject(responseType.decode(bytes), { longs: String }) as {
    partialSuccess?: { rejectedLogRecords: string; errorMessage: string };
  };
}
