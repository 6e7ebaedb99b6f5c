/**
 * The outbox's database objects as versioned migrations. The same SQL is applied by
 * {@link applyOutboxMigrations} and printed by `otel-audit postgres-ddl` (for teams whose DBAs apply
 * DDL themselves); the printed script records the versions it applied, so the two can be mixed.
 *
 * A released migration never changes: new behaviour is a new version appended to the list.
 */

import { AuditError } from '@otel-audit/core';
import type { ClientBase, Pool, PoolClient } from 'pg';
import { OUTBOX_NOTIFY_CHANNEL, type OutboxLocation, type OutboxNames, outboxNames, quoteIdentifier } from './identifiers.ts';

/** One versioned migration. */
export interface OutboxMigration {
  /** Increasing version number, starting at 1. */
  version: number;
  /** Short description, stored with the version. */
  name: string;
  /** The SQL, with the schema and table names filled in. */
  sql: string;
}

/** Where the outbox lives and which roles get which privileges. */
export interface OutboxDdlOptions extends OutboxLocation {
  /**
   * Role the relay connects as: gets SELECT, UPDATE and DELETE (all other roles lose UPDATE, DELETE
   * and TRUNCATE granted through PUBLIC). Grants are re-applied on every run; they are not versioned.
   */
  relayRole?: string;
  /** Role the application connects as: gets INSERT (and USAGE on the schema), nothing else. */
  appRole?: string;
}

/** The migrations of the outbox, in order. */
export function outboxMigrations(location: OutboxLocation = {}): OutboxMigration[] {
  const n = outboxNames(location);
  return [{ version: 1, name: 'outbox table, indexes, guard and notify triggers', sql: migration1(n) }];
}

