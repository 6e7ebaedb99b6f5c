/**
 * Replay: read cold objects (pruned by tenant and event hour from their keys) and hand their rows
 * to a sink. The ClickHouse sink makes it idempotent twice over:
 * - rows whose (ChainId, Seq) are already in the table are not sent again (so a replay over data the
 *   live exporter already delivered, or a second replay, adds nothing, whatever the dedup window);
 * - the insert carries `insert_deduplication_token` = object key + SHA-256 (+ the missing seqs'
 *   digest for a partial insert), so an insert retried after a lost answer is dropped by ClickHouse.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import { AuditError, type OperationResult } from '@otel-audit/core';
import { AUDIT_ROW_COLUMNS, type AuditRow } from '@otel-audit/schema/audit-row';
import { type ColdObjectFilter, coldObjectRows, listColdObjects, readColdObject, type SkippedColdFile } from './reader.ts';
import type { ObjectStore } from './store.ts';

/** One checked cold object handed to a sink. */
export interface ReplayObject {
  /** Key of the cold object. */
  key: string;
  /** SHA-256 of its bytes (verified against the manifest when there is one). */
  sha256: string;
  format: 'parquet' | 'ndjson.gz';
  /** The object's bytes, exactly as checked. */
  bytes: Uint8Array;
  tenantId: string;
  chainId: string;
  /** Event hour of the object's partition. */
  partition: { date: string; hour: string };
  /** Seq of every row (sorted). */
  seqs: number[];
  /** Whole rows, decoded on demand (a sink that ingests the file itself never pays for it). */
  rows(): Promise<AuditRow[]>;
}

/** Where replayed rows go. */
export interface ReplaySink {
  /** Insert the object's rows; `value.inserted` counts rows actually added. */
  write(object: ReplayObject): Promise<OperationResult<{ inserted: number; alreadyPresent: number }>>;
}

/** Progress of a replay, reported after every object. */
export interface ReplayProgress {
  objectsTotal: number;
  objectsDone: number;
  bytesTotal: number;
  bytesDone: number;
  rowsRead: number;
  rowsInserted: number;
  rowsAlreadyPresent: number;
  /** Objects skipped as bad (plus listed foreign files). */
  skipped: number;
  elapsedMillis: number;
}

/** Options of {@link replayColdStorage}. */
export interface ReplayOptions extends ColdObjectFilter {
  source: ObjectStore;
  sink: ReplaySink;
  onProgress?: (p: ReplayProgress) => void;
  /** Called for every bad object or foreign file, with the reason (replay goes on). */
  onSkip?: (s: SkippedColdFile) => void;
  /** Called for non-fatal findings (e.g. an object without manifest). */
  onWarning?: (key: string, message: string) => void;
}

/** Result of a replay. */
export interface ReplayReport extends ReplayProgress {
  skippedFiles: SkippedColdFile[];
}

/**
 * Replay cold objects into a sink. Bad objects (and objects the sink refuses with `failure`) are
 * skipped and reported; a store or sink that is unreachable (`retryable`) ends the replay with that
 * result (re-running it is safe: it is idempotent).
 */
export async function replayColdStorage(o: ReplayOptions): Promise<OperationResult<ReplayReport>> {
  const started = Date.now();
  const listing = await listColdObjects(o.source, o);
  if (listing.status !== 'success') return listing;
  const { objects, skipped } = listing.value;
  const skippedFiles: SkippedColdFile[] = [...skipped];
  for (const s of skipped) o.onSkip?.(s);
  const p: ReplayProgress = {
    objectsTotal: objects.length,
    objectsDone: 0,
    bytesTotal: objects.reduce((s, x) => s + x.size, 0),
    bytesDone: 0,
    rowsRead: 0,
    rowsInserted: 0,
    rowsAlreadyPresent: 0,
    skipped: skipped.length,
    elapsedMillis: 0,
  };
  o.onProgress?.({ ...p });
  for (const ref of objects) {
    const read = await readColdObject(o.source, ref.key, { rows: false });
    if (!read.ok) {
      if (read.retryable)
        return {
          status: 'retryable',
          error: new AuditError('AUDIT_ERR_STORE_UNAVAILABLE', `replay stopped at ${ref.key}: ${read.reason}`, { retryable: true }),
        };
      const s = { key: ref.key, reason: read.reason };
      skippedFiles.push(s);
      p.skipped++;
      o.onSkip?.(s);
    } else {
      for (const w of read.warnings) o.onWarning?.(ref.key, w);
      const checked = read;
      const written = await o.sink.write({
        key: ref.key,
        sha256: read.sha256,
        format: read.format,
        bytes: read.bytes,
        tenantId: ref.tenantId,
        chainId: ref.chainId,
        partition: { date: ref.date, hour: ref.hour },
        seqs: read.integrity.map((r) => r.Seq),
        rows: () => coldObjectRows(checked),
      });
      if (written.status === 'retryable') return written;
      if (written.status === 'failure') {
        // The sink refuses this object for good (e.g. a value the table cannot hold): report it and go on.
        const s = { key: ref.key, reason: written.error.message };
        skippedFiles.push(s);
        p.skipped++;
        o.onSkip?.(s);
      } else {
        p.rowsRead += read.integrity.length;
        p.rowsInserted += written.value.inserted;
        p.rowsAlreadyPresent += written.value.alreadyPresent;
      }
    }
    p.objectsDone++;
    p.bytesDone += ref.size;
    p.elapsedMillis = Date.now() - started;
    o.onProgress?.({ ...p });
  }
  p.elapsedMillis = Date.now() - started;
  return { status: 'success', value: { ...p, skippedFiles } };
}

