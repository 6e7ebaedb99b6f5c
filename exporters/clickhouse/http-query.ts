/**
 * A read-only endpoint that speaks enough of the ClickHouse HTTP interface for
 * `@clickhouse/client` (`createClient({ url: 'http://host:4318/<prefix>' })`), curl and other HTTP
 * ClickHouse clients: the query in the body or `?query=`, `default_format` / `X-ClickHouse-Format` /
 * a FORMAT clause, `param_<name>` values for `{name:Type}` placeholders, `/ping`, the
 * `X-ClickHouse-*` response headers, and errors as ClickHouse-style text
 * (`Code: N. DB::Exception: … (TYPE)`) so clients surface them as ClickHouse errors.
 *
 * The current database is the `database` URL parameter (what `@clickhouse/client` sends for its
 * `database` option), else the `X-ClickHouse-Database` header (ClickHouse's HTTP interface accepts
 * either), else the service's default — the audit database, so `SELECT count() FROM audit_events`
 * works unqualified, as with `clickhouse-client --database otel_audit`.
 *
 * Authentication is the mounting server's job (the receiver's bearer tokens); this handler only
 * ever runs read queries through a {@link QueryService}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { AuditError } from '@otel-audit/core';
import { checkReadOnlyQuery, type QueryService } from './read-only-query.ts';

/** Options of {@link handleClickHouseHttpQuery}. */
export interface ClickHouseHttpOptions {
  /** Largest accepted request body (the query text), bytes. Default 1 MiB. */
  maxQueryBytes?: number;
}

