/**
 * `otel-audit relay` as a real process: killed with SIGKILL in the middle of a batch and restarted,
 * every committed event arrives at least once and exactly once after dedupe by event id; SIGTERM
 * finishes the in-flight batch and exits 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestOtlpEndpoint, type TestOtlpEndpoint } from './helpers/otlp-endpoint.ts';
import { createTestOutboxDb, POSTGRES_URL, type TestOutboxDb } from './helpers/postgres.ts';

const MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

let db: TestOutboxDb;
let endpoint: TestOtlpEndpoint;
const children: ChildProcess[] = [];

beforeAll(async () => {
  db = await createTestOutboxDb('outbox_proc');
  endpoint = await startTestOtlpEndpoint();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await endpoint?.close();
  await db?.drop();
});

interface RelayProcess {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnRelay(): RelayProcess {
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
      endpoint.url,
      '--batch-size',
      '40',
      '--concurrency',
      '2',
      '--poll-interval',
      '200',
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

async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((res) => setTimeout(res, 25));
}

describe('relay process', () => {
  it('SIGKILL mid-batch, restart: every committed event arrives, exactly once after dedupe', async () => {
    const ids = await db.commitEvents(400);
    // The third request and every later one is held open; the receiver has stored its records but
    // the answer never arrives (the relay cannot tell), so the restarted relay sends them again.
    endpoint.holdFrom = endpoint.requests + 3;
    endpoint.recordHeld = true;
    const first = spawnRelay();
    await endpoint.waitForHeld(1);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const deliveredBeforeRestart = (await db.rows()).filter((r) => r.delivered_at !== null).length;
    expect(deliveredBeforeRestart).toBeLessThan(ids.length);

    endpoint.holdFrom = undefined;
    endpoint.recordHeld = false;
    endpoint.setMode('ok');
    const second = spawnRelay();
    await endpoint.waitForIds(ids);
    await until(async () => (await db.pending()) === 0);
    second.child.kill('SIGTERM');
    const exit = await second.exited;
    expect(exit, second.stderr()).toEqual({ code: 0, signal: null });

    const ours = new Set(ids);
    const received = endpoint.acked.filter((id) => ours.has(id));
    expect(new Set(received).size).toBe(ids.length);
    // At-least-once: the batch whose answer was lost arrived twice; dedupe by id makes it once.
    expect(received.length).toBeGreaterThan(ids.length);
    expect((await db.rows()).every((r) => r.delivered_at !== null)).toBe(true);
  });

  it('SIGTERM while a batch is in flight: the batch finishes (acknowledged, committed), then exit 0', async () => {
    const ids = await db.commitEvents(30);
    endpoint.setMode('hold');
    const relay = spawnRelay();
    await endpoint.waitForHeld(1);
    relay.child.kill('SIGTERM');
    // Give the process the signal before the answer arrives; the pass must still run to its end.
    await until(() => relay.stderr().includes('finishing the in-flight batch'));
    endpoint.releaseHeld(200);
    endpoint.setMode('ok');
    const exit = await relay.exited;
    expect(exit, relay.stderr()).toEqual({ code: 0, signal: null });
    expect(endpoint.acked).toEqual(expect.arrayContaining(ids));
    expect(await db.pending()).toBe(0);
  });
});
