/**
 * Child process for the worker-pool crash test: runs the pipeline with its prepare workers and
 * feeds it encoded OTLP requests (protobuf and OTLP/JSON, as the transports do) from many
 * concurrent senders, so that at any moment several requests are inside the worker threads or
 * between them and the sequencer. Prints `ACK <eventId>` for every event of a request answered
 * `success`, followed by `PENDING <n>`: the requests inside the worker threads at that moment. It
 * is then killed with SIGKILL by the parent.
 *
 * Usage: node crash-encoded-child.ts <dataDir> [resendFile]
 *   resendFile: event ids acknowledged by an earlier run, sent again (they must stay stored once).
 * Env: CRASH_CONCURRENCY (default 16), CRASH_BATCH (default 32).
 */
import { readFile } from 'node:fs/promises';
import { createAuditPipeline } from '../../../receiver/pipeline/index.ts';
import { encodeRequest } from '../helpers/otlp-fixtures.ts';
import { uuidv7 } from './fixtures.ts';

const TENANTS = ['t0', 't1', 't2'];

function attrs(id: string, tenant: string, worker: number): Array<{ key: string; value: { stringValue: string } }> {
  return [
    { key: 'audit.schema_version', value: { stringValue: '1.0' } },
    { key: 'audit.event_id', value: { stringValue: id } },
    { key: 'audit.outcome', value: { stringValue: 'success' } },
    { key: 'audit.actor.id', value: { stringValue: `w${worker}` } },
    { key: 'audit.actor.type', value: { stringValue: 'service' } },
    { key: 'audit.tenant.id', value: { stringValue: tenant } },
  ];
}

/** One request with these ids, as protobuf (protobufjs object form) or OTLP/JSON bytes. */
function encode(ids: string[], worker: number, format: 'protobuf' | 'json'): Uint8Array {
  const now = BigInt(Date.now()) * 1_000_000n;
  const records = ids.map((id, i) => ({
    timeUnixNano: String(now),
    eventName: 'doc.read',
    attributes: attrs(id, TENANTS[(worker + i) % TENANTS.length]!, worker),
  }));
  const request = {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'crash' } }] },
        scopeLogs: [{ scope: { name: 'crash' }, logRecords: records }],
      },
    ],
  };
  return format === 'protobuf' ? encodeRequest(request) : Buffer.from(JSON.stringify(request));
}

const [dataDir, resendFile] = process.argv.slice(2);
if (!dataDir) {
  process.stderr.write('usage: crash-encoded-child.ts <dataDir> [resendFile]\n');
  process.exit(2);
}
const resend = resendFile ? (await readFile(resendFile, 'utf8')).split('\n').filter(Boolean) : [];
const pipeline = createAuditPipeline({ dataDir, instanceId: 'crash-pool', prepareWorkers: 2 });
await pipeline.start();
process.stdout.write(`READY ${JSON.stringify(pipeline.status().recovery)}\n`);
const concurrency = Number(process.env.CRASH_CONCURRENCY ?? 16);
const batch = Number(process.env.CRASH_BATCH ?? 32);
const acked: string[] = [];
await Promise.race(
  Array.from({ length: concurrency }, async (_, w) => {
    for (let n = 0; ; n++) {
      const ids: string[] = [];
      for (let i = 0; i < batch; i++) {
        const old = resend.pop();
        if (old) ids.push(old);
        else if (acked.length > 0 && i % 16 === 0)
          ids.push(acked[Math.floor(Math.random() * acked.length)]!); // a duplicate of an acked event
        else ids.push(uuidv7());
      }
      const format = (w + n) % 2 === 0 ? 'protobuf' : 'json';
      const r = await pipeline.consumeEncoded(
        { body: encode(ids, w, format), format, encoding: 'identity', maxBytes: 64 << 20 },
        { transport: 'http' },
      );
      if (r.decoded && r.result.status === 'success' && r.result.rejected === 0) {
        if (acked.length < 5000) acked.push(...ids.slice(0, 8));
        process.stdout.write(ids.map((id) => `ACK ${id}\n`).join('') + `PENDING ${pipeline.status().prepare.pending}\n`);
      } else if (!r.decoded || r.result.status !== 'retryable') {
        process.stderr.write(
          `unexpected answer: ${JSON.stringify(r.decoded ? r.result : { status: r.status, message: r.error.message })}\n`,
        );
        process.exit(3);
      } else {
        await new Promise((res) => setTimeout(res, 10));
      }
    }
  }),
);
