/**
 * The exporter against a ClickHouse *server* by URL (the code path used for self-hosted
 * ClickHouse and clusters). There is no ClickHouse server here, so a minimal HTTP front for the
 * chDB engine stands in for one: it speaks the subset of the ClickHouse HTTP protocol that
 * `@clickhouse/client` uses for command, query and insert (settings as URL parameters).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClickHouse, type ClickHouseHandle } from '../../../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../../../exporters/clickhouse/config.ts';
import { createClickHouseExporter } from '../../../exporters/clickhouse/exporter.ts';
import { batchOf, makeEntries, removeTempDirs, tempDir, uniqueDatabase } from './fixtures.ts';

let engine: ClickHouseHandle;
beforeAll(() => {
  engine = openClickHouse(parseClickHouseConfig({ dataDir: tempDir('server-mode') }));
});
afterAll(async () => {
  await engine.close();
  removeTempDirs();
});

const PASSED_SETTINGS = ['insert_deduplication_token', 'insert_deduplicate', 'async_insert', 'wait_for_async_insert', 'async_insert_deduplicate'];

/** A ClickHouse-HTTP stand-in executing on chDB (writes allowed: it plays the server). */
function startFakeServer(port: number): Promise<Server> {
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

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('ClickHouse exporter against a server URL', () => {
  it('is retryable while ClickHouse is down, then exports once it is up, without duplicates', async () => {
    const port = await freePort();
    const db = uniqueDatabase();
    const exporter = createClickHouseExporter({ url: `http://127.0.0.1:${port}`, database: db, requestTimeoutMillis: 2000 });
    await exporter.start(); // does not throw while the server is down
    const entries = makeEntries({ count: 200 });
    const a = batchOf(entries.slice(0, 100));
    const down = await exporter.export(a);
    expect(down.status).toBe('retryable');
    if (down.status === 'retryable') {
      expect(down.error.code).toBe('AUDIT_ERR_STORE_UNAVAILABLE');
      expect(down.error.message).toMatch(/ECONNREFUSED|connect/i);
    }

    const server = await startFakeServer(port);
    try {
      expect(await exporter.export(a)).toEqual({ status: 'success' });
      expect(await exporter.export(a)).toEqual({ status: 'success' });
      expect(await exporter.export(batchOf(entries.slice(100)))).toEqual({ status: 'success' });
      const r = await engine.chdb!.chdb.queryAsync(`SELECT count() FROM ${db}.audit_events`, { format: 'TabSeparated' });
      expect(r.text().trim()).toBe('200');
    } finally {
      await exporter.shutdown();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('a server error that will never succeed is a failure', async () => {
    const port = await freePort();
    const server = await startFakeServer(port);
    const db = uniqueDatabase();
    // Operators manage the schema and have not created it: UNKNOWN_DATABASE / UNKNOWN_TABLE.
    const exporter = createClickHouseExporter({ url: `http://127.0.0.1:${port}`, database: db, createSchema: false });
    try {
      await exporter.start();
      const r = await exporter.export(batchOf(makeEntries({ count: 2 })));
      expect(r.status).toBe('failure');
      if (r.status === 'failure') expect(r.error.message).toMatch(/UNKNOWN_(DATABASE|TABLE)/);
    } finally {
      await exporter.shutdown();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
