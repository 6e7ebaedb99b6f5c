/**
 * The read-only SQL surface over the audit store: a guard that decides whether a query only reads
 * ({@link checkReadOnlyQuery}), and a query service that runs accepted queries with `readonly = 1`
 * as a second line of defence ({@link createQueryService}).
 *
 * The guard works on tokens, not regular expressions over text, so keywords inside strings,
 * quoted identifiers and comments neither trigger nor hide anything. Where its lexer could
 * disagree with ClickHouse's, it errs towards refusing: `#` comments and `$$` heredocs are refused,
 * and a block comment ends at the first `*` `/` (ClickHouse nests them, so it never sees more
 * tokens than the guard does).
 *
 * `readonly = 1` goes into the statement's own SETTINGS clause, never into the session: the
 * embedded chDB engine keeps `SET`s for the life of the process, and a session-wide readonly would
 * make the exporter's next insert fail.
 *
 * The current database (what unqualified table names resolve against, `clickhouse-client
 * --database`) is chosen per query. A ClickHouse server takes it from the `X-ClickHouse-Database`
 * request header (its HTTP interface's "default database"). The embedded chDB engine has one
 * session per process and no per-query database option, so the query is sent as the two statements
 * `USE <db>; <query>`: chDB runs the statements of one call back to back and one call at a time on
 * its session, so the `USE` applies to exactly that query. The `USE` outlives the call, which is
 * harmless because every statement otel-audit itself sends names its database explicitly.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { AuditError, type OperationResult } from '@otel-audit/core';
import { IDENTIFIER } from './config.ts';
import { clickHouseCode } from './errors.ts';

/** A lexical token of a ClickHouse query. */
export interface SqlToken {
  kind: 'word' | 'quoted' | 'string' | 'number' | 'punct';
  /** Source text of the token. */
  text: string;
  start: number;
  end: number;
  /** Bracket depth at the token (0 = top level). */
  depth: number;
}

/** Statements the endpoint accepts (the first keyword of the query). */
const READ_STATEMENTS = new Set(['select', 'with', 'show', 'describe', 'desc', 'exists', 'explain']);

/** Keywords that start a statement that writes, changes state or the session. */
const WRITE_KEYWORDS = new Set([
  'insert',
  'alter',
  'create',
  'drop',
  'truncate',
  'rename',
  'attach',
  'detach',
  'system',
  'set',
  'kill',
  'optimize',
  'grant',
  'revoke',
  'delete',
  'update',
  'use',
  'backup',
  'restore',
  'undrop',
  'exchange',
  'move',
  'check',
  'watch',
  'replace',
  'upsert',
  'begin',
  'commit',
  'rollback',
  'execute',
]);

/**
 * Table (and scalar) functions that read or write outside the database — the network, the local
 * filesystem, other databases or processes. Matched case-insensitively on `name(`.
 */
const OUTBOUND_FUNCTIONS = new Set([
  'url',
  'urlcluster',
  'file',
  'filecluster',
  'filesystem',
  'input',
  'executable',
  'jdbc',
  'odbc',
  'sqlite',
  'redis',
  'hive',
  'gcs',
  'cosn',
  'oss',
]);
/** Families matched by prefix (s3, s3Cluster, icebergS3, deltaLakeAzure, remoteSecure, mysql, …). */
const OUTBOUND_PREFIXES = [
  's3',
  'hdfs',
  'azureblob',
  'iceberg',
  'deltalake',
  'hudi',
  'paimon',
  'remote',
  'cluster',
  'mysql',
  'postgres',
  'mongo',
  'ytsaurus',
  'arrowflight',
  'kafka',
  'nats',
  'rabbitmq',
  'prometheus',
];

/** Settings a query may not set in its own SETTINGS clause. */
const FORBIDDEN_SETTINGS = new Set([
  'readonly',
  'allow_ddl',
  'allow_introspection_functions',
  'max_execution_time',
  'max_result_bytes',
  'result_overflow_mode',
]);

function refuse(reason: string): ReadOnlyCheck {
  return { ok: false, reason };
}

/**
 * Split a query into tokens. Throws a plain Error (turned into a refusal by the guard) for text
 * the guard will not reason about: unterminated literals, `#` comments, heredocs.
 */
