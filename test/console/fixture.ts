/**
 * A receiver PROCESS holding real events for the console's browser tests: bearer tokens (an admin
 * token and one bound to tenant acme), signed checkpoints with a fresh key, embedded ClickHouse, and
 * a deterministic set of events across two tenants. Also installs Chromium and builds the console
 * when they are missing, so `npm test` works on a fresh machine.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditEventInput } from '@otel-audit/schema';
import { createAuditLogger } from '@otel-audit/sdk';
import { generateKeyFiles } from '../../integrity/keys.ts';
import { hashToken } from '../../receiver/auth/index.ts';
import { eventually, type ReceiverProcess, startReceiverProcess } from '../e2e/helpers/receiver-process.ts';

/** Where Debian's Chromium lives. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Launch flags: headless on a closed network, no background requests, no sandbox (root in CI). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
];

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Install Chromium (console/scripts/ensure-chromium.sh: apt-get as root) when it is missing. */
export function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  execFileSync(join(ROOT, 'console/scripts/ensure-chromium.sh'), { stdio: 'inherit', timeout: 900_000 });
}

/** Build the console (`npm run build:console`) when `dist/console` has no build. */
export function ensureConsoleBuild(): void {
  if (existsSync(join(ROOT, 'dist/console/.vite/manifest.json'))) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', join(ROOT, 'console/vite.config.ts')], {
    cwd: ROOT,
    stdio: 'inherit',
    timeout: 300_000,
  });
}

export const ADMIN_TOKEN = 'console-admin-token-0123456789abcdef';
export const ACME_TOKEN = 'console-acme-token-0123456789abcdef';
export const ACME_EVENTS = 120;
export const GLOBEX_EVENTS = 5;
const BASE_TIME = Date.parse('2026-12-01T10:00:00.000Z');

/** The i-th event of tenant acme (deterministic, so tests can compute what a filter must return). */
export function acmeEvent(i: number): AuditEventInput {
  return {
    occurredAt: new Date(BASE_TIME + i * 60_000).toISOString(),
    action: ['doc.read', 'doc.update', 'doc.delete', 'grant.issue'][i % 4]!,
    outcome: i % 5 === 0 ? 'denied' : i % 7 === 0 ? 'failure' : 'success',
    actor: { id: ['alice', 'bob', 'carol'][i % 3]!, type: 'user', ...(i % 3 === 0 ? { name: 'Alice Example' } : {}) },
    tenant: { id: 'acme' },
    targets: [{ type: 'doc', id: `d-${i % 10}` }],
    ...(i % 5 === 0 ? { reason: 'not the owner' } : {}),
    details: { n: i, note: i === 42 ? 'the needle is here' : 'routine' },
    request: { id: `req-${i}`, ip: '10.0.0.7', method: 'POST', path: `/docs/d-${i % 10}`, userAgent: 'console-test/1.0' },
    ...(i % 2 === 0
      ? {
          trace: {
            traceId: `${'4bf92f3577b34da6a3ce929d0e0e'}${String(1000 + i).padStart(4, '0')}`,
            spanId: `00f067aa0ba9${String(1000 + i).padStart(4, '0')}`,
          },
        }
      : {}),
  };
}

/** The i-th event of tenant globex. */
export function globexEvent(i: number): AuditEventInput {
  return {
    occurredAt: new Date(BASE_TIME + i * 60_000).toISOString(),
    action: 'secret.read',
    outcome: 'success',
    actor: { id: 'mallory', type: 'user' },
    tenant: { id: 'globex' },
    details: { n: i, note: 'globex only' },
  };
}

/** A running fixture. */
export interface ConsoleFixture {
  receiver: ReceiverProcess;
  /** `http://127.0.0.1:<port>` of the running receiver (changes on {@link ConsoleFixture.tamperAndRestart}). */
  http: string;
  dataDir: string;
  verifierKey: string;
  acmeIds: string[];
  globexIds: string[];
  /**
   * Stop the receiver, set ActorId of `eventId` in its ClickHouse with ALTER TABLE … UPDATE (in a
   * child process: chDB allows one engine per data path per process), and start it again (new port).
   */
  tamperAndRestart(eventId: string, actor: string): Promise<void>;
  close(): Promise<void>;
}