function migration1(n: OutboxNames): string {
  const guard = n.derived('guard');
  const guardTruncate = n.derived('guard_truncate');
  const notify = n.derived('notify');
  const relayState = n.derived('relay_state');
  return `CREATE SCHEMA IF NOT EXISTS ${n.qSchema};

-- One row per audit event, inserted in the application's own transaction. Content columns
-- (id .. created_at) never change; the relay only fills the bookkeeping columns after it.
CREATE TABLE IF NOT EXISTS ${n.qTable} (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id     uuid        NOT NULL UNIQUE,
  tenant_id    text        NOT NULL,
  service_name text,
  payload      jsonb       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  rejected_at  timestamptz,
  attempts     integer     NOT NULL DEFAULT 0,
  last_error   text,
  CONSTRAINT ${n.derivedLocal('delivered_or_rejected')} CHECK (delivered_at IS NULL OR rejected_at IS NULL)
);

-- The relay's queue: pending rows in insertion order. Partial, so it stays as small as the backlog.
CREATE INDEX IF NOT EXISTS ${n.derivedLocal('pending_idx')} ON ${n.qTable} (id)
  WHERE delivered_at IS NULL AND rejected_at IS NULL;
-- Retention: delivered rows by age.
CREATE INDEX IF NOT EXISTS ${n.derivedLocal('delivered_idx')} ON ${n.qTable} (delivered_at)
  WHERE delivered_at IS NOT NULL;

-- Refuses every change except the relay's bookkeeping: content columns are immutable;
-- delivered_at / rejected_at may only go from NULL to a time, once; attempts only grow;
-- a finished (delivered or rejected) row is frozen; only finished rows may be deleted.
-- Applies to every role including the owner, so a broad GRANT cannot undo it. The conditions sit
-- in the triggers' WHEN clauses (evaluated without a PL/pgSQL call), so the relay's own updates,
-- which pass them, cost almost nothing; the function only raises.
CREATE OR REPLACE FUNCTION ${guard}() RETURNS trigger LANGUAGE plpgsql AS $guard$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'otel-audit outbox: row % (event %) is not delivered; it cannot be deleted', OLD.id, OLD.event_id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.delivered_at IS NOT NULL OR OLD.rejected_at IS NOT NULL THEN
    RAISE EXCEPTION 'otel-audit outbox: row % (event %) is finished; it cannot be changed', OLD.id, OLD.event_id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.attempts < OLD.attempts THEN
    RAISE EXCEPTION 'otel-audit outbox: row % attempts cannot decrease', OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RAISE EXCEPTION 'otel-audit outbox: row % (event %) content is immutable', OLD.id, OLD.event_id
    USING ERRCODE = 'insufficient_privilege';
END
$guard$;

CREATE OR REPLACE FUNCTION ${guardTruncate}() RETURNS trigger LANGUAGE plpgsql AS $guard$
BEGIN
  IF EXISTS (SELECT 1 FROM ${n.qTable} WHERE delivered_at IS NULL AND rejected_at IS NULL) THEN
    RAISE EXCEPTION 'otel-audit outbox: % holds undelivered rows; it cannot be truncated', TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END
$guard$;

-- Whether a relay is asleep and wants a NOTIFY. A NOTIFY takes a database-wide lock held through
-- the commit's WAL flush, which serializes committing transactions (measured: about half the
-- transactions/s at 8 clients). So inserts notify only while a relay is idle and asked for it;
-- a busy relay clears the flag and polls its own queue. One row; only the relay changes it.
CREATE TABLE IF NOT EXISTS ${relayState} (
  singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  wake_wanted boolean NOT NULL DEFAULT true
);
INSERT INTO ${relayState} DEFAULT VALUES ON CONFLICT DO NOTHING;
REVOKE ALL ON ${relayState} FROM PUBLIC;

-- One notification per inserting statement (Postgres folds identical ones within a transaction),
-- delivered at commit, so a relay wakes only for committed rows. SECURITY DEFINER: the application
-- role reads the flag without any privilege on it.
CREATE OR REPLACE FUNCTION ${notify}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS $notify$
BEGIN
  IF EXISTS (SELECT 1 FROM ${relayState} WHERE wake_wanted) THEN
    PERFORM pg_notify('${OUTBOX_NOTIFY_CHANNEL}', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
  END IF;
  RETURN NULL;
END
$notify$;
REVOKE ALL ON FUNCTION ${notify}() FROM PUBLIC;

DROP TRIGGER IF EXISTS ${n.derivedLocal('guard')} ON ${n.qTable};
DROP TRIGGER IF EXISTS ${n.derivedLocal('guard_update')} ON ${n.qTable};
CREATE TRIGGER ${n.derivedLocal('guard_update')} BEFORE UPDATE ON ${n.qTable} FOR EACH ROW
  WHEN (NEW.id IS DISTINCT FROM OLD.id OR NEW.event_id IS DISTINCT FROM OLD.event_id
     OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.service_name IS DISTINCT FROM OLD.service_name
     OR NEW.payload IS DISTINCT FROM OLD.payload OR NEW.created_at IS DISTINCT FROM OLD.created_at
     OR OLD.delivered_at IS NOT NULL OR OLD.rejected_at IS NOT NULL OR NEW.attempts < OLD.attempts)
  EXECUTE FUNCTION ${guard}();
DROP TRIGGER IF EXISTS ${n.derivedLocal('guard_delete')} ON ${n.qTable};
CREATE TRIGGER ${n.derivedLocal('guard_delete')} BEFORE DELETE ON ${n.qTable} FOR EACH ROW
  WHEN (OLD.delivered_at IS NULL AND OLD.rejected_at IS NULL)
  EXECUTE FUNCTION ${guard}();
DROP TRIGGER IF EXISTS ${n.derivedLocal('guard_truncate')} ON ${n.qTable};
CREATE TRIGGER ${n.derivedLocal('guard_truncate')} BEFORE TRUNCATE ON ${n.qTable}
  FOR EACH STATEMENT EXECUTE FUNCTION ${guardTruncate}();
DROP TRIGGER IF EXISTS ${n.derivedLocal('notify')} ON ${n.qTable};
CREATE TRIGGER ${n.derivedLocal('notify')} AFTER INSERT ON ${n.qTable}
  FOR EACH STATEMENT EXECUTE FUNCTION ${notify}();

-- Nobody changes rows through PUBLIC; the relay role gets its rights by name (see the grants).
REVOKE UPDATE, DELETE, TRUNCATE ON ${n.qTable} FROM PUBLIC;
`;
}

