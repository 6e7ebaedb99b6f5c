import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AUDIT_ROW_COLUMNS } from '@otel-audit/schema/audit-row';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseHandle, openClickHouse } from '../../../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../../../exporters/clickhouse/config.ts';
import { AUDIT_EVENTS_COLUMNS, MIGRATIONS, renderClickHouseDdl, SCHEMA_VERSION } from '../../../exporters/clickhouse/ddl.ts';
import { appliedMigrationVersions } from '../../../exporters/clickhouse/migrations.ts';
import { removeTempDirs, tempDir, uniqueDatabase } from './fixtures.ts';

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../../cli/main.ts', import.meta.url));

let handle: ClickHouseHandle;
beforeAll(() => {
  handle = openClickHouse(parseClickHouseConfig({ dataDir: tempDir('ddl') }));
});
afterAll(async () => {
  await handle.close();
  removeTempDirs();
});

/** Split rendered DDL into statements (our DDL has no ';' inside literals). */
const statements = (ddl: string) =>
  ddl
    .split(/;\n/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);

describe('ClickHouse DDL', () => {
  it('declares exactly the storage row columns, in order, plus server-filled columns', () => {
    expect(AUDIT_EVENTS_COLUMNS.map((c) => c.name)).toEqual([...AUDIT_ROW_COLUMNS]);
    expect(MIGRATIONS.map((m) => m.version)).toEqual([...MIGRATIONS.keys()].map((i) => i + 1));
  });

  it('the printed single-node DDL runs as is and records every migration', async () => {
    const db = uniqueDatabase('ddl');
    const options = { ...parseClickHouseConfig({ database: db, ttlDays: 7 }) };
    const ddl = renderClickHouseDdl(options);
    const [schema, roles] = ddl.split('-- least-privilege roles');
    for (const s of statements(schema!)) await handle.client.command({ query: s });
    // Twice: every statement is idempotent (a repeated bookkeeping row collapses: ReplacingMergeTree, read with DISTINCT).
    for (const s of statements(schema!)) await handle.client.command({ query: s });
    expect(await appliedMigrationVersions(handle.client, options)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(roles).toContain(`GRANT INSERT ON \`${db}\`.\`audit_events\` TO \`otel_audit_writer\``);
    expect(roles).toContain(`GRANT INSERT ON \`${db}\`.\`audit_checkpoints\` TO \`otel_audit_writer\``);
    expect(roles).toContain(`GRANT SELECT ON \`${db}\`.\`audit_events\` TO \`otel_audit_reader\``);
    expect(roles).not.toMatch(/GRANT (ALTER|CREATE|DROP|ALL)/);
    expect(roles).not.toMatch(/otel_audit_writer.*SELECT|SELECT.*otel_audit_writer/);
    expect(ddl).toMatch(/TTL toDateTime\(Timestamp\) \+ INTERVAL 7 DAY/);
    expect(ddl).toMatch(/non_replicated_deduplication_window = 1000/);
    expect(ddl).not.toMatch(/ON CLUSTER|Replicated|Distributed/);
  });

  it('cluster DDL: ON CLUSTER everywhere, Replicated engines, Distributed tables sharded by id', () => {
    const ddl = renderClickHouseDdl(parseClickHouseConfig({ url: 'http://ch:8123', cluster: 'prod', database: 'audit' }));
    const stmts = statements(ddl);
    for (const s of stmts.filter((x) => /^(CREATE|ALTER|GRANT)/.test(x))) expect(s).toContain('ON CLUSTER `prod`');
    expect(ddl).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/audit/audit_events_local', '{replica}')");
    expect(ddl).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/audit/audit_checkpoints_local', '{replica}')");
    expect(ddl).toContain("ENGINE = Distributed('prod', 'audit', 'audit_events_local', cityHash64(EventId))");
    expect(ddl).toContain('CREATE TABLE IF NOT EXISTS `audit`.`audit_events` ON CLUSTER `prod` AS `audit`.`audit_events_local`');
    // The dedup window setting exists only for non-replicated tables.
    expect(ddl).not.toContain('non_replicated_deduplication_window');
    // Columns added later go to both the local and the Distributed table.
    expect(ddl).toMatch(/ALTER TABLE `audit`\.`audit_events_local` ON CLUSTER `prod` ADD COLUMN IF NOT EXISTS ExportedAt/);
    expect(ddl).toMatch(/ALTER TABLE `audit`\.`audit_events` ON CLUSTER `prod` ADD COLUMN IF NOT EXISTS ExportedAt/);
    expect(ddl).toContain(`schema, version ${SCHEMA_VERSION} (cluster prod)`);
  });

  it('otel-audit clickhouse-ddl prints it, with options', async () => {
    const { stdout } = await run(process.execPath, [
      MAIN,
      'clickhouse-ddl',
      '--database',
      'sec',
      '--cluster',
      'c1',
      '--ttl-days',
      '365',
      '--reader-role',
      'auditors',
    ]);
    expect(stdout).toContain('CREATE DATABASE IF NOT EXISTS `sec` ON CLUSTER `c1`');
    expect(stdout).toContain('TTL toDateTime(Timestamp) + INTERVAL 365 DAY');
    expect(stdout).toContain('GRANT ON CLUSTER `c1` SELECT ON `sec`.`audit_events` TO `auditors`');
    const bad = await run(process.execPath, [MAIN, 'clickhouse-ddl', '--ttl-days', 'forever']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toMatch(/--ttl-days/);
    const badDb = await run(process.execPath, [MAIN, 'clickhouse-ddl', '--database', 'a-b']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((badDb as { stderr: string }).stderr).toMatch(/clickhouse\.database/);
  });
});