export function tokenizeSql(sql: string): SqlToken[] {
  const tokens: SqlToken[] = [];
  let depth = 0;
  let i = 0;
  const n = sql.length;
  const push = (kind: SqlToken['kind'], start: number, end: number) =>
    tokens.push({ kind, text: sql.slice(start, end), start, end, depth });
  while (i < n) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl === -1 ? n : nl + 1;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const endc = sql.indexOf('*/', i + 2);
      if (endc === -1) throw new Error('unterminated comment');
      i = endc + 2;
      continue;
    }
    if (c === '#') throw new Error('"#" comments are not accepted; use -- or /* */');
    if (c === '$') throw new Error('"$" (heredoc strings) is not accepted');
    if (c === "'" || c === '"' || c === '`') {
      const start = i;
      i++;
      for (;;) {
        if (i >= n) throw new Error('unterminated string or quoted identifier');
        const d = sql[i]!;
        if (d === '\\') {
          i += 2;
          continue;
        }
        if (d === c) {
          if (sql[i + 1] === c) {
            i += 2;
            continue;
          }
          i++;
          break;
        }
        i++;
      }
      push(c === "'" ? 'string' : 'quoted', start, i);
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const start = i;
      while (i < n && /[A-Za-z0-9_]/.test(sql[i]!)) i++;
      push('word', start, i);
      continue;
    }
    if (/[0-9]/.test(c)) {
      const start = i;
      while (i < n && /[0-9A-Za-z_.]/.test(sql[i]!)) i++;
      push('number', start, i);
      continue;
    }
    if (c === '(' || c === '[' || c === '{') {
      push('punct', i, i + 1);
      depth++;
      i++;
      continue;
    }
    if (c === ')' || c === ']' || c === '}') {
      depth = Math.max(0, depth - 1);
      push('punct', i, i + 1);
      i++;
      continue;
    }
    push('punct', i, i + 1);
    i++;
  }
  return tokens;
}

/** Outcome of {@link checkReadOnlyQuery}. */
export type ReadOnlyCheck =
  | {
      ok: true;
      /** The statement keyword (select, show, …). */
      kind: string;
      /** The query without a trailing `;` and without its FORMAT clause. */
      sql: string;
      /** The FORMAT clause's format, if the query had one. */
      format?: string;
      /** True when the query ends in a top-level SETTINGS clause (more settings join it with `,`). */
      endsWithSettings: boolean;
      /** Query parameters the query declares: name → ClickHouse type text. */
      parameters: Record<string, string>;
    }
  | { ok: false; reason: string };

function isOutbound(name: string): boolean {
  const lower = name.toLowerCase();
  return OUTBOUND_FUNCTIONS.has(lower) || OUTBOUND_PREFIXES.some((p) => lower.startsWith(p));
}

/**
 * Decide whether `sql` is a single read query: SELECT, WITH … SELECT, SHOW, DESCRIBE, EXISTS or
 * EXPLAIN of one of those; no second statement, no `INTO OUTFILE`, no functions that reach outside
 * the database (url, s3, file, remote, mysql, postgresql, …), no SETTINGS that lift readonly.
 */
