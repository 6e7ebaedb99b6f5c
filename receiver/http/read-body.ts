/**
 * Reading a request body under a size limit, with optional gzip, safely against decompression bombs.
 */
import type { IncomingMessage } from 'node:http';
import zlib from 'node:zlib';
import { AuditError } from '@otel-audit/core';

/** Options of {@link readRequestBody}. */
export interface ReadBodyOptions {
  /** Maximum body size in bytes, both as received and after decompression. */
  maxBytes: number;
  /**
   * Called once the headers passed the checks (encoding, Content-Length) and before the body is
   * read. The HTTP server uses it to send `100 Continue` to clients that asked for it
   * (`Expect: 100-continue`, e.g. curl for bodies over 1 MiB), so an oversize request is refused
   * before its body is sent at all.
   */
  beforeRead?: () => void;
  /**
   * Inflate a gzip body (default true). False returns the body as received, with `encoding` set,
   * for a caller that inflates elsewhere with {@link inflateGzipSync} (the pipeline's worker threads).
   */
  inflate?: boolean;
}

/**
 * Outcome of reading a body. Failures carry the HTTP status to answer:
 * 413 (too large, `AUDIT_ERR_PAYLOAD_TOO_LARGE`), 415 (unsupported `Content-Encoding`,
 * `AUDIT_ERR_UNSUPPORTED_MEDIA_TYPE`), 400 (corrupt gzip or client aborted, `AUDIT_ERR_DECODE`).
 */
export type ReadBodyResult =
  | { ok: true; body: Buffer; encoding?: 'identity' | 'gzip' }
  | { ok: false; status: 400 | 413 | 415; error: AuditError };

/** Supported `Content-Encoding` values (OTLP/HTTP spec: gzip; identity = none). */
export function parseContentEncoding(header: string | undefined): 'identity' | 'gzip' | undefined {
  if (header === undefined) return 'identity';
  const v = header.trim().toLowerCase();
  if (v === '' || v === 'identity') return 'identity';
  if (v === 'gzip' || v === 'x-gzip') return 'gzip';
  return undefined;
}

function tooLarge(what: string, maxBytes: number): { ok: false; status: 413; error: AuditError } {
  return {
    ok: false,
    status: 413,
    error: new AuditError('AUDIT_ERR_PAYLOAD_TOO_LARGE', `${what} exceeds the limit of ${maxBytes} bytes`, { details: { maxBytes } }),
  };
}

/**
 * Read the whole body of `req`, enforcing `maxBytes` while reading (a `Content-Length` above the
 * limit is refused before reading anything), then gunzip it if `Content-Encoding: gzip`, stopping
 * inflation as soon as the output reaches `maxBytes` (zlib `maxOutputLength`), so a gzip bomb costs
 * at most `maxBytes` of memory and never its full expansion.
 *
 * On a 413 the rest of the body is not read: the caller must answer with `Connection: close` (the
 * HTTP server does this for any response sent before the request body is complete).
 * Never throws; never rejects.
 */
export function readRequestBody(req: IncomingMessage, options: ReadBodyOptions): Promise<ReadBodyResult> {
  const { maxBytes } = options;
  const encoding = parseContentEncoding(req.headers['content-encoding']);
  if (encoding === undefined) {
    return Promise.resolve({
      ok: false,
      status: 415,
      error: new AuditError(
        'AUDIT_ERR_UNSUPPORTED_MEDIA_TYPE',
        `unsupported Content-Encoding "${req.headers['content-encoding']}" (supported: gzip, identity)`,
      ),
    });
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return Promise.resolve(tooLarge(`Content-Length ${declared}`, maxBytes));
  }
  options.beforeRead?.();
  return new Promise<ReadBodyResult>((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    let ended = false;
    const finish = (result: ReadBodyResult) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        // Stop reading; the server closes the connection after the 413.
        req.pause();
        finish(tooLarge(encoding === 'gzip' ? 'compressed body' : 'body', maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      ended = true;
      const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
      if (encoding === 'identity' || options.inflate === false) {
        finish({ ok: true, body: raw, encoding });
        return;
      }
      zlib.gunzip(raw, { maxOutputLength: maxBytes }, (err, out) => finish(inflateResult(err, out, maxBytes)));
    };
    const onError = (err: Error) =>
      finish({
        ok: false,
        status: 400,
        error: new AuditError('AUDIT_ERR_DECODE', `error while reading the body: ${err.message}`, { cause: err }),
      });
    // 'close' before 'end' means the client went away mid-body (no 'error' is guaranteed then);
    // without this the read would never settle.
    const onClose = () => {
      if (!ended) finish({ ok: false, status: 400, error: new AuditError('AUDIT_ERR_DECODE', 'client aborted the request') });
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function inflateResult(err: Error | null, out: Buffer, maxBytes: number): ReadBodyResult {
  if (!err) return { ok: true, body: out };
  if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return tooLarge('decompressed body', maxBytes);
  return { ok: false, status: 400, error: new AuditError('AUDIT_ERR_DECODE', `invalid gzip body: ${err.message}`, { cause: err }) };
}

/**
 * Inflate a gzip body synchronously with the same limit and the same answers as
 * {@link readRequestBody} (413 past `maxBytes` of output, 400 for corrupt gzip). For worker threads,
 * where blocking is the point.
 */
export function inflateGzipSync(raw: Uint8Array, maxBytes: number): ReadBodyResult {
  try {
    return inflateResult(null, zlib.gunzipSync(raw, { maxOutputLength: maxBytes }), maxBytes);
  } catch (err) {
    return inflateResult(err as Error, Buffer.alloc(0), maxBytes);
  }
}
