import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isAuditError } from '@otel-audit/core';
import { AUDIT_ROW_COLUMNS, type AuditRow, auditRowToEvent } from '@otel-audit/schema/audit-row';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKPOINT_COLUMNS, type CheckpointRow, checkpointRowToRecord } from '../../../exporters/clickhouse/checkpoints.ts';
import { type ClickHouseHandle, openClickHouse } from '../../../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../../../exporters/clickhouse/config.ts';
import { MIGRATIONS, type Migration } from '../../../exporters/clickhouse/ddl.ts';
import { createClickHouseExporter, deduplicationToken } from '../../../exporters/clickhouse/exporter.ts';
import { appliedMigrationVersions, applyMigrations } from '../../../exporters/clickhouse/migrations.ts';
import { computeEntryHash } from '../../../integrity/chain-hash.ts';
import type { CheckpointRecord } from '../../../integrity/checkpointer.ts';
import { batchOf, makeEntries, removeTempDirs, tempDir, uniqueDatabase } from './fixtures.ts';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./export-once.ts', import.meta.url));

// One chDB engine per test file (one engine per data path per process); one database per test.
let handle: ClickHouseHandle;
beforeAll(() => {
  handle = openClickHouse(parseClickHouseConfig({ dataDir: tempDir('exporter') }));
});
afterAll(async () => {
  await handle.close();
  removeTempDirs();
});

async function rows<T>(sql: string): Promise<T[]> {
  const rs = await handle.client.query({ query: sql, format: 'JSONEachRow' });
  return rs.json<T>();
}

async function count(db: string): Promise<number> {
  const [r] = await rows<{ c: string | number }>(`SELECT count() AS c FROM ${db}.audit_events`);
  return Number(r!.c);
}

