import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseHandle, openClickHouse } from '../../../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../../../exporters/clickhouse/config.ts';
import {
  type AuditEventFilters,
  type AuditEventRecord,
  buildEventsQuery,
  listAuditEvents,
} from '../../../exporters/clickhouse/events-query.ts';
import { createClickHouseExporter } from '../../../exporters/clickhouse/exporter.ts';
import { computeEntryHash } from '../../../integrity/chain-hash.ts';
import type { WalEventEntry } from '../../../receiver/contracts.ts';
import { batchOf, makeEntries, removeTempDirs, tempDir, uniqueDatabase } from './fixtures.ts';

let handle: ClickHouseHandle;
const db = uniqueDatabase('events');
const table = { database: db, table: 'audit_events' };
let entries: WalEventEntry[];

beforeAll(async () => {
  handle = openClickHouse(parseClickHouseConfig({ dataDir: tempDir('events-query') }));
  const exporter = createClickHouseExporter({ database: db }, { handle });
  await exporter.start();
  entries = makeEntries({ count: 120, mutate: (e, i) => (i % 10 === 0 ? { ...e, occurredAt: '2026-11-22T12:00:00.000Z' } : e) });
  expect((await exporter.export(batchOf(entries.slice(0, 60)))).status).toBe('success');
  expect((await exporter.export(batchOf(entries.slice(60)))).status).toBe('success');
  // A replay with different batch boundaries slips past the dedup token: stored twice until a merge.
  expect((await exporter.export(batchOf(entries.slice(50, 70)))).status).toBe('success');
});
afterAll(async () => {
  await handle.close();
  removeTempDirs();
});

async function all(filters: Omit<AuditEventFilters, 'cursor'>): Promise<AuditEventRecord[]> {
  const out: AuditEventRecord[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const r = await listAuditEvents(handle.client, { ...filters, ...(cursor ? { cursor } : {}) }, table);
    if (r.status !== 'success') throw r.error;
    out.push(...r.value.events);
    cursor = r.value.nextCursor;
    if (cursor === undefined) return out;
  }
  throw new Error('too many pages');
}

const expected = (pred: (e: WalEventEntry) => boolean) =>
  entries
    .filter(pred)
    .sort((a, b) =>
      a.event.occurredAt === b.event.occurredAt
        ? a.event.eventId < b.event.eventId
          ? 1
          : -1
        : a.event.occurredAt < b.event.occurredAt
          ? 1
          : -1,
    )
    .map((e) => e.event.eventId);

describe('listAuditEvents', () => {
  it('pages through one tenant newest first, each event exactly once, with equal timestamps', async () => {
    const got = await all({ tenantId: 'acme', limit: 7 });
    expect(got.map((r) => r.event.eventId)).toEqual(expected((e) => e.tenantId === 'acme'));
    for (const r of got) expect(computeEntryHash(r.prevHash, r.event)).toBe(r.hash);
    expect(got[0]).toMatchObject({ chainId: 'acme/r1' });
  });

  it('applies every filter', async () => {
    const t = (e: WalEventEntry) => e.tenantId === 'globex';
    expect((await all({ tenantId: 'globex', actorId: 'user-3' })).map((r) => r.event.eventId)).toEqual(
      expected((e) => t(e) && e.event.actor.id === 'user-3'),
    );
    expect((await all({ tenantId: 'globex', action: 'grant.issue', outcome: 'denied' })).map((r) => r.event.eventId)).toEqual(
      expected((e) => t(e) && e.event.action === 'grant.issue' && e.event.outcome === 'denied'),
    );
    expect((await all({ tenantId: 'globex', targetId: 'doc-4', targetType: 'document' })).map((r) => r.event.eventId)).toEqual(
      expected((e) => t(e) && e.event.targets![0]!.id === 'doc-4'),
    );
    expect(await all({ tenantId: 'globex', targetId: 'doc-4', targetType: 'folder' })).toEqual([]);
    expect((await all({ tenantId: 'globex', targetType: 'document' })).length).toBe(60);
    const since = '2026-11-22T10:00:30Z';
    const until = '2026-11-22T10:01:10.000001Z';
    expect((await all({ tenantId: 'globex', since, until, limit: 3 })).map((r) => r.event.eventId)).toEqual(
      expected((e) => t(e) && Date.parse(e.event.occurredAt) >= Date.parse(since) && e.event.occurredAt < '2026-11-22T10:01:10.000001Z'),
    );
  });

  it('a cursor is bound to its tenant; bad arguments are failures naming the filter', async () => {
    const first = await listAuditEvents(handle.client, { tenantId: 'acme', limit: 2 }, table);
    expect(first.status).toBe('success');
    const cursor = first.status === 'success' ? first.value.nextCursor! : '';
    const other = await listAuditEvents(handle.client, { tenantId: 'globex', cursor }, table);
    expect(other.status === 'failure' && other.error).toMatchObject({ code: 'AUDIT_ERR_INVALID_ARGUMENT', path: 'cursor' });
    for (const [filters, path] of [
      [{ tenantId: 'acme', limit: 0 }, 'limit'],
      [{ tenantId: 'acme', limit: 1001 }, 'limit'],
      [{ tenantId: 'acme', since: 'yesterday' }, 'since'],
      [{ tenantId: 'acme', cursor: 'garbage' }, 'cursor'],
      [{ tenantId: '' }, 'tenantId'],
    ] as const) {
      const r = await listAuditEvents(handle.client, filters, table);
      expect(r.status === 'failure' && r.error.path).toBe(path);
    }
  });

  it('binds every value as a parameter', () => {
    const { sql, params } = buildEventsQuery(table, { tenantId: "x' OR 1=1 --", actorId: "'", since: '2026-01-01T00:00:00Z' });
    expect(sql).not.toContain("x'");
    expect(sql).toContain('TenantId = {tenant:String}');
    expect(params).toMatchObject({ tenant: "x' OR 1=1 --", actor: "'", limit: 51, since: '1767225600000000000' });
  });
});