/** Thrown internally when the body is too large. */
class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase();
  let source: Readable = req;
  if (encoding === 'gzip') source = req.pipe(createGunzip());
  else if (encoding === 'deflate') source = req.pipe(createInflate());
  else if (encoding === 'br') source = req.pipe(createBrotliDecompress());
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLarge(`query is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reverse ClickHouse's "escaped" text encoding of a scalar parameter value (what clients send). */
export function unescapeParamValue(value: string): string {
  if (!value.includes('\\')) return value;
  const map: Record<string, string> = { b: '\b', f: '\f', r: '\r', n: '\n', t: '\t', '0': '\0', a: '\x07', v: '\v', e: '\x1b' };
  return value.replace(/\\(.)/gs, (_m, c: string) => map[c] ?? c);
}

/** Composite parameter types are parsed from their text form by the engine, not unescaped here. */
function isCompositeType(type: string | undefined): boolean {
  if (type === undefined) return false;
  const t = type.replace(/^\s*(Nullable|LowCardinality)\s*\(/i, '').trimStart();
  return /^(Array|Map|Tuple|Nested|JSON|Object|Variant|Dynamic)\b/i.test(t);
}

/** ClickHouse error name and HTTP status for an otel-audit error. */
function clickHouseErrorOf(error: AuditError): { code: number; type: string; status: number } {
  const chCode = error.details?.clickhouseCode;
  const chType = error.details?.clickhouseType;
  if (error.code === 'AUDIT_ERR_QUERY_REFUSED') return { code: 164, type: 'READONLY', status: 403 };
  if (error.code === 'AUDIT_ERR_INVALID_ARGUMENT') return { code: 36, type: 'BAD_ARGUMENTS', status: 400 };
  if (typeof chCode === 'number') {
    const status =
      chCode === 60 || chCode === 81
        ? 404
        : chCode === 62 || chCode === 47 || chCode === 46 || chCode === 456 || chCode === 457
          ? 400
          : 500;
    return { code: chCode, type: typeof chType === 'string' && chType !== '' ? chType : 'UNKNOWN_EXCEPTION', status };
  }
  if (error.code === 'AUDIT_ERR_STORE_UNAVAILABLE') return { code: 210, type: 'NETWORK_ERROR', status: 503 };
  return { code: 1001, type: 'STD_EXCEPTION', status: 500 };
}

function sendClickHouseError(res: ServerResponse, status: number, code: number, type: string, message: string): void {
  // One line, ClickHouse's shape: clients parse the code and the (TYPE) out of it.
  const text = `Code: ${code}. DB::Exception: ${message.replace(/\s+/g, ' ').trim()} (${type}) (version otel-audit)\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=UTF-8',
    'X-ClickHouse-Exception-Code': String(code),
    'X-ClickHouse-Server-Display-Name': 'otel-audit',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Serve one ClickHouse-HTTP request with `service`. Mount it on a path prefix (e.g. `/clickhouse`)
 * of any node:http server; `<prefix>/ping` answers `Ok.`. Never throws: every error becomes a
 * ClickHouse-style error response.
 */
export async function handleClickHouseHttpQuery(
  req: IncomingMessage,
  res: ServerResponse,
  service: QueryService,
  options: ClickHouseHttpOptions = {},
): Promise<void> {
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    if (/\/(ping|replicas_status)\/?$/.test(url.pathname) && (method === 'GET' || method === 'HEAD')) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': 4 });
      res.end(method === 'HEAD' ? undefined : 'Ok.\n');
      return;
    }
    if (method !== 'GET' && method !== 'POST' && method !== 'HEAD') {
      sendClickHouseError(res, 405, 1001, 'STD_EXCEPTION', `method ${method} is not allowed; use GET or POST`);
      return;
    }
    const body = method === 'POST' ? await readBody(req, options.maxQueryBytes ?? 1024 * 1024) : '';
    const inUrl = url.searchParams.get('query') ?? '';
    const sql = inUrl !== '' && body.trim() !== '' ? `${inUrl}\n${body}` : inUrl !== '' ? inUrl : body;
    if (sql.trim() === '') {
      // ClickHouse answers a bare GET / with "Ok." (clients use it as a health check).
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': 4 });
      res.end('Ok.\n');
      return;
    }
    const headerFormat = req.headers['x-clickhouse-format'];
    const format =
      url.searchParams.get('default_format') ?? (typeof headerFormat === 'string' && headerFormat !== '' ? headerFormat : undefined);
    const check = checkReadOnlyQuery(sql);
    const declared = check.ok ? check.parameters : {};
    const params: Record<string, unknown> = {};
    for (const [key, value] of url.searchParams) {
      if (!key.startsWith('param_')) continue;
      const name = key.slice('param_'.length);
      params[name] = isCompositeType(declared[name]) ? value : unescapeParamValue(value);
    }
    const headerDatabase = req.headers['x-clickhouse-database'];
    const database =
      url.searchParams.get('database') || (typeof headerDatabase === 'string' && headerDatabase !== '' ? headerDatabase : undefined);
    const result = await service.query(sql, {
      ...(format === undefined ? {} : { format }),
      ...(database === undefined ? {} : { database }),
      params,
    });
    if (result.status !== 'success') {
      const { code, type, status } = clickHouseErrorOf(result.error);
      // ClickHouse's own text when it answered (clients prefix their own "Code: N"), ours otherwise.
      const message =
        typeof result.error.details?.clickhouseMessage === 'string' ? result.error.details.clickhouseMessage : result.error.message;
      sendClickHouseError(res, status, code, type, message);
      return;
    }
    const out = result.value;
    const summary = {
      read_rows: '0',
      read_bytes: '0',
      written_rows: '0',
      written_bytes: '0',
      total_rows_to_read: '0',
      result_rows: '0',
      result_bytes: '0',
      elapsed_ns: '0',
      ...(out.summary ?? {}),
    };
    res.writeHead(200, {
      'Content-Type': out.contentType,
      'Content-Length': out.bytes.length,
      'X-ClickHouse-Format': out.format,
      'X-ClickHouse-Query-Id': out.queryId,
      'X-ClickHouse-Summary': JSON.stringify(summary),
      'X-ClickHouse-Timezone': 'UTC',
      'X-ClickHouse-Server-Display-Name': 'otel-audit',
    });
    res.end(method === 'HEAD' ? undefined : out.bytes);
  } catch (err) {
    if (res.headersSent) {
      res.destroy(err as Error);
      return;
    }
    if (err instanceof BodyTooLarge) sendClickHouseError(res, 413, 1001, 'STD_EXCEPTION', err.message);
    else sendClickHouseError(res, 500, 1001, 'STD_EXCEPTION', (err as Error).message ?? String(err));
  }
}
