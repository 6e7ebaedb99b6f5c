/**
 * Child process for crash tests: runs the pipeline on a data dir and appends concurrently, printing
 * `ACK <eventId>` for every event whose request was answered `success` (so the parent knows exactly
 * what was acknowledged), then gets killed with SIGKILL by the parent.
 *
 * Usage: node crash-child.ts <dataDir> [resendFile]
 *   resendFile: event ids (one per line) acknowledged by an earlier run; they are sent again as
 *   duplicates (their ACK lines are printed too, they must still be stored exactly once).
 * Env: CRASH_CONCURRENCY (default 4), CRASH_BATCH (default 50), CRASH_TENANTS (default 3).
 * Prints `READY` after recovery. Reusable by the OTLP end-to-end crash test through `runLoad`.
 */
import { readFile } from 'node:fs/promises';
import type { AuditEvent } from '@otel-audit/schema';
import type { LogsConsumer } from '../../../receiver/contracts.ts';
import { createAuditPipeline } from '../../../receiver/pipeline/index.ts';
import { eventToRecord, makeEvent, request } from './fixtures.ts';

/** Drive `consumer` with concurrent requests forever, calling `onAck(ids)` after each success. */
export async function runLoad(
  consumer: LogsConsumer,
  options: { concurrency: number; batch: number; tenants: number; resend: string[]; onAck: (ids: string[]) => void },
): Promise<never> {
  const sent: AuditEvent[] = [];
  const resend = [...options.resend];
  const worker = async (w: number): Promise<never> => {
    for (let n = 0; ; n++) {
      const events: AuditEvent[] = [];
      for (let i = 0; i < options.batch; i++) {
        const old = resend.pop();
        if (old) events.push(makeEvent({ eventId: old, tenant: { id: 't0' } }));
        else if (sent.length > 0 && i % 10 === 0)
          events.push(sent[Math.floor(Math.random() * sent.length)]!); // duplicate across requests
        else events.push(makeEvent({ tenant: { id: `t${(w + n + i) % options.tenants}` } }));
      }
      const r = await consumer.consume(request(events.map((e) => eventToRecord(e))), { transport: 'http' });
      if (r.status === 'success') {
        for (const e of events) if (sent.length < 5000) sent.push(e);
        options.onAck(events.map((e) => e.eventId));
      } else {
        await new Promise((res) => setTimeout(res, 10));
      }
    }
  };
  return Promise.race(Array.from({ length: options.concurrency }, (_, w) => worker(w)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dataDir, resendFile] = process.argv.slice(2);
  if (!dataDir) {
    process.stderr.write('usage: crash-child.ts <dataDir> [resendFile]\n');
    process.exit(2);
  }
  const resend = resendFile ? (await readFile(resendFile, 'utf8')).split('\n').filter(Boolean) : [];
  const pipeline = createAuditPipeline({ dataDir, instanceId: 'crash-test' });
  await pipeline.start();
  process.stdout.write(`READY ${JSON.stringify(pipeline.status().recovery)}\n`);
  await runLoad(pipeline, {
    concurrency: Number(process.env.CRASH_CONCURRENCY ?? 4),
    batch: Number(process.env.CRASH_BATCH ?? 50),
    tenants: Number(process.env.CRASH_TENANTS ?? 3),
    resend,
    onAck: (ids) => process.stdout.write(ids.map((id) => `ACK ${id}\n`).join('')),
  });
}