/** GRANT statements for the relay and application roles (idempotent; empty when no role is named). */
export function outboxGrants(options: OutboxDdlOptions = {}): string {
  const n = outboxNames(options);
  const lines: string[] = [];
  if (options.relayRole !== undefined) {
    const role = quoteIdentifier(options.relayRole, 'relayRole');
    lines.push(`GRANT USAGE ON SCHEMA ${n.qSchema} TO ${role};`);
    lines.push(`GRANT SELECT, UPDATE, DELETE ON ${n.qTable} TO ${role};`);
    lines.push(`GRANT SELECT ON ${n.qMigrations} TO ${role};`);
    lines.push(`GRANT SELECT, UPDATE ON ${n.derived('relay_state')} TO ${role};`);
  }
  if (options.appRole !== undefined) {
    const role = quoteIdentifier(options.appRole, 'appRole');
    lines.push(`GRANT USAGE ON SCHEMA ${n.qSchema} TO ${role};`);
    lines.push(`GRANT INSERT ON ${n.qTable} TO ${role};`);
    lines.push(`REVOKE UPDATE, DELETE, TRUNCATE ON ${n.qTable} FROM ${role};`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function migrationsTableSql(n: OutboxNames): string {
  return `CREATE SCHEMA IF NOT EXISTS ${n.qSchema};
CREATE TABLE IF NOT EXISTS ${n.qMigrations} (
  version    integer PRIMARY KEY,
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
`;
}

/** Advisory lock key serializing concurrent migrations of the same outbox. */
function lockKeySql(n: OutboxNames): { text: string; values: string[] } {
  return { text: 'SELECT pg_advisory_xact_lock(hashtext($1))', values: [`otel-audit-outbox:${n.schema}.${n.table}`] };
}

/**
 * The complete DDL as one script (what `otel-audit postgres-ddl` prints): one transaction that
 * applies every migration not yet recorded and then the grants. Safe to run more than once.
 */
export function renderOutboxDdl(options: OutboxDdlOptions = {}): string {
  const n = outboxNames(options);
  const parts = [
    `-- otel-audit transactional outbox: ${n.schema}.${n.table}`,
    'BEGIN;',
    `SELECT pg_advisory_xact_lock(hashtext('otel-audit-outbox:${n.schema}.${n.table}'));`,
    migrationsTableSql(n),
  ];
  for (const m of outboxMigrations(options)) {
    // A DO block cannot hold the DDL (it contains its own dollar quoting), so each migration is
    // applied unconditionally: every statement in it is idempotent (IF NOT EXISTS / OR REPLACE).
    parts.push(
      `-- migration ${m.version}: ${m.name}`,
      m.sql.trimEnd(),
      `INSERT INTO ${n.qMigrations} (version, name) VALUES (${m.version}, '${m.name.replaceAll("'", "''")}') ON CONFLICT (version) DO NOTHING;`,
      '',
    );
  }
  const grants = outboxGrants(options);
  if (grants !== '') parts.push('-- privileges', grants);
  parts.push('COMMIT;', '');
  return parts.join('\n');
}

/** What {@link applyOutboxMigrations} did. */
export interface ApplyMigrationsResult {
  /** Versions applied by this call (empty when the outbox was up to date). */
  applied: number[];
  /** The outbox's version after the call. */
  version: number;
}

/**
 * Bring the outbox up to date: applies, in one transaction under an advisory lock (so concurrent
 * callers, e.g. several service replicas starting at once, do not race), every migration whose
 * version is not recorded yet, then the grants. Idempotent.
 * @param db a `pg` Pool (a client is checked out) or a connected client not inside a transaction.
 * @throws AuditError `AUDIT_ERR_OUTBOX` when the database refuses (the cause is the `pg` error).
 */
export async function applyOutboxMigrations(db: Pool | ClientBase, options: OutboxDdlOptions = {}): Promise<ApplyMigrationsResult> {
  const n = outboxNames(options);
  const migrations = outboxMigrations(options);
  const grants = outboxGrants(options);
  const isPool = typeof (db as Pool).totalCount === 'number';
  const client: ClientBase = isPool ? await (db as Pool).connect() : (db as ClientBase);
  let failed: unknown;
  try {
    await client.query('BEGIN');
    // Lock first: concurrent CREATE ... IF NOT EXISTS of the same object can still collide.
    const lock = lockKeySql(n);
    await client.query(lock.text, lock.values);
    await client.query(migrationsTableSql(n));
    const done = await client.query<{ version: number }>(`SELECT version FROM ${n.qMigrations}`);
    const have = new Set(done.rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of migrations) {
      if (have.has(m.version)) continue;
      await client.query(m.sql);
      await client.query(`INSERT INTO ${n.qMigrations} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    if (grants !== '') await client.query(grants);
    await client.query('COMMIT');
    return { applied, version: Math.max(0, ...migrations.map((m) => m.version)) };
  } catch (err) {
    failed = err;
    // A failing ROLLBACK means the connection is gone, which ends the transaction too; the
    // migration error is the one to report.
    await client.query('ROLLBACK').catch(() => undefined);
    throw new AuditError('AUDIT_ERR_OUTBOX', `applying outbox migrations to ${n.schema}.${n.table}: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    // A client whose transaction failed may be in any state; drop it rather than reuse it.
    if (isPool) (client as PoolClient).release(failed !== undefined);
  }
}
