/**
 * The receiver down for a while: a real `otel-audit start` process is stopped while the
 * application keeps committing; the outbox grows and nothing is delivered or lost; the receiver is
 * started again on the same data dir and the same (fixed, free) port, and the relay — which kept
 * retrying with backoff — drains the backlog. Every event is in ClickHouse exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOutboxRelay, type OutboxRelay } from '@otel-audit/sdk/outbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOutboxDb, POSTGRES_URL, type TestOutboxDb } from '../outbox/helpers/postgres.ts';
import { eventually, freePort, type ReceiverProcess, startReceiverProcess, tenantEventsInClickHouse } from './helpers/receiver-process.ts';

const RECEIVER_ENV = { OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false', OTEL_AUDIT_PIPELINE__EXPORTERS__MAX_BATCH_DELAY_MILLIS: '20' };
let db: TestOutboxDb;
let dataDir: string;
let port: number;
let receiver: ReceiverProcess | undefined;
let relay: OutboxRelay | undefined;

function startReceiver(): Promise<ReceiverProcess> {
  return startReceiverProcess({ dataDir, env: RECEIVER_ENV, args: ['--http-port', String(port)] });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-outbox-outage-'));
  port = await freePort();
  [db, receiver] = await Promise.all([createTestOutboxDb('e2e_outage'), startReceiver()]);
});

afterAll(async () => {
  await relay?.shutdown();
  await db?.drop();
  await receiver?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('receiver down for a while', () => {
  it('the outbox grows while the receiver is stopped, nothing is lost, and it drains on recovery', async () => {
    const tenant = `outage-${db.schema}`;
    expect(receiver!.http).toBe(`http://127.0.0.1:${port}`);
    relay = createOutboxRelay({
      postgresUrl: POSTGRES_URL,
      schema: db.schema,
      endpoint: `http://127.0.0.1:${port}`,
      batchSize: 50,
      pollIntervalMillis: 100,
      busyPollIntervalMillis: 20,
      exportTimeoutMillis: 5_000,
      // Short backoff so recovery is noticed soon; the relay retries forever either way.
      backoff: { initialIntervalMillis: 50, maxIntervalMillis: 300 },
    });
    await relay.start();

    const before = await db.commitEvents(40, tenant);
    await eventually(async () => ((await tenantEventsInClickHouse(receiver!.http, tenant)).distinct >= before.length ? true : undefined));
    await eventually(async () => ((await db.pending()) === 0 ? true : undefined));

    expect(await receiver!.stop(), receiver!.output()).toBe(0);
    const failedBefore = relay.stats().failedExports;
    const during = [...(await db.commitEvents(120, tenant)), ...(await db.commitEvents(80, tenant))];
    // The relay tried and failed at least twice while the receiver was down …
    await eventually(async () => (relay!.stats().failedExports >= failedBefore + 2 ? true : undefined));
    // … and every event committed meanwhile is waiting in the outbox, none marked delivered.
    expect(await db.pending()).toBe(during.length);
    const waiting = await db.pool.query<{ n: number; tried: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE attempts > 0 AND last_error IS NOT NULL)::int AS tried FROM "${db.schema}".audit_outbox WHERE delivered_at IS NULL`,
    );
    expect(waiting.rows[0]!.n).toBe(during.length);
    expect(waiting.rows[0]!.tried).toBeGreaterThan(0);

    receiver = await startReceiver();
    expect(receiver.http).toBe(`http://127.0.0.1:${port}`);
    const after = await db.commitEvents(30, tenant);
    const all = [...before, ...during, ...after];

    await eventually(async () => ((await db.pending()) === 0 ? true : undefined), 600);
    const stored = await eventually(async () => {
      const r = await tenantEventsInClickHouse(receiver!.http, tenant);
      return r.distinct >= all.length ? r : undefined;
    }, 600);
    expect(stored.count).toBe(all.length);
    expect(stored.distinct).toBe(all.length);
    expect(new Set(stored.ids)).toEqual(new Set(all));
    expect(relay.stats().rejected).toBe(0);
  });
});
