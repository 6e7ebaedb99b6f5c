/**
 * Applies the versioned schema migrations of ddl.ts and records them in `schema_migrations`.
 * Statements are idempotent, so concurrent starts and a crash half-way through are harmless: the
 * next start re-runs the unrecorded migration from its first statement.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import {
  type ClickHouseSchemaOptions,
  createDatabaseSql,
  createMigrationsTableSql,
  MIGRATIONS,
  type Migration,
  quoteIdentifier,
  recordMigrationSql,
  schemaNames,
} from './ddl.ts';

/** Result of {@link applyMigrations}. */
export interface MigrationReport {
  /** Versions applied by this call, in order. */
  applied: number[];
  /** The schema version after the call. */
  version: number;
}

/** Versions recorded in `schema_migrations` (empty when the table does not exist yet). */
export async function appliedMigrationVersions(client: ClickHouseClient, options: ClickHouseSchemaOptions): Promise<number[]> {
  const n = schemaNames(options);
  const rs = await client.query({
    query: `SELECT DISTINCT Version FROM ${quoteIdentifier(n.database)}.${quoteIdentifier(n.migrations)} ORDER BY Version`,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ Version: number | string }>();
  return rows.map((r) => Number(r.Version));
}

/**
 * Bring the schema up to the newest of `migrations` (default: every released migration).
 * Throws the client's error when ClickHouse fails; callers classify it.
 */
export async function applyMigrations(
  client: ClickHouseClient,
  options: ClickHouseSchemaOptions,
  migrations: ReadonlyArray<Migration> = MIGRATIONS,
): Promise<MigrationReport> {
  await client.command({ query: createDatabaseSql(options) });
  await client.command({ query: createMigrationsTableSql(options) });
  const done = new Set(await appliedMigrationVersions(client, options));
  const applied: number[] = [];
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  for (const m of ordered) {
    if (done.has(m.version)) continue;
    for (const statement of m.statements(options)) await client.command({ query: statement });
    await client.command({ query: recordMigrationSql(options, m) });
    applied.push(m.version);
  }
  return { applied, version: ordered.length === 0 ? 0 : Math.max(...ordered.map((m) => m.version), ...done) };
}
