/**
 * The outbox table: migrations, recordInTransaction in real transactions, and the database-side
 * protections (privileges and the guard trigger) against an application role.
 */
import { randomBytes } from 'node:crypto';
import { isAuditError } from '@otel-audit/core';
import { uuidv7 } from '@otel-audit/sdk';
import {
  applyOutboxMigrations,
  completeAuditEvent,
  createOutbox,
  outboxMigrations,
  recordInTransaction,
  renderOutboxDdl,
} from '@otel-audit/sdk/outbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOutboxDb, sampleEvent, type TestOutboxDb } from './helpers/postgres.ts';

let db: TestOutboxDb;

beforeAll(async () => {
  db = await createTestOutboxDb('outbox');
});

afterAll(async () => {
  await db?.drop();
});

describe('migrations', () => {
  it('are versioned and idempotent', async () => {
    const again = await applyOutboxMigrations(db.pool, { schema: db.schema });
    expect(again.applied).toEqual([]);
    expect(again.version).toBe(outboxMigrations().at(-1)!.version);
    const versions = await db.pool.query(`SELECT version FROM "${db.schema}".audit_outbox_migrations ORDER BY version`);
    expect(versions.rows.map((r) => r.version)).toEqual(outboxMigrations().map((m) => m.version));
  });

  it('the printed DDL creates the same outbox and records its versions', async () => {
    const schema = `${db.schema}_ddl`;
    try {
      await db.pool.query(renderOutboxDdl({ schema }));
      await db.pool.query(renderOutboxDdl({ schema }));
      const r = await applyOutboxMigrations(db.pool, { schema });
      expect(r.applied).toEqual([]);
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        const id = await recordInTransaction(client, sampleEvent(), { schema });
        await client.query('COMMIT');
        expect(id).toMatch(/^[0-9a-f-]{36}$/);
      } finally {
        client.release();
      }
    } finally {
      await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it('concurrent first runs do not collide', async () => {
    const schema = `${db.schema}_race`;
    try {
      const results = await Promise.all([0, 1, 2].map(() => applyOutboxMigrations(db.pool, { schema })));
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, 1]);
    } finally {
      await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it('refuses identifiers that are not plain lower-case names', () => {
    expect(() => renderOutboxDdl({ schema: 'a"; DROP TABLE x; --' })).toThrow(/not an allowed SQL identifier/);
    expect(() => createOutbox({ table: 'Audit' })).toThrow(expect.objectContaining({ code: 'AUDIT_ERR_INVALID_CONFIG' }));
  });
});

describe('recordInTransaction', () => {
  it('rollback leaves no row; commit leaves exactly one, completed and validated', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE "${db.schema}".accounts SET balance = balance + 10 WHERE id = 1`);
      const rolledBack = await recordInTransaction(client, sampleEvent('tenant-r'), { schema: db.schema });
      await client.query('ROLLBACK');

      await client.query('BEGIN');
      await client.query(`UPDATE "${db.schema}".accounts SET balance = balance + 10 WHERE id = 1`);
      const committed = await recordInTransaction(
        client,
        { ...sampleEvent('tenant-r'), occurredAt: new Date('2026-11-22T10:00:00.123Z') },
        { schema: db.schema },
      );
      await client.query('COMMIT');

      const r = await db.pool.query(
        `SELECT event_id, tenant_id, payload, delivered_at FROM "${db.schema}".audit_outbox WHERE tenant_id = 'tenant-r'`,
      );
      expect(r.rows.map((row) => row.event_id)).toEqual([committed]);
      expect(r.rows.map((row) => row.event_id)).not.toContain(rolledBack);
      const payload = r.rows[0].payload;
      expect(payload).toMatchObject({
        eventId: committed,
        schemaVersion: '1.0',
        occurredAt: '2026-11-22T10:00:00.123Z',
        action: 'grant.issue',
      });
      expect(committed).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(r.rows[0].delivered_at).toBeNull();
    } finally {
      client.release();
    }
  });

  it('redacts secrets in details and changes like record() does', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      const id = await recordInTransaction(
        client,
        {
          ...sampleEvent('tenant-redact'),
          details: { password: 'hunter2', role: 'admin' },
          changes: { after: { apiKey: 'k', token: 't' } },
        },
        { schema: db.schema },
      );
      await client.query('COMMIT');
      const r = await db.pool.query(`SELECT payload FROM "${db.schema}".audit_outbox WHERE event_id = $1`, [id]);
      expect(JSON.stringify(r.rows[0].payload)).not.toMatch(/hunter2|"t"/);
      expect(r.rows[0].payload.details).toMatchObject({ role: 'admin' });
    } finally {
      client.release();
    }
  });

  it('an invalid event throws AUDIT_ERR_INVALID_EVENT with the field path and writes nothing', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      const bad = { ...sampleEvent('tenant-bad'), actor: { id: '', type: 'user' as const } };
      const err = await recordInTransaction(client, bad, { schema: db.schema }).catch((e: unknown) => e);
      expect(isAuditError(err, 'AUDIT_ERR_INVALID_EVENT')).toBe(true);
      expect((err as { path: string }).path).toBe('actor.id');
      const missingTenant = await recordInTransaction(
        client,
        { action: 'x.y', outcome: 'success', actor: { id: 'a', type: 'user' } },
        { schema: db.schema },
      ).catch((e: unknown) => e);
      expect((missingTenant as { path: string }).path).toBe('tenant');
      // The transaction is intact: nothing was sent to the database.
      await client.query('SELECT 1');
      await client.query('COMMIT');
      const r = await db.pool.query(`SELECT count(*)::int AS n FROM "${db.schema}".audit_outbox WHERE tenant_id = 'tenant-bad'`);
      expect(r.rows[0].n).toBe(0);
    } finally {
      client.release();
    }
  });

  it('insertValidated takes an already completed event as it is (the SDK logger path)', async () => {
    const outbox = createOutbox({ schema: db.schema, serviceName: 'svc' });
    const event = completeAuditEvent({ ...sampleEvent('tenant-iv'), occurredAt: '2026-11-22T10:00:00.123456Z' });
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      expect(await outbox.insertValidated(client, event)).toBe(event.eventId);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const r = await db.pool.query(`SELECT payload, service_name FROM "${db.schema}".audit_outbox WHERE event_id = $1`, [event.eventId]);
    expect(r.rows[0]).toEqual({ payload: event, service_name: 'svc' });
  });

  it('a reused event id is AUDIT_ERR_OUTBOX naming eventId', async () => {
    const outbox = createOutbox({ schema: db.schema });
    const eventId = uuidv7();
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await outbox.recordInTransaction(client, { ...sampleEvent(), eventId });
      const err = await outbox.recordInTransaction(client, { ...sampleEvent(), eventId }).catch((e: unknown) => e);
      expect(isAuditError(err, 'AUDIT_ERR_OUTBOX')).toBe(true);
      expect((err as { path: string }).path).toBe('eventId');
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });
});

describe('protection against changes', () => {
  const appRole = `oa_app_${randomBytes(4).toString('hex')}`;
  const relayRole = `oa_relay_${randomBytes(4).toString('hex')}`;
  let eventId: string;

  beforeAll(async () => {
    await db.pool.query(`CREATE ROLE "${appRole}" NOLOGIN`);
    await db.pool.query(`CREATE ROLE "${relayRole}" NOLOGIN`);
    await applyOutboxMigrations(db.pool, { schema: db.schema, appRole, relayRole });
    await db.pool.query(`GRANT USAGE ON SCHEMA "${db.schema}" TO "${appRole}"`);
    await db.pool.query(`GRANT SELECT, UPDATE ON "${db.schema}".accounts TO "${appRole}"`);
    eventId = (await db.commitEvents(1, 'tenant-guard'))[0]!;
  });

  afterAll(async () => {
    for (const role of [appRole, relayRole]) {
      await db.pool.query(`DROP OWNED BY "${role}"`).catch(() => undefined);
      await db.pool.query(`DROP ROLE IF EXISTS "${role}"`);
    }
  });

  /** Run `sql` as `role` in a transaction that is always rolled back; resolves with the error code. */
  async function asRole(role: string, sql: string, values: unknown[] = []): Promise<string | undefined> {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ROLE "${role}"`);
      try {
        await client.query(sql, values);
        return undefined;
      } catch (err) {
        return (err as { code: string }).code;
      }
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  const table = () => `"${db.schema}".audit_outbox`;

  it('the application role can insert through recordInTransaction', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ROLE "${appRole}"`);
      await client.query(`UPDATE "${db.schema}".accounts SET balance = balance - 1 WHERE id = 2`);
      await recordInTransaction(client, sampleEvent('tenant-guard'), { schema: db.schema });
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });

  it('UPDATE and DELETE of an undelivered row by the application role are refused (no privilege)', async () => {
    expect(await asRole(appRole, `UPDATE ${table()} SET payload = '{}' WHERE event_id = $1`, [eventId])).toBe('42501');
    expect(await asRole(appRole, `UPDATE ${table()} SET delivered_at = now() WHERE event_id = $1`, [eventId])).toBe('42501');
    expect(await asRole(appRole, `DELETE FROM ${table()} WHERE event_id = $1`, [eventId])).toBe('42501');
    expect(await asRole(appRole, `TRUNCATE ${table()}`)).toBe('42501');
  });

  it('even with UPDATE/DELETE granted, the trigger refuses changing or deleting an undelivered row', async () => {
    await db.pool.query(`GRANT SELECT, UPDATE, DELETE, TRUNCATE ON ${table()} TO "${appRole}"`);
    try {
      expect(await asRole(appRole, `UPDATE ${table()} SET payload = '{}' WHERE event_id = $1`, [eventId])).toBe('42501');
      expect(await asRole(appRole, `UPDATE ${table()} SET tenant_id = 'other' WHERE event_id = $1`, [eventId])).toBe('42501');
      expect(await asRole(appRole, `DELETE FROM ${table()} WHERE event_id = $1`, [eventId])).toBe('42501');
      expect(await asRole(appRole, `TRUNCATE ${table()}`)).toBe('42501');
      // The owner (a superuser here) is held to the same rules.
      expect(await asRole('postgres', `UPDATE ${table()} SET payload = '{}' WHERE event_id = $1`, [eventId])).toBe('42501');
      expect(await asRole('postgres', `DELETE FROM ${table()} WHERE event_id = $1`, [eventId])).toBe('42501');
    } finally {
      await db.pool.query(`REVOKE SELECT, UPDATE, DELETE, TRUNCATE ON ${table()} FROM "${appRole}"`);
    }
    const row = await db.pool.query(`SELECT payload->>'eventId' AS id, tenant_id FROM ${table()} WHERE event_id = $1`, [eventId]);
    expect(row.rows).toEqual([{ id: eventId, tenant_id: 'tenant-guard' }]);
  });

  it("the relay role's bookkeeping passes; a finished row is frozen; only finished rows can be deleted", async () => {
    expect(
      await asRole(relayRole, `UPDATE ${table()} SET attempts = attempts + 1, last_error = 'x' WHERE event_id = $1`, [eventId]),
    ).toBeUndefined();
    expect(await asRole(relayRole, `UPDATE ${table()} SET payload = '{}' WHERE event_id = $1`, [eventId])).toBe('42501');
    expect(await asRole(relayRole, `DELETE FROM ${table()} WHERE event_id = $1`, [eventId])).toBe('42501');
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ROLE "${relayRole}"`);
      await client.query(`UPDATE ${table()} SET delivered_at = now(), attempts = attempts + 1 WHERE event_id = $1`, [eventId]);
      const again = await client
        .query(`UPDATE ${table()} SET delivered_at = now() WHERE event_id = $1`, [eventId])
        .catch((e: { code: string }) => e.code);
      expect(again).toBe('42501');
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      await client.query(`SET LOCAL ROLE "${relayRole}"`);
      await client.query(`UPDATE ${table()} SET delivered_at = now() WHERE event_id = $1`, [eventId]);
      const del = await client.query(`DELETE FROM ${table()} WHERE event_id = $1`, [eventId]);
      expect(del.rowCount).toBe(1);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });
});
