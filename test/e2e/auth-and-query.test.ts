/**
 * Auth and the query surfaces on a real receiver (embedded chDB): tokens on ingest, a token bound
 * to a tenant, the read-only SQL endpoint and the REST API.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@clickhouse/client';
import { createAuditLogger } from '@otel-audit/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../receiver/auth/index.ts';
import { createReceiver, type Receiver } from '../../receiver/index.ts';
import { eventually } from './helpers/receiver-process.ts';

const ADMIN = 'admin-token-0123456789';
const ACME = 'acme-token-0123456789';
let dataDir: string;
let receiver: Receiver;
let http: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-auth-'));
  receiver = createReceiver({
    dataDir,
    http: { port: 0 },
    grpc: { port: 0 },
    auth: {
      tokens: [
        { name: 'admin', sha256: hashToken(ADMIN) },
        { name: 'acme-app', sha256: hashToken(ACME), tenantId: 'acme' },
      ],
    },
    exporters: { coldstore: { enabled: false } },
    pipeline: { exporters: { maxBatchDelayMillis: 20 } },
  });
  ({ http } = (await receiver.start()) as { http: string });
});

afterAll(async () => {
  await receiver.shutdown();
  rmSync(dataDir, { recursive: true, force: true });
});

async function send(token: string | undefined, tenant: string, count: number) {
  const rejected: unknown[] = [];
  const audit = createAuditLogger({
    delivery: 'memory',
    exporter: { protocol: 'http/json', endpoint: `${http}/v1/logs`, headers: token ? { authorization: `Bearer ${token}` } : {} },
    onRejected: (r) => rejected.push(r),
    minBackoffMillis: 50,
    maxBackoffMillis: 100,
  });
  const ids: string[] = [];
  for (let i = 0; i < count; i++)
    ids.push(await audit.record({ action: 'doc.read', outcome: 'success', actor: { id: 'u', type: 'user' }, tenant: { id: tenant } }));
  const flushed = await audit.shutdown({ timeoutMillis: 3000 });
  return { ids, rejected, flushed };
}

describe('auth and query surfaces', () => {
  it('refuses ingest without a valid token (401)', async () => {
    const res = await fetch(`${http}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(401);
    const wrong = await fetch(`${http}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer nope' },
      body: '{}',
    });
    expect(wrong.status).toBe(401);
  });

  it('rejects records of another tenant sent with a tenant-bound token, through partial_success', async () => {
    const ok = await send(ACME, 'acme', 3);
    expect(ok.flushed.status).toBe('success');
    expect(ok.rejected).toEqual([]);
    const other = await send(ACME, 'globex', 2);
    expect(other.rejected.length).toBeGreaterThan(0);
    expect(JSON.stringify(other.rejected)).toMatch(/tenant/);
    const admin = await send(ADMIN, 'globex', 2);
    expect(admin.rejected).toEqual([]);
  });

  it('serves SQL read-only to unbound tokens, refuses writes and tenant-bound tokens', async () => {
    const admin = createClient({ url: http, pathname: '/clickhouse', access_token: ADMIN });
    const count = await eventually(async () => {
      const rs = await admin.query({ query: 'SELECT count() AS n FROM otel_audit.audit_events', format: 'JSONEachRow' });
      const [row] = await rs.json<{ n: string }>();
      return Number(row?.n) >= 5 ? Number(row?.n) : undefined;
    });
    expect(count).toBe(5);
    await expect(admin.command({ query: 'DROP TABLE otel_audit.audit_events' })).rejects.toThrow(/read queries/);
    await expect(admin.exec({ query: 'INSERT INTO otel_audit.audit_events (EventId) VALUES (generateUUIDv7())' })).rejects.toThrow();
    await admin.close();

    const bound = await fetch(`${http}/clickhouse?query=SELECT%201`, { headers: { authorization: `Bearer ${ACME}` } });
    expect(bound.status).toBe(403);
    const anonymous = await fetch(`${http}/clickhouse?query=SELECT%201`);
    expect(anonymous.status).toBe(401);
    // ClickHouse tools send Basic auth: the token is the password.
    const basic = await fetch(`${http}/clickhouse?query=SELECT%2042`, {
      headers: { authorization: `Basic ${Buffer.from(`default:${ADMIN}`).toString('base64')}` },
    });
    expect(await basic.text()).toBe('42\n');
  });

  it('answers otel-audit query with a table, JSON lines or CSV', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          [fileURLToPath(new URL('../../cli/main.ts', import.meta.url)), 'query', ...args, '--url', http, '--token', ADMIN],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d));
        child.stderr.on('data', (d: Buffer) => (err += d));
        child.on('exit', (code) => resolve({ code, out, err }));
      });
    const sql = 'SELECT TenantId, count() AS n FROM otel_audit.audit_events GROUP BY TenantId ORDER BY TenantId';
    const table = await run([sql, '--format', 'table']);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/TenantId\s+│ n/);
    expect(table.out).toMatch(/acme\s+│ 3/);
    const json = await run([sql, '--format', 'json']);
    expect(
      json.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { TenantId: 'acme', n: 3 },
      { TenantId: 'globex', n: 2 },
    ]);
    const csv = await run([
      'SELECT count() AS n FROM otel_audit.audit_events WHERE TenantId = {t:String}',
      '--format',
      'csv',
      '--param',
      't=acme',
    ]);
    expect(csv.out).toBe('"n"\n3\n');
    const refused = await run(['DELETE FROM otel_audit.audit_events WHERE 1']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/read queries/);
  });

  it('confines a tenant-bound token to its tenant on GET /v1/audit/events', async () => {
    const own = await fetch(`${http}/v1/audit/events`, { headers: { authorization: `Bearer ${ACME}` } });
    expect(own.status).toBe(200);
    const page = (await own.json()) as { events: Array<{ event: { tenant: { id: string } } }> };
    expect(page.events.length).toBe(3);
    expect(page.events.every((e) => e.event.tenant.id === 'acme')).toBe(true);
    const other = await fetch(`${http}/v1/audit/events?tenant=globex`, { headers: { authorization: `Bearer ${ACME}` } });
    expect(other.status).toBe(403);
    const admin = await fetch(`${http}/v1/audit/events?tenant=globex`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(((await admin.json()) as { events: unknown[] }).events.length).toBe(2);
    const bad = await fetch(`${http}/v1/audit/events?tenant=acme&limit=5000`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(bad.status).toBe(400);
  });
});
