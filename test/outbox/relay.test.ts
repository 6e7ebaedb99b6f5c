/**
 * The relay against real Postgres and a real OTLP/HTTP endpoint, driven by the real OTel JS
 * exporters: delivery after acknowledgement only, NOTIFY wake-ups, two relays sharing the queue,
 * a receiver outage, partial success, poison records and retention.
 */

import { createOutboxRelay, type OutboxRelay, type OutboxRelayConfigInput, recordInTransaction } from '@otel-audit/sdk/outbox';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOtlpEndpoint } from '../sdk/helpers/otlp-endpoint.ts';
import { startTestOtlpEndpoint, type TestOtlpEndpoint } from './helpers/otlp-endpoint.ts';
import { createTestOutboxDb, POSTGRES_URL, sampleEvent, type TestOutboxDb } from './helpers/postgres.ts';

let db: TestOutboxDb;
let endpoint: TestOtlpEndpoint;
const relays: OutboxRelay[] = [];

beforeAll(async () => {
  db = await createTestOutboxDb('outbox_relay');
  endpoint = await startTestOtlpEndpoint();
});

/** Poll `check` until it holds (state changes that land just after an acknowledgement: the COMMIT). */
async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((res) => setTimeout(res, 20));
}

afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.shutdown()));
  endpoint.setMode('ok');
  await endpoint.reopenPort();
  endpoint.rejectViaPartialSuccess.clear();
  endpoint.rejectWith400.clear();
  // Each test starts from an empty queue: finish whatever a failed test left behind.
  const cleanup = relay();
  while ((await cleanup.drainOnce()).kind !== 'idle');
});

afterAll(async () => {
  await Promise.all(relays.map((r) => r.shutdown()));
  await endpoint?.close();
  await db?.drop();
});

function relay(config: Partial<OutboxRelayConfigInput> = {}): OutboxRelay {
  const r = createOutboxRelay({
    postgresUrl: POSTGRES_URL,
    schema: db.schema,
    endpoint: endpoint.url,
    // Long enough that a slow answer on a loaded machine is not taken for a failure (which would
    // re-send acknowledged records and break the exactly-once counts below).
    exportTimeoutMillis: 10_000,
    backoff: { initialIntervalMillis: 20, maxIntervalMillis: 200 },
    ...config,
  });
  relays.push(r);
  return r;
}

