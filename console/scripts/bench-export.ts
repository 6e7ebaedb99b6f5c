/**
 * Rough throughput of the console's streamed export (`GET /v1/audit/export`) and of a free-text
 * listing, against an in-process receiver with embedded ClickHouse:
 *   npx node console/scripts/bench-export.ts [events=20000]
 * Prints JSON (rows/s per format). Record `uptime` with the numbers: the machine is shared.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLogger } from '@otel-audit/sdk';
import { createReceiver } from '../../receiver/index.ts';

const n = Number(process.argv[2] ?? 20_000);
const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-bench-export-'));
const receiver = createReceiver({
  dataDir,
  http: { port: 0 },
  grpc: { enabled: false },
  exporters: { coldstore: { enabled: false } },
  pipeline: { exporters: { maxBatchDelayMillis: 50 } },
});
const { http } = (await receiver.start()) as { http: string };
try {
  const audit = createAuditLogger({ delivery: 'memory', exporter: { protocol: 'http/json', endpoint: `${http}/v1/logs` } });
  for (let i = 0; i < n; i++) {
    await audit.record({
      action: 'doc.read',
      outcome: i % 5 === 0 ? 'denied' : 'success',
      actor: { id: `u-${i % 100}`, type: 'user' },
      tenant: { id: 'acme' },
      targets: [{ type: 'doc', id: `d-${i % 1000}` }],
      details: { n: i, note: i % 1000 === 0 ? 'needle' : 'routine' },
    });
  }
  await audit.shutdown({ timeoutMillis: 60_000 });
  for (;;) {
    const page = (await (await fetch(`${http}/v1/audit/events?tenant=acme&limit=1`)).json()) as { events: unknown[] };
    const s = receiver.status().exporters.find((e) => e.name === 'clickhouse');
    if (page.events.length > 0 && s && s.lagEntries === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const result: Record<string, unknown> = { events: n };
  for (const format of ['csv', 'ndjson']) {
    const t0 = performance.now();
    const text = await (await fetch(`${http}/v1/audit/export?tenant=acme&format=${format}`)).text();
    const s = (performance.now() - t0) / 1000;
    const rows = text.trimEnd().split('\n').length - (format === 'csv' ? 1 : 0);
    result[format] = { rows, seconds: Number(s.toFixed(2)), rowsPerSecond: Math.round(rows / s), bytes: text.length };
  }
  const t0 = performance.now();
  const found = (await (await fetch(`${http}/v1/audit/events?tenant=acme&text=NEEDLE&limit=1000`)).json()) as { events: unknown[] };
  result.textSearch = { matches: found.events.length, millis: Math.round(performance.now() - t0) };
  console.log(JSON.stringify(result));
} finally {
  await receiver.shutdown();
  rmSync(dataDir, { recursive: true, force: true });
}
