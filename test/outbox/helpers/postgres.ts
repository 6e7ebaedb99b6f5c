/**
 * Postgres fixtures for the outbox tests: a unique schema per test file (dropped at the end), an
 * application state table, and helpers to write events in real transactions.
 */
import { randomBytes } from 'node:crypto';
import type { AuditEventInput } from '@otel-audit/schema';
import { applyOutboxMigrations, recordInTransaction } from '@otel-audit/sdk/outbox';
import pg from 'pg';

/** The test database (trust auth). Override with OTEL_AUDIT_TEST_POSTGRES_URL. */
export const POSTGRES_URL = process.env.OTEL_AUDIT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A migrated outbox in its own schema, with an `accounts` table standing for application state. */
export interface TestOutboxDb {
  schema: string;
  pool: pg.Pool;
  /** Insert `count` events, each in its own committed transaction with a state change; resolves with their ids. */
  commitEvents(count: number, tenant?: string): Promise<string[]>;
  /** Rows of the outbox, by id. */
  rows(): Promise<
    Array<{ event_id: string; delivered_at: Date | null; rejected_at: Date | null; attempts: number; last_error: string | null }>
  >;
  /** Number of rows still pending. */
  pending(): Promise<number>;
  drop(): Promise<void>;
}

/** A valid event for `tenant`. */
export function sampleEvent(tenant = 'tenant-a', n = 0): AuditEventInput {
  return {
    action: 'grant.issue',
    outcome: 'success',
    actor: { id: `user-${n}`, type: 'user' },
    tenant: { id: tenant },
    targets: [{ type: 'grant', id: `grant-${n}` }],
    details: { n },
  };
}

/** Create schema `<prefix>_<random>` with the outbox migrated and an `accounts` table. */
export async function createTestOutboxDb(prefix = 'outbox'): Promise<TestOutboxDb> {
  const schema = `${prefix}_${randomBytes(5).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 8 });
  await applyOutboxMigrations(pool, { schema });
  await pool.query(`CREATE TABLE "${schema}".accounts (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0)`);
  await pool.query(`INSERT INTO "${schema}".accounts (id) SELECT generate_series(1, 100)`);
  let counter = 0;
  return {
    schema,
    pool,
    async commitEvents(count, tenant = 'tenant-a') {
      // Four connections in parallel: each transaction waits for its commit's fsync.
      const ids: string[] = [];
      const worker = async (share: number) => {
        const client = await pool.connect();
        try {
          for (let i = 0; i < share; i++) {
            const n = counter++;
            await client.query('BEGIN');
            await client.query(`UPDATE "${schema}".accounts SET balance = balance + 1 WHERE id = $1`, [(n % 100) + 1]);
            ids.push(await recordInTransaction(client, sampleEvent(tenant, n), { schema }));
            await client.query('COMMIT');
          }
        } finally {
          client.release();
        }
      };
      const lanes = Math.min(4, count);
      await Promise.all(Array.from({ length: lanes }, (_, i) => worker(Math.floor(count / lanes) + (i < count % lanes ? 1 : 0))));
      return ids;
    },
    async rows() {
      const r = await pool.query(
        `SELECT event_id, delivered_at, rejected_at, attempts, last_error FROM "${schema}".audit_outbox ORDER BY id`,
      );
      return r.rows;
    },
    async pending() {
      const r = await pool.query(
        `SELECT count(*)::int AS n FROM "${schema}".audit_outbox WHERE delivered_at IS NULL AND rejected_at IS NULL`,
      );
      return r.rows[0].n as number;
    },
    async drop() {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    },
  };
}
