/**
 * Shared set-up of the integrity end-to-end tests: a real receiver (in this process) with integrity
 * enabled and a generated key, the embedded ClickHouse (chDB) and the local archive, fed through
 * the SDK over OTLP/HTTP; it waits until every chain is checkpointed and every checkpoint is in
 * ClickHouse and beside the archive objects, then stops the receiver. Each test file gets its own
 * temp dir (chDB binds one engine per data path per process; vitest runs files in separate forks).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAuditLogger } from '@otel-audit/sdk';
import { type GeneratedKeyFiles, generateKeyFiles } from '../../integrity/keys.ts';
import { createReceiver } from '../../receiver/index.ts';

const CLI = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const FIXTURE_MAIN = fileURLToPath(new URL('./e2e-fixture-main.ts', import.meta.url));

/** What {@link runIntegrityReceiver} produced. */
export interface IntegrityFixture {
  dataDir: string;
  key: GeneratedKeyFiles;
  instanceId: string;
  /** Event ids sent, per tenant, in send order. */
  ids: Record<string, string[]>;
  /** Head seq per chain id. */
  heads: Record<string, number>;
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMillis = 30_000): Promise<void> {
  const end = Date.now() + timeoutMillis;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => join(d.parentPath, d.name));
  } catch {
    return [];
  }
}

/**
 * Run a receiver with integrity on, send `perTenant` events for each tenant (in a few requests, so
 * several checkpoints are made per chain), wait until all stores hold everything, stop it.
 */
export async function runIntegrityReceiver(options: {
  prefix: string;
  tenants?: string[];
  perTenant?: number;
  clickhouse?: boolean;
}): Promise<IntegrityFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), `otel-audit-${options.prefix}-`));
  const key = await generateKeyFiles({ name: 'otel-audit/test-host', outDir: join(dataDir, 'keys') });
  const tenants = options.tenants ?? ['acme', 'globex'];
  const perTenant = options.perTenant ?? 300;
  const receiver = createReceiver({
    dataDir,
    instanceId: 'rcv-test',
    http: { port: 0 },
    grpc: { enabled: false },
    integrity: { enabled: true, signingKeyFile: key.signerPath, checkpointIntervalMillis: 100, checkpointMaxEntries: 128 },
    pipeline: { exporters: { maxBatchDelayMillis: 10 } },
    exporters: {
      clickhouse: { enabled: options.clickhouse ?? true },
      coldstore: { maxObjectAgeMillis: 50, uploadRetryMillis: 50 },
    },
  });
  const { http } = (await receiver.start()) as { http: string };
  const ids: Record<string, string[]> = {};
  try {
    const audit = createAuditLogger({
      delivery: 'memory',
      exporter: { protocol: 'http/json', endpoint: `${http}/v1/logs` },
      minBackoffMillis: 20,
      maxBackoffMillis: 100,
    });
    for (let round = 0; round < 3; round++) {
      for (const t of tenants) {
        ids[t] ??= [];
        const n = Math.ceil(perTenant / 3);
        for (let i = 0; i < n && ids[t].length < perTenant; i++) {
          ids[t].push(
            await audit.record({
              action: i % 2 === 0 ? 'grant.issue' : 'user.login',
              outcome: i % 7 === 0 ? 'denied' : 'success',
              actor: { id: `u-${i % 13}`, type: 'user' },
              tenant: { id: t },
              targets: [{ type: 'grant', id: `g-${round}-${i}` }],
              details: { round, i },
            }),
          );
        }
      }
      await audit.flush({ timeoutMillis: 10_000 });
      // Let the archive seal an object and the checkpointer sign between rounds: several of each per chain.
      await new Promise((r) => setTimeout(r, 250));
    }
    await audit.shutdown({ timeoutMillis: 10_000 });
    const chainIds = tenants.map((t) => `${t}/rcv-test`);
    await until(
      () => chainIds.every((c) => receiver.status().chains.find((h) => h.chainId === c)?.seq === perTenant),
      'all events sequenced',
    );
    const heads = Object.fromEntries(receiver.status().chains.map((c) => [c.chainId, c.seq]));
    // Every chain checkpointed at its head, and every exporter past the last WAL entry.
    await until(() => {
      const s = receiver.status();
      return s.exporters.every((e) => e.cursorLsn === s.wal.lastLsn) && receiver.integrityStatus().checkpointsWritten > 0;
    }, 'exporters caught up');
    const archive = join(dataDir, 'archive');
    await until(() => {
      const files = listFiles(join(archive, 'checkpoints'));
      return chainIds.every((c) =>
        files.some((f) => f.includes(c.replace('/', '%2F')) && f.endsWith(`${String(perTenant).padStart(20, '0')}.json`)),
      );
    }, 'archive checkpoints at the heads');
    await until(() => {
      const s = receiver.status();
      return s.exporters.every((e) => e.cursorLsn === s.wal.lastLsn);
    }, 'exporters caught up again');
    return { dataDir, key, instanceId: 'rcv-test', ids, heads };
  } finally {
    await receiver.shutdown();
  }
}

/** Run the CLI (`node cli/main.ts …`) in a child process; resolves with exit code and output. */
export function runCli(args: string[], options: { cwd?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * {@link runIntegrityReceiver} in a child process (see e2e-fixture-main.ts): the test process never
 * loads chDB, so it and the CLI can open the embedded store afterwards.
 */
export async function runIntegrityReceiverInChild(options: Parameters<typeof runIntegrityReceiver>[0]): Promise<IntegrityFixture> {
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [FIXTURE_MAIN, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.code !== 0 || !last.startsWith('{')) throw new Error(`integrity fixture failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(last) as IntegrityFixture;
}
