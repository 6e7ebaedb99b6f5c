/**
 * ClickHouse (a server by URL) unavailable for a while behind a running receiver: ingest goes on,
 * the exporter's lag shows in /metrics, and once ClickHouse is back every acknowledged event is
 * there exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLogger } from '@otel-audit/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { openClickHouse, parseClickHouseConfig } from '../../exporters/clickhouse/index.ts';
import { createReceiver } from '../../receiver/index.ts';
import { startClickHouseStandIn } from '../exporters/clickhouse/server-standin.ts';
import { eventually, freePort } from './helpers/receiver-process.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'otel-audit-chdown-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function lag(metrics: string): number {
  const m = /otel_audit_exporter_lag_entries\{exporter="clickhouse"\} (\d+)/.exec(metrics);
  return m ? Number(m[1]) : Number.NaN;
}

describe('ClickHouse outage behind the receiver', () => {
  it('keeps accepting, shows the lag, and delivers everything exactly once when ClickHouse returns', async () => {
    const engine = openClickHouse(parseClickHouseConfig({ dataDir: tempDir() }));
    const port = await freePort();
    const database = `outage_${Date.now()}`;
    const receiver = createReceiver({
      dataDir: tempDir(),
      http: { port: 0 },
      grpc: { enabled: false },
      exporters: { clickhouse: { url: `http://127.0.0.1:${port}`, database, requestTimeoutMillis: 2000 }, coldstore: { enabled: false } },
      pipeline: { exporters: { maxBatchDelayMillis: 20, initialBackoffMillis: 50, maxBackoffMillis: 200 } },
    });
    const { http } = (await receiver.start()) as { http: string };
    let standIn: Server | undefined;
    try {
      const audit = createAuditLogger({ delivery: 'memory', exporter: { protocol: 'http/protobuf', endpoint: `${http}/v1/logs` } });
      const ids = new Set<string>();
      for (let i = 0; i < 2000; i++) {
        ids.add(
          await audit.record({
            action: 'doc.read',
            outcome: 'success',
            actor: { id: `u-${i % 10}`, type: 'user' },
            tenant: { id: 'acme' },
          }),
        );
      }
      expect((await audit.shutdown({ timeoutMillis: 30_000 })).status).toBe('success');

      // Everything acknowledged, nothing exported: the lag is visible.
      const metrics = await (await fetch(`${http}/metrics`)).text();
      expect(lag(metrics)).toBe(2000);

      // ClickHouse comes back.
      standIn = await startClickHouseStandIn(engine, port);
      await eventually(async () => (lag(await (await fetch(`${http}/metrics`)).text()) === 0 ? true : undefined), 300, 100);
      const rs = await engine.client.query({
        query: `SELECT count() AS n, uniqExact(EventId) AS u, groupArray(toString(EventId)) AS ids FROM ${database}.audit_events`,
        format: 'JSONEachRow',
      });
      const [row] = await rs.json<{ n: string; u: string; ids: string[] }>();
      expect(Number(row!.n)).toBe(2000);
      expect(Number(row!.u)).toBe(2000);
      expect(new Set(row!.ids)).toEqual(ids);
    } finally {
      await receiver.shutdown();
      await new Promise<void>((r) => (standIn ? standIn.close(() => r()) : r()));
      await engine.close();
    }
  });
});
