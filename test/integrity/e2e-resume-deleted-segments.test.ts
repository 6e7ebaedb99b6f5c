/**
 * Checkpointing resumes even when the WAL segments holding the entries after the last checkpoint
 * were already deleted (exported everywhere, then garbage-collected) before a crash: the hashes are
 * read back from ClickHouse, checked to link to each other and to the WAL, and the first checkpoint
 * after the restart covers the whole chain. Verified from ClickHouse afterwards.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLogger } from '@otel-audit/sdk';
import { afterAll, expect, it } from 'vitest';
import { openClickHouseView } from '../../cli/integrity/stores.ts';
import { verifyStore } from '../../cli/integrity/verify-store.ts';
import { openClickHouse, parseClickHouseConfig } from '../../exporters/clickhouse/index.ts';
import { generateKeyFiles } from '../../integrity/keys.ts';
import { createReceiver } from '../../receiver/index.ts';
import { startReceiverProcess } from '../e2e/helpers/receiver-process.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-e2e-gc-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function send(http: string, n: number, from: number): Promise<void> {
  const audit = createAuditLogger({ delivery: 'memory', exporter: { protocol: 'http/json', endpoint: `${http}/v1/logs` } });
  for (let i = 0; i < n; i++)
    await audit.record({
      action: 'doc.read',
      outcome: 'success',
      actor: { id: `u-${from + i}`, type: 'user' },
      tenant: { id: 'acme' },
      details: { pad: 'x'.repeat(200) },
    });
  expect((await audit.shutdown({ timeoutMillis: 10_000 })).status).toBe('success');
}

function firstSegmentLsn(): number {
  const names = readdirSync(join(dataDir, 'wal', 'segments'))
    .filter((n) => /^\d{20}\.wal$/.test(n))
    .sort();
  return names.length === 0 ? 0 : Number(names[0]!.slice(0, 20));
}

it('re-reads the hashes of deleted segments from ClickHouse and resumes', async () => {
  const key = await generateKeyFiles({ name: 'otel-audit/gc', outDir: join(dataDir, 'keys') });
  const first = await startReceiverProcess({
    dataDir,
    env: {
      OTEL_AUDIT_INSTANCE_ID: 'rcv-g',
      OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false',
      OTEL_AUDIT_INTEGRITY__ENABLED: 'true',
      OTEL_AUDIT_INTEGRITY__SIGNING_KEY_FILE: key.signerPath,
      OTEL_AUDIT_INTEGRITY__CHECKPOINT_INTERVAL_MILLIS: '3600000',
      OTEL_AUDIT_INTEGRITY__CHECKPOINT_MAX_ENTRIES: '1000000',
      OTEL_AUDIT_PIPELINE__WAL__SEGMENT_BYTES: '4096',
      OTEL_AUDIT_PIPELINE__MAINTENANCE_INTERVAL_MILLIS: '20',
      OTEL_AUDIT_PIPELINE__EXPORTERS__MAX_BATCH_DELAY_MILLIS: '5',
    },
  });
  for (let r = 0; r < 4; r++) await send(first.http, 25, r * 25);
  // Exported to ClickHouse and the early segments deleted, with no checkpoint made yet.
  for (let i = 0; i < 200 && firstSegmentLsn() <= 1; i++) await new Promise((res) => setTimeout(res, 50));
  expect(firstSegmentLsn()).toBeGreaterThan(1);
  await first.kill();

  const second = createReceiver({
    dataDir,
    instanceId: 'rcv-g',
    http: { port: 0 },
    grpc: { enabled: false },
    exporters: { coldstore: { enabled: false } },
    pipeline: { wal: { segmentBytes: 4096 }, exporters: { maxBatchDelayMillis: 5 } },
    integrity: { enabled: true, signingKeyFile: key.signerPath, checkpointIntervalMillis: 3_600_000, checkpointMaxEntries: 1_000_000 },
  });
  const { http } = (await second.start()) as { http: string };
  expect(second.integrityStatus().unresumable).toEqual([]);
  await send(http, 10, 100);
  await new Promise((res) => setTimeout(res, 100));
  for (let i = 0; i < 100 && second.status().exporters.some((e) => e.cursorLsn < second.status().wal.lastLsn); i++)
    await new Promise((res) => setTimeout(res, 50));
  await second.shutdown(); // flushes the checkpoint over all 110 entries (exported on the next start)
  expect(second.integrityStatus()).toMatchObject({ unresumable: [], checkpointsWritten: 1 });

  // Start once more so the shutdown checkpoint reaches ClickHouse, then verify there.
  const third = createReceiver({
    dataDir,
    instanceId: 'rcv-g',
    http: { port: 0 },
    grpc: { enabled: false },
    exporters: { coldstore: { enabled: false } },
    pipeline: { exporters: { maxBatchDelayMillis: 5 } },
  });
  await third.start();
  for (let i = 0; i < 100 && third.status().exporters.some((e) => e.cursorLsn < third.status().wal.lastLsn); i++)
    await new Promise((res) => setTimeout(res, 50));
  await third.shutdown();
  const ch = openClickHouse(parseClickHouseConfig({ dataDir }));
  try {
    const report = await verifyStore(
      openClickHouseView(ch.client, { database: 'otel_audit', table: 'audit_events', checkpointsTable: 'audit_checkpoints' }),
      { verifierKeys: [key.verifierKey] },
    );
    expect(report.problems).toEqual([]);
    expect(report.stats).toMatchObject({ chains: 1, entries: 110, checkpoints: 1, checkpointsVerified: 1, uncoveredEntries: 0 });
  } finally {
    await ch.close();
  }
}, 60_000);