export function checkReadOnlyQuery(sql: string): ReadOnlyCheck {
  let tokens: SqlToken[];
  try {
    tokens = tokenizeSql(sql);
  } catch (err) {
    return refuse((err as Error).message);
  }
  while (tokens.length > 0 && tokens[tokens.length - 1]!.text === ';') tokens.pop();
  if (tokens.length === 0) return refuse('empty query');
  if (tokens.some((t) => t.kind === 'punct' && t.text === ';')) return refuse('multiple statements are not accepted; send one query');
  const firstWord = tokens.find((t) => t.kind === 'word');
  const lead = tokens[0]!;
  if (lead.kind !== 'word' && !(lead.kind === 'punct' && lead.text === '(')) return refuse(`not a read query (starts with "${lead.text}")`);
  const kind = (firstWord?.text ?? '').toLowerCase();
  if (!READ_STATEMENTS.has(kind)) {
    return refuse(
      `only read queries are accepted (SELECT, WITH … SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN); got ${kind.toUpperCase() || lead.text}`,
    );
  }
  if (lead.kind === 'punct' && kind !== 'select' && kind !== 'with') return refuse('a parenthesized query must be a SELECT');
  if (kind === 'explain') {
    const inner = tokens.find(
      (t, idx) =>
        idx > tokens.indexOf(firstWord!) &&
        t.kind === 'word' &&
        (READ_STATEMENTS.has(t.text.toLowerCase()) || WRITE_KEYWORDS.has(t.text.toLowerCase())),
    );
    if (inner === undefined || WRITE_KEYWORDS.has(inner.text.toLowerCase())) return refuse('EXPLAIN is accepted only for read queries');
  }
  if (kind === 'with') {
    // `WITH … INSERT INTO …` parses in ClickHouse; only `WITH … SELECT` is a read.
    for (let k = 0; k + 1 < tokens.length; k++) {
      const a = tokens[k]!;
      const b = tokens[k + 1]!;
      if (a.depth !== 0 || a.kind !== 'word' || b.kind !== 'word') continue;
      const pair = `${a.text} ${b.text}`.toLowerCase();
      if (/^(insert into|delete from|alter table|create table|drop table|truncate table)$/.test(pair))
        return refuse(`only WITH … SELECT is accepted; found ${pair.toUpperCase()}`);
    }
  }
  const parameters: Record<string, string> = {};
  let format: string | undefined;
  let formatRange: [number, number] | undefined;
  let lastSettings = -1;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    const next = tokens[k + 1];
    if (t.kind === 'quoted' && next?.text === '(' && isOutbound(t.text.slice(1, -1))) {
      return refuse(`function ${t.text}() reaches outside the audit store and is not accepted`);
    }
    if (t.kind !== 'word') {
      if (t.kind === 'punct' && t.text === '{' && next?.kind === 'word' && tokens[k + 2]?.text === ':') {
        // A query parameter {name:Type}: remember its declared type (the HTTP handler needs it).
        const close = tokens.findIndex((x, idx) => idx > k && x.text === '}' && x.depth === t.depth);
        if (close !== -1) parameters[next.text] = sql.slice(tokens[k + 3]?.start ?? 0, tokens[close]!.start).trim();
      }
      continue;
    }
    const lower = t.text.toLowerCase();
    // Anywhere, not only in the last SETTINGS clause: subqueries and EXPLAIN take settings too.
    // (A column compared with `readonly = …` is refused as well; rare, and the safe side.)
    if (FORBIDDEN_SETTINGS.has(lower) && next?.text === '=') return refuse(`setting ${t.text} cannot be changed through this endpoint`);
    if (next?.kind === 'punct' && next.text === '(' && isOutbound(t.text)) {
      return refuse(`function ${t.text}() reaches outside the audit store and is not accepted`);
    }
    if (lower === 'into' && next?.kind === 'word' && next.text.toLowerCase() === 'outfile') return refuse('INTO OUTFILE is not accepted');
    if (t.depth === 0 && lower === 'format' && next?.kind === 'word' && tokens[k + 2]?.text !== '(') {
      if (format !== undefined) return refuse('more than one FORMAT clause');
      format = next.text;
      formatRange = [t.start, next.end];
      k++;
      continue;
    }
    if (t.depth === 0 && lower === 'settings') lastSettings = k;
  }
  // Every `name =` pair of the last top-level SETTINGS clause: refuse the ones that lift readonly.
  let endsWithSettings = false;
  if (lastSettings !== -1) {
    endsWithSettings = true;
    for (let k = lastSettings + 1; k < tokens.length; k++) {
      const t = tokens[k]!;
      if (formatRange && t.start >= formatRange[0] && t.end <= formatRange[1]) continue;
      if (t.depth === 0 && t.kind === 'word' && tokens[k + 1]?.text === '=') {
        if (FORBIDDEN_SETTINGS.has(t.text.toLowerCase())) return refuse(`setting ${t.text} cannot be changed through this endpoint`);
        continue;
      }
      if (t.depth === 0 && t.kind === 'word' && READ_STATEMENTS.has(t.text.toLowerCase())) endsWithSettings = false;
      if (t.depth === 0 && t.kind === 'word' && ['union', 'except', 'intersect'].includes(t.text.toLowerCase())) endsWithSettings = false;
    }
  }
  const last = tokens[tokens.length - 1]!;
  let text = sql.slice(tokens[0]!.start, last.end);
  if (formatRange) {
    const base = tokens[0]!.start;
    text = `${text.slice(0, formatRange[0] - base)}${text.slice(formatRange[1] - base)}`.trim();
  }
  return { ok: true, kind, sql: text, ...(format === undefined ? {} : { format }), endsWithSettings, parameters };
}

