/**
 * Child process for the dedupe crash test: a pipeline with a tiny in-memory dedupe table and small
 * WAL segments, an exporter that accepts everything (so segments are deleted and the table is
 * spilled to runs all the time), fed with fresh events; prints `ACK <id>,<id>,…` for every
 * acknowledged request until the parent SIGKILLs it.
 *
 * Usage: node dedupe-crash-child.ts <dataDir>
 */
import { createAuditPipeline } from '../../../receiver/pipeline/index.ts';
import { eventToRecord, makeEvent, request } from './fixtures.ts';

const [dataDir] = process.argv.slice(2);
if (!dataDir) {
  process.stderr.write('usage: dedupe-crash-child.ts <dataDir>\n');
  process.exit(2);
}
const pipeline = createAuditPipeline({
  dataDir,
  instanceId: 'dedupe-crash',
  dedupeMaxIds: 1024,
  wal: { segmentBytes: 64 * 1024 },
  maintenanceIntervalMillis: 20,
});
pipeline.addExporter(
  { name: 'sink', start: async () => undefined, shutdown: async () => undefined, export: async () => ({ status: 'success' }) },
  { maxBatchDelayMillis: 0 },
);
await pipeline.start();
process.stdout.write('READY\n');
const worker = async () => {
  for (;;) {
    const events = Array.from({ length: 100 }, () => makeEvent());
    const r = await pipeline.consume(request(events.map((e) => eventToRecord(e))), { transport: 'http' });
    if (r.status === 'success') process.stdout.write(`ACK ${events.map((e) => e.eventId).join(',')}\n`);
    else await new Promise((res) => setTimeout(res, 5));
  }
};
await Promise.all([worker(), worker()]);