describe('ClickHouse exporter (chDB)', () => {
  it('exports batches into audit_events; every hash recomputes from the stored columns', async () => {
    const db = uniqueDatabase();
    const exporter = createClickHouseExporter({ database: db }, { handle });
    await exporter.start();
    const entries = makeEntries({
      count: 300,
      mutate: (e, i) =>
        i === 1
          ? {
              ...e,
              changes: { before: null, after: { role: 'admin' } },
              trace: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' },
            }
          : e,
    });
    expect(await exporter.export(batchOf(entries.slice(0, 100)))).toEqual({ status: 'success' });
    expect(await exporter.export(batchOf(entries.slice(100)))).toEqual({ status: 'success' });
    const stored = await rows<AuditRow>(`SELECT ${AUDIT_ROW_COLUMNS.join(', ')} FROM ${db}.audit_events ORDER BY ChainId, Seq`);
    expect(stored).toHaveLength(300);
    const byId = new Map(entries.map((e) => [e.event.eventId, e]));
    for (const row of stored) {
      const entry = byId.get(row.EventId)!;
      const event = auditRowToEvent(row);
      expect(event).toEqual(entry.event);
      expect(computeEntryHash(row.PrevHash, event)).toBe(row.Hash);
      expect(row.Hash).toBe(entry.hash);
    }
    const first = stored.find((r) => r.EventId === entries[1]!.event.eventId)!;
    expect(first).toMatchObject({
      TenantId: 'globex',
      ChainId: 'globex/r1',
      Seq: 1,
      ServiceName: 'billing',
      EventName: first.Action,
      TraceId: '0af7651916cd43dd8448eb211c80319c',
    });
    expect(first.ChangesAfter).toBe('{"role":"admin"}');
    await exporter.shutdown();
  });

  it('a re-export of the same range adds nothing (count() without FINAL)', async () => {
    const db = uniqueDatabase();
    const exporter = createClickHouseExporter({ database: db }, { handle });
    await exporter.start();
    const entries = makeEntries({ count: 500 });
    const a = batchOf(entries.slice(0, 250));
    const b = batchOf(entries.slice(250));
    expect((await exporter.export(a)).status).toBe('success');
    // Crash between "insert done" and "cursor saved": the runner hands the same range again.
    expect((await exporter.export(a)).status).toBe('success');
    expect((await exporter.export(b)).status).toBe('success');
    expect((await exporter.export(a)).status).toBe('success');
    expect((await exporter.export(b)).status).toBe('success');
    expect(await count(db)).toBe(500);
    const [u] = await rows<{ u: string | number }>(`SELECT uniqExact(EventId) AS u FROM ${db}.audit_events`);
    expect(Number(u!.u)).toBe(500);
    // A restarted exporter (new instance, same table) also deduplicates.
    const again = createClickHouseExporter({ database: db }, { handle });
    await again.start();
    expect((await again.export(b)).status).toBe('success');
    expect(await count(db)).toBe(500);
  });

  it.each(['Native', 'JSONEachRow'] as const)(
    'a batch inserted in chunks, failing half-way, then replayed: every row exactly once (%s)',
    async (insertFormat) => {
      const db = uniqueDatabase();
      const entries = makeEntries({ count: 2500 });
      const batch = batchOf(entries);
      // A handle whose engine fails the second chunk, as a crash or outage in the middle of a batch would.
      let calls = 0;
      const realChdb = handle.chdb!;
      const flaky = {
        ...handle,
        chdb: {
          chdb: {
            rawInsert: async (params: Parameters<typeof realChdb.chdb.rawInsert>[0]) => {
              calls++;
              if (calls === 2) throw Object.assign(new Error('Code: 210. DB::Exception: connection lost (NETWORK_ERROR)'), { code: '210' });
              return realChdb.chdb.rawInsert(params);
            },
            // The Native path inserts with INSERT … SELECT FROM file(); other statements pass through.
            queryAsync: async (sql: string, opts: Parameters<typeof realChdb.chdb.queryAsync>[1]) => {
              if (sql.includes('audit_events') && sql.startsWith('INSERT')) {
                calls++;
                if (calls === 2)
                  throw Object.assign(new Error('Code: 210. DB::Exception: connection lost (NETWORK_ERROR)'), { code: '210' });
              }
              return realChdb.chdb.queryAsync(sql, opts);
            },
          },
        },
      } as unknown as ClickHouseHandle;
      const broken = createClickHouseExporter({ database: db, insertChunkRows: 1000, insertFormat }, { handle: flaky });
      await broken.start();
      const first = await broken.export(batch);
      expect(first.status).toBe('retryable');
      expect(await count(db)).toBe(1000);
      await broken.shutdown();
      const exporter = createClickHouseExporter({ database: db, insertChunkRows: 1000, insertFormat }, { handle });
      await exporter.start();
      expect(await exporter.export(batch)).toEqual({ status: 'success' });
      expect(await exporter.export(batch)).toEqual({ status: 'success' });
      expect(await count(db)).toBe(2500);
    },
  );

  it('asyncInsert waits for the flush and still deduplicates', async () => {
    const db = uniqueDatabase();
    const exporter = createClickHouseExporter({ database: db, asyncInsert: true }, { handle });
    await exporter.start();
    const batch = batchOf(makeEntries({ count: 300 }));
    expect(await exporter.export(batch)).toEqual({ status: 'success' });
    expect(await count(db)).toBe(300); // visible as soon as export() returns
    expect(await exporter.export(batch)).toEqual({ status: 'success' });
    expect(await count(db)).toBe(300);
  });

  it('SIGKILL right after the insert, restart, re-export: no duplicates (the dedup log is on disk)', async () => {
    const dir = tempDir('crash');
    const child = async (mode: string) => {
      const { stdout } = await run(process.execPath, [CHILD, dir, mode]).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
      return JSON.parse(stdout.trim()) as { status: string; count: number };
    };
    expect(await child('kill')).toEqual({ status: 'success', count: 500 });
    expect(await child('exit')).toEqual({ status: 'success', count: 500 });
  });

  it('tokens differ between receivers with the same LSN range', () => {
    const r1 = batchOf(makeEntries({ count: 10, instanceId: 'r1' }));
    const r2 = batchOf(makeEntries({ count: 10, instanceId: 'r2', mutate: (e) => ({ ...e, reason: 'other receiver' }) }));
    expect(r1.firstLsn).toBe(r2.firstLsn);
    expect(deduplicationToken(r1)).toMatch(/^otel-audit:1-10:[0-9a-f]{16}:[0-9a-f]{16}$/);
    expect(deduplicationToken(r1)).not.toBe(deduplicationToken(r2));
  });

  it('a table with an incompatible schema is a permanent failure with a clear message', async () => {
    const db = uniqueDatabase();
    await handle.client.command({ query: `CREATE DATABASE ${db}` });
    await handle.client.command({
      query: `CREATE TABLE ${db}.audit_events (EventId UInt64, Timestamp DateTime64(9)) ENGINE = MergeTree ORDER BY EventId`,
    });
    const exporter = createClickHouseExporter({ database: db, createSchema: false }, { handle });
    await exporter.start();
    const result = await exporter.export(batchOf(makeEntries({ count: 3 })));
    expect(result.status).toBe('failure');
    if (result.status !== 'failure') return;
    expect(result.error.code).toBe('AUDIT_ERR_EXPORT_FAILED');
    expect(result.error.message).toMatch(/LSN 1-3/);
    expect(result.error.message).toMatch(/rejected it permanently/);
  });

  it('applies v1, then upgrades to the current version without breaking a v1 writer', async () => {
    const db = uniqueDatabase();
    const options = parseClickHouseConfig({ database: db });
    const v1 = MIGRATIONS.filter((m) => m.version === 1);
    expect(await applyMigrations(handle.client, options, v1)).toEqual({ applied: [1], version: 1 });
    const exporter = createClickHouseExporter({ database: db, createSchema: false }, { handle });
    await exporter.start();
    const entries = makeEntries({ count: 20 });
    expect((await exporter.export(batchOf(entries.slice(0, 10)))).status).toBe('success');

    // The next release: the released migrations plus one more ADD COLUMN.
    const next: Migration = {
      version: 1000,
      name: 'test: add a column',
      statements: (o) => [`ALTER TABLE ${o.database}.${o.table} ADD COLUMN IF NOT EXISTS Extra String DEFAULT 'x'`],
    };
    const report = await applyMigrations(handle.client, options, [...MIGRATIONS, next]);
    expect(report.applied).toEqual([...MIGRATIONS.filter((m) => m.version > 1).map((m) => m.version), 1000]);
    // Running again is a no-op; a half-applied migration re-runs safely (statements are idempotent).
    expect((await applyMigrations(handle.client, options, [...MIGRATIONS, next])).applied).toEqual([]);
    for (const s of next.statements(options)) await handle.client.command({ query: s });
    expect(await appliedMigrationVersions(handle.client, options)).toEqual([...MIGRATIONS.map((m) => m.version), 1000]);

    // The old writer (column list of v1) keeps working against the upgraded table.
    expect((await exporter.export(batchOf(entries.slice(10)))).status).toBe('success');
    expect(await count(db)).toBe(20);
    const cols = await rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = '${db}' AND table = 'audit_events'`);
    expect(cols.map((c) => c.name)).toEqual(expect.arrayContaining([...AUDIT_ROW_COLUMNS, 'ExportedAt', 'Extra']));
    const [lag] = await rows<{ ok: number }>(`SELECT min(ExportedAt > toDateTime64('2000-01-01', 3)) AS ok FROM ${db}.audit_events`);
    expect(Number(lag!.ok)).toBe(1);
  });

  it('creates the schema as documented: ReplacingMergeTree, day partitions, TTL, dedup window', async () => {
    const db = uniqueDatabase();
    const exporter = createClickHouseExporter({ database: db, ttlDays: 30 }, { handle });
    await exporter.start();
    const [t] = await rows<{ engine: string; partition_key: string; sorting_key: string; create_table_query: string }>(
      `SELECT engine, partition_key, sorting_key, create_table_query FROM system.tables WHERE database = '${db}' AND name = 'audit_events'`,
    );
    expect(t!.engine).toBe('ReplacingMergeTree');
    expect(t!.partition_key).toBe('toDate(Timestamp)');
    expect(t!.sorting_key).toBe('TenantId, TimestampTime, Timestamp, EventId');
    expect(t!.create_table_query).toMatch(/TTL toDateTime\(Timestamp\) \+ toIntervalDay\(30\)/);
    expect(t!.create_table_query).toMatch(/ttl_only_drop_parts = 1/);
    expect(t!.create_table_query).toMatch(/non_replicated_deduplication_window = 1000/);
    const idx = await rows<{ name: string }>(
      `SELECT name FROM system.data_skipping_indices WHERE database = '${db}' AND table = 'audit_events'`,
    );
    expect(idx.map((i) => i.name)).toEqual(
      expect.arrayContaining(['idx_event_id', 'idx_actor_id', 'idx_action', 'idx_target_ids', 'idx_trace_id']),
    );
    const [cp] = await rows<{ n: number | string }>(
      `SELECT count() AS n FROM system.columns WHERE database = '${db}' AND table = 'audit_checkpoints'`,
    );
    expect(Number(cp!.n)).toBe(11); // 8 columns of migration 1 + Origin, KeyName, Record (migration 3)
  });

  it('rejects bad configuration naming the key', () => {
    const bad = (input: unknown) => {
      try {
        createClickHouseExporter(input as never);
      } catch (err) {
        if (isAuditError(err, 'AUDIT_ERR_INVALID_CONFIG')) return err;
      }
      throw new Error('expected AUDIT_ERR_INVALID_CONFIG');
    };
    expect(bad({ ttlDays: 0 }).path).toBe('clickhouse.ttlDays');
    expect(bad({ table: 'a;drop' }).path).toBe('clickhouse.table');
    expect(bad({ ttl_days: 3 }).message).toMatch(/clickhouse\.ttl_days/);
    expect(bad({ cluster: 'c1' }).path).toBe('clickhouse.cluster');
    expect(bad({ url: 'ftp://x' }).path).toBe('clickhouse.url');
    expect(parseClickHouseConfig({})).toMatchObject({
      database: 'otel_audit',
      table: 'audit_events',
      createSchema: true,
      asyncInsert: false,
    });
  });
});

describe('checkpoints in audit_checkpoints', () => {
  const record = (chain: string, size: number): CheckpointRecord => ({
    version: 1,
    chainId: chain,
    origin: `otel-audit.dev/chain/${chain}`,
    treeSize: size,
    rootHash: 'ab'.repeat(32),
    firstSeq: size - 9,
    lastSeq: size,
    note: `otel-audit.dev/chain/${chain}\n${size}\nq83vEjRWeJA=\n\n— key AAAA\n`,
    keyName: 'key',
    keyId: '0a1b2c3d',
    createdAt: '2026-11-22T10:00:00.123456Z',
    previousTreeSize: size - 10,
    consistencyProof: ['cd'.repeat(32)],
    lastEntryHash: 'ef'.repeat(32),
    treeState: { size, nodes: ['ab'.repeat(32)] },
  });

  it('stores records losslessly and idempotently', async () => {
    const db = uniqueDatabase();
    const exporter = createClickHouseExporter({ database: db }, { handle });
    await exporter.start();
    const records = [record('acme/r1', 10), record('acme/r1', 20), record('globex/r1', 10)];
    expect(await exporter.exportCheckpoints(records)).toEqual({ status: 'success' });
    expect(await exporter.exportCheckpoints(records)).toEqual({ status: 'success' });
    const stored = await rows<CheckpointRow>(
      `SELECT ${CHECKPOINT_COLUMNS.join(', ')} FROM ${db}.audit_checkpoints ORDER BY ChainId, TreeSize`,
    );
    expect(stored).toHaveLength(3);
    expect(stored.map(checkpointRowToRecord)).toEqual(records);
    expect(stored[0]).toMatchObject({
      ChainId: 'acme/r1',
      TreeSize: 10,
      FirstSeq: 1,
      LastSeq: 10,
      KeyId: '0a1b2c3d',
      CreatedAt: '2026-11-22 10:00:00.123456000',
    });
  });
});
