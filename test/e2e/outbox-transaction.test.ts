/**
 * Transactional audit end to end: real Postgres, the embedded relay, a real `otel-audit start`
 * process and its ClickHouse engine. A rolled-back transaction leaves its event nowhere (not in
 * the outbox, not in ClickHouse); a committed one is queryable through the receiver; the database
 * refuses to edit or delete an event that has not left yet.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '@otel-audit/schema';
import { createOutboxRelay, type OutboxRelay, recordInTransaction } from '@otel-audit/sdk/outbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOutboxDb, POSTGRES_URL, sampleEvent, type TestOutboxDb } from '../outbox/helpers/postgres.ts';
import { eventually, type ReceiverProcess, startReceiverProcess, tenantEventsInClickHouse } from './helpers/receiver-process.ts';

const RECEIVER_ENV = { OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false', OTEL_AUDIT_PIPELINE__EXPORTERS__MAX_BATCH_DELAY_MILLIS: '20' };
let db: TestOutboxDb;
let dataDir: string;
let receiver: ReceiverProcess;
let relay: OutboxRelay | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-outbox-tx-'));
  [db, receiver] = await Promise.all([createTestOutboxDb('e2e_tx'), startReceiverProcess({ dataDir, env: RECEIVER_ENV })]);
});

afterAll(async () => {
  await relay?.shutdown();
  await db?.drop();
  await receiver?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('outbox end to end: rollback and commit', () => {
  it('rollback → the event is nowhere; commit → it is in ClickHouse, once, as recorded', async () => {
    const tenant = `tx-${db.schema}`;
    const client = await db.pool.connect();
    let rolledBack: string;
    let violated: string;
    let committed: string;
    try {
      // Rolled back explicitly after the event was written.
      await client.query('BEGIN');
      await client.query(`UPDATE "${db.schema}".accounts SET balance = balance - 10 WHERE id = 1`);
      rolledBack = await recordInTransaction(client, sampleEvent(tenant, 1), { schema: db.schema });
      await client.query('ROLLBACK');

      // Rolled back by a constraint violation after the event was written (the application's
      // state change fails: a primary key clash).
      await client.query('BEGIN');
      violated = await recordInTransaction(client, sampleEvent(tenant, 2), { schema: db.schema });
      await expect(client.query(`UPDATE "${db.schema}".accounts SET id = 2 WHERE id = 1`)).rejects.toMatchObject({ code: '23505' });
      await client.query('ROLLBACK');

      // Committed.
      await client.query('BEGIN');
      await client.query(`UPDATE "${db.schema}".accounts SET balance = balance + 10 WHERE id = 3`);
      committed = await recordInTransaction(
        client,
        { ...sampleEvent(tenant, 3), request: { id: 'req-3', ip: '192.0.2.3' } },
        { schema: db.schema },
      );
      await client.query('COMMIT');
    } finally {
      client.release();
    }

    // The outbox holds the committed event only.
    expect((await db.rows()).map((r) => r.event_id)).toEqual([committed]);

    // An undelivered row cannot be edited or deleted, not even by the table owner.
    await expect(
      db.pool.query(`UPDATE "${db.schema}".audit_outbox SET payload = '{}'::jsonb WHERE event_id = $1`, [committed]),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(db.pool.query(`DELETE FROM "${db.schema}".audit_outbox WHERE event_id = $1`, [committed])).rejects.toMatchObject({
      code: '42501',
    });

    relay = createOutboxRelay({
      postgresUrl: POSTGRES_URL,
      schema: db.schema,
      endpoint: receiver.http,
      pollIntervalMillis: 100,
      busyPollIntervalMillis: 20,
    });
    await relay.start();
    // A second commit while the relay runs (woken by NOTIFY or its poll).
    const later = (await db.commitEvents(1, tenant))[0]!;

    const stored = await eventually(async () => {
      const r = await tenantEventsInClickHouse(receiver.http, tenant);
      return r.distinct >= 2 ? r : undefined;
    });
    await eventually(async () => ((await db.pending()) === 0 ? true : undefined));
    expect(stored.count).toBe(2);
    expect(new Set(stored.ids)).toEqual(new Set([committed, later]));
    expect(stored.ids).not.toContain(rolledBack);
    expect(stored.ids).not.toContain(violated);

    // Through the REST API: the event as recorded.
    const res = await fetch(`${receiver.http}/v1/audit/events?tenant=${tenant}&actor=user-3`);
    const page = (await res.json()) as { events: Array<{ event: AuditEvent }> };
    expect(page.events).toHaveLength(1);
    const outboxPayload = (
      await db.pool.query<{ payload: AuditEvent }>(`SELECT payload FROM "${db.schema}".audit_outbox WHERE event_id = $1`, [committed])
    ).rows[0]!.payload;
    expect(page.events[0]!.event).toEqual(outboxPayload);
    expect(page.events[0]!.event).toMatchObject({
      eventId: committed,
      action: 'grant.issue',
      actor: { id: 'user-3' },
      request: { id: 'req-3', ip: '192.0.2.3' },
    });
    expect(relay.stats().delivered).toBe(2);
  });
});
