/**
 * The grants service end to end, as it runs: HTTP requests into the Express service (real Postgres,
 * grants and audit events in one transaction), the embedded relay shipping the outbox over OTLP to
 * a real `otel-audit start` process, events read back from ClickHouse (embedded chDB) through the
 * receiver — by tenant and by actor — and the tenant's hash chain checked against the receiver's
 * head: with the integrity module's `verifyChainEntries` over the ClickHouse rows, and with
 * `otel-audit verify --source clickhouse` against signed checkpoints.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import type { AuditEvent } from '@otel-audit/schema';
import { AUDIT_ROW_COLUMNS, type AuditRow } from '@otel-audit/schema/audit-row';
import { createAuditLogger } from '@otel-audit/sdk';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRowToChainEntry, verifyChainEntries } from '../../integrity/index.ts';
import { eventually, type ReceiverProcess, startReceiverProcess } from '../../test/e2e/helpers/receiver-process.ts';
import { addApiToken } from './grants-db.ts';
import { type RunningGrantsService, startGrantsService } from './main.ts';

const POSTGRES_URL = process.env.OTEL_AUDIT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RECEIVER_ENV: Record<string, string> = {
  OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false',
  OTEL_AUDIT_PIPELINE__EXPORTERS__MAX_BATCH_DELAY_MILLIS: '20',
};
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(REPO, 'cli', 'main.ts');
/** `otel-audit verify` and the receiver's signed checkpoints: used when this checkout has them. */
const run = promisify(execFile);
const WRITER_TOKEN = `writer-${randomBytes(12).toString('hex')}`;
const READER_TOKEN = `reader-${randomBytes(12).toString('hex')}`;

const suffix = randomBytes(4).toString('hex');
const schema = `grants_${suffix}`;
const tenant = `acme-${suffix}`;
let dataDir: string;
let keyDir: string;
let verifierKeyFile: string | undefined;
let receiver: ReceiverProcess;
let service: RunningGrantsService;
const serviceErrors: unknown[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-grants-'));
  keyDir = mkdtempSync(join(tmpdir(), 'otel-audit-grants-keys-'));
  const env = { ...RECEIVER_ENV };
  // Checkpoints signed with a fresh key, often, so `verify` has a checkpoint covering the chain.
  await run(process.execPath, [CLI, 'keys', 'generate', '--out-dir', keyDir, '--name', 'otel-audit-test/grants']);
  const files = readdirSync(keyDir);
  verifierKeyFile = join(keyDir, files.find((f) => f.endsWith('.pub'))!);
  Object.assign(env, {
    OTEL_AUDIT_INTEGRITY__ENABLED: 'true',
    OTEL_AUDIT_INTEGRITY__SIGNING_KEY_FILE: join(keyDir, files.find((f) => f.endsWith('.key'))!),
    OTEL_AUDIT_INTEGRITY__CHECKPOINT_INTERVAL_MILLIS: '100',
  });
  receiver = await startReceiverProcess({ dataDir, env });
  service = await startGrantsService({
    postgresUrl: POSTGRES_URL,
    schema,
    port: 0,
    allowFailureInjection: true,
    onError: (err) => serviceErrors.push(err),
    relay: { endpoint: receiver.http, batchSize: 50, pollIntervalMillis: 100, busyPollIntervalMillis: 20, exportTimeoutMillis: 30_000 },
  });
  await addApiToken(service.pool, schema, {
    token: WRITER_TOKEN,
    id: 'tok-ci-bot',
    tenantId: tenant,
    name: 'ci bot',
    scopes: ['grants:write'],
  });
  await addApiToken(service.pool, schema, {
    token: READER_TOKEN,
    id: 'tok-dashboard',
    tenantId: tenant,
    name: 'dashboard',
    scopes: ['grants:read'],
  });
});

afterAll(async () => {
  await service?.close();
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
  await receiver?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

interface ApiAnswer {
  status: number;
  requestId: string | null;
  body: { grant?: { id: string; subject: string; role: string; revokedAt: string | null }; auditEventId?: string; error?: string };
}

async function call(method: 'POST' | 'DELETE', path: string, headers: Record<string, string>, body?: unknown): Promise<ApiAnswer> {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), 'user-agent': 'grants-test/1.0', ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, requestId: res.headers.get('x-request-id'), body: (await res.json()) as ApiAnswer['body'] };
}

const alice = { 'x-user-id': 'alice', 'x-tenant-id': tenant, 'x-session-id': 'sess-alice-1' };
const bot = { authorization: `Bearer ${WRITER_TOKEN}` };

