/**
 * Checkpointing survives a crash: a receiver process with integrity enabled is killed (SIGKILL)
 * mid-stream; the next receiver on the same data dir resumes every chain from the last checkpoint
 * in the WAL, re-fed with the entry hashes after it (replayed by recovery and read from the WAL),
 * so the checkpoints of both runs form one consistent, fully verifiable history.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLogger } from '@otel-audit/sdk';
import { afterAll, expect, it } from 'vitest';
import { openWalView } from '../../cli/integrity/stores.ts';
import { verifyStore } from '../../cli/integrity/verify-store.ts';
import { generateKeyFiles } from '../../integrity/keys.ts';
import { createReceiver } from '../../receiver/index.ts';
import { readWalEntries } from '../../receiver/wal/read-entries.ts';
import { startReceiverProcess } from '../e2e/helpers/receiver-process.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-e2e-crash-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function send(http: string, tenant: string, n: number): Promise<void> {
  const audit = createAuditLogger({ delivery: 'memory', exporter: { protocol: 'http/json', endpoint: `${http}/v1/logs` } });
  for (let i = 0; i < n; i++)
    await audit.record({ action: 'doc.read', outcome: 'success', actor: { id: `u-${i}`, type: 'user' }, tenant: { id: tenant } });
  const flushed = await audit.shutdown({ timeoutMillis: 5000 });
  expect(flushed.status).toBe('success');
}

it('resumes after SIGKILL: one consistent history, every entry covered', async () => {
  const key = await generateKeyFiles({ name: 'otel-audit/crash', outDir: join(dataDir, 'keys') });
  const env = {
    OTEL_AUDIT_INSTANCE_ID: 'rcv-c',
    OTEL_AUDIT_EXPORTERS__CLICKHOUSE__ENABLED: 'false',
    OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false',
    OTEL_AUDIT_INTEGRITY__ENABLED: 'true',
    OTEL_AUDIT_INTEGRITY__SIGNING_KEY_FILE: key.signerPath,
    OTEL_AUDIT_INTEGRITY__CHECKPOINT_INTERVAL_MILLIS: '60000',
    OTEL_AUDIT_INTEGRITY__CHECKPOINT_MAX_ENTRIES: '25',
    // A heads snapshot soon after the last append: recovery then replays nothing, so the hashes
    // after the last checkpoint must be read back from the WAL segments.
    OTEL_AUDIT_PIPELINE__MAINTENANCE_INTERVAL_MILLIS: '20',
    OTEL_AUDIT_PIPELINE__HEADS_SNAPSHOT_INTERVAL_MILLIS: '100',
  };
  const first = await startReceiverProcess({ dataDir, env });
  await send(first.http, 'acme', 60);
  await send(first.http, 'globex', 10);
  // acme passed 25 entries, so a checkpoint of it is appended (asynchronously): wait until it is in the WAL.
  const checkpointsInWal = async (): Promise<number> => {
    let n = 0;
    for await (const e of readWalEntries(join(dataDir, 'wal'))) if (e.kind === 'checkpoint') n++;
    return n;
  };
  for (let i = 0; i < 100 && (await checkpointsInWal()) === 0; i++) await new Promise((r) => setTimeout(r, 50));
  const headsLsn = (): number => {
    try {
      return (JSON.parse(readFileSync(join(dataDir, 'wal', 'state', 'heads.json'), 'utf8')) as { lsn: number }).lsn;
    } catch {
      return 0;
    }
  };
  for (let i = 0; i < 100 && headsLsn() < 70 + 1; i++) await new Promise((r) => setTimeout(r, 50));
  expect(headsLsn()).toBeGreaterThanOrEqual(71); // 70 events + at least one checkpoint
  await first.kill(); // no shutdown: globex (10 < 25 entries) and acme's tail stay uncovered
  expect(await checkpointsInWal()).toBeGreaterThanOrEqual(1);

  const second = createReceiver({
    dataDir,
    instanceId: 'rcv-c',
    http: { port: 0 },
    grpc: { enabled: false },
    exporters: { clickhouse: { enabled: false }, coldstore: { enabled: false } },
    integrity: { enabled: true, signingKeyFile: key.signerPath, checkpointIntervalMillis: 60_000, checkpointMaxEntries: 25 },
  });
  const { http } = (await second.start()) as { http: string };
  await send(http, 'acme', 30);
  await second.shutdown();
  expect(second.integrityStatus().unresumable).toEqual([]);

  const byChain = new Map<string, Array<[number, number]>>();
  for await (const e of readWalEntries(join(dataDir, 'wal'))) {
    if (e.kind !== 'checkpoint') continue;
    const list = byChain.get(e.chainId) ?? [];
    list.push([e.checkpoint.previousTreeSize, e.checkpoint.treeSize]);
    byChain.set(e.chainId, list);
  }
  const acme = byChain.get('acme/rcv-c')!;
  for (let i = 1; i < acme.length; i++) expect(acme[i]![0]).toBe(acme[i - 1]![1]);
  expect(acme.at(-1)![1]).toBe(90);
  expect(byChain.get('globex/rcv-c')!.at(-1)![1]).toBe(10);
  const report = await verifyStore(await openWalView(join(dataDir, 'wal')), { verifierKeys: [key.verifierKey] });
  expect(report.problems).toEqual([]);
  expect(report.stats).toMatchObject({ chains: 2, entries: 100, uncoveredEntries: 0 });
}, 60_000);
