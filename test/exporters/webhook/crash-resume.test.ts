/**
 * A receiver process (`otel-audit start`, configured through `OTEL_AUDIT_EXPORTERS__WEBHOOKS`) is
 * SIGKILLed while it delivers to a slow endpoint, then started again on the same data directory: it
 * resumes from the webhook's durable cursor. Every acknowledged event arrives at least once, a
 * request sent before and after the crash carries the same key with the same body, and what is
 * delivered twice is bounded by the batch that was in flight, not the whole WAL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, type ReceiverProcess, startReceiverProcess } from '../../e2e/helpers/receiver-process.ts';
import { parseNdjson, startEndpoint } from './helpers/endpoint.ts';
import { manyEvents, sendEvents } from './helpers/events.ts';

const SECRET = 'crash-secret-0123456789abcdef';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('webhook delivery across a SIGKILL', () => {
  it('resumes from the cursor: every acknowledged event arrives, redeliveries keep key and body', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-webhook-crash-'));
    dirs.push(dataDir);
    const ep = await startEndpoint({ secret: SECRET });
    ep.respond(() => ({ status: 200, delayMillis: 40 }));
    const BATCH = 40;
    const env = {
      OTEL_AUDIT_EXPORTERS__CLICKHOUSE__ENABLED: 'false',
      OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false',
      OTEL_AUDIT_PIPELINE__EXPORTERS__MAX_BATCH_ENTRIES: String(BATCH),
      OTEL_AUDIT_PIPELINE__EXPORTERS__MAX_BATCH_DELAY_MILLIS: '5',
      // Arrays are replaced whole by a JSON value (docs/webhook.md, "Configuration").
      OTEL_AUDIT_EXPORTERS__WEBHOOKS: JSON.stringify([
        { name: 'siem', url: ep.url, secret: SECRET, maxBatchEvents: 10, retry: { initialBackoffMillis: 20, maxBackoffMillis: 200 } },
      ]),
    };
    let receiver: ReceiverProcess | undefined = await startReceiverProcess({ dataDir, env });
    try {
      const events = manyEvents(400, 'crash');
      for (let i = 0; i < events.length; i += 50) await sendEvents(receiver.http, events.slice(i, i + 50));
      // Kill while deliveries are in progress: some requests answered, most not yet sent.
      await eventually(async () => (ep.accepted().length >= 6 ? true : undefined), 300, 20);
      await receiver.kill();
      const beforeCrash = ep.requests.length;
      const delivered = new Set(ep.accepted().flatMap((r) => parseNdjson(r.body).map((o) => (o.event as { eventId: string }).eventId)));
      expect(delivered.size).toBeLessThan(events.length);

      receiver = await startReceiverProcess({ dataDir, env });
      const all = await eventually(
        async () => {
          const ids = new Set(ep.accepted().flatMap((r) => parseNdjson(r.body).map((o) => (o.event as { eventId: string }).eventId)));
          return ids.size === events.length ? ids : undefined;
        },
        600,
        50,
      );
      expect(all).toEqual(new Set(events.map((e) => e.eventId)));

      // Same key ⇒ same body, before and after the crash.
      const bodies = new Map<string, string>();
      for (const r of ep.requests) {
        expect(r.signatureOk).toBe(true);
        const prev = bodies.get(r.key!);
        if (prev !== undefined) expect(r.body).toBe(prev);
        bodies.set(r.key!, r.body);
      }
      // After the restart delivery starts at the saved cursor: the first request after the crash is
      // the pending batch's first request (a key seen before) or the next one — never LSN 1 again
      // unless nothing had been acknowledged.
      const afterCrash = ep.requests.slice(beforeCrash);
      const firstLsn = Number(afterCrash[0]!.key!.split(':')[1]!.split('-')[0]);
      const ackedBefore = ep.requests.slice(0, beforeCrash).filter((r) => r.status === 200);
      const lastAckedLsnBefore = Math.max(...ackedBefore.map((r) => Number(r.key!.split(':')[1]!.split('-')[1])));
      expect(firstLsn).toBeGreaterThan(lastAckedLsnBefore - BATCH);
      // Duplicates are bounded by the batch in flight at the crash.
      const counts = new Map<string, number>();
      for (const r of ep.accepted())
        for (const o of parseNdjson(r.body)) {
          const id = (o.event as { eventId: string }).eventId;
          counts.set(id, (counts.get(id) ?? 0) + 1);
        }
      const duplicated = [...counts.values()].filter((c) => c > 1).length;
      expect(duplicated).toBeLessThanOrEqual(BATCH);
    } finally {
      await receiver?.stop().catch(() => undefined);
      await ep.close();
    }
  }, 180_000);
});
