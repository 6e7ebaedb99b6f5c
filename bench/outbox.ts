/**
 * Benchmark of transactional audit with Postgres:
 * - overhead: transactions/s of a small transaction (one UPDATE of application state) without and
 *   with the outbox INSERT of its audit event, at 1 and 8 concurrent clients, rounds alternating so
 *   drift hits both equally, with a relay process draining meanwhile (aim: ≤ 10% overhead);
 * - relay: events/s from rows in Postgres to acknowledged by a local OTLP/HTTP endpoint (the real
 *   OTel protobuf exporter, real HTTP on loopback; the endpoint, in its own process, only counts
 *   records) (aim ≥ 20,000/s).
 * Uses the Postgres at OTEL_AUDIT_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test)
 * in a throw-away schema. `run({ quick })` returns the numbers; bench/run.ts prints them.
 */
import { fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { AuditEventInput } from '@otel-audit/schema';
import { applyOutboxMigrations, createOutbox, createOutboxRelay } from '@otel-audit/sdk/outbox';
import pg from 'pg';

/** The endpoint in a child process; see bench/outbox-endpoint.ts. */
async function startEndpointProcess(): Promise<{ url: string; count(): Promise<number>; close(): Promise<void> }> {
  const child = fork(fileURLToPath(new URL('./outbox-endpoint.ts', import.meta.url)), [], {
    execPath: process.execPath,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`benchmark endpoint exited with ${code}`)));
  });
  return {
    url,
    count: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve((m as { count: number }).count));
        child.send('count');
      }),
    close: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.send('close');
      }),
  };
}

/** Options of {@link run}. */
export interface OutboxBenchOptions {
  /** Shorter run. */
  quick?: boolean;
  /** CI-smoke sizes (bench/run.ts `--tiny`): proves the scenario runs; the numbers mean nothing. */
  tiny?: boolean;
  /** Postgres URL; default env OTEL_AUDIT_BENCH_POSTGRES_URL or the local test database. */
  postgresUrl?: string;
}

/** Transactions/s of one mode at one concurrency. */
export interface TxRate {
  clients: number;
  withoutOutbox: number;
  withOutbox: number;
  /** (without − with) ÷ without, in percent. */
  overheadPercent: number;
}

/** Result of {@link run}. */
export interface OutboxBenchResult {
  scenario: 'outbox';
  /** Postgres settings that decide the numbers (commit durability). */
  postgres: { version: string; synchronousCommit: string; fsync: string };
  transactions: TxRate[];
  relay: Array<{ batchSize: number; concurrency: number; events: number; seconds: number; eventsPerSecond: number }>;
}

function event(n: number): AuditEventInput {
  return {
    action: 'grant.issue',
    outcome: 'success',
    actor: { id: `user-${n % 1000}`, type: 'user', authMethod: 'oidc' },
    tenant: { id: `tenant-${n % 10}` },
    targets: [{ type: 'grant', id: `grant-${n}` }],
    request: { id: `req-${n}`, ip: '203.0.113.7', method: 'POST', path: '/grants' },
    details: { role: 'editor', expiresInDays: 30 },
  };
}

/** Run transactions on `clients` connections for `millis`; resolves with transactions/s. */
async function txRate(pool: pg.Pool, schema: string, clients: number, millis: number, withOutbox: boolean): Promise<number> {
  const outbox = createOutbox({ schema });
  const deadline = performance.now() + millis;
  let done = 0;
  let seq = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const client = await pool.connect();
      try {
        while (performance.now() < deadline) {
          const n = seq++;
          await client.query('BEGIN');
          await client.query(`UPDATE "${schema}".accounts SET balance = balance + 1 WHERE id = $1`, [(n % 1000) + 1]);
          if (withOutbox) await outbox.recordInTransaction(client, event(n));
          await client.query('COMMIT');
          done += 1;
        }
      } finally {
        client.release();
      }
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

/** Fill the outbox with `count` events quickly (many events per transaction, 4 connections). */
async function fill(pool: pg.Pool, schema: string, count: number): Promise<void> {
  const outbox = createOutbox({ schema });
  const perTx = 500;
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      const client = await pool.connect();
      try {
        while (next < count) {
          const from = next;
          const to = Math.min(count, next + perTx);
          next = to;
          await client.query('BEGIN');
          for (let i = from; i < to; i++) await outbox.recordInTransaction(client, event(i));
          await client.query('COMMIT');
        }
      } finally {
        client.release();
      }
    }),
  );
}

