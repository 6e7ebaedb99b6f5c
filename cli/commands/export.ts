/**
 * `otel-audit export`: stream the audit events of a time range and filter out of ClickHouse (the
 * embedded engine of a data dir, a server by URL, or a running receiver's read-only endpoint) or
 * out of the cold archive (the configured S3 bucket or local directory) to stdout or a file, as
 * NDJSON (the `otel-audit` record: event + chain position), CSV or OCSF 1.3.0 (the mapping of the
 * webhook exporter, docs/webhook.md).
 *
 * Memory is bounded: ClickHouse is read in keyset pages over (Timestamp, EventId), the archive one
 * object at a time, and the output waits for the stream to drain. A progress bar is drawn on stderr
 * only when stderr is a terminal.
 *
 * Exit 0 done, 1 store unreachable or a write failed, 2 bad arguments or configuration, 3 done but
 * some archive objects were bad and skipped (listed on stderr).
 */
import { createWriteStream, readFileSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { AuditError, csvField } from '@otel-audit/core';
import { isoToUnixNanos } from '@otel-audit/schema';
import { AUDIT_ROW_COLUMNS, type AuditRow, dateTime64ToNanos } from '@otel-audit/schema/audit-row';
import { parse as parseYaml } from 'yaml';
import type { ObjectStore } from '../../exporters/coldstore/index.ts';
import { type AuditRecord, createOcsfMapper, otelAuditJson, parseOcsfOptions, recordFromRow } from '../../exporters/webhook/index.ts';
import { configFromEnv, mergeConfig, readConfigFile } from '../../receiver/config/load-config.ts';
import { parseCommandArgs } from '../args.ts';
import type { Command } from '../registry.ts';

const USAGE = `usage: otel-audit export [options]

Streams audit events to stdout (or --output) for a time range and filters.

Source (default clickhouse):
  --source <s>         clickhouse | archive
  --data-dir <dir>     data directory: embedded ClickHouse and local archive (default ./otel-audit-data)
  --config <file>      config file (default otel-audit.yaml): exporters.clickhouse / exporters.coldstore
  --url <url>          ClickHouse server URL, or a running receiver (http://127.0.0.1:4318) with
  --pathname <path>    its endpoint path (/clickhouse; the default when the URL has no path of its own)
  --token <token>      receiver bearer token (or OTEL_AUDIT_TOKEN)
  --user, --password   ClickHouse server credentials
  --archive <dir>      read this local archive directory (implies --source archive)

Filters:
  --since <time>       events at or after this time (ISO 8601, e.g. 2026-11-01 or 2026-11-01T10:00Z)
  --until <time>       events before this time (exclusive)
  --tenant <id>        one tenant
  --actor <id>         one actor id
  --action <a>         an action (grant.issue) or a prefix with .* (grant.*)
  --outcome <o>        success | failure | denied
  --limit <n>          stop after n events
  --page-size <n>      rows per ClickHouse query page (default 5000; memory is bounded by it)

Output:
  --format <f>         ndjson (default: event + chain position) | csv | ocsf (OCSF 1.3.0, one per line)
  --ocsf-config <file> OCSF options (YAML/JSON: productName, vendorName, cloudProvider, overrides)
  --output <file>      write here (atomically: <file>.partial renamed when complete) instead of stdout
  --quiet              no progress bar or summary

Exit status: 0 done, 1 store unavailable or write failed, 2 bad arguments, 3 done with bad archive
objects skipped (listed on stderr).
`;

/** Filters of an export. */
export interface ExportFilters {
  since?: Date;
  until?: Date;
  tenant?: string;
  actor?: string;
  /** Exact action, or `prefix.*`. */
  action?: string;
  outcome?: 'success' | 'failure' | 'denied';
}

const CSV_COLUMNS = [
  'occurred_at',
  'event_id',
  'tenant_id',
  'tenant_name',
  'action',
  'outcome',
  'actor_id',
  'actor_type',
  'actor_name',
  'actor_auth_method',
  'impersonator_id',
  'target_types',
  'target_ids',
  'target_names',
  'reason',
  'session_id',
  'request_id',
  'source_ip',
  'user_agent',
  'http_method',
  'url_path',
  'trace_id',
  'details',
  'changes',
  'chain_id',
  'seq',
  'prev_hash',
  'hash',
  'received_at',
] as const;

/** The CSV header line. */
export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

/** One CSV line of a record (arrays joined with `|`, JSON fields as JSON text). */
export function csvLine(r: AuditRecord): string {
  const e = r.event;
  const t = e.targets ?? [];
  const values: Record<(typeof CSV_COLUMNS)[number], string> = {
    occurred_at: e.occurredAt,
    event_id: e.eventId,
    tenant_id: e.tenant.id,
    tenant_name: e.tenant.name ?? '',
    action: e.action,
    outcome: e.outcome,
    actor_id: e.actor.id,
    actor_type: e.actor.type,
    actor_name: e.actor.name ?? '',
    actor_auth_method: e.actor.authMethod ?? '',
    impersonator_id: e.actor.impersonatorId ?? '',
    target_types: t.map((x) => x.type).join('|'),
    target_ids: t.map((x) => x.id).join('|'),
    target_names: t.map((x) => x.name ?? '').join('|'),
    reason: e.reason ?? '',
    session_id: e.session?.id ?? '',
    request_id: e.request?.id ?? '',
    source_ip: e.request?.ip ?? '',
    user_agent: e.request?.userAgent ?? '',
    http_method: e.request?.method ?? '',
    url_path: e.request?.path ?? '',
    trace_id: e.trace?.traceId ?? '',
    details: e.details === undefined ? '' : JSON.stringify(e.details),
    changes: e.changes === undefined ? '' : JSON.stringify(e.changes),
    chain_id: r.chainId,
    seq: String(r.seq),
    prev_hash: r.prevHash,
    hash: r.hash,
    received_at: r.receivedAt,
  };
  return `${CSV_COLUMNS.map((c) => csvField(values[c])).join(',')}\r\n`;
}

/** Whether a record passes the filters (the archive path filters rows here; ClickHouse in SQL). */
export function matchesFilters(r: AuditRecord, f: ExportFilters): boolean {
  const e = r.event;
  if (f.tenant !== undefined && e.tenant.id !== f.tenant) return false;
  if (f.actor !== undefined && e.actor.id !== f.actor) return false;
  if (f.outcome !== undefined && e.outcome !== f.outcome) return false;
  if (f.action !== undefined) {
    if (f.action.endsWith('.*')) {
      const p = f.action.slice(0, -2);
      if (e.action !== p && !e.action.startsWith(`${p}.`)) return false;
    } else if (e.action !== f.action) return false;
  }
  // Nanoseconds, as ClickHouse compares: an event at .000121 after the bound is after it.
  const t = isoToUnixNanos(e.occurredAt);
  if (f.since !== undefined && t < BigInt(f.since.getTime()) * 1_000_000n) return false;
  if (f.until !== undefined && t >= BigInt(f.until.getTime()) * 1_000_000n) return false;
  return true;
}

function parseTime(name: string, v: string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v);
  if (Number.isNaN(d.getTime())) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--${name}: "${v}" is not an ISO 8601 date or time`);
  return d;
}

/** SQL WHERE of the filters, with parameters (values are never spliced into the SQL). */
export function clickHouseWhere(f: ExportFilters): { where: string[]; params: Record<string, string | number> } {
  const where: string[] = [];
  const params: Record<string, string | number> = {};
  if (f.tenant !== undefined) {
    where.push('TenantId = {tenant:String}');
    params.tenant = f.tenant;
  }
  if (f.actor !== undefined) {
    where.push('ActorId = {actor:String}');
    params.actor = f.actor;
  }
  if (f.outcome !== undefined) {
    where.push('Outcome = {outcome:String}');
    params.outcome = f.outcome;
  }
  if (f.action !== undefined) {
    if (f.action.endsWith('.*')) {
      where.push('(Action = {actionPrefix:String} OR startsWith(Action, {actionDot:String}))');
      params.actionPrefix = f.action.slice(0, -2);
      params.actionDot = `${f.action.slice(0, -2)}.`;
    } else {
      where.push('Action = {action:String}');
      params.action = f.action;
    }
  }
  if (f.since !== undefined) {
    where.push("Timestamp >= fromUnixTimestamp64Nano({since:Int64}, 'UTC')");
    params.since = (BigInt(f.since.getTime()) * 1_000_000n).toString();
  }
  if (f.until !== undefined) {
    where.push("Timestamp < fromUnixTimestamp64Nano({until:Int64}, 'UTC')");
    params.until = (BigInt(f.until.getTime()) * 1_000_000n).toString();
  }
  return { where, params };
}

/** Rows per ClickHouse page (`--page-size`). */
const DEFAULT_PAGE = 5000;

/** Rows of ClickHouse in (Timestamp, EventId) order, page by page; each event once. */
async function* clickHouseRecords(
  client: ClickHouseClient,
  table: string,
  f: ExportFilters,
  onTotal: (n: number) => void,
  PAGE = DEFAULT_PAGE,
): AsyncGenerator<AuditRecord> {
  const { where, params } = clickHouseWhere(f);
  const cond = (extra: string[]) => (extra.length === 0 ? '' : `WHERE ${extra.join(' AND ')}`);
  const count = await client.query({
    query: `SELECT uniqExact(EventId) AS n FROM ${table} ${cond(where)}`,
    query_params: params,
    format: 'JSONEachRow',
  });
  onTotal(Number(((await count.json()) as Array<{ n: string | number }>)[0]?.n ?? 0));
  let cursor: { ts: string; id: string } | undefined;
  for (;;) {
    const w = [...where];
    const p: Record<string, string | number> = { ...params, limit: PAGE };
    if (cursor) {
      w.push("(Timestamp, EventId) > (fromUnixTimestamp64Nano({cursorTs:Int64}, 'UTC'), {cursorId:String})");
      p.cursorTs = cursor.ts;
      p.cursorId = cursor.id;
    }
    // A replayed copy (before ReplacingMergeTree merges it) has the same Timestamp and EventId:
    // adjacent in this order, so LIMIT 1 BY keeps one and a page boundary cannot split the pair.
    const rs = await client.query({
      query: `SELECT ${AUDIT_ROW_COLUMNS.join(', ')} FROM ${table} ${cond(w)} ORDER BY Timestamp, EventId LIMIT 1 BY EventId LIMIT {limit:UInt32}`,
      query_params: p,
      format: 'JSONEachRow',
    });
    const rows = (await rs.json()) as AuditRow[];
    for (const row of rows) yield recordFromRow(row);
    if (rows.length < PAGE) return;
    const last = rows[rows.length - 1]!;
    cursor = { ts: dateTime64ToNanos(last.Timestamp).toString(), id: last.EventId };
  }
}

/** Records of the archive, one checked object at a time; bad objects reported through `onBad`. */
async function* archiveRecords(
  store: ObjectStore,
  f: ExportFilters,
  onTotal: (n: number) => void,
  onObject: () => void,
  onBad: (key: string, reason: string) => void,
): AsyncGenerator<AuditRecord> {
  const { coldObjectRows, listColdObjects, readColdObject } = await import('../../exporters/coldstore/index.ts');
  const listed = await listColdObjects(store, {
    ...(f.tenant !== undefined ? { tenant: f.tenant } : {}),
    ...(f.since ? { since: f.since } : {}),
    ...(f.until ? { until: f.until } : {}),
  });
  if (listed.status !== 'success') throw listed.error;
  for (const s of listed.value.skipped) onBad(s.key, s.reason);
  const objects = [...listed.value.objects].sort((a, b) => (a.date + a.hour).localeCompare(b.date + b.hour) || a.key.localeCompare(b.key));
  onTotal(objects.length);
  for (const o of objects) {
    const read = await readColdObject(store, o.key);
    if (!read.ok) {
      if (read.retryable) throw new AuditError('AUDIT_ERR_STORE_UNAVAILABLE', `${o.key}: ${read.reason}`);
      onBad(o.key, read.reason);
      onObject();
      continue;
    }
    for (const row of await coldObjectRows(read)) {
      const r = recordFromRow(row);
      if (matchesFilters(r, f)) yield r;
    }
    onObject();
  }
}

function section(config: Record<string, unknown>, name: string): Record<string, unknown> {
  const exporters = config.exporters as Record<string, unknown> | undefined;
  return {
    ...((exporters?.[name] as Record<string, unknown> | undefined) ?? {}),
    ...((config[name] as Record<string, unknown> | undefined) ?? {}),
  };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function bar(done: number, total: number, unit: string, written: number, width = 28): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(frac * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} ${unit}, ${written.toLocaleString('en-US')} events written`;
}

