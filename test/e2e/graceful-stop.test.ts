/**
 * A graceful stop flushes: `otel-audit start` as a process with its embedded defaults (chDB and the
 * local archive), 3,000 events acknowledged, SIGTERM right after the last ack. Once the process has
 * exited, the archive's Parquet objects and the embedded ClickHouse (reopened on the data dir) hold
 * every acknowledged event exactly once, and the signed checkpoints made at the stop are in both.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLogger } from '@otel-audit/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { openClickHouse, parseClickHouseConfig } from '../../exporters/clickhouse/index.ts';
import {
  coldObjectRows,
  LocalDirectoryStore,
  listArchivedCheckpoints,
  listColdObjects,
  readColdObject,
} from '../../exporters/coldstore/index.ts';
import { startReceiverProcess } from './helpers/receiver-process.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('graceful stop', () => {
  it('SIGTERM right after the acks: archive and ClickHouse hold every acknowledged event once', { timeout: 240_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-stop-'));
    dirs.push(dataDir);
    const receiver = await startReceiverProcess({ dataDir });
    const tenant = `t-stop-${Date.now()}`;
    const acked = new Set<string>();
    const audit = createAuditLogger({
      delivery: 'memory',
      exporter: { protocol: 'http/protobuf', endpoint: `${receiver.http}/v1/logs` },
      serviceName: 'stop-test',
    });
    for (let i = 0; i < 3000; i++) {
      acked.add(
        await audit.record({
          action: 'doc.read',
          outcome: 'success',
          actor: { id: `u-${i % 17}`, type: 'user' },
          tenant: { id: tenant },
          targets: [{ type: 'doc', id: `d-${i}` }],
        }),
      );
    }
    // Resolves once every record was acknowledged by the receiver (fsync'd in its WAL).
    expect((await audit.shutdown({ timeoutMillis: 60_000 })).status).toBe('success');
    expect(acked.size).toBe(3000);

    const code = await receiver.stop();
    expect(code, receiver.output()).toBe(0);

    // The archive: every acknowledged event in the Parquet objects, once; nothing left in staging.
    const store = new LocalDirectoryStore(join(dataDir, 'archive'));
    const listing = await listColdObjects(store, { tenant });
    expect(listing.status).toBe('success');
    if (listing.status !== 'success') return;
    expect(listing.value.objects.length).toBeGreaterThan(0);
    const archived: string[] = [];
    for (const ref of listing.value.objects) {
      expect(ref.format).toBe('parquet');
      const read = await readColdObject(store, ref.key);
      if (!read.ok) throw new Error(`${ref.key}: ${read.reason}`);
      for (const row of await coldObjectRows(read)) archived.push(row.EventId);
    }
    expect(archived.length).toBe(3000);
    expect(new Set(archived)).toEqual(acked);
    // The checkpoint made at the stop covers the whole chain and went up beside the objects.
    const checkpoints = await listArchivedCheckpoints(store, { tenant });
    expect(checkpoints.status).toBe('success');
    if (checkpoints.status === 'success') expect(Math.max(...checkpoints.value.map((c) => (c.ok ? c.record.treeSize : 0)))).toBe(3000);

    // ClickHouse: the embedded engine reopened on the data dir after the process exited.
    const handle = openClickHouse(parseClickHouseConfig({ dataDir }));
    try {
      const rs = await handle.client.query({
        query:
          'SELECT count() AS n, uniqExact(EventId) AS d, groupArray(toString(EventId)) AS ids FROM otel_audit.audit_events WHERE TenantId = {t:String}',
        query_params: { t: tenant },
        format: 'JSONEachRow',
      });
      const [row] = await rs.json<{ n: string | number; d: string | number; ids: string[] }>();
      expect(Number(row!.n)).toBe(3000);
      expect(Number(row!.d)).toBe(3000);
      expect(new Set(row!.ids)).toEqual(acked);
      const cp = await handle.client.query({
        query: 'SELECT max(TreeSize) AS s FROM otel_audit.audit_checkpoints WHERE startsWith(ChainId, {t:String})',
        query_params: { t: `${tenant}/` },
        format: 'JSONEachRow',
      });
      expect((await cp.json<{ s: string | number }>()).map((r) => Number(r.s))).toEqual([3000]);
    } finally {
      await handle.close();
    }
  });
});