/** Run the benchmark. */
export async function run(options: OutboxBenchOptions = {}): Promise<OutboxBenchResult> {
  const postgresUrl = options.postgresUrl ?? process.env.OTEL_AUDIT_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const quick = options.quick ?? false;
  const tiny = options.tiny ?? false;
  const schema = `outbox_bench_${randomBytes(4).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 12 });
  const endpoint = await startEndpointProcess();
  try {
    const settings = await pool.query<{ v: string; sc: string; fs: string }>(
      "SELECT current_setting('server_version') AS v, current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fs",
    );
    await applyOutboxMigrations(pool, { schema });
    await pool.query(`CREATE TABLE "${schema}".accounts (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0)`);
    await pool.query(`INSERT INTO "${schema}".accounts (id) SELECT generate_series(1, 1000)`);

    // A relay drains while the application runs, as deployed (its own process, `otel-audit relay`):
    // it keeps inserts from NOTIFYing while busy, and its Postgres work is part of the price.
    const relayProcess = spawn(
      process.execPath,
      [
        fileURLToPath(new URL('../cli/main.ts', import.meta.url)),
        'relay',
        '--postgres-url',
        postgresUrl,
        '--schema',
        schema,
        '--endpoint',
        endpoint.url,
      ],
      { stdio: 'ignore' },
    );
    const relayExited = new Promise((resolve) => relayProcess.once('exit', resolve));
    const transactions: TxRate[] = [];
    const roundMillis = tiny ? 200 : quick ? 500 : 2000;
    const rounds = tiny ? 1 : quick ? 2 : 4;
    for (const clients of [1, 8]) {
      // Warm-up, then alternate so both modes see the same checkpoints and autovacuum.
      await txRate(pool, schema, clients, tiny ? 100 : 300, true);
      let without = 0;
      let withO = 0;
      for (let r = 0; r < rounds; r++) {
        without += await txRate(pool, schema, clients, roundMillis, false);
        withO += await txRate(pool, schema, clients, roundMillis, true);
      }
      without /= rounds;
      withO /= rounds;
      transactions.push({
        clients,
        withoutOutbox: Math.round(without),
        withOutbox: Math.round(withO),
        overheadPercent: without > 0 ? Math.round(((without - withO) / without) * 1000) / 10 : 0,
      });
    }
    relayProcess.kill('SIGTERM');
    await relayExited;
    // Whatever the relay had not drained yet must not count in the relay measurement.
    await pool.query(`UPDATE "${schema}".audit_outbox SET delivered_at = now() WHERE delivered_at IS NULL AND rejected_at IS NULL`);

    const relayRuns: OutboxBenchResult['relay'] = [];
    const events = tiny ? 2000 : quick ? 20_000 : 100_000;
    for (const { batchSize, concurrency } of quick || tiny
      ? [{ batchSize: 1000, concurrency: 2 }]
      : [
          { batchSize: 1000, concurrency: 1 },
          { batchSize: 1000, concurrency: 2 },
          { batchSize: 2000, concurrency: 2 },
        ]) {
      await fill(pool, schema, events);
      await pool.query(`VACUUM ANALYZE "${schema}".audit_outbox`);
      const countedBefore = await endpoint.count();
      const relay = createOutboxRelay({ postgresUrl, schema, endpoint: endpoint.url, batchSize, concurrency, retentionMillis: 3600_000 });
      const t0 = performance.now();
      await relay.start();
      while (relay.stats().delivered < events) await new Promise((res) => setTimeout(res, 5));
      const seconds = (performance.now() - t0) / 1000;
      await relay.shutdown();
      const counted = (await endpoint.count()) - countedBefore;
      if (counted < events) throw new Error(`endpoint counted ${counted} of ${events} events`);
      relayRuns.push({
        batchSize,
        concurrency,
        events,
        seconds: Math.round(seconds * 1000) / 1000,
        eventsPerSecond: Math.round(events / seconds),
      });
    }

    return {
      scenario: 'outbox',
      postgres: { version: settings.rows[0]!.v, synchronousCommit: settings.rows[0]!.sc, fsync: settings.rows[0]!.fs },
      transactions,
      relay: relayRuns,
    };
  } finally {
    await endpoint.close();
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await pool.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run({ quick: process.argv.includes('--quick') }), null, 2));
}
