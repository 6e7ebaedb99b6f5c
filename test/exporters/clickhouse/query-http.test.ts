import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseHandle, openClickHouse } from '../../../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../../../exporters/clickhouse/config.ts';
import { createClickHouseExporter } from '../../../exporters/clickhouse/exporter.ts';
import { handleClickHouseHttpQuery } from '../../../exporters/clickhouse/http-query.ts';
import { createQueryService, type QueryService } from '../../../exporters/clickhouse/read-only-query.ts';
import { batchOf, makeEntries, removeTempDirs, tempDir, uniqueDatabase } from './fixtures.ts';

const run = promisify(execFile);

let handle: ClickHouseHandle;
let service: QueryService;
let server: Server;
let base: string;
let remote: ClickHouseClient;
const db = uniqueDatabase('query');

beforeAll(async () => {
  handle = openClickHouse(parseClickHouseConfig({ dataDir: tempDir('query-http') }));
  const exporter = createClickHouseExporter({ database: db }, { handle });
  await exporter.start();
  expect((await exporter.export(batchOf(makeEntries({ count: 50 })))).status).toBe('success');
  service = createQueryService({ client: handle.client });
  server = createServer((req, res) => {
    if (req.url?.startsWith('/clickhouse')) void handleClickHouseHttpQuery(req, res, service);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  base = `${origin}/clickhouse`;
  // clickhouse-js reads a path in `url` as the database name; a path prefix is `pathname`.
  remote = createClient({ url: origin, pathname: '/clickhouse', log: { level: ClickHouseLogLevel.OFF } });
});

afterAll(async () => {
  await remote.close();
  await new Promise<void>((r) => server.close(() => r()));
  await handle.close();
  removeTempDirs();
});

async function curl(...args: string[]): Promise<{ status: number; body: string; headers: string }> {
  const { stdout } = await run('curl', ['-sS', '-D', '-', ...args]);
  const split = stdout.indexOf('\r\n\r\n');
  const headers = stdout.slice(0, split);
  return { status: Number(/HTTP\/1\.1 (\d+)/.exec(headers)![1]), headers, body: stdout.slice(split + 4) };
}

describe('query service', () => {
  it('runs reads in the requested format with {name:Type} parameters', async () => {
    const r = await service.query(`SELECT count() AS n FROM ${db}.audit_events WHERE TenantId = {t:String}`, {
      format: 'JSONEachRow',
      params: { t: 'acme' },
    });
    expect(r.status).toBe('success');
    if (r.status === 'success') expect(JSON.parse(r.value.text())).toEqual({ n: 25 });
    const csv = await service.query(`SELECT Action, count() FROM ${db}.audit_events GROUP BY Action ORDER BY Action FORMAT CSV`);
    expect(csv.status === 'success' && csv.value.text().split('\n')[0]).toBe('"document.read",10');
    const tsv = await service.query('SELECT 1, {s:String}', { params: { s: "it's" } });
    expect(tsv.status === 'success' && tsv.value.text()).toBe("1\tit\\'s\n");
  });

  it('refuses writes; a refused or failed query leaves the session writable', async () => {
    const w = await service.query(`INSERT INTO ${db}.audit_events (EventId) VALUES ('x')`);
    expect(w.status === 'failure' && w.error.code).toBe('AUDIT_ERR_QUERY_REFUSED');
    const bad = await service.query('SELECT * FROM no_such_table');
    expect(bad.status).toBe('failure');
    if (bad.status === 'failure') expect(bad.error).toMatchObject({ code: 'AUDIT_ERR_QUERY_FAILED', details: { clickhouseCode: 60 } });
    // readonly went into the statement, not the session: the exporter can still write.
    await handle.client.command({ query: `CREATE TABLE ${db}.scratch (a UInt8) ENGINE = Memory` });
    await handle.client.command({ query: `INSERT INTO ${db}.scratch VALUES (1)` });
  });

  it('selects the current database per query on the one chDB session, also under concurrency', async () => {
    const scoped = createQueryService({ client: handle.client, database: db, embedded: true });
    const count = await scoped.query('SELECT count() FROM audit_events');
    expect(count.status === 'success' && count.value.text()).toBe('50\n');
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const want = i % 2 === 0 ? db : 'system';
        const r = await scoped.query('SELECT currentDatabase(), count() > 0 FROM (SELECT 1)', i % 2 === 0 ? {} : { database: 'system' });
        return { want, got: r.status === 'success' ? r.value.text() : r.error.message };
      }),
    );
    for (const r of results) expect(r.got).toBe(`${r.want}\t1\n`);
    const bad = await scoped.query('SELECT 1', { database: 'x; DROP' });
    expect(bad.status === 'failure' && bad.error.code).toBe('AUDIT_ERR_INVALID_ARGUMENT');
    const unknown = await scoped.query('SELECT count() FROM nope');
    expect(unknown.status === 'failure' && unknown.error.message).toMatch(
      /^query failed: UNKNOWN_TABLE \(60\): Unknown table expression identifier 'nope'/,
    );
    expect(unknown.status === 'failure' && unknown.error.message).not.toMatch(/SETTINGS readonly|query failed: query failed/);
  });

  it('chDB enforces readonly = 1 itself (the second line of defence)', async () => {
    await expect(handle.client.command({ query: `INSERT INTO ${db}.scratch SETTINGS readonly = 1 VALUES (2)` })).rejects.toMatchObject({
      code: '164',
      type: 'READONLY',
    });
    await expect(
      handle.client.command({ query: "SELECT * FROM file('/etc/hostname', 'LineAsString') SETTINGS readonly = 1" }),
    ).rejects.toMatchObject({ code: '164' });
  });
});