async function send(http: string, token: string, events: AuditEventInput[]): Promise<string[]> {
  const audit = createAuditLogger({
    delivery: 'memory',
    exporter: { protocol: 'http/json', endpoint: `${http}/v1/logs`, headers: { authorization: `Bearer ${token}` } },
    minBackoffMillis: 50,
    maxBackoffMillis: 200,
  });
  const ids: string[] = [];
  for (const e of events) ids.push(await audit.record(e));
  const flushed = await audit.shutdown({ timeoutMillis: 10_000 });
  if (flushed.status !== 'success') throw new Error(`events not delivered: ${JSON.stringify(flushed)}`);
  return ids;
}

/** GET JSON from the receiver with a token. */
export async function getJson<T>(http: string, path: string, token = ADMIN_TOKEN): Promise<T> {
  const res = await fetch(`${http}${path}`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Start the receiver process, send the events, and wait until every event is in ClickHouse and signed. */
export async function startConsoleFixture(): Promise<ConsoleFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-console-'));
  const keys = await generateKeyFiles({ name: 'otel-audit/console-test', outDir: join(dataDir, 'keys') });
  const configFile = join(dataDir, 'otel-audit.yaml');
  writeFileSync(
    configFile,
    JSON.stringify({
      instanceId: 'rcv-ui',
      auth: {
        tokens: [
          { name: 'admin', sha256: hashToken(ADMIN_TOKEN) },
          { name: 'acme-app', sha256: hashToken(ACME_TOKEN), tenantId: 'acme' },
        ],
      },
      integrity: { enabled: true, signingKeyFile: keys.signerPath, checkpointIntervalMillis: 200 },
      exporters: { coldstore: { enabled: false } },
      pipeline: { exporters: { maxBatchDelayMillis: 20 } },
      ui: { sampleIntervalMillis: 250 },
    }),
  );
  const receiver = await startReceiverProcess({ dataDir, args: ['--config', configFile] });
  const http = receiver.http;
  try {
    const acmeIds = await send(
      http,
      ADMIN_TOKEN,
      Array.from({ length: ACME_EVENTS }, (_, i) => acmeEvent(i)),
    );
    const globexIds = await send(
      http,
      ADMIN_TOKEN,
      Array.from({ length: GLOBEX_EVENTS }, (_, i) => globexEvent(i)),
    );
    // A record the receiver rejects (no actor), so the Status page has a dead letter with a reason.
    const bad = await fetch(`${http}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({
        resourceLogs: [
          {
            scopeLogs: [
              {
                logRecords: [
                  {
                    timeUnixNano: '1764583200000000000',
                    attributes: [
                      { key: 'audit.schema_version', value: { stringValue: '1.0' } },
                      { key: 'audit.action', value: { stringValue: 'doc.read' } },
                    ],
                  },
                ],
              },
            ],
          },
        ],
      }),
    });
    await bad.arrayBuffer();
    // Every event stored in ClickHouse and covered by a checkpoint that ClickHouse holds too.
    await eventually(
      async () => {
        const a = await getJson<{ events: unknown[] }>(http, '/v1/audit/events?tenant=acme&limit=1000');
        const g = await getJson<{ events: unknown[] }>(http, '/v1/audit/events?tenant=globex&limit=1000');
        if (a.events.length !== ACME_EVENTS || g.events.length !== GLOBEX_EVENTS) return undefined;
        const { chains } = await getJson<{ chains: Array<{ head: { seq: number }; lastCheckpoint: { treeSize: number } | null }> }>(
          http,
          '/v1/audit/console/chains',
        );
        return chains.length === 2 && chains.every((c) => c.lastCheckpoint?.treeSize === c.head.seq) ? true : undefined;
      },
      1200,
      100,
    );
    const fx: ConsoleFixture = {
      receiver,
      http,
      dataDir,
      verifierKey: keys.verifierKey,
      acmeIds,
      globexIds,
      async tamperAndRestart(eventId, actor) {
        const code = await fx.receiver.stop();
        if (code !== 0) throw new Error(`receiver stopped with ${code}:\n${fx.receiver.output()}`);
        const out = execFileSync(process.execPath, [fileURLToPath(new URL('./tamper-main.ts', import.meta.url)), dataDir, eventId, actor], {
          encoding: 'utf8',
          timeout: 120_000,
        });
        if (!out.includes(actor)) throw new Error(`the tamper did not apply: ${out}`);
        fx.receiver = await startReceiverProcess({ dataDir, args: ['--config', configFile] });
        fx.http = fx.receiver.http;
      },
      async close() {
        await fx.receiver.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
    return fx;
  } catch (err) {
    await receiver.kill();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}