/** Options of {@link createClickHouseReplaySink}. */
export interface ClickHouseReplaySinkOptions {
  client: ClickHouseClient;
  /** Database of the table (default: the client's). */
  database?: string;
  /** Table name (default `audit_events`; on a cluster, the Distributed table). */
  table?: string;
  /**
   * Make sure the table exists before the first insert. `true` (default) creates a single-node
   * `audit_events` like the ClickHouse exporter's when it is missing; pass a function to use the
   * ClickHouse exporter's own migrations instead; `false` to skip.
   */
  ensureSchema?: boolean | ((client: ClickHouseClient) => Promise<void>);
  /**
   * The client is the embedded chDB engine of this process: Parquet objects are then inserted by
   * the engine itself from a temporary copy of the checked bytes (`INSERT … SELECT FROM file()`),
   * with no row decoding in JavaScript. Otherwise rows go as JSONEachRow over the client.
   */
  embedded?: boolean;
  /** Directory for those temporary copies (default the OS temp dir). */
  tempDir?: string;
}

function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `not a valid ClickHouse identifier: ${name}`);
  return `\`${name}\``;
}

/**
 * The minimal `audit_events` DDL used when replaying into an empty ClickHouse with no schema yet:
 * the same columns and engine as the ClickHouse exporter's table (ReplacingMergeTree, deduplication
 * window for tokens). The exporter's migrations add indexes and the rest when it starts.
 */
