/**
 * `otel-audit query "<SQL>"`: run a read-only query against the running receiver's ClickHouse
 * endpoint (default http://127.0.0.1:4318, path /clickhouse) or a ClickHouse server by URL. A
 * readable table on a terminal; `--format json|csv|tsv|table` to choose.
 */
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { AuditError } from '@otel-audit/core';
import { IDENTIFIER } from '../../exporters/clickhouse/config.ts';
import { clickHouseCode } from '../../exporters/clickhouse/errors.ts';
import { clickHouseMessage } from '../../exporters/clickhouse/read-only-query.ts';
import { parseCommandArgs } from '../args.ts';
import type { Command } from '../registry.ts';

const USAGE = `usage: otel-audit query "<SQL>" [options]

  --url <url>          receiver (default http://127.0.0.1:4318) or ClickHouse server URL
  --path <path>        ClickHouse endpoint path on the receiver (default /clickhouse; "" for a server)
  --token <token>      bearer token (or OTEL_AUDIT_TOKEN) when the receiver has auth
  --user <name>        ClickHouse server user (with --password) instead of a token
  --password <pw>
  --format <f>         table (default on a terminal) | json (one object per line) | csv | tsv (default when piped)
  --param name=value   query parameter for {name:Type} placeholders (repeatable)
  --database <db>      current database for unqualified table names (default otel_audit)
  --verbose            on failure, also print the client's full error; show the client's warnings

Only read queries are accepted by the receiver's endpoint. Table names resolve against --database,
so "SELECT count() FROM audit_events" reads otel_audit.audit_events.

Exit status: 0 success, 1 the query failed (one line: code, ClickHouse's error name and message),
2 bad arguments.
`;

const FORMATS = { json: 'JSONEachRow', csv: 'CSVWithNames', tsv: 'TabSeparatedWithNames' } as const;

/** Render rows as an aligned text table (columns in the order of the first row). */
export function renderTable(rows: ReadonlyArray<Record<string, unknown>>): string {
  if (rows.length === 0) return '(0 rows)\n';
  const columns = Object.keys(rows[0]!);
  const cell = (v: unknown) => {
    const text = typeof v === 'string' ? v : (JSON.stringify(v) ?? '');
    return text.length > 80 ? `${text.slice(0, 77)}...` : text.replace(/\s+/g, ' ');
  };
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join(' │ ')
      .trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('─┼─');
  return `${line(columns)}\n${rule}\n${cells.map(line).join('\n')}\n(${rows.length} row${rows.length === 1 ? '' : 's'})\n`;
}

/**
 * One line for a failed query: `AUDIT_ERR_QUERY_FAILED: UNKNOWN_TABLE (60): <ClickHouse's message>`
 * when ClickHouse (or the receiver's endpoint) answered with an error, `AUDIT_ERR_QUERY_REFUSED`
 * for a write refused by the endpoint, `AUDIT_ERR_STORE_UNAVAILABLE` when nothing answered.
 */
export function describeQueryError(err: unknown, where: string): string {
  const code = clickHouseCode(err);
  const message = clickHouseMessage(err);
  if (code === undefined)
    return `AUDIT_ERR_STORE_UNAVAILABLE: cannot query ${where}: ${message || String((err as { code?: unknown })?.code ?? err)}`;
  const type = (err as { type?: unknown }).type;
  const name = typeof type === 'string' && type !== '' ? type : 'UNKNOWN_EXCEPTION';
  return `${code === 164 ? 'AUDIT_ERR_QUERY_REFUSED' : 'AUDIT_ERR_QUERY_FAILED'}: ${name} (${code}): ${message}`;
}

/** The `query` command. */
export const command: Command = {
  summary: 'run a read-only SQL query against the receiver or a ClickHouse server',
  async run(args) {
    const parsed = parseCommandArgs(
      args,
      USAGE,
      {
        url: { type: 'string', default: 'http://127.0.0.1:4318' },
        path: { type: 'string' },
        token: { type: 'string' },
        user: { type: 'string' },
        password: { type: 'string' },
        format: { type: 'string' },
        param: { type: 'string', multiple: true, default: [] },
        database: { type: 'string', default: 'otel_audit' },
        verbose: { type: 'boolean', default: false },
      },
      true,
    );
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    if (positionals.length !== 1 || positionals[0]!.trim() === '')
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `give exactly one SQL query\n${USAGE}`);
    const format = values.format ?? (process.stdout.isTTY ? 'table' : 'tsv');
    if (format !== 'table' && !(format in FORMATS))
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--format must be table, json, csv or tsv, got "${format}"`);
    let url: URL;
    try {
      url = new URL(values.url);
    } catch {
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--url: "${values.url}" is not a URL`);
    }
    const params: Record<string, string> = {};
    for (const p of values.param) {
      const eq = p.indexOf('=');
      if (eq <= 0) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--param must be name=value, got "${p}"`);
      params[p.slice(0, eq)] = p.slice(eq + 1);
    }
    if (!IDENTIFIER.test(values.database))
      throw new AuditError(
        'AUDIT_ERR_INVALID_ARGUMENT',
        `--database: "${values.database}" is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)`,
      );
    // `otel-audit query … | head`: a closed pipe ends the output, it is not an error.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      throw err;
    });
    const token = values.token ?? process.env.OTEL_AUDIT_TOKEN;
    const pathname = values.path ?? (url.pathname !== '/' ? url.pathname : '/clickhouse');
    const client = createClient({
      url: url.origin,
      pathname,
      // Sent as the `database` URL parameter: the receiver's endpoint and a ClickHouse server both
      // resolve unqualified table names against it.
      database: values.database,
      ...(values.user !== undefined ? { username: values.user, password: values.password ?? '' } : token ? { access_token: token } : {}),
      request_timeout: 300_000,
      // The client logs to the console (e.g. a WARN about request_timeout on every run); failures
      // reach us as exceptions and are reported below, so its logger stays off unless --verbose.
      log: { level: values.verbose ? ClickHouseLogLevel.WARN : ClickHouseLogLevel.OFF },
    });
    try {
      if (format === 'table') {
        const rs = await client.query({ query: positionals[0]!, query_params: params, format: 'JSONEachRow' });
        process.stdout.write(renderTable(await rs.json<Record<string, unknown>>()));
      } else {
        const rs = await client.query({ query: positionals[0]!, query_params: params, format: FORMATS[format as keyof typeof FORMATS] });
        for await (const rows of rs.stream()) for (const row of rows as Array<{ text: string }>) process.stdout.write(`${row.text}\n`);
      }
      return 0;
    } catch (err) {
      process.stderr.write(`otel-audit query: ${describeQueryError(err, `${url.origin}${pathname}`)}\n`);
      if (values.verbose) process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
      return 1;
    } finally {
      await client.close();
    }
  },
};
