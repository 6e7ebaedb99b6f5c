/**
 * `audit.recordInTransaction`: the logger's own completion (audit context, redaction) applied to
 * an event that is written to the outbox inside the caller's Postgres transaction.
 */

import { isAuditError } from '@otel-audit/core';
import { type AuditLogger, createAuditLogger, runWithAuditContext } from '@otel-audit/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOutboxDb, type TestOutboxDb } from './helpers/postgres.ts';

let db: TestOutboxDb;
let audit: AuditLogger;

beforeAll(async () => {
  db = await createTestOutboxDb('outbox_logger');
  // Memory delivery and an endpoint nobody listens on: this test only uses the outbox path.
  audit = createAuditLogger({ delivery: 'memory', exporter: { endpoint: 'http://127.0.0.1:9/v1/logs' }, outbox: { schema: db.schema } });
});

afterAll(async () => {
  await audit?.shutdown({ timeoutMillis: 10 });
  await db?.drop();
});

// biome-ignore lint/suspicious/noExplicitAny: the payload column is JSONB read back as written
async function outboxRows(): Promise<Array<{ event_id: string; payload: Record<string, any> }>> {
  const rs = await db.pool.query(`SELECT event_id::text AS event_id, payload FROM "${db.schema}".audit_outbox ORDER BY id`);
  return rs.rows;
}

describe('audit.recordInTransaction', () => {
  it('commits the event with the change, filled from the audit context and redacted', async () => {
    const client = await db.pool.connect();
    let id = '';
    try {
      await client.query('BEGIN');
      id = await runWithAuditContext(
        { actor: { id: 'u-7', type: 'user' }, tenant: { id: 'acme' }, request: { id: 'req-1', ip: '198.51.100.4' } },
        () =>
          audit.recordInTransaction(client, { action: 'grant.issue', outcome: 'success', details: { password: 'hunter2', role: 'admin' } }),
      );
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const rows = await outboxRows();
    const row = rows.find((r) => r.event_id === id);
    expect(row?.payload).toMatchObject({
      eventId: id,
      actor: { id: 'u-7', type: 'user' },
      tenant: { id: 'acme' },
      request: { id: 'req-1', ip: '198.51.100.4' },
      details: { password: '[REDACTED]', role: 'admin' },
    });
  });

  it('leaves nothing behind when the transaction rolls back, and refuses invalid events', async () => {
    const before = (await outboxRows()).length;
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await audit.recordInTransaction(client, {
        action: 'grant.revoke',
        outcome: 'success',
        actor: { id: 'u', type: 'user' },
        tenant: { id: 'acme' },
      });
      await client.query('ROLLBACK');
      const invalid = await audit
        .recordInTransaction(client, {
          action: 'grant.revoke',
          outcome: 'maybe' as never,
          actor: { id: 'u', type: 'user' },
          tenant: { id: 'acme' },
        })
        .catch((e: unknown) => e);
      expect(isAuditError(invalid, 'AUDIT_ERR_INVALID_EVENT')).toBe(true);
      expect((invalid as { path?: string }).path).toBe('outcome');
    } finally {
      client.release();
    }
    expect((await outboxRows()).length).toBe(before);
  });
});
