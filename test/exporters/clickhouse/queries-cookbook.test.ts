/**
 * Runs every SQL block of docs/queries.md through the read-only query service against chDB, with
 * the parameters on its `-- params:` line, over a small dataset made to answer each question.
 */
import { readFileSync } from 'node:fs';
import type { AuditEvent } from '@otel-audit/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseHandle, openClickHouse } from '../../../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../../../exporters/clickhouse/config.ts';
import { createClickHouseExporter } from '../../../exporters/clickhouse/exporter.ts';
import { createQueryService, type QueryService } from '../../../exporters/clickhouse/read-only-query.ts';
import { batchOf, makeEntries, removeTempDirs, tempDir } from './fixtures.ts';

interface Recipe {
  title: string;
  sql: string;
  params: Record<string, unknown>;
}

function recipes(): Recipe[] {
  const text = readFileSync(new URL('../../../docs/queries.md', import.meta.url), 'utf8');
  const out: Recipe[] = [];
  const re = /^## (.+)$[\s\S]*?^```sql\n([\s\S]*?)^```/gm;
  for (const m of text.matchAll(re)) {
    const body = m[2]!;
    const params = /^-- params: (.*)$/m.exec(body);
    out.push({ title: m[1]!.trim(), sql: body, params: params ? (JSON.parse(params[1]!) as Record<string, unknown>) : {} });
  }
  return out;
}

type Spec = Partial<AuditEvent> & { at: string };
const H = (hm: string) => `2026-11-22T${hm}:00.000Z`;
const specs: Spec[] = [
  {
    at: H('10:00'),
    action: 'document.read',
    outcome: 'success',
    actor: { id: 'alice', type: 'user' },
    targets: [{ type: 'document', id: 'doc-1' }],
    session: { id: 'sess-42' },
  },
  {
    at: H('10:01'),
    action: 'document.update',
    outcome: 'success',
    actor: { id: 'bob', type: 'user' },
    targets: [
      { type: 'document', id: 'doc-1' },
      { type: 'folder', id: 'f-1' },
    ],
  },
  {
    at: H('10:02'),
    action: 'document.read',
    outcome: 'denied',
    actor: { id: 'mallory', type: 'user' },
    targets: [{ type: 'document', id: 'doc-1' }],
    reason: 'not a member',
  },
  {
    at: H('10:03'),
    action: 'document.read',
    outcome: 'success',
    actor: { id: 'carol', type: 'user' },
    targets: [{ type: 'folder', id: 'doc-1' }],
  },
  { at: H('10:10'), action: 'user.login', outcome: 'failure', actor: { id: 'mallory', type: 'user' }, request: { ip: '203.0.113.9' } },
  { at: H('10:11'), action: 'user.login', outcome: 'failure', actor: { id: 'mallory', type: 'user' }, request: { ip: '203.0.113.10' } },
  { at: H('10:12'), action: 'user.login', outcome: 'failure', actor: { id: 'mallory', type: 'user' }, request: { ip: '203.0.113.9' } },
  { at: H('11:05'), action: 'user.login', outcome: 'denied', actor: { id: 'bob', type: 'user' }, reason: 'account locked' },
  { at: H('11:06'), action: 'user.login', outcome: 'success', actor: { id: 'bob', type: 'user' } },
  {
    at: H('10:20'),
    action: 'grant.issue',
    outcome: 'success',
    actor: { id: 'admin-1', type: 'user' },
    targets: [{ type: 'grant', id: 'g-1' }],
    session: { id: 'sess-42' },
  },
  {
    at: H('10:25'),
    action: 'grant.revoke',
    outcome: 'success',
    actor: { id: 'admin-2', type: 'user' },
    targets: [{ type: 'grant', id: 'g-1' }],
  },
  {
    at: H('10:30'),
    action: 'grant.issue',
    outcome: 'success',
    actor: { id: 'admin-1', type: 'user' },
    targets: [{ type: 'grant', id: 'g-2' }],
    session: { id: 'sess-42' },
  },
  {
    at: H('10:40'),
    action: 'document.delete',
    outcome: 'success',
    actor: { id: 'user-5', type: 'user', impersonatorId: 'support-1' },
    targets: [{ type: 'document', id: 'doc-9' }],
  },
];

