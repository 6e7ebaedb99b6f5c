/**
 * The receiver's checkpointing: it refuses to start with integrity enabled and no usable key
 * (AUDIT_ERR_KEY naming the file and the problem), and after a restart it resumes each chain from
 * the last checkpoint in the WAL, so the checkpoints of both runs form one consistent history.
 * WAL only (exporters off) to stay fast.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLogger } from '@otel-audit/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { openWalView } from '../../cli/integrity/stores.ts';
import { verifyStore } from '../../cli/integrity/verify-store.ts';
import { generateKeyFiles } from '../../integrity/keys.ts';
import { createReceiver, type ReceiverConfigInput } from '../../receiver/index.ts';
import { readWalEntries } from '../../receiver/wal/read-entries.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'otel-audit-e2e-rcv-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const base = (dataDir: string, integrity: ReceiverConfigInput['integrity']): ReceiverConfigInput => ({
  dataDir,
  instanceId: 'rcv-r',
  http: { port: 0 },
  grpc: { enabled: false },
  integrity,
  exporters: { clickhouse: { enabled: false }, coldstore: { enabled: false } },
});

describe('no usable key: the receiver refuses to start', () => {
  it('integrity enabled without signingKeyFile: the data dir key, created once; two keys there refuse to start', async () => {
    const dataDir = tempDir();
    const r = createReceiver(base(dataDir, { enabled: true }));
    await r.start();
    const first = r.integrityStatus();
    await r.shutdown();
    expect(first).toMatchObject({ enabled: true, keyCreated: true, keyFile: expect.stringContaining(join(dataDir, 'keys')) });
    const again = createReceiver(base(dataDir, { enabled: true }));
    await again.start();
    expect(again.integrityStatus()).toMatchObject({ keyCreated: false, keyFile: first.keyFile, verifierKey: first.verifierKey });
    await again.shutdown();
    await generateKeyFiles({ name: 'otel-audit/second', outDir: join(dataDir, 'keys') });
    await expect(createReceiver(base(dataDir, { enabled: true })).start()).rejects.toMatchObject({
      code: 'AUDIT_ERR_KEY',
      message: expect.stringMatching(/holds 2 signing keys.*set integrity\.signingKeyFile/),
    });
  });

  it('a key file that does not exist, and one that holds no key', async () => {
    const dir = tempDir();
    const missing = join(dir, 'nope.key');
    await expect(createReceiver(base(dir, { enabled: true, signingKeyFile: missing })).start()).rejects.toMatchObject({
      code: 'AUDIT_ERR_KEY',
      message: expect.stringContaining(`signing key file not found: ${missing}`),
    });
    const garbage = join(dir, 'garbage.key');
    writeFileSync(garbage, 'not a key\n', { mode: 0o600 });
    await expect(createReceiver(base(tempDir(), { enabled: true, signingKeyFile: garbage })).start()).rejects.toMatchObject({
      code: 'AUDIT_ERR_KEY',
      message: expect.stringContaining(garbage),
    });
  });

  it('integrity on by default; disabled, it starts without a key and creates none', async () => {
    const dataDir = tempDir();
    const r = createReceiver(base(dataDir, undefined));
    await r.start();
    expect(r.integrityStatus()).toMatchObject({ enabled: true, keyCreated: true });
    await r.shutdown();
    const off = tempDir();
    const d = createReceiver(base(off, { enabled: false }));
    await d.start();
    expect(d.integrityStatus().enabled).toBe(false);
    await d.shutdown();
    expect(existsSync(join(off, 'keys'))).toBe(false);
  });
});

describe('restart', () => {
  it('resumes from the last checkpoint in the WAL: one consistent history across runs', async () => {
    const dataDir = tempDir();
    const key = await generateKeyFiles({ name: 'otel-audit/restart', outDir: join(dataDir, 'keys') });
    const integrity = { enabled: true, signingKeyFile: key.signerPath, checkpointIntervalMillis: 50, checkpointMaxEntries: 20 };
    for (let run = 0; run < 2; run++) {
      const receiver = createReceiver(base(dataDir, integrity));
      const { http } = (await receiver.start()) as { http: string };
      const audit = createAuditLogger({ delivery: 'memory', exporter: { protocol: 'http/json', endpoint: `${http}/v1/logs` } });
      for (let i = 0; i < 45; i++)
        await audit.record({ action: 'doc.read', outcome: 'success', actor: { id: `u-${run}`, type: 'user' }, tenant: { id: 'acme' } });
      await audit.shutdown({ timeoutMillis: 5000 });
      const status = (await (await fetch(`${http}/v1/audit/status`)).json()) as { integrity?: unknown };
      expect(status.integrity).toMatchObject({ enabled: true, keyName: 'otel-audit/restart', keyId: key.keyIdHex, unresumable: [] });
      await receiver.shutdown();
      expect(receiver.integrityStatus()).toMatchObject({ enabled: true, keyName: 'otel-audit/restart', unresumable: [] });
    }
    const sizes: Array<[number, number]> = [];
    for await (const e of readWalEntries(join(dataDir, 'wal')))
      if (e.kind === 'checkpoint') sizes.push([e.checkpoint.previousTreeSize, e.checkpoint.treeSize]);
    // Each checkpoint extends the previous one, across the restart, and the last covers all 90.
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]![0]).toBe(sizes[i - 1]![1]);
    expect(sizes.at(-1)![1]).toBe(90);
    expect(sizes.some(([, size]) => size === 45)).toBe(true); // the flush at the first shutdown
    const report = await verifyStore(await openWalView(join(dataDir, 'wal')), { verifierKeys: [key.verifierKey] });
    expect(report.problems).toEqual([]);
    expect(report.stats).toMatchObject({ chains: 1, entries: 90, uncoveredEntries: 0 });
    expect(report.stats.checkpointsVerified).toBe(sizes.length);
  });
});