/** Output formats known to be text (served with a text content type). Any other format is passed as bytes. */
const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json; charset=UTF-8',
  jsoncompact: 'application/json; charset=UTF-8',
  jsonstrings: 'application/json; charset=UTF-8',
  jsoneachrow: 'application/x-ndjson; charset=UTF-8',
  jsoncompacteachrow: 'application/x-ndjson; charset=UTF-8',
  jsonstringseachrow: 'application/x-ndjson; charset=UTF-8',
  csv: 'text/csv; charset=UTF-8; header=absent',
  csvwithnames: 'text/csv; charset=UTF-8; header=present',
  tabseparated: 'text/tab-separated-values; charset=UTF-8',
  tsv: 'text/tab-separated-values; charset=UTF-8',
  tabseparatedwithnames: 'text/tab-separated-values; charset=UTF-8',
  tsvwithnames: 'text/tab-separated-values; charset=UTF-8',
  parquet: 'application/octet-stream',
  arrow: 'application/octet-stream',
  native: 'application/octet-stream',
  rowbinary: 'application/octet-stream',
};

/** HTTP content type ClickHouse would use for an output format. */
export function contentTypeOf(format: string): string {
  return CONTENT_TYPES[format.toLowerCase()] ?? 'text/plain; charset=UTF-8';
}

/** Execution statistics (the ClickHouse `X-ClickHouse-Summary` shape). */
export interface QuerySummary {
  read_rows: string;
  read_bytes: string;
  written_rows: string;
  written_bytes: string;
  result_rows: string;
  result_bytes: string;
  elapsed_ns: string;
  [key: string]: string;
}

/** The output of one query: the bytes as ClickHouse formatted them. */
export interface QueryOutput {
  bytes: Buffer;
  /** Output format name (as given by the query, the option or the default). */
  format: string;
  contentType: string;
  summary: QuerySummary | undefined;
  /** Id of the query (for logs and the `X-ClickHouse-Query-Id` header). */
  queryId: string;
  /** The bytes as UTF-8 text. */
  text(): string;
}

/** Options of {@link QueryService.query}. */
export interface QueryOptions {
  /** Output format when the query has no FORMAT clause (like ClickHouse's `default_format`). Default TabSeparated. */
  format?: string;
  /** Values of `{name:Type}` query parameters (JS values; strings are taken literally). */
  params?: Record<string, unknown>;
  /** Cancel the query. */
  signal?: AbortSignal;
  /**
   * Current database for unqualified table names (a plain identifier); default: the service's
   * `database`. A name that is not a plain identifier is a `failure` with `AUDIT_ERR_INVALID_ARGUMENT`.
   */
  database?: string;
}

/** Runs read-only queries against the audit store. */
export interface QueryService {
  /**
   * Run one read query. A refused query is `failure` with `AUDIT_ERR_QUERY_REFUSED`; a query
   * ClickHouse rejects is `failure` with `AUDIT_ERR_QUERY_FAILED` (details carry
   * `clickhouseCode`/`clickhouseType`); an unreachable store is `retryable`.
   */
  query(sql: string, options?: QueryOptions): Promise<OperationResult<QueryOutput>>;
}

/** Options of {@link createQueryService}. */
export interface QueryServiceOptions {
  /** The shared client (embedded chDB or a server). */
  client: ClickHouseClient;
  /** Refuse results larger than this many bytes (default 256 MiB): results are buffered. */
  maxResultBytes?: number;
  /** Per-query time limit in seconds (ClickHouse `max_execution_time`), default 60. */
  maxExecutionSeconds?: number;
  /** Current database of queries that do not choose one (the audit database, `otel_audit`). Default `default`. */
  database?: string;
  /**
   * True when `client` is the embedded chDB engine (the database is then selected with a `USE`
   * statement in the same call, see the module comment); false for a server (a request header).
   */
  embedded?: boolean;
}

const FORMAT_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** ClickHouse's own error text without the client's `Code: N. DB::Exception:` framing and stack. */
export function clickHouseMessage(err: unknown): string {
  let text = String((err as Error | null)?.message ?? err);
  text = text.replace(/^\s*Code: \d+\.\s*/, '').replace(/^DB::Exception:\s*/, '');
  // chDB appends the server's stack trace; the first line is the message.
  text = text.split(/\n\s*(?:Stack trace|\d+\. )/)[0]!;
  text = text
    .replace(/\s*\(version [^)]*\)\s*$/, '')
    .replace(/\s+/g, ' ')
    .trim();
  return text;
}