describe('ClickHouse HTTP-compatible endpoint', () => {
  it('works with @clickhouse/client: ping, JSONEachRow, JSON, CSV, TabSeparated and parameters', async () => {
    expect((await remote.ping()).success).toBe(true);
    const rs = await remote.query({
      query: `SELECT EventId, Seq FROM ${db}.audit_events WHERE TenantId = {tenant:String} AND Action IN {actions:Array(String)} ORDER BY ChainId, Seq LIMIT {n:UInt8}`,
      query_params: { tenant: 'globex', actions: ['grant.issue', 'document.update'], n: 3 },
      format: 'JSONEachRow',
    });
    const rows = await rs.json<{ EventId: string; Seq: number | string }>();
    expect(rows).toHaveLength(3);
    const json = await (await remote.query({ query: `SELECT count() AS n FROM ${db}.audit_events`, format: 'JSON' })).json<{
      n: number | string;
    }>();
    expect(Number(json.data[0]!.n)).toBe(50);
    expect(await (await remote.query({ query: "SELECT 'a,b' AS s, 2 AS n", format: 'CSV' })).text()).toBe('"a,b",2\n');
    expect(
      await (
        await remote.query({ query: 'SELECT {s:String} AS s, 2 AS n', query_params: { s: "tab\there 'q'" }, format: 'TabSeparated' })
      ).text(),
    ).toBe("tab\\there \\'q\\'\t2\n");
  });

  it('surfaces refusals and errors as ClickHouse errors in @clickhouse/client', async () => {
    await expect(remote.command({ query: `DROP TABLE ${db}.audit_events` })).rejects.toMatchObject({ code: '164', type: 'READONLY' });
    await expect(remote.insert({ table: `${db}.scratch`, values: [{ a: 1 }], format: 'JSONEachRow' })).rejects.toMatchObject({
      code: '164',
    });
    await expect(remote.query({ query: 'SELECT * FROM nope', format: 'JSONEachRow' })).rejects.toMatchObject({
      code: '60',
      type: 'UNKNOWN_TABLE',
    });
    await expect(remote.query({ query: "SELECT * FROM url('http://127.0.0.1:1/', 'CSV')", format: 'JSONEachRow' })).rejects.toMatchObject({
      code: '164',
    });
  });

  it('works with curl: query in body or URL, default_format, X-ClickHouse-Format, param_*', async () => {
    const ping = await curl(`${base}/ping`);
    expect([ping.status, ping.body]).toEqual([200, 'Ok.\n']);
    const q = encodeURIComponent(`SELECT count() FROM ${db}.audit_events WHERE ActorId = {a:String}`);
    const get = await curl(`${base}/?query=${q}&param_a=user-3`);
    expect(get.status).toBe(200);
    expect(get.body).toBe('7\n');
    expect(get.headers).toMatch(/X-ClickHouse-Format: TabSeparated/i);
    expect(get.headers).toMatch(/X-ClickHouse-Summary: \{.*"read_rows"/i);
    const post = await curl(
      '--data-binary',
      `SELECT Outcome, count() AS n FROM ${db}.audit_events GROUP BY Outcome ORDER BY Outcome`,
      `${base}/?default_format=JSONEachRow`,
    );
    expect(
      post.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { Outcome: 'denied', n: 16 },
      { Outcome: 'failure', n: 17 },
      { Outcome: 'success', n: 17 },
    ]);
    const csv = await curl('-H', 'X-ClickHouse-Format: CSV', '--data-binary', 'SELECT 1, {s:String}', `${base}/?param_s=a%5Ctb`);
    expect(csv.body).toBe('1,"a\tb"\n');
    expect(csv.headers).toMatch(/Content-Type: text\/csv/i);
    const denied = await curl('--data-binary', `ALTER TABLE ${db}.audit_events DELETE WHERE 1`, `${base}/`);
    expect(denied.status).toBe(403);
    expect(denied.body).toMatch(/^Code: 164\. DB::Exception: query refused: .*\(READONLY\)/);
    expect(denied.headers).toMatch(/X-ClickHouse-Exception-Code: 164/i);
  });
});

describe('query limits', () => {
  it('stops runaway queries inside the engine', async () => {
    const small = createQueryService({ client: handle.client, maxResultBytes: 10_000 });
    const big = await small.query('SELECT number, toString(number) FROM numbers(1000000)');
    expect(big.status).toBe('failure');
    if (big.status === 'failure') expect(big.error.code).toMatch(/AUDIT_ERR_QUERY_(FAILED|REFUSED)/);
    const ok = await small.query('SELECT count() FROM numbers(1000000)');
    expect(ok.status === 'success' && ok.value.text()).toBe('1000000\n');
  });
});
