/**
 * A ClickHouse-HTTP stand-in executing on chDB, for tests of the code path that talks to a
 * ClickHouse *server* by URL (there is no server here). It speaks the subset of the HTTP protocol
 * `@clickhouse/client` uses for command, query and insert (settings as URL parameters), and it
 * allows writes: it plays the server.
 */
import { createServer, type Server } from 'node:http';
import type { ClickHouseHandle } from '../../../exporters/clickhouse/client.ts';

const PASSED_SETTINGS = ['insert_deduplication_token', 'insert_deduplicate', 'async_insert', 'wait_for_async_insert', 'async_insert_deduplicate'];

/** Listen on 127.0.0.1:`port` and execute requests on `engine` (an embedded chDB handle). */
export function startClickHouseStandIn(engine: ClickHouseHandle, port: number): Promise<Server> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.endsWith('/ping')) return void res.end('Ok.\n');
    let sql = url.searchParams.get('query') ?? '';
    const settings = PASSED_SETTINGS.filter((k) => url.searchParams.has(k)).map((k) => `${k} = '${url.searchParams.get(k)!.replace(/'/g, "\\'")}'`);
    if (settings.length > 0) sql = sql.replace(/ FORMAT (\w+)\s*$/, ` SETTINGS ${settings.join(', ')} FORMAT $1`);
    sql = sql === '' ? body : `${sql}\n${body}`;
    try {
      const r = await engine.chdb!.chdb.queryAsync(sql, { format: 'TabSeparated' });
      res.writeHead(200, { 'X-ClickHouse-Summary': '{}' });
      res.end(Buffer.from(r.bytes()));
    } catch (err) {
      res.writeHead(500, { 'X-ClickHouse-Exception-Code': '1' });
      res.end(`${(err as Error).message}\n`);
    }
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