/** Write to a stream, waiting for it to drain when its buffer is full (bounded memory). */
function write(out: NodeJS.WritableStream, text: string): Promise<void> | undefined {
  if (out.write(text)) return undefined;
  return new Promise((resolveDrain, reject) => {
    const onError = (err: Error) => reject(err);
    out.once('error', onError);
    out.once('drain', () => {
      out.off('error', onError);
      resolveDrain();
    });
  });
}

/** The `export` command. */
export const command: Command = {
  summary: 'export audit events (ndjson, csv, ocsf) from ClickHouse or the archive',
  async run(args) {
    const parsed = parseCommandArgs(args, USAGE, {
      source: { type: 'string' },
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      url: { type: 'string' },
      pathname: { type: 'string' },
      token: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      archive: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      tenant: { type: 'string' },
      actor: { type: 'string' },
      action: { type: 'string' },
      outcome: { type: 'string' },
      limit: { type: 'string' },
      'page-size': { type: 'string' },
      format: { type: 'string', default: 'ndjson' },
      'ocsf-config': { type: 'string' },
      output: { type: 'string' },
      quiet: { type: 'boolean' },
    });
    if (!parsed) return 0;
    const v = parsed.values;
    const bad = (msg: string) => new AuditError('AUDIT_ERR_INVALID_ARGUMENT', msg);
    const source = v.source ?? (v.archive !== undefined ? 'archive' : 'clickhouse');
    if (source !== 'clickhouse' && source !== 'archive') throw bad(`--source: "${source}" is not one of clickhouse, archive`);
    if (source === 'archive' && (v.url !== undefined || v.pathname !== undefined || v.token !== undefined || v.user !== undefined))
      throw bad('--url, --pathname, --token and --user read ClickHouse; they do not go with --source archive');
    if (source === 'clickhouse' && v.archive !== undefined)
      throw bad('--archive reads the archive; it does not go with --source clickhouse');
    if (v.format !== 'ndjson' && v.format !== 'csv' && v.format !== 'ocsf')
      throw bad(`--format: "${v.format}" is not one of ndjson, csv, ocsf`);
    if (v['ocsf-config'] !== undefined && v.format !== 'ocsf') throw bad('--ocsf-config goes with --format ocsf');
    if (v.outcome !== undefined && !['success', 'failure', 'denied'].includes(v.outcome))
      throw bad(`--outcome: "${v.outcome}" is not one of success, failure, denied`);
    if (v.action !== undefined && !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?$/.test(v.action))
      throw bad(`--action: "${v.action}" is not an action (grant.issue) or a prefix (grant.*)`);
    let limit: number | undefined;
    if (v.limit !== undefined) {
      limit = Number(v.limit);
      if (!Number.isSafeInteger(limit) || limit < 1) throw bad(`--limit: "${v.limit}" is not a positive integer`);
    }
    let pageSize = DEFAULT_PAGE;
    if (v['page-size'] !== undefined) {
      pageSize = Number(v['page-size']);
      if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > 1_000_000)
        throw bad(`--page-size: "${v['page-size']}" is not an integer from 1 to 1000000`);
    }
    const filters: ExportFilters = {
      ...(v.since !== undefined ? { since: parseTime('since', v.since)! } : {}),
      ...(v.until !== undefined ? { until: parseTime('until', v.until)! } : {}),
      ...(v.tenant !== undefined ? { tenant: v.tenant } : {}),
      ...(v.actor !== undefined ? { actor: v.actor } : {}),
      ...(v.action !== undefined ? { action: v.action } : {}),
      ...(v.outcome !== undefined ? { outcome: v.outcome as 'success' } : {}),
    };
    if (filters.since && filters.until && filters.since >= filters.until) throw bad('--since must be before --until');
    let ocsfMapper: ReturnType<typeof createOcsfMapper> | undefined;
    if (v.format === 'ocsf') {
      let options: unknown = {};
      if (v['ocsf-config'] !== undefined) {
        try {
          options = parseYaml(readFileSync(v['ocsf-config'], 'utf8')) ?? {};
        } catch (err) {
          throw new AuditError('AUDIT_ERR_INVALID_CONFIG', `--ocsf-config ${v['ocsf-config']}: ${(err as Error).message}`, { cause: err });
        }
      }
      ocsfMapper = createOcsfMapper(parseOcsfOptions(options, 'ocsf-config'), 'ocsf-config');
    }
    const line =
      v.format === 'csv'
        ? csvLine
        : v.format === 'ocsf'
          ? (r: AuditRecord) => `${JSON.stringify(ocsfMapper!.map(r))}\n`
          : (r: AuditRecord) => `${JSON.stringify(otelAuditJson(r))}\n`;

    // Same configuration sources as the receiver: file, then OTEL_AUDIT_* overrides, then flags.
    const fileConfig = mergeConfig(readConfigFile(v.config ?? 'otel-audit.yaml', v.config !== undefined), configFromEnv(process.env));
    const dataDir = resolve(v['data-dir'] ?? (fileConfig.dataDir as string | undefined) ?? './otel-audit-data');

    const tty = process.stderr.isTTY === true && !v.quiet;
    let total = 0;
    let done = 0;
    let written = 0;
    let lastDraw = 0;
    const unit = source === 'archive' ? 'objects' : 'events';
    const draw = (force = false) => {
      if (!tty || (!force && Date.now() - lastDraw < 100)) return;
      lastDraw = Date.now();
      process.stderr.write(`\r${bar(source === 'archive' ? done : written, total, unit, written)}\x1b[K`);
    };
    const badObjects: string[] = [];
    const onBad = (key: string, reason: string) => {
      badObjects.push(key);
      if (tty) process.stderr.write('\r\x1b[K');
      process.stderr.write(`export: skipped ${key}: ${reason}\n`);
    };

    const closers: Array<() => Promise<void> | void> = [];
    let records: AsyncGenerator<AuditRecord>;
    let where: string;
    // The stores' modules (chDB, the AWS SDK) load only now, after the arguments are checked.
    if (source === 'clickhouse') {
      const { openClickHouse, parseClickHouseConfig } = await import('../../exporters/clickhouse/index.ts');
      const chConfig = parseClickHouseConfig(
        {
          ...section(fileConfig, 'clickhouse'),
          dataDir,
          ...(v.url ? { url: undefined, username: undefined, password: undefined, tls: undefined } : {}),
        },
        'exporters.clickhouse',
      );
      const table = `${chConfig.database}.${chConfig.table}`;
      let client: ClickHouseClient;
      if (v.url !== undefined) {
        let url: URL;
        try {
          url = new URL(v.url);
        } catch {
          throw bad(`--url: "${v.url}" is not a URL`);
        }
        const token = v.token ?? process.env.OTEL_AUDIT_TOKEN;
        client = createClient({
          url: url.origin,
          ...(v.pathname !== undefined ? { pathname: v.pathname } : url.pathname !== '/' ? { pathname: url.pathname } : {}),
          ...(v.user !== undefined ? { username: v.user, password: v.password ?? '' } : token ? { access_token: token } : {}),
          request_timeout: 300_000,
          log: { level: ClickHouseLogLevel.OFF },
        });
        closers.push(() => client.close());
        where = `${url.origin}${v.pathname ?? (url.pathname !== '/' ? url.pathname : '')}`;
      } else {
        if (chConfig.url === undefined) {
          let pid = 0;
          try {
            pid = Number(readFileSync(join(dataDir, 'LOCK'), 'utf8').trim());
          } catch {
            pid = 0;
          }
          if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
            throw bad(
              `the receiver (process ${pid}) holds the embedded ClickHouse of ${dataDir}; read through its endpoint instead: --url http://127.0.0.1:4318/clickhouse (or stop the receiver)`,
            );
          }
        }
        const handle = openClickHouse(chConfig);
        client = handle.client;
        closers.push(() => handle.close());
        where = handle.location;
      }
      records = clickHouseRecords(
        client,
        table,
        filters,
        (n) => {
          total = limit !== undefined ? Math.min(n, limit) : n;
        },
        pageSize,
      );
    } else {
      const { createColdStore, LocalDirectoryStore, parseColdStoreConfig, S3ObjectStore } = await import(
        '../../exporters/coldstore/index.ts'
      );
      const store: ObjectStore =
        v.archive !== undefined
          ? new LocalDirectoryStore(resolve(v.archive))
          : createColdStore(parseColdStoreConfig({ ...section(fileConfig, 'coldstore'), dataDir }, 'exporters.coldstore'));
      if (store instanceof S3ObjectStore) closers.push(() => store.destroy());
      where = store.location;
      records = archiveRecords(
        store,
        filters,
        (n) => (total = n),
        () => {
          done++;
          draw();
        },
        onBad,
      );
    }

    const target = v.output !== undefined ? resolve(v.output) : undefined;
    const partial = target !== undefined ? `${target}.partial` : undefined;
    const out: NodeJS.WritableStream = partial !== undefined ? createWriteStream(partial, { flags: 'w' }) : process.stdout;
    let outError: Error | undefined;
    out.on('error', (err: Error) => (outError = err));
    const started = Date.now();
    try {
      if (v.format === 'csv') await write(out, csvHeader());
      for await (const r of records) {
        if (outError) throw outError;
        const pending = write(out, line(r));
        if (pending) await pending;
        written++;
        if (source === 'clickhouse') draw();
        if (limit !== undefined && written >= limit) break;
      }
      draw(true);
      if (tty) process.stderr.write('\r\x1b[K');
      if (partial !== undefined) {
        await new Promise<void>((resolveEnd, reject) =>
          (out as WriteStream).end((err?: Error | null) => (err ? reject(err) : resolveEnd())),
        );
        if (outError) throw outError;
        renameSync(partial, target!);
      }
      if (!v.quiet)
        process.stderr.write(
          `export: ${written} events from ${source} (${where}) as ${v.format}${target ? ` to ${target}` : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s${badObjects.length > 0 ? `, ${badObjects.length} bad object(s) skipped` : ''}\n`,
        );
      return badObjects.length > 0 ? 3 : 0;
    } catch (err) {
      if (tty) process.stderr.write('\r\x1b[K');
      if (partial !== undefined) {
        (out as WriteStream).destroy();
        rmSync(partial, { force: true });
      }
      if (err instanceof AuditError && (err.code === 'AUDIT_ERR_INVALID_ARGUMENT' || err.code === 'AUDIT_ERR_INVALID_CONFIG')) throw err;
      process.stderr.write(`otel-audit export: ${err instanceof AuditError ? `${err.code}: ` : ''}${(err as Error).message}\n`);
      return 1;
    } finally {
      for (const c of closers) await c();
    }
  },
};

export default command;
