/**
 * Child process for the crash test: opens the embedded engine at argv[2], exports the same 500
 * synthetic entries, prints `{"status":…,"count":…}` and then either exits or SIGKILLs itself
 * before anything else runs (the cursor would never be saved).
 */
import { createClickHouseExporter } from '../../../exporters/clickhouse/exporter.ts';
import { batchOf, makeEntries } from './fixtures.ts';

const [dataDir, mode] = process.argv.slice(2);
const exporter = createClickHouseExporter({ dataDir: dataDir!, database: 'crash' });
await exporter.start();
const result = await exporter.export(batchOf(makeEntries({ count: 500 })));
const rs = await exporter.handle!.client.query({ query: 'SELECT count() AS c FROM crash.audit_events', format: 'JSONEachRow' });
const [row] = await rs.json<{ c: number | string }>();
process.stdout.write(`${JSON.stringify({ status: result.status, count: Number(row?.c) })}\n`);
if (mode === 'kill') process.kill(process.pid, 'SIGKILL');
await exporter.shutdown();
