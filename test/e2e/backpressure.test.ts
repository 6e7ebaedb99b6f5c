/**
 * Back-pressure through the whole receiver: an exporter that refuses makes the un-exported backlog
 * grow; past `maxBacklogBytes` ingest answers 503 + Retry-After (HTTP) and UNAVAILABLE (gRPC, via
 * the stock OTel exporter's failure), and accepts again once the exporter recovers and drains.
 * Nothing acknowledged is lost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditError } from '@otel-audit/core';
import { uuidv7 } from '@otel-audit/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditExporter, ExportBatch, ExportResult } from '../../receiver/contracts.ts';
import { createReceiver } from '../../receiver/index.ts';
import { eventually } from './helpers/receiver-process.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A real exporter that keeps what it receives and refuses (retryable) while `down` is true. */
class SwitchableExporter implements AuditExporter {
  readonly name = 'switchable';
  down = true;
  readonly received = new Set<string>();
  async start(): Promise<void> {}
  async shutdown(): Promise<void> {}
  async export(batch: ExportBatch): Promise<ExportResult> {
    if (this.down)
      return { status: 'retryable', error: new AuditError('AUDIT_ERR_STORE_UNAVAILABLE', 'switched off'), retryAfterMillis: 20 };
    for (const e of batch.entries) if (e.kind === 'event') this.received.add(e.event.eventId);
    return { status: 'success' };
  }
}

function batch(ids: string[]): string {
  return JSON.stringify({
    resourceLogs: [
      {
        scopeLogs: [
          {
            logRecords: ids.map((id) => ({
              timeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
              eventName: 'doc.read',
              body: { stringValue: JSON.stringify({ padding: 'x'.repeat(400) }) },
              attributes: [
                { key: 'audit.schema_version', value: { stringValue: '1.0' } },
                { key: 'audit.event_id', value: { stringValue: id } },
                { key: 'audit.outcome', value: { stringValue: 'success' } },
                { key: 'audit.actor.id', value: { stringValue: 'svc' } },
                { key: 'audit.actor.type', value: { stringValue: 'service' } },
                { key: 'audit.tenant.id', value: { stringValue: 'acme' } },
              ],
            })),
          },
        ],
      },
    ],
  });
}

describe('back-pressure', () => {
  it('answers retryable once the backlog bound is hit and accepts again after the exporter recovers', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-bp-'));
    dirs.push(dataDir);
    const exporter = new SwitchableExporter();
    const receiver = createReceiver(
      {
        dataDir,
        http: { port: 0 },
        grpc: { enabled: false },
        exporters: { clickhouse: { enabled: false }, coldstore: { enabled: false } },
        pipeline: {
          maxBacklogBytes: 64 * 1024,
          maintenanceIntervalMillis: 20,
          wal: { segmentBytes: 16 * 1024 },
          exporters: { maxBatchDelayMillis: 10, initialBackoffMillis: 10, maxBackoffMillis: 50 },
        },
      },
      { extraExporters: [exporter] },
    );
    const { http } = await receiver.start();
    const acknowledged = new Set<string>();
    const post = async (ids: string[]) => {
      const res = await fetch(`${http}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: batch(ids) });
      if (res.status === 200) for (const id of ids) acknowledged.add(id);
      return res;
    };
    try {
      // Fill the backlog until the receiver pushes back.
      let refused: Response | undefined;
      for (let i = 0; i < 500 && !refused; i++) {
        const res = await post(Array.from({ length: 20 }, () => uuidv7()));
        if (res.status !== 200) refused = res;
        else await res.arrayBuffer();
      }
      expect(refused?.status).toBe(503);
      expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const status = (await (await fetch(`${http}/v1/audit/status`)).json()) as { backpressure: { active: boolean } };
      expect(status.backpressure.active).toBe(true);

      // Exporter comes back: the backlog drains and ingest opens again.
      exporter.down = false;
      const reopened = await eventually(async () => {
        const res = await post([uuidv7()]);
        await res.arrayBuffer();
        return res.status === 200 ? true : undefined;
      });
      expect(reopened).toBe(true);
      await eventually(async () => ([...acknowledged].every((id) => exporter.received.has(id)) ? true : undefined));
      expect(acknowledged.size).toBeGreaterThan(0);
    } finally {
      await receiver.shutdown();
    }
  });
});