export function replayTableDdl(qualified: string): string {
  const z = "DEFAULT ''";
  const cols: Array<[string, string]> = [
    ['Timestamp', "DateTime64(9, 'UTC') CODEC(Delta(8), ZSTD(1))"],
    ['TimestampTime', "DateTime('UTC') DEFAULT toDateTime(Timestamp)"],
    ['TraceId', `String ${z}`],
    ['SpanId', `String ${z}`],
    ['TraceFlags', 'UInt8'],
    ['SeverityText', `LowCardinality(String) ${z}`],
    ['SeverityNumber', 'UInt8'],
    ['ServiceName', `LowCardinality(String) ${z}`],
    ['Body', `String ${z}`],
    ['ResourceSchemaUrl', `LowCardinality(String) ${z}`],
    ['ResourceAttributes', 'Map(LowCardinality(String), String)'],
    ['ScopeSchemaUrl', `LowCardinality(String) ${z}`],
    ['ScopeName', `String ${z}`],
    ['ScopeVersion', `LowCardinality(String) ${z}`],
    ['ScopeAttributes', 'Map(LowCardinality(String), String)'],
    ['LogAttributes', 'Map(LowCardinality(String), String)'],
    ['EventName', `String ${z}`],
    ['EventId', `String ${z}`],
    ['SchemaVersion', `LowCardinality(String) ${z}`],
    ['TenantId', `LowCardinality(String) ${z}`],
    ['TenantName', `LowCardinality(String) ${z}`],
    ['Action', `LowCardinality(String) ${z}`],
    ['Outcome', `LowCardinality(String) ${z}`],
    ['ActorId', `String ${z}`],
    ['ActorType', `LowCardinality(String) ${z}`],
    ['ActorName', `String ${z}`],
    ['ActorAuthMethod', `LowCardinality(String) ${z}`],
    ['ActorImpersonatorId', `String ${z}`],
    ['TargetType', `LowCardinality(String) ${z}`],
    ['TargetId', `String ${z}`],
    ['TargetTypes', 'Array(LowCardinality(String))'],
    ['TargetIds', 'Array(String)'],
    ['TargetNames', 'Array(String)'],
    ['Reason', `String ${z}`],
    ['SessionId', `String ${z}`],
    ['RequestId', `String ${z}`],
    ['SourceIp', `String ${z}`],
    ['UserAgent', `String ${z}`],
    ['HttpMethod', `LowCardinality(String) ${z}`],
    ['UrlPath', `String ${z}`],
    ['ChangesBefore', `String ${z}`],
    ['ChangesAfter', `String ${z}`],
    ['ChainId', `LowCardinality(String) ${z}`],
    ['Seq', 'UInt64'],
    ['PrevHash', `String ${z}`],
    ['Hash', `String ${z}`],
    ['ReceivedAt', "DateTime64(9, 'UTC')"],
    ['ChainVersion', 'UInt8 DEFAULT 1'],
  ];
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified}\n(\n${cols.map(([n, t]) => `    ${n} ${t}`).join(',\n')}\n)\n` +
    'ENGINE = ReplacingMergeTree\nPARTITION BY toDate(Timestamp)\nPRIMARY KEY (TenantId, TimestampTime)\n' +
    'ORDER BY (TenantId, TimestampTime, Timestamp, EventId)\n' +
    'SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 1000'
  );
}

/**
 * A replay sink into ClickHouse `audit_events` through `@clickhouse/client` (chDB, a server or a
 * cluster). Rows already present (same ChainId and Seq) are not inserted again.
 */
export function createClickHouseReplaySink(o: ClickHouseReplaySinkOptions): ReplaySink {
  const table = (o.database ? `${quoteIdent(o.database)}.` : '') + quoteIdent(o.table ?? 'audit_events');
  const columns = AUDIT_ROW_COLUMNS.join(', ');
  let ensured = o.ensureSchema === false;
  const fail = (err: unknown, what: string): OperationResult<never> => {
    const e = err as { code?: string; message?: string };
    // Network and server-side overload are worth re-running; SQL/type errors are not.
    const retryable =
      e.code === undefined || /ECONN|ETIMEDOUT|EPIPE|socket|Timeout|TOO_MANY|MEMORY_LIMIT/i.test(`${e.code ?? ''} ${e.message ?? ''}`);
    const error = new AuditError('AUDIT_ERR_STORE_UNAVAILABLE', `${what}: ${e.message ?? String(err)}`, { cause: err, retryable });
    return retryable ? { status: 'retryable', error } : { status: 'failure', error };
  };
  const settings = (token: string): string => `SETTINGS insert_deduplication_token = ${sqlString(token)}, insert_deduplicate = 1`;

  async function insertRows(rows: AuditRow[], token: string): Promise<void> {
    // exec with a ready body: insert() would JSON-encode row by row through a stream again.
    const body = Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n'), 'utf8');
    const result = await o.client.exec({
      query: `INSERT INTO ${table} (${columns}) ${settings(token)} FORMAT JSONEachRow`,
      values: Readable.from([body]),
    });
    for await (const _ of result.stream as AsyncIterable<unknown>) void _;
  }

  async function insertFile(obj: ReplayObject, token: string, onlySeqs: number[] | undefined): Promise<void> {
    const dir = await mkdtemp(join(o.tempDir ?? tmpdir(), 'otel-audit-replay-'));
    try {
      const path = join(dir, 'object.parquet');
      await writeFile(path, obj.bytes);
      const where = onlySeqs ? ` WHERE Seq IN (${onlySeqs.join(',')})` : '';
      await o.client.command({
        query: `INSERT INTO ${table} (${columns}) ${settings(token)} SELECT ${columns} FROM file(${sqlString(path)}, 'Parquet')${where}`,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  return {
    async write(obj) {
      try {
        if (!ensured) {
          if (typeof o.ensureSchema === 'function') await o.ensureSchema(o.client);
          else {
            if (o.database) await o.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdent(o.database)}` });
            await o.client.command({ query: replayTableDdl(table) });
          }
          ensured = true;
        }
        const lo = obj.seqs[0]!;
        const hi = obj.seqs[obj.seqs.length - 1]!;
        // The partition hour bounds the primary key (TenantId, TimestampTime) for the lookup.
        const hourStart = `${obj.partition.date} ${obj.partition.hour}:00:00`;
        const existing = await o.client.query({
          query: `SELECT DISTINCT Seq FROM ${table} WHERE TenantId = {t:String} AND TimestampTime >= {a:DateTime('UTC')} AND TimestampTime < {a:DateTime('UTC')} + INTERVAL 1 HOUR AND ChainId = {c:String} AND Seq BETWEEN {lo:UInt64} AND {hi:UInt64}`,
          query_params: { t: obj.tenantId, c: obj.chainId, lo, hi, a: hourStart },
          format: 'JSONEachRow',
        });
        const present = new Set(((await existing.json()) as Array<{ Seq: string | number }>).map((r) => Number(r.Seq)));
        const missing = obj.seqs.filter((s) => !present.has(s));
        if (missing.length === 0) return { status: 'success', value: { inserted: 0, alreadyPresent: obj.seqs.length } };
        const partial = missing.length < obj.seqs.length;
        const token = partial
          ? `${obj.key}#${obj.sha256}#${createHash('sha256').update(missing.join(',')).digest('hex').slice(0, 16)}`
          : `${obj.key}#${obj.sha256}`;
        if (o.embedded && obj.format === 'parquet') {
          await insertFile(obj, token, partial ? missing : undefined);
        } else {
          const wanted = new Set(missing);
          const rows = await obj.rows();
          await insertRows(partial ? rows.filter((r) => wanted.has(r.Seq)) : rows, token);
        }
        return { status: 'success', value: { inserted: missing.length, alreadyPresent: obj.seqs.length - missing.length } };
      } catch (err) {
        return fail(err, `cannot replay ${obj.key} into ClickHouse`);
      }
    },
  };
}

function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
