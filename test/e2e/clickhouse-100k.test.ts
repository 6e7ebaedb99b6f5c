/**
 * SDK → receiver (its own process) → ClickHouse with 100,000 events: each arrives exactly once
 * (count and a checksum over the EventIds), columns are mapped as documented, and the three query
 * surfaces — @clickhouse/client against the receiver's endpoint, `otel-audit query`, and
 * `GET /v1/audit/events` — return the same events.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@clickhouse/client';
import { createAuditLogger } from '@otel-audit/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startReceiverProcess } from './helpers/receiver-process.ts';

const TOTAL = 100_000;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Order-independent checksum of a set of ids: SHA-256 over the sorted list. */
function checksum(ids: Iterable<string>): string {
  return createHash('sha256')
    .update([...ids].sort().join('\n'))
    .digest('hex');
}

function cliQuery(http: string, sql: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('../../cli/main.ts', import.meta.url)), 'query', sql, '--url', http, '--format', 'tsv'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`otel-audit query exited ${code}: ${err}`))));
  });
}

describe('100,000 events through the whole pipeline', () => {
  it('arrive exactly once and read back the same through every query surface', { timeout: 300_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-100k-'));
    dirs.push(dataDir);
    const receiver = await startReceiverProcess({ dataDir, env: { OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false' } });
    const client = createClient({ url: receiver.http, pathname: '/clickhouse', request_timeout: 120_000 });
    try {
      const audit = createAuditLogger({
        delivery: 'memory',
        maxExportBatchSize: 2048,
        exporter: { protocol: 'http/protobuf', endpoint: `${receiver.http}/v1/logs` },
        serviceName: 'bulk',
      });
      const ids = new Set<string>();
      const pending: Array<Promise<string>> = [];
      for (let i = 0; i < TOTAL; i++) {
        pending.push(
          audit.record({
            action: i % 2 === 0 ? 'grant.issue' : 'grant.revoke',
            outcome: i % 10 === 0 ? 'denied' : 'success',
            actor: { id: `actor-${i % 100}`, type: 'user' },
            tenant: { id: 'bulk' },
            targets: [{ type: 'grant', id: `g-${i}` }],
            request: { ip: '192.0.2.1' },
          }),
        );
        if (pending.length === 1000) for (const id of await Promise.all(pending.splice(0))) ids.add(id);
      }
      for (const id of await Promise.all(pending)) ids.add(id);
      expect((await audit.shutdown({ timeoutMillis: 120_000 })).status).toBe('success');
      expect(ids.size).toBe(TOTAL);

      const counted = await eventually(
        async () => {
          const rs = await client.query({
            query: "SELECT count() AS n, uniqExact(EventId) AS u FROM otel_audit.audit_events WHERE TenantId = 'bulk'",
            format: 'JSONEachRow',
          });
          const [row] = await rs.json<{ n: string | number; u: string | number }>();
          return Number(row?.n) >= TOTAL ? { n: Number(row!.n), u: Number(row!.u) } : undefined;
        },
        600,
        200,
      );
      expect(counted).toEqual({ n: TOTAL, u: TOTAL }); // count() without FINAL: no duplicate rows

      // The checksum over every EventId matches what the SDK recorded.
      const rs = await client.query({
        query: "SELECT toString(EventId) AS id FROM otel_audit.audit_events WHERE TenantId = 'bulk'",
        format: 'JSONCompactEachRow',
      });
      const stored = (await rs.json<[string]>()).map((r) => r[0]);
      expect(checksum(stored)).toBe(checksum(ids));

      // Columns as documented (docs/schema.md, schema/audit-row.ts).
      const sample = await client.query({
        query:
          "SELECT EventName, Action, Outcome, SeverityText, ActorId, ActorType, TargetType, TargetId, SourceIp, ServiceName, LogAttributes['audit.actor.id'] AS attrActor FROM otel_audit.audit_events WHERE TenantId = 'bulk' AND TargetId = 'g-10'",
        format: 'JSONEachRow',
      });
      expect(await sample.json()).toEqual([
        {
          EventName: 'grant.issue',
          Action: 'grant.issue',
          Outcome: 'denied',
          SeverityText: 'WARN',
          ActorId: 'actor-10',
          ActorType: 'user',
          TargetType: 'grant',
          TargetId: 'g-10',
          SourceIp: '192.0.2.1',
          ServiceName: 'bulk',
          attrActor: 'actor-10',
        },
      ]);

      // The same events of one actor through the three surfaces.
      const viaClient = await client.query({
        query: "SELECT toString(EventId) AS id FROM otel_audit.audit_events WHERE TenantId = 'bulk' AND ActorId = 'actor-7'",
        format: 'JSONCompactEachRow',
      });
      const fromClient = (await viaClient.json<[string]>()).map((r) => r[0]);
      expect(fromClient).toHaveLength(TOTAL / 100);
      const fromCli = (
        await cliQuery(
          receiver.http,
          "SELECT toString(EventId) FROM otel_audit.audit_events WHERE TenantId = 'bulk' AND ActorId = 'actor-7'",
        )
      )
        .trim()
        .split('\n')
        .slice(1);
      const fromRest: string[] = [];
      let cursor: string | undefined;
      do {
        const url = `${receiver.http}/v1/audit/events?tenant=bulk&actor=actor-7&limit=300${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page = (await (await fetch(url)).json()) as { events: Array<{ event: { eventId: string } }>; nextCursor?: string };
        fromRest.push(...page.events.map((e) => e.event.eventId));
        cursor = page.nextCursor;
      } while (cursor);
      expect(checksum(fromCli)).toBe(checksum(fromClient));
      expect(fromRest).toHaveLength(fromClient.length);
      expect(checksum(fromRest)).toBe(checksum(fromClient));
    } finally {
      await client.close();
      await receiver.stop();
    }
  });
});
