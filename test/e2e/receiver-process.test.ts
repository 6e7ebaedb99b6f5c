/**
 * The receiver as users run it: `otel-audit start` in its own process, real OTel JS exporters and
 * the project's SDK as clients, ClickHouse (embedded chDB) queried back through the receiver's own
 * ClickHouse-HTTP endpoint with @clickhouse/client, and SIGKILL crashes under load.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SeverityNumber } from '@opentelemetry/api';
import { OTLPLogExporter as OtlpProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { auditEventToLogRecord, validateAuditEvent } from '@otel-audit/schema';
import { createAuditLogger, uuidv7 } from '@otel-audit/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { computeEntryHash, GENESIS_HASH } from '../../integrity/chain-hash.ts';
import type { WalEntry } from '../../receiver/contracts.ts';
import { readWalEntries } from '../../receiver/wal/index.ts';
import { auditRequestJson, eventually, startReceiverProcess, tenantEventsInClickHouse } from './helpers/receiver-process.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'otel-audit-e2e-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const NO_COLDSTORE = { OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false' };

describe('otel-audit start (child process)', () => {
  it('takes events from the OTel JS exporters and the SDK over http/json, http/protobuf and grpc, stores each once, and keeps dedupe across a restart', async () => {
    const dataDir = tempDir();
    let receiver = await startReceiverProcess({ dataDir, env: NO_COLDSTORE });
    const tenant = `t-${Date.now()}`;
    const expected = new Set<string>();

    // The SDK over each protocol.
    for (const protocol of ['http/json', 'http/protobuf', 'grpc'] as const) {
      const endpoint = protocol === 'grpc' ? `http://${receiver.grpc}` : `${receiver.http}/v1/logs`;
      const audit = createAuditLogger({ delivery: 'memory', exporter: { protocol, endpoint }, serviceName: `svc-${protocol}` });
      for (let i = 0; i < 20; i++) {
        const id = await audit.record({
          action: 'grant.issue',
          outcome: 'success',
          actor: { id: `u-${i}`, type: 'user' },
          tenant: { id: tenant },
          targets: [{ type: 'grant', id: `g-${i}` }],
        });
        expected.add(id);
      }
      expect((await audit.shutdown({ timeoutMillis: 20_000 })).status).toBe('success');
    }

    // A stock OTel JS LoggerProvider with the stock OTLP/protobuf exporter (no otel-audit SDK).
    const provider = new LoggerProvider({
      processors: [new SimpleLogRecordProcessor({ exporter: new OtlpProtoExporter({ url: `${receiver.http}/v1/logs` }) })],
    });
    const duplicateId = uuidv7();
    const malloryIds = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const valid = validateAuditEvent({
        eventId: i >= 3 ? duplicateId : uuidv7(), // the last two carry the same id
        schemaVersion: '1.0',
        occurredAt: new Date().toISOString(),
        action: 'user.login',
        outcome: 'denied',
        actor: { id: 'mallory', type: 'user' },
        tenant: { id: tenant },
      });
      if (!valid.ok) throw valid.error;
      const fields = auditEventToLogRecord(valid.event);
      provider.getLogger('stock').emit({ ...fields, severityNumber: fields.severityNumber as SeverityNumber });
      expected.add(valid.event.eventId);
      malloryIds.add(valid.event.eventId);
    }
    await provider.forceFlush();
    await provider.shutdown();

    const first = await eventually(async () => {
      const r = await tenantEventsInClickHouse(receiver.http, tenant);
      return r.count >= expected.size ? r : undefined;
    });
    expect(first.count).toBe(expected.size);
    expect(new Set(first.ids)).toEqual(expected);

    // Restart; the duplicate arrives again over gRPC: acknowledged, not stored again.
    expect(await receiver.stop(), receiver.output()).toBe(0);
    receiver = await startReceiverProcess({ dataDir, env: NO_COLDSTORE });
    const again = createAuditLogger({ delivery: 'memory', exporter: { protocol: 'grpc', endpoint: `http://${receiver.grpc}` } });
    await again.record({
      eventId: duplicateId,
      action: 'user.login',
      outcome: 'denied',
      actor: { id: 'mallory', type: 'user' },
      tenant: { id: tenant },
    });
    expect((await again.shutdown({ timeoutMillis: 20_000 })).status).toBe('success');
    const status = (await (await fetch(`${receiver.http}/v1/audit/status`)).json()) as { counters: { deduped: number } };
    expect(status.counters.deduped).toBe(1);
    const metrics = await (await fetch(`${receiver.http}/metrics`)).text();
    expect(metrics).toMatch(/otel_audit_export_requests_total\{transport="grpc",outcome="success"\} [1-9]/);
    expect(metrics).toMatch(/otel_audit_records_deduped_total 1/);
    const after = await tenantEventsInClickHouse(receiver.http, tenant);
    expect(after.count).toBe(expected.size);

    // The REST API returns the same events.
    const page = (await (await fetch(`${receiver.http}/v1/audit/events?tenant=${tenant}&actor=mallory&limit=1000`)).json()) as {
      events: Array<{ event: { eventId: string } }>;
    };
    expect(page.events.map((e) => e.event.eventId).sort()).toEqual([...malloryIds].sort());
    expect(page.events).toHaveLength(4);
    expect(await receiver.stop(), receiver.output()).toBe(0);
  });

  it('loses no acknowledged event when killed with SIGKILL under load, several times', async () => {
    const dataDir = tempDir();
    // Keep every WAL segment (no exporter would otherwise hold them) so the test can read the whole WAL.
    const env = {
      ...NO_COLDSTORE,
      OTEL_AUDIT_EXPORTERS__CLICKHOUSE__ENABLED: 'false',
      OTEL_AUDIT_PIPELINE__WAL__RETENTION_MILLIS: '3600000',
    };
    const acknowledged = new Set<string>();
    let sent = 0;
    const tenants = ['acme', 'globex'];

    for (let round = 0; round < 3; round++) {
      const receiver = await startReceiverProcess({ dataDir, env });
      let stop = false;
      // Four concurrent senders, each posting batches of 25 fresh events and remembering what was acknowledged.
      const senders = Array.from({ length: 4 }, async (_, worker) => {
        while (!stop) {
          const ids = Array.from({ length: 25 }, () => uuidv7());
          const body = auditRequestJson(ids, { service: 'loadgen', actorId: `w${worker}`, tenants });
          sent += ids.length;
          try {
            const res = await fetch(`${receiver.http}/v1/logs`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(body),
            });
            if (res.status === 200) {
              const answer = (await res.json()) as { partialSuccess?: { rejectedLogRecords?: string | number } };
              expect(Number(answer.partialSuccess?.rejectedLogRecords ?? 0)).toBe(0);
              for (const id of ids) acknowledged.add(id);
            }
          } catch {
            // The receiver died mid-request: nothing of this batch was acknowledged.
          }
        }
      });
      // Let load build up, then kill without warning.
      await eventually(async () => (acknowledged.size >= (round + 1) * 2000 ? true : undefined), 600, 50);
      await receiver.kill();
      stop = true;
      await Promise.all(senders);
    }

    // Restart once more: recovery must succeed (torn tails dropped) and then the WAL is checked.
    const receiver = await startReceiverProcess({ dataDir, env });
    const status = (await (await fetch(`${receiver.http}/v1/audit/status`)).json()) as {
      chains: Array<{ chainId: string; seq: number; hash: string }>;
    };
    expect(await receiver.stop(), receiver.output()).toBe(0);

    const seen = new Map<string, number>();
    const heads = new Map<string, { seq: number; hash: string }>();
    for await (const entry of readWalEntries(join(dataDir, 'wal')) as AsyncIterable<WalEntry>) {
      if (entry.kind !== 'event') continue;
      seen.set(entry.event.eventId, (seen.get(entry.event.eventId) ?? 0) + 1);
      const head = heads.get(entry.chainId) ?? { seq: 0, hash: GENESIS_HASH };
      expect(entry.seq).toBe(head.seq + 1);
      expect(entry.prevHash).toBe(head.hash);
      expect(computeEntryHash(entry.prevHash, entry.event)).toBe(entry.hash);
      heads.set(entry.chainId, { seq: entry.seq, hash: entry.hash });
    }
    const missing = [...acknowledged].filter((id) => !seen.has(id));
    expect(missing).toEqual([]);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(acknowledged.size).toBeGreaterThanOrEqual(6000);
    expect(sent).toBeGreaterThan(acknowledged.size - 1);
    for (const chain of status.chains) expect(heads.get(chain.chainId)).toEqual({ seq: chain.seq, hash: chain.hash });
    expect(heads.size).toBe(2);
  });
});