async function eventsOf(query: string): Promise<AuditEvent[]> {
  const res = await fetch(`${receiver.http}/v1/audit/events?${query}&limit=1000`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { events: Array<{ event: AuditEvent }> }).events.map((e) => e.event);
}

describe('grants service (Express + outbox + relay + receiver + ClickHouse)', () => {
  it('audits issue, revoke, denied and failed requests; events come back by tenant and by actor, with request id and client IP', async () => {
    // Issued by the API token, through a proxy (x-forwarded-for from loopback is trusted).
    const issued = await call(
      'POST',
      '/grants',
      { ...bot, 'x-request-id': `req-issue-${suffix}`, 'x-forwarded-for': '203.0.113.7' },
      { subject: 'bob', role: 'editor' },
    );
    expect(issued.status).toBe(201);
    expect(issued.requestId).toBe(`req-issue-${suffix}`);
    // Issued by a signed-in user, no request id given: the service makes one.
    const byAlice = await call('POST', '/grants', alice, { subject: 'carol', role: 'viewer' });
    expect(byAlice.status).toBe(201);
    expect(byAlice.requestId).toMatch(/^[0-9a-f-]{36}$/);
    // Alice revokes the bot's grant.
    const revoked = await call('DELETE', `/grants/${issued.body.grant!.id}`, alice);
    expect(revoked.status).toBe(200);
    expect(revoked.body.grant!.revokedAt).not.toBeNull();
    // Denied: nobody signed in; a token without the write scope.
    const anonymous = await call('POST', '/grants', { 'x-tenant-id': tenant }, { subject: 'mallory', role: 'admin' });
    expect(anonymous.status).toBe(401);
    const reader = await call('POST', '/grants', { authorization: `Bearer ${READER_TOKEN}` }, { subject: 'mallory', role: 'admin' });
    expect(reader.status).toBe(403);
    // Failed: the same active grant again (unique index), a role the CHECK refuses, a failure
    // injected after the audit row was written. Each transaction rolls back with its audit row.
    const duplicate = await call('POST', '/grants', alice, { subject: 'carol', role: 'viewer' });
    expect(duplicate.status).toBe(409);
    const badRole = await call('POST', '/grants', alice, { subject: 'dave', role: 'root' });
    expect(badRole.status).toBe(422);
    const injected = await call('POST', '/grants', { ...alice, 'x-inject-failure': 'after-audit' }, { subject: 'erin', role: 'editor' });
    expect(injected.status).toBe(500);
    const revokedAgain = await call('DELETE', `/grants/${issued.body.grant!.id}`, bot);
    expect(revokedAgain.status).toBe(409);
    const badToken = await call(
      'POST',
      '/grants',
      { authorization: 'Bearer not-a-token', 'x-tenant-id': tenant },
      { subject: 'mallory', role: 'admin' },
    );
    expect(badToken.status).toBe(401);
    const notJson = await fetch(`${service.url}/grants`, {
      method: 'POST',
      headers: { ...alice, 'content-type': 'application/json' },
      body: '{',
    });
    expect(notJson.status).toBe(400);

    const answers = { issued, byAlice, revoked, anonymous, reader, duplicate, badRole, injected, revokedAgain, badToken };
    for (const [name, a] of Object.entries(answers)) expect(a.body.auditEventId, name).toMatch(/^[0-9a-f-]{36}$/);
    const expectedIds = new Set(Object.values(answers).map((a) => a.body.auditEventId!));

    // Postgres: the state is exactly what succeeded; the outbox has exactly the audited events.
    const grants = await service.pool.query<{ subject: string; role: string; revoked: boolean }>(
      `SELECT subject, role, revoked_at IS NOT NULL AS revoked FROM "${schema}".grants ORDER BY subject`,
    );
    expect(grants.rows).toEqual([
      { subject: 'bob', role: 'editor', revoked: true },
      { subject: 'carol', role: 'viewer', revoked: false },
    ]);
    const outbox = await service.pool.query<{ event_id: string }>(`SELECT event_id FROM "${schema}".audit_outbox`);
    expect(new Set(outbox.rows.map((r) => r.event_id))).toEqual(expectedIds);

    // ClickHouse, through the receiver's REST API: every event of the tenant, once.
    const all = await eventually(async () => {
      const events = await eventsOf(`tenant=${tenant}`);
      return events.length >= expectedIds.size ? events : undefined;
    });
    expect(all).toHaveLength(expectedIds.size);
    expect(new Set(all.map((e) => e.eventId))).toEqual(expectedIds);
    const byId = new Map(all.map((e) => [e.eventId, e]));

    // Every event carries a request id, the client IP and the user agent.
    for (const e of all) {
      expect(e.request?.id, e.action).toBeTruthy();
      expect(e.request?.ip, e.action).toMatch(/^(127\.0\.0\.1|203\.0\.113\.7)$/);
      expect(e.request?.userAgent).toBe('grants-test/1.0');
    }

    const issue = byId.get(issued.body.auditEventId!)!;
    expect(issue).toMatchObject({
      action: 'grant.issue',
      outcome: 'success',
      actor: { id: 'tok-ci-bot', type: 'api_token', authMethod: 'api_key' },
      tenant: { id: tenant },
      targets: [
        { type: 'grant', id: issued.body.grant!.id },
        { type: 'user', id: 'bob' },
      ],
      request: { id: `req-issue-${suffix}`, ip: '203.0.113.7', method: 'POST', path: '/grants' },
      details: { role: 'editor' },
    });
    expect(byId.get(byAlice.body.auditEventId!)).toMatchObject({
      action: 'grant.issue',
      outcome: 'success',
      actor: { id: 'alice', type: 'user' },
      session: { id: 'sess-alice-1' },
      request: { id: byAlice.requestId!, ip: '127.0.0.1' },
    });
    expect(byId.get(revoked.body.auditEventId!)).toMatchObject({
      action: 'grant.revoke',
      outcome: 'success',
      actor: { id: 'alice', type: 'user' },
      targets: [
        { type: 'grant', id: issued.body.grant!.id },
        { type: 'user', id: 'bob' },
      ],
      changes: { before: { revokedAt: null }, after: { revokedBy: 'alice' } },
      request: { method: 'DELETE', path: `/grants/${issued.body.grant!.id}` },
    });
    expect(byId.get(anonymous.body.auditEventId!)).toMatchObject({
      outcome: 'denied',
      actor: { type: 'anonymous' },
      reason: 'authentication required',
    });
    expect(byId.get(badToken.body.auditEventId!)).toMatchObject({
      action: 'auth.api_token',
      outcome: 'denied',
      actor: { type: 'anonymous' },
      reason: 'invalid API token',
    });
    expect(byId.get(reader.body.auditEventId!)).toMatchObject({
      outcome: 'denied',
      actor: { id: 'tok-dashboard', type: 'api_token' },
      reason: 'missing scope grants:write',
    });
    expect(byId.get(duplicate.body.auditEventId!)).toMatchObject({ action: 'grant.issue', outcome: 'failure' });
    expect(byId.get(injected.body.auditEventId!)).toMatchObject({
      action: 'grant.issue',
      outcome: 'failure',
      targets: [{ type: 'grant' }, { type: 'user', id: 'erin' }],
    });

    // The rolled-back attempts left no success event: erin and dave were never granted anything.
    const successes = all.filter((e) => e.outcome === 'success');
    expect(successes.map((e) => `${e.action} ${e.targets?.[1]?.id}`).sort()).toEqual([
      'grant.issue bob',
      'grant.issue carol',
      'grant.revoke bob',
    ]);

    // By actor.
    const ofAlice = await eventsOf(`tenant=${tenant}&actor=alice`);
    expect(new Set(ofAlice.map((e) => e.eventId))).toEqual(
      new Set([byAlice, revoked, duplicate, badRole, injected].map((a) => a.body.auditEventId)),
    );
    const ofBot = await eventsOf(`tenant=${tenant}&actor=tok-ci-bot`);
    expect(new Set(ofBot.map((e) => e.eventId))).toEqual(new Set([issued, revokedAgain].map((a) => a.body.auditEventId)));
    expect((await eventsOf(`tenant=${tenant}&actor=alice&outcome=success`)).map((e) => e.action).sort()).toEqual([
      'grant.issue',
      'grant.revoke',
    ]);

    // The relay marked everything delivered.
    const pending = await service.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${schema}".audit_outbox WHERE delivered_at IS NULL`,
    );
    expect(pending.rows[0]!.n).toBe(0);
    expect(serviceErrors.map((e) => (e as Error).message)).toEqual(['injected failure after the audit event was written']);
  });

  it("the tenant's hash chain in ClickHouse is complete, unbroken and ends at the receiver's head", async () => {
    const status = (await (await fetch(`${receiver.http}/v1/audit/status`)).json()) as {
      chains: Array<{ chainId: string; tenantId: string; seq: number; hash: string }>;
    };
    const heads = status.chains.filter((c) => c.tenantId === tenant);
    expect(heads).toHaveLength(1);
    const head = heads[0]!;
    const client = createClient({ url: receiver.http, pathname: '/clickhouse', log: { level: ClickHouseLogLevel.OFF } });
    try {
      const rs = await client.query({
        query: `SELECT ${AUDIT_ROW_COLUMNS.join(', ')} FROM otel_audit.audit_events FINAL WHERE ChainId = {chain:String} ORDER BY Seq`,
        query_params: { chain: head.chainId },
        format: 'JSONEachRow',
      });
      const rows = await rs.json<AuditRow>();
      expect(rows).toHaveLength(head.seq);
      const result = await verifyChainEntries(rows.map(auditRowToChainEntry), { checkpoints: [], verifierKeys: [] });
      expect(result.problems).toEqual([]);
      expect(result.stats.entries).toBe(head.seq);
      const last = rows[rows.length - 1]!;
      expect({ seq: Number(last.Seq), hash: last.Hash }).toEqual({ seq: head.seq, hash: head.hash });
    } finally {
      await client.close();
    }
  });

  it('otel-audit verify --source clickhouse passes for the tenant, against the signed checkpoints', async () => {
    const status = (await (await fetch(`${receiver.http}/v1/audit/status`)).json()) as {
      chains: Array<{ chainId: string; tenantId: string; seq: number }>;
    };
    const head = status.chains.find((c) => c.tenantId === tenant)!;
    const client = createClient({ url: receiver.http, pathname: '/clickhouse', log: { level: ClickHouseLogLevel.OFF } });
    try {
      // Wait for a checkpoint that covers the whole chain (written every 100 ms while it grows).
      await eventually(async () => {
        const rs = await client.query({
          query: 'SELECT max(TreeSize) AS n FROM otel_audit.audit_checkpoints WHERE ChainId = {chain:String}',
          query_params: { chain: head.chainId },
          format: 'JSONEachRow',
        });
        const [row] = await rs.json<{ n: string | number }>();
        return Number(row?.n ?? 0) >= head.seq ? true : undefined;
      });
    } finally {
      await client.close();
    }
    const { stdout } = await run(process.execPath, [
      CLI,
      'verify',
      '--source',
      'clickhouse',
      '--url',
      receiver.http,
      '--pathname',
      '/clickhouse',
      '--tenant',
      tenant,
      '--public-key',
      verifierKeyFile!,
      '--json',
    ]);
    const report = JSON.parse(stdout) as {
      ok: boolean;
      problems: unknown[];
      stats: { entries: number; checkpointsVerified: number; uncoveredEntries: number };
    };
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.stats.entries).toBe(head.seq);
    expect(report.stats.checkpointsVerified).toBeGreaterThanOrEqual(1);
    expect(report.stats.uncoveredEntries).toBe(0);
  });

  it('with an access-event logger, the middleware also records one http.* event per request, sharing the request id', async () => {
    const tenant2 = `globex-${suffix}`;
    const httpAudit = createAuditLogger({
      delivery: 'memory',
      serviceName: 'grants-service',
      exporter: { protocol: 'http/protobuf', endpoint: `${receiver.http}/v1/logs` },
    });
    // A second replica on the same database, without a relay of its own: the first one's relay ships its outbox rows.
    const replica = await startGrantsService({
      postgresUrl: POSTGRES_URL,
      schema,
      port: 0,
      relay: false,
      httpAudit,
      onError: (err) => serviceErrors.push(err),
    });
    try {
      const res = await fetch(`${replica.url}/grants`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-user-id': 'grace', 'x-tenant-id': tenant2, 'x-request-id': `req-http-${suffix}` },
        body: JSON.stringify({ subject: 'heidi', role: 'viewer' }),
      });
      expect(res.status).toBe(201);
      const events = await eventually(async () => {
        const found = await eventsOf(`tenant=${tenant2}`);
        return found.length >= 2 ? found : undefined;
      });
      expect(events.map((e) => `${e.action} ${e.outcome}`).sort()).toEqual(['grant.issue success', 'http.post.grants success']);
      for (const e of events)
        expect(e).toMatchObject({
          actor: { id: 'grace', type: 'user' },
          request: { id: `req-http-${suffix}`, ip: '127.0.0.1', method: 'POST', path: '/grants' },
        });
    } finally {
      await replica.close();
      await httpAudit.shutdown({ timeoutMillis: 10_000 });
    }
  });
});
