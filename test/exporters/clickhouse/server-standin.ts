/**
 * A ClickHouse-HTTP stand-in executing on chDB, for tests of the code path that talks to a
 * ClickHouse *server* by URL (there is no server here). It speaks the subset of the HTTP protocol
 * `@clickhouse/client` uses for command, query and insert (settings as URL parameters), and it
 * allows writes: it plays the server.
 *
 * What it covers and what it does not: the client side is real (the exporter's HTTP requests, the
 * `INSERT … FORMAT Native` statement with the binary block as the body, settings as URL
 * parameters, error classification). The server side is chDB behind a translation: a text body is
 * spliced after the SQL (as chDB needs), and a `FORMAT Native` body — binary, which cannot be
 * spliced into SQL text — is written to a file and inserted with `INSERT … SELECT * FROM
 * file(…, Native)`, the same engine path the embedded exporter uses. Real server behaviour beyond
 * that (HTTP compression, sessions, cluster routing, the server's own insert-dedup log on
 * replicated tables) is not exercised here.
 */
import { randomUUID } from 'node:crypto';
import { unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseHandle } from '../../../exporters/clickhouse/client.ts';

const PASSED_SETTINGS = [
  'insert_deduplication_token',
  'insert_deduplicate',
  'async_insert',
  'wait_for_async_insert',
  'async_insert_deduplicate',
];

let nativeInserts = 0;

/** How many `FORMAT Native` inserts the stand-ins of this process received (tests check the path taken). */
export function standInNativeInserts(): number {
  return nativeInserts;
}

/** Listen on 127.0.0.1:`port` and execute requests on `engine` (an embedded chDB handle). */
export function startClickHouseStandIn(engine: ClickHouseHandle, port: number): Promise<Server> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.endsWith('/ping')) return void res.end('Ok.\n');
    let sql = url.searchParams.get('query') ?? '';
    const settings = PASSED_SETTINGS.filter((k) => url.searchParams.has(k)).map(
      (k) => `${k} = '${url.searchParams.get(k)!.replace(/'/g, "\\'")}'`,
    );
    let file: string | undefined;
    const native = /^(INSERT INTO .*?)\s+FORMAT Native\s*$/s.exec(sql);
    if (native) {
      file = join(tmpdir(), `otel-audit-standin-${randomUUID()}.native`);
      writeFileSync(file, raw);
      sql = `${native[1]}${settings.length > 0 ? ` SETTINGS ${settings.join(', ')}` : ''} SELECT * FROM file('${file}', Native)`;
    } else {
      if (settings.length > 0) sql = sql.replace(/ FORMAT (\w+)\s*$/, ` SETTINGS ${settings.join(', ')} FORMAT $1`);
      const body = raw.toString('utf8');
      sql = sql === '' ? body : `${sql}\n${body}`;
    }
    nativeInserts += native ? 1 : 0;
    try {
      const r = await engine.chdb!.chdb.queryAsync(sql, { format: 'TabSeparated' });
      res.writeHead(200, { 'X-ClickHouse-Summary': '{}' });
      res.end(Buffer.from(r.bytes()));
    } catch (err) {
      res.writeHead(500, { 'X-ClickHouse-Exception-Code': '1' });
      res.end(`${(err as Error).message}\n`);
    } finally {
      if (file !== undefined) unlinkSync(file);
    }
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}
