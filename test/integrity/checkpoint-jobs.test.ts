/**
 * The receiver's checkpoint jobs stay bounded: a chain is due from the entry that makes it due
 * until its checkpoint is taken (behind earlier jobs and a WAL commit), and the entries fed in
 * between must not each queue a job of their own. With one job per due entry the queue grew
 * without bound once commits were slow (16 client connections: +17 MB/s of the main thread's heap,
 * docs/performance.md). Observed from inside the pipeline's own durable loop: the `onSequenced`
 * hook runs synchronously for every entry of a commit, before the job of any of them can start.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openWalView } from '../../cli/integrity/stores.ts';
import { verifyStore } from '../../cli/integrity/verify-store.ts';
import { generateKeyFiles } from '../../integrity/keys.ts';
import { createReceiver, type Receiver } from '../../receiver/index.ts';
import { readWalEntries } from '../../receiver/wal/read-entries.ts';
import { auditRequestObject, encodeRequest } from '../receiver/helpers/otlp-fixtures.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('checkpoint jobs', () => {
  it('queue at most one job per chain while a commit of many due entries is fed, and still cover every entry', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-cp-jobs-'));
    dirs.push(dataDir);
    const key = await generateKeyFiles({ name: 'otel-audit/jobs', outDir: join(dataDir, 'keys') });
    let receiver: Receiver | undefined;
    let mostQueued = 0;
    let fed = 0;
    receiver = createReceiver(
      {
        dataDir,
        instanceId: 'rcv-jobs',
        http: { port: 0 },
        grpc: { enabled: false },
        // Every entry makes its chain due: the case where a job per due entry piled up fastest.
        integrity: { enabled: true, signingKeyFile: key.signerPath, checkpointMaxEntries: 1, checkpointIntervalMillis: 60_000 },
        exporters: { clickhouse: { enabled: false }, coldstore: { enabled: false } },
      },
      {
        pipelineHooks: {
          onSequenced: () => {
            fed++;
            mostQueued = Math.max(mostQueued, receiver!.integrityStatus().queuedJobs);
          },
        },
      },
    );
    const { http } = (await receiver.start()) as { http: string };
    // Concurrent requests of one tenant (one chain): commits of hundreds of entries each.
    const answers = await Promise.all(
      Array.from({ length: 4 }, () =>
        fetch(`${http}/v1/logs`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-protobuf' },
          body: encodeRequest(auditRequestObject(300)),
        }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    await receiver.shutdown();
    // The fixture's 300 ids repeat across the requests: 300 entries, the rest deduplicated.
    expect(fed).toBe(300);
    expect(mostQueued).toBeGreaterThan(0);
    expect(mostQueued).toBeLessThanOrEqual(1);
    // Fewer jobs, same guarantee: the checkpoints extend each other and the last covers every entry.
    const sizes: number[] = [];
    for await (const e of readWalEntries(join(dataDir, 'wal'))) if (e.kind === 'checkpoint') sizes.push(e.checkpoint.treeSize);
    expect(sizes.at(-1)).toBe(300);
    const report = await verifyStore(await openWalView(join(dataDir, 'wal')), { verifierKeys: [key.verifierKey] });
    expect(report.problems).toEqual([]);
    expect(report.stats).toMatchObject({ chains: 1, entries: 300, uncoveredEntries: 0 });
  });
});