describe('relay', () => {
  it('rollback: nothing delivered; commit: delivered to the endpoint and the row marked delivered', async () => {
    const client = await db.pool.connect();
    let rolledBack: string;
    let committed: string;
    try {
      await client.query('BEGIN');
      rolledBack = await recordInTransaction(client, sampleEvent('t-commit'), { schema: db.schema });
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      committed = await recordInTransaction(client, sampleEvent('t-commit'), { schema: db.schema, serviceName: 'grants-service' });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const r = relay();
    expect(await r.drainOnce()).toMatchObject({ kind: 'progress', delivered: 1 });
    expect(await r.drainOnce()).toEqual({ kind: 'idle' });
    expect(endpoint.acked).toContain(committed);
    expect(endpoint.acked).not.toContain(rolledBack);
    expect(endpoint.serviceNames[endpoint.acked.indexOf(committed)]).toBe('grants-service');
    const row = await db.pool.query(`SELECT delivered_at, attempts, last_error FROM "${db.schema}".audit_outbox WHERE event_id = $1`, [
      committed,
    ]);
    expect(row.rows[0].delivered_at).toBeInstanceOf(Date);
    expect(row.rows[0]).toMatchObject({ attempts: 1, last_error: null });
  });

  it.each(['http/json', 'http/protobuf'] as const)('delivers over %s', async (protocol) => {
    const ids = await db.commitEvents(5);
    const r = relay({ protocol });
    expect(await r.drainOnce()).toMatchObject({ kind: 'progress', delivered: 5 });
    expect(endpoint.acked).toEqual(expect.arrayContaining(ids));
  });

  it("delivers over grpc, partial success included (the SDK tests' gRPC endpoint)", async () => {
    const grpcEndpoint = await startOtlpEndpoint();
    try {
      const ids = await db.commitEvents(3);
      const r = relay({ protocol: 'grpc', endpoint: grpcEndpoint.grpcUrl });
      grpcEndpoint.script({ kind: 'partial', rejected: 1, message: 'one refused' });
      expect(await r.drainOnce()).toMatchObject({ kind: 'progress', delivered: 3 });
      expect(grpcEndpoint.eventIds()).toEqual(expect.arrayContaining(ids));
      expect(r.stats().receiverRejected).toBe(1);
      const events = grpcEndpoint.events();
      expect(events.find((e) => e.eventId === ids[0])).toMatchObject({ action: 'grant.issue', tenant: { id: 'tenant-a' } });
    } finally {
      await grpcEndpoint.close();
    }
  });

  it('a NOTIFY wakes a started relay (the polling fallback is set to ten minutes)', async () => {
    const flag = `"${db.schema}".audit_outbox_relay_state`;
    await db.pool.query(`UPDATE ${flag} SET wake_wanted = false`);
    const r = relay({ pollIntervalMillis: 600_000 });
    await r.start();
    // The relay found the queue empty, LISTENs, and asked inserts to NOTIFY it.
    await until(async () => r.stats().listening && (await db.pool.query(`SELECT wake_wanted FROM ${flag}`)).rows[0].wake_wanted === true);
    const ids = await db.commitEvents(3);
    await endpoint.waitForIds(ids);
    await until(async () => (await db.pending()) === 0);
  });

  it('two relays draining concurrently deliver every event exactly once (SKIP LOCKED)', async () => {
    const before = endpoint.acked.length;
    const ids = await db.commitEvents(600);
    const a = relay({ batchSize: 25, concurrency: 2 });
    const b = relay({ batchSize: 25, concurrency: 2 });
    await Promise.all([a.start(), b.start()]);
    await endpoint.waitForIds(ids);
    await until(() => a.stats().delivered + b.stats().delivered === ids.length);
    const got = endpoint.acked.slice(before);
    expect(got.length).toBe(ids.length);
    expect(new Set(got).size).toBe(ids.length);
    expect(a.stats().delivered + b.stats().delivered).toBe(ids.length);
    expect(a.stats().delivered).toBeGreaterThan(0);
    expect(b.stats().delivered).toBeGreaterThan(0);
  });

  it('receiver down (503, then a closed port): the outbox grows, nothing is lost, it drains on recovery', async () => {
    // Short timeout, so the exporter's own retries of a 503 or a refused connection give up quickly.
    const r = relay({ batchSize: 50, exportTimeoutMillis: 500 });
    await r.start();
    endpoint.setMode('unavailable');
    const during503 = await db.commitEvents(40);
    while (r.stats().failedExports < 2) await new Promise((res) => setTimeout(res, 20));
    expect(await db.pending()).toBeGreaterThanOrEqual(40);

    await endpoint.closePort();
    const duringClosed = await db.commitEvents(40);
    const failedBefore = r.stats().failedExports;
    while (r.stats().failedExports < failedBefore + 2) await new Promise((res) => setTimeout(res, 20));
    expect(await db.pending()).toBe(80);
    // The head of the queue was attempted and carries the reason; rows are never given up on.
    const waiting = (await db.rows()).filter((row) => row.delivered_at === null && row.rejected_at === null);
    expect(waiting.filter((row) => row.attempts >= 1 && row.last_error !== null).length).toBeGreaterThanOrEqual(1);

    endpoint.setMode('ok');
    await endpoint.reopenPort();
    await endpoint.waitForIds([...during503, ...duringClosed]);
    await until(async () => (await db.pending()) === 0);
    expect(r.stats().rejected).toBe(0);
  });

  it('partial success: the request counts as delivered, the refusal is recorded and counted, not retried', async () => {
    const ids = await db.commitEvents(4);
    endpoint.rejectViaPartialSuccess.add(ids[1]!);
    const requestsBefore = endpoint.requests;
    const r = relay();
    expect(await r.drainOnce()).toMatchObject({ kind: 'progress', delivered: 4 });
    expect(await r.drainOnce()).toEqual({ kind: 'idle' });
    expect(endpoint.requests).toBe(requestsBefore + 1);
    expect(r.stats().receiverRejected).toBe(1);
    const rows = (await db.rows()).filter((row) => ids.includes(row.event_id));
    expect(rows.every((row) => row.delivered_at !== null && /receiver rejected 1 of 4/.test(row.last_error ?? ''))).toBe(true);
  });

  it('a record the receiver refuses on its own (400) is isolated by splitting and rejected; the rest is delivered', async () => {
    const ids = await db.commitEvents(8);
    const poison = ids[5]!;
    endpoint.rejectWith400.add(poison);
    const r = relay();
    const result = await r.drainOnce();
    expect(result).toMatchObject({ kind: 'progress', delivered: 7, rejected: 1 });
    expect(endpoint.acked).toEqual(expect.arrayContaining(ids.filter((id) => id !== poison)));
    expect(endpoint.acked).not.toContain(poison);
    const row = (await db.rows()).find((x) => x.event_id === poison)!;
    expect(row.rejected_at).toBeInstanceOf(Date);
    expect(row.delivered_at).toBeNull();
    expect(row.last_error).toMatch(/refused by the receiver/);
    expect(await r.drainOnce()).toEqual({ kind: 'idle' });
  });

  it('an endpoint that refuses everything (400) empties nothing: rows stay pending', async () => {
    const ids = await db.commitEvents(3);
    for (const id of ids) endpoint.rejectWith400.add(id);
    const r = relay();
    const result = await r.drainOnce();
    expect(result).toMatchObject({ kind: 'stalled', failed: 3 });
    expect(r.stats().rejected).toBe(0);
    expect(await db.pending()).toBe(3);
    endpoint.rejectWith400.clear();
  });

  it('a row whose payload is not a valid audit event is rejected without being sent', async () => {
    const [good] = await db.commitEvents(1);
    const bad = '0190d9c2-8a3c-7000-8000-000000000001';
    await db.pool.query(`INSERT INTO "${db.schema}".audit_outbox (event_id, tenant_id, payload) VALUES ($1, 't', $2)`, [
      bad,
      JSON.stringify({ eventId: bad, action: 'x' }),
    ]);
    const r = relay();
    expect(await r.drainOnce()).toMatchObject({ kind: 'progress', delivered: 1, rejected: 1 });
    expect(endpoint.acked).toContain(good);
    expect(endpoint.acked).not.toContain(bad);
    const row = (await db.rows()).find((x) => x.event_id === bad)!;
    expect(row.last_error).toMatch(/invalid audit event in the outbox: .*occurredAt/);
  });

  it('delivered rows are removed after retention; undelivered and rejected rows stay', async () => {
    await db.commitEvents(3);
    const r = relay({ retentionMillis: 0, retentionSweepIntervalMillis: 100 });
    while ((await r.drainOnce()).kind !== 'idle');
    await r.start();
    for (;;) {
      const left = await db.pool.query(`SELECT count(*)::int AS n FROM "${db.schema}".audit_outbox WHERE delivered_at IS NOT NULL`);
      if (left.rows[0].n === 0) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const rejected = await db.pool.query(`SELECT count(*)::int AS n FROM "${db.schema}".audit_outbox WHERE rejected_at IS NOT NULL`);
    expect(rejected.rows[0].n).toBeGreaterThan(0);
    expect(r.stats().deleted).toBeGreaterThan(0);
  });

  it('shutdown is idempotent and start after shutdown is refused', async () => {
    const r = relay();
    await r.start();
    await Promise.all([r.shutdown(), r.shutdown()]);
    await expect(r.start()).rejects.toMatchObject({ code: 'AUDIT_ERR_SHUTDOWN' });
  });

  it('a wrong table fails fast at start; bad config names the key', async () => {
    const r = relay({ table: 'no_such_table' });
    await expect(r.start()).rejects.toMatchObject({ code: 'AUDIT_ERR_OUTBOX' });
    expect(() => createOutboxRelay({ postgresUrl: POSTGRES_URL, batchSize: 0 } as OutboxRelayConfigInput)).toThrow(/batchSize/);
    expect(() => createOutboxRelay({ postgresUrl: POSTGRES_URL, bogus: 1 } as OutboxRelayConfigInput)).toThrow(/bogus/);
  });
});
