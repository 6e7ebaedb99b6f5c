/**
 * One idempotent JSONEachRow insert, the same for every table and both backends: chDB's zero-copy
 * raw insert (settings in the statement) or `exec` over HTTP (settings in the URL). Never session
 * settings: chDB keeps `SET`s for the life of the process.
 */
import { Readable } from 'node:stream';
import type { ClickHouseHandle } from './client.ts';
import type { ClickHouseConfig } from './config.ts';
import { quoteIdentifier, sqlString } from './ddl.ts';

/** Settings of every insert: the deduplication token plus async/distributed options from the config. */
export function insertSettings(config: Pick<ClickHouseConfig, 'asyncInsert' | 'cluster'>, token: string): Record<string, string | number> {
  const s: Record<string, string | number> = { insert_deduplication_token: token, insert_deduplicate: 1 };
  if (config.asyncInsert) Object.assign(s, { async_insert: 1, wait_for_async_insert: 1, async_insert_deduplicate: 1 });
  if (config.cluster !== undefined) s.distributed_foreground_insert = 1;
  return s;
}

/** Insert a JSONEachRow body into `database.table` (columns named explicitly). Throws the client's error. */
export async function insertJsonEachRow(
  handle: ClickHouseHandle,
  target: { database: string; table: string },
  columns: ReadonlyArray<string>,
  body: string,
  settings: Record<string, string | number>,
): Promise<void> {
  if (handle.chdb !== undefined) {
    // Zero-copy raw insert: the engine parses the bytes on its own threads.
    await handle.chdb.chdb.rawInsert({
      table: `${target.database}.${target.table}`,
      columns,
      settings,
      format: 'JSONEachRow',
      values: Buffer.from(body, 'utf8'),
    });
    return;
  }
  // exec, not insert(): insert() would JSON-encode each chunk of a stream again.
  const result = await handle.client.exec({
    query: `INSERT INTO ${quoteIdentifier(target.database)}.${quoteIdentifier(target.table)} (${columns.join(', ')}) FORMAT JSONEachRow`,
    values: Readable.from([Buffer.from(body, 'utf8')]),
    clickhouse_settings: settings,
  });
  // Drain the (empty) response so the socket returns to the pool.
  for await (const _ of result.stream as AsyncIterable<unknown>) void _;
}

/**
 * Insert a Native block (or several, concatenated) into `database.table`, idempotently.
 *
 * - Embedded chDB: `chdb/connection` splices an insert body into the SQL text, which a binary body
 *   cannot survive, so the block goes through a file: `INSERT INTO t (cols) SETTINGS … SELECT *
 *   FROM file('<file>', Native)`. `insert_deduplication_token` applies to INSERT … SELECT as to
 *   any insert (test/exporters/clickhouse/native-insert.test.ts proves a replayed token adds no
 *   rows). `source.file` must already hold the bytes; the caller deletes it afterwards.
 * - A server by URL: the bytes are the HTTP body of `INSERT INTO t (cols) FORMAT Native`.
 *
 * The block's own header names every column with its type, so nothing is inferred.
 */
export async function insertNative(
  handle: ClickHouseHandle,
  target: { database: string; table: string },
  columns: ReadonlyArray<string>,
  source: { file: string } | { bytes: Uint8Array },
  settings: Record<string, string | number>,
): Promise<void> {
  const into = `INSERT INTO ${quoteIdentifier(target.database)}.${quoteIdentifier(target.table)} (${columns.join(', ')})`;
  if ('file' in source) {
    if (handle.chdb === undefined) throw new Error('a Native insert from a file needs the embedded engine');
    const s = Object.entries(settings).map(([k, v]) => `${k} = ${typeof v === 'number' ? String(v) : sqlString(v)}`);
    await handle.chdb.chdb.queryAsync(`${into} SETTINGS ${s.join(', ')} SELECT * FROM file(${sqlString(source.file)}, Native)`, {
      format: 'TabSeparated',
    });
    return;
  }
  const result = await handle.client.exec({
    query: `${into} FORMAT Native`,
    values: Readable.from([Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength)]),
    clickhouse_settings: settings,
  });
  for await (const _ of result.stream as AsyncIterable<unknown>) void _;
}