let handle: ClickHouseHandle;
let service: QueryService;

beforeAll(async () => {
  handle = openClickHouse(parseClickHouseConfig({ dataDir: tempDir('cookbook') }));
  const exporter = createClickHouseExporter({}, { handle }); // the documented default database
  await exporter.start();
  const entries = makeEntries({
    count: specs.length + 2,
    tenants: ['acme'],
    mutate: (e, i) => {
      const s = specs[i];
      if (s === undefined)
        return {
          ...e,
          tenant: { id: 'globex' },
          targets: [{ type: 'document', id: 'doc-1' }],
          eventId: i === specs.length ? '019aaa00-0000-7000-8000-000000000007' : e.eventId,
        };
      const { at, ...rest } = s;
      return { eventId: e.eventId, schemaVersion: '1.0', occurredAt: at, tenant: { id: 'acme' }, ...rest } as AuditEvent;
    },
  });
  expect((await exporter.export(batchOf(entries))).status).toBe('success');
  // As the receiver's endpoint runs them: unqualified names resolve against otel_audit.
  service = createQueryService({ client: handle.client, database: 'otel_audit', embedded: handle.embedded });
});
afterAll(async () => {
  await handle.close();
  removeTempDirs();
});

async function run(r: Recipe): Promise<Array<Record<string, unknown>>> {
  const out = await service.query(r.sql, { format: 'JSONEachRow', params: r.params });
  if (out.status !== 'success') throw out.error;
  return out.value
    .text()
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const byTitle = (title: string) => {
  const r = recipes().find((x) => x.title.startsWith(title));
  if (!r) throw new Error(`no recipe "${title}"`);
  return r;
};

describe('docs/queries.md cookbook', () => {
  it('every recipe runs', async () => {
    const all = recipes();
    expect(all.length).toBeGreaterThanOrEqual(8);
    for (const r of all) expect(await run(r), r.title).not.toHaveLength(0);
  });

  it('who touched this resource', async () => {
    const rows = await run(byTitle('Who touched this resource'));
    expect(rows.map((r) => [r.ActorId, r.Action, r.Outcome])).toEqual([
      ['mallory', 'document.read', 'denied'],
      ['bob', 'document.update', 'success'],
      ['alice', 'document.read', 'success'],
    ]);
  });

  it('failed logins by actor per hour', async () => {
    const rows = await run(byTitle('Failed logins by actor per hour'));
    expect(rows.map((r) => [r.hour, r.ActorId, Number(r.failures), Number(r.source_ips)])).toEqual([
      ['2026-11-22 10:00:00', 'mallory', 3, 2],
      ['2026-11-22 11:00:00', 'bob', 1, 1],
    ]);
  });

  it('everything a session did', async () => {
    const rows = await run(byTitle('Everything a session did'));
    expect(rows.map((r) => [r.Action, r.targets])).toEqual([
      ['document.read', 'document:doc-1'],
      ['grant.issue', 'grant:g-1'],
      ['grant.issue', 'grant:g-2'],
    ]);
  });

  it('grants issued, then revoked', async () => {
    const rows = await run(byTitle('Grants issued, then revoked'));
    expect(rows.map((r) => [r.grant_id, r.issued_by, r.revoked_by, Number(r.lived_seconds)])).toEqual([['g-1', 'admin-1', 'admin-2', 300]]);
  });

  it('impersonation, denials, lookup by id, chain completeness', async () => {
    expect((await run(byTitle('Actions taken on'))).map((r) => [r.impersonator, r.acting_as])).toEqual([['support-1', 'user-5']]);
    expect((await run(byTitle('Denied actions'))).map((r) => [r.ActorId, r.Action])).toEqual([
      ['bob', 'user.login'],
      ['mallory', 'document.read'],
    ]);
    expect((await run(byTitle('Find one event by id')))[0]).toMatchObject({ TenantId: 'globex' });
    expect((await run(byTitle('Is every chain complete'))).map((r) => [r.ChainId, Number(r.missing)])).toEqual([
      ['acme/r1', 0],
      ['globex/r1', 0],
    ]);
  });
});