/**
 * A query failure as a result. Any error ClickHouse answered (unknown table, syntax, …) is the
 * query's fault: `failure` with `AUDIT_ERR_QUERY_FAILED`, ClickHouse's message as the detail and its
 * code and error name in `details`. No answer at all (network, engine gone) is `retryable`.
 */
function failureOf(err: unknown, addedText: string[]): OperationResult<never> {
  const code = clickHouseCode(err);
  const type = (err as { type?: unknown } | null)?.type;
  // ClickHouse echoes the statement it ran; show the user's query, not the limits we appended.
  let message = clickHouseMessage(err);
  for (const added of addedText) message = message.split(added).join('');
  if (code === undefined) {
    const net = (err as { code?: unknown } | null)?.code;
    return {
      status: 'retryable',
      error: new AuditError('AUDIT_ERR_STORE_UNAVAILABLE', message, {
        cause: err,
        retryable: true,
        details: typeof net === 'string' ? { errno: net } : {},
      }),
    };
  }
  const details: Record<string, unknown> = { clickhouseCode: code, clickhouseMessage: message };
  const name =
    typeof type === 'string' && type !== ''
      ? type
      : /\(([A-Z_]+)\)\s*(?:\(version [^)]*\))?\s*$/.exec(String((err as Error | null)?.message ?? ''))?.[1];
  if (name !== undefined) details.clickhouseType = name;
  return {
    status: 'failure',
    error: new AuditError('AUDIT_ERR_QUERY_FAILED', `${name ?? 'code'} (${code}): ${message}`, { cause: err, details }),
  };
}

/** Create the read-only query service over a client. */
export function createQueryService(options: QueryServiceOptions): QueryService {
  const client = options.client;
  const maxBytes = options.maxResultBytes ?? 256 * 1024 * 1024;
  // Limits go into the statement next to readonly: the embedded engine materializes a whole
  // result before we see a byte of it, so the engine itself must stop a runaway query.
  const defaultDatabase = options.database ?? 'default';
  const limits = `readonly = 1, max_execution_time = ${Math.max(1, Math.floor(options.maxExecutionSeconds ?? 60))}, max_result_bytes = ${Math.floor(maxBytes)}, result_overflow_mode = 'throw'`;
  return {
    async query(sql, opts = {}) {
      const check = checkReadOnlyQuery(sql);
      if (!check.ok) return { status: 'failure', error: new AuditError('AUDIT_ERR_QUERY_REFUSED', check.reason) };
      const format = check.format ?? opts.format ?? 'TabSeparated';
      if (!FORMAT_NAME.test(format))
        return { status: 'failure', error: new AuditError('AUDIT_ERR_QUERY_REFUSED', `not a format name: ${format}`) };
      const database = opts.database ?? defaultDatabase;
      if (!IDENTIFIER.test(database))
        return {
          status: 'failure',
          error: new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `database "${database}" is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)`),
        };
      const select = `${check.sql}${check.endsWithSettings ? ', ' : ' SETTINGS '}${limits} FORMAT ${format}`;
      // The guard refused `;` and `USE` in the query itself, so this `USE` is the only one.
      const statement = options.embedded ? `USE \`${database}\`; ${select}` : select;
      try {
        const result = await client.exec({
          query: statement,
          ...(options.embedded ? {} : { http_headers: { 'X-ClickHouse-Database': database } }),
          ...(opts.params && Object.keys(opts.params).length > 0 ? { query_params: opts.params } : {}),
          ...(opts.signal ? { abort_signal: opts.signal } : {}),
        });
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of result.stream as AsyncIterable<Buffer | string>) {
          const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          size += b.length;
          if (size > maxBytes) {
            (result.stream as { destroy?: () => void }).destroy?.();
            return {
              status: 'failure',
              error: new AuditError('AUDIT_ERR_QUERY_REFUSED', `result is larger than ${maxBytes} bytes; add a LIMIT`),
            };
          }
          chunks.push(b);
        }
        const bytes = Buffer.concat(chunks);
        const summary = (result as { summary?: QuerySummary }).summary;
        return {
          status: 'success',
          value: {
            bytes,
            format,
            contentType: contentTypeOf(format),
            summary,
            queryId: result.query_id,
            text: () => bytes.toString('utf8'),
          },
        };
      } catch (err) {
        return failureOf(err, [` SETTINGS ${limits}`, `, ${limits}`, ` FORMAT ${format}`]);
      }
    },
  };
}
