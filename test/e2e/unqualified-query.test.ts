/**
 * Querying as the README says, against `otel-audit start` in its own process: unqualified table
 * names resolve against `otel_audit` through the CLI, the ClickHouse-HTTP endpoint (curl-like
 * fetch) and `@clickhouse/client`; a `database` parameter (or the `X-ClickHouse-Database` header)
 * selects another; the CLI prints no library log lines, and a failure is one line with its code.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createClient } from '@clickhouse/client';
import { createAuditLogger } from '@otel-audit/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type ReceiverProcess, startReceiverProcess } from './helpers/receiver-process.ts';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-unqualified-'));
let receiver: ReceiverProcess;
const tenant = `t-unq-${Date.now()}`;

beforeAll(async () => {
  receiver = await startReceiverProcess({ dataDir, env: { OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false' } });
  const audit = createAuditLogger({
    delivery: 'memory',
    exporter: { protocol: 'http/json', endpoint: `${receiver.http}/v1/logs` },
    serviceName: 'unq',
  });
  for (let i = 0; i < 7; i++)
    await audit.record({ action: 'doc.read', outcome: 'success', actor: { id: `u-${i}`, type: 'user' }, tenant: { id: tenant } });
  expect((await audit.shutdown({ timeoutMillis: 20_000 })).status).toBe('success');
});

afterAll(async () => {
  await receiver?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Run `otel-audit query …` as a process; never rejects on a non-zero exit. */
async function cliQuery(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'query', '--url', receiver.http, '--format', 'tsv', ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('unqualified queries', { timeout: 180_000 }, () => {
  it('the CLI reads audit_events in otel_audit by default, with nothing but the result on the terminal', async () => {
    const r = await eventually(async () => {
      const q = await cliQuery(`SELECT count() AS n FROM audit_events WHERE TenantId = '${tenant}'`);
      return q.stdout.trim().endsWith('\n7') || q.stdout.trim() === 'n\n7' ? q : undefined;
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('n\n7\n');
    expect(r.stderr).toBe('');
    // --database picks another database for unqualified names.
    const sys = await cliQuery(
      '--database',
      'system',
      "SELECT count() > 0 AS ok FROM tables WHERE database = 'otel_audit' AND name = 'audit_events'",
    );
    expect(sys).toMatchObject({ code: 0, stdout: 'ok\n1\n', stderr: '' });
  });

  it('a failing query is one line with its code and ClickHouse message (exit 1); a refused write says so', async () => {
    const bad = await cliQuery('SELECT count() FROM no_such_table');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    const lines = bad.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^otel-audit query: AUDIT_ERR_QUERY_FAILED: UNKNOWN_TABLE \(60\): .*no_such_table/);
    expect(lines[0]).not.toMatch(/query failed: query failed|SETTINGS readonly|WARN/);
    const write = await cliQuery('ALTER TABLE audit_events DELETE WHERE 1');
    expect(write.code).toBe(1);
    expect(write.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(write.stderr).toMatch(/AUDIT_ERR_QUERY_REFUSED: READONLY \(164\)/);
    const db = await cliQuery('--database', 'no_such_db', 'SELECT 1');
    expect(db.stderr).toMatch(/^otel-audit query: AUDIT_ERR_QUERY_FAILED: UNKNOWN_DATABASE \(81\)/);
    const down = await run(process.execPath, [CLI, 'query', '--url', 'http://127.0.0.1:1', 'SELECT 1']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((down as { code: number }).code).toBe(1);
    expect((down as { stderr: string }).stderr).toMatch(
      /^otel-audit query: AUDIT_ERR_STORE_UNAVAILABLE: cannot query http:\/\/127\.0\.0\.1:1\/clickhouse: .*ECONNREFUSED.*\n$/,
    );
  });

  it('the endpoint (curl-like) defaults to otel_audit; the database parameter and header select another', async () => {
    const q = (sql: string, extra = '', headers: Record<string, string> = {}) =>
      fetch(`${receiver.http}/clickhouse?query=${encodeURIComponent(sql)}${extra}`, { headers }).then(async (r) => ({
        status: r.status,
        body: await r.text(),
      }));
    expect(await q(`SELECT count() FROM audit_events WHERE TenantId = '${tenant}'`)).toEqual({ status: 200, body: '7\n' });
    expect(await q('SELECT currentDatabase()')).toEqual({ status: 200, body: 'otel_audit\n' });
    expect(await q('SELECT currentDatabase()', '&database=system')).toEqual({ status: 200, body: 'system\n' });
    expect(await q('SELECT currentDatabase()', '', { 'X-ClickHouse-Database': 'system' })).toEqual({ status: 200, body: 'system\n' });
    // The parameter wins over the header; the default comes back for the next request.
    expect(await q('SELECT currentDatabase()', '&database=otel_audit', { 'X-ClickHouse-Database': 'system' })).toEqual({
      status: 200,
      body: 'otel_audit\n',
    });
    expect(await q('SELECT currentDatabase()')).toEqual({ status: 200, body: 'otel_audit\n' });
    const bad = await q('SELECT 1', '&database=x%3BDROP');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/^Code: 36\. DB::Exception: .*not a plain identifier/);
    const unknown = await q('SELECT count() FROM nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatch(/^Code: 60\. DB::Exception: Unknown table expression identifier 'nope'.* \(UNKNOWN_TABLE\)/);
    expect(unknown.body).not.toMatch(/query failed/);
  });

  it('@clickhouse/client works unqualified, and its database option selects another database', async () => {
    const messages: string[] = [];
    const logger = class {
      trace() {}
      debug() {}
      info() {}
      warn(m: { message: string }) {
        messages.push(m.message);
      }
      error(m: { message: string }) {
        messages.push(m.message);
      }
    };
    const plain = createClient({ url: receiver.http, pathname: '/clickhouse', log: { LoggerClass: logger } });
    const sys = createClient({ url: receiver.http, pathname: '/clickhouse', database: 'system', log: { LoggerClass: logger } });
    try {
      const rs = await plain.query({
        query: 'SELECT count() AS n FROM audit_events WHERE TenantId = {t:String}',
        query_params: { t: tenant },
        format: 'JSONEachRow',
      });
      expect((await rs.json<{ n: string | number }>()).map((r) => Number(r.n))).toEqual([7]);
      const db = await sys.query({ query: 'SELECT currentDatabase() AS d', format: 'JSONEachRow' });
      expect(await db.json()).toEqual([{ d: 'system' }]);
      // Nothing to warn about in normal use (the client logs its own error for a failed query below).
      expect(messages).toEqual([]);
      await expect(plain.query({ query: 'SELECT * FROM nope', format: 'JSONEachRow' })).rejects.toMatchObject({
        code: '60',
        type: 'UNKNOWN_TABLE',
      });
    } finally {
      await plain.close();
      await sys.close();
    }
  });

  it('the receiver itself printed no library log lines', () => {
    expect(receiver.output()).not.toMatch(/\[@clickhouse\/client\]|WARN/);
  });
});
