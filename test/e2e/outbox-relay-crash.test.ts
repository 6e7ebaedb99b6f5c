/**
 * `otel-audit relay` as a process, killed with SIGKILL in the middle of a batch and restarted,
 * with a real `otel-audit start` receiver and its ClickHouse engine: every committed event ends up
 * in ClickHouse exactly once (`count()` and distinct ids), although some were sent twice.
 *
 * To kill it deterministically mid-batch, the relay sends through the OTLP hop of
 * examples/otlp-hop, which forwards to the receiver and then holds the receiver's answer: the
 * receiver has stored the batch, the relay has not seen the acknowledgement and has not committed
 * `delivered_at` — the worst moment for a crash. A second case kills the relay directly connected
 * to the receiver at whatever point it has reached. A third runs two relay processes at once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OtlpHop, startOtlpHop } from '../../examples/otlp-hop/hop.ts';
import { createTestOutboxDb, POSTGRES_URL, type TestOutboxDb } from '../outbox/helpers/postgres.ts';
import { eventually, type ReceiverProcess, startReceiverProcess, tenantEventsInClickHouse } from './helpers/receiver-process.ts';

const MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const RECEIVER_ENV = { OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false', OTEL_AUDIT_PIPELINE__EXPORTERS__MAX_BATCH_DELAY_MILLIS: '20' };

let db: TestOutboxDb;
let dataDir: string;
let receiver: ReceiverProcess;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-outbox-crash-'));
  [db, receiver] = await Promise.all([createTestOutboxDb('e2e_crash'), startReceiverProcess({ dataDir, env: RECEIVER_ENV })]);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await db?.drop();
  await receiver?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

interface RelayProcess {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnRelay(endpoint: string, batchSize: number): RelayProcess {
  const child = spawn(
    process.execPath,
    [
      MAIN,
      'relay',
      '--postgres-url',
      POSTGRES_URL,
      '--schema',
      db.schema,
      '--endpoint',
      endpoint,
      '--batch-size',
      String(batchSize),
      '--concurrency',
      '2',
      '--poll-interval',
      '100',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stderr: () => err, exited };
}

async function deduped(): Promise<number> {
  return ((await (await fetch(`${receiver.http}/v1/audit/status`)).json()) as { counters: { deduped: number } }).counters.deduped;
}

async function deliveredOf(ids: string[]): Promise<number> {
  const r = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM "${db.schema}".audit_outbox WHERE delivered_at IS NOT NULL AND event_id = ANY($1::uuid[])`,
    [ids],
  );
  return r.rows[0]!.n;
}

async function drainedAndStored(tenant: string, ids: string[]): Promise<{ count: number; distinct: number; ids: string[] }> {
  await eventually(async () => ((await db.pending()) === 0 ? true : undefined), 600);
  return eventually(async () => {
    const r = await tenantEventsInClickHouse(receiver.http, tenant);
    return r.distinct >= ids.length ? r : undefined;
  }, 600);
}

describe('relay process killed with SIGKILL, real receiver', () => {
  it('killed while the receiver has a batch and the relay has no ack: restarted, every event is in ClickHouse exactly once', async () => {
    const tenant = `crash-held-${db.schema}`;
    const ids = await db.commitEvents(300, tenant);

    let holding = true;
    let forwarded = 0;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let signalHeld!: () => void;
    const held = new Promise<void>((resolve) => (signalHeld = resolve));
    const hop: OtlpHop = await startOtlpHop({
      upstream: receiver.http,
      mode: 'passthrough',
      beforeRespond: async ({ upstreamStatus }) => {
        forwarded += 1;
        // From the third exchange on, the receiver's 200 is held back from the relay.
        if (holding && upstreamStatus === 200 && forwarded >= 3) {
          signalHeld();
          await released;
        }
      },
    });
    try {
      const dedupedBefore = await deduped();
      const first = spawnRelay(hop.url, 40);
      await held;
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      const deliveredBeforeRestart = await deliveredOf(ids);
      expect(deliveredBeforeRestart).toBeLessThan(ids.length);
      // The receiver stored more of these events than the outbox knows were delivered: the held batch.
      await eventually(async () =>
        (await tenantEventsInClickHouse(receiver.http, tenant)).distinct > deliveredBeforeRestart ? true : undefined,
      );

      holding = false;
      release();
      const second = spawnRelay(hop.url, 40);
      const stored = await drainedAndStored(tenant, ids);
      second.child.kill('SIGTERM');
      expect(await second.exited, second.stderr()).toEqual({ code: 0, signal: null });

      expect(stored.count).toBe(ids.length);
      expect(stored.distinct).toBe(ids.length);
      expect(new Set(stored.ids)).toEqual(new Set(ids));
      // At-least-once on the wire: the held batch was sent again and the receiver removed it by id.
      expect((await deduped()) - dedupedBefore).toBeGreaterThanOrEqual(1);
      expect(await deliveredOf(ids)).toBe(ids.length);
    } finally {
      release();
      await hop.close();
    }
  });

  it('killed at an arbitrary point while draining straight into the receiver: restarted, exactly once', async () => {
    const tenant = `crash-direct-${db.schema}`;
    const ids = await db.commitEvents(600, tenant);
    const first = spawnRelay(receiver.http, 25);
    // Kill as soon as some of the events were delivered (wherever the relay is then).
    await eventually(async () => ((await deliveredOf(ids)) > 0 ? true : undefined), 2000, 5);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const second = spawnRelay(receiver.http, 25);
    const stored = await drainedAndStored(tenant, ids);
    second.child.kill('SIGTERM');
    expect(await second.exited, second.stderr()).toEqual({ code: 0, signal: null });
    expect(stored.count).toBe(ids.length);
    expect(stored.distinct).toBe(ids.length);
    expect(new Set(stored.ids)).toEqual(new Set(ids));
  });

  it('two relay processes draining the same outbox at once: every event exactly once', async () => {
    const tenant = `two-relays-${db.schema}`;
    const ids = await db.commitEvents(400, tenant);
    const a = spawnRelay(receiver.http, 20);
    const b = spawnRelay(receiver.http, 20);
    const stored = await drainedAndStored(tenant, ids);
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    expect(await a.exited, a.stderr()).toEqual({ code: 0, signal: null });
    expect(await b.exited, b.stderr()).toEqual({ code: 0, signal: null });
    expect(stored.count).toBe(ids.length);
    expect(stored.distinct).toBe(ids.length);
    expect(new Set(stored.ids)).toEqual(new Set(ids));
  });
});
