/**
 * The exporter against a ClickHouse *server* by URL (the code path used for self-hosted
 * ClickHouse and clusters). There is no ClickHouse server here, so a minimal HTTP front for the
 * chDB engine stands in for one: it speaks the subset of the ClickHouse HTTP protocol that
 * `@clickhouse/client` uses for command, query and insert (settings as URL parameters).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseHandle, openClickHouse } from '../../../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../../../exporters/clickhouse/config.ts';
import { createClickHouseExporter } from '../../../exporters/clickhouse/exporter.ts';
import { freePort } from '../../e2e/helpers/receiver-process.ts';
import { batchOf, makeEntries, removeTempDirs, tempDir, uniqueDatabase } from './fixtures.ts';
import { standInNativeInserts, startClickHouseStandIn } from './server-standin.ts';

let engine: ClickHouseHandle;
beforeAll(() => {
  engine = openClickHouse(parseClickHouseConfig({ dataDir: tempDir('server-mode') }));
});
afterAll(async () => {
  await engine.close();
  removeTempDirs();
});

describe('ClickHouse exporter against a server URL', () => {
  it('is retryable while ClickHouse is down, then exports once it is up, without duplicates', async () => {
    const port = await freePort();
    const db = uniqueDatabase();
    const exporter = createClickHouseExporter({ url: `http://127.0.0.1:${port}`, database: db, requestTimeoutMillis: 2000 });
    await exporter.start(); // does not throw while the server is down
    const entries = makeEntries({ count: 200 });
    const a = batchOf(entries.slice(0, 100));
    const down = await exporter.export(a);
    expect(down.status).toBe('retryable');
    if (down.status === 'retryable') {
      expect(down.error.code).toBe('AUDIT_ERR_STORE_UNAVAILABLE');
      expect(down.error.message).toMatch(/ECONNREFUSED|connect/i);
    }

    const server = await startClickHouseStandIn(engine, port);
    const nativeBefore = standInNativeInserts();
    try {
      expect(await exporter.export(a)).toEqual({ status: 'success' });
      // The binary block travelled as the HTTP body of INSERT … FORMAT Native.
      expect(standInNativeInserts()).toBe(nativeBefore + 1);
      expect(await exporter.export(a)).toEqual({ status: 'success' });
      expect(await exporter.export(batchOf(entries.slice(100)))).toEqual({ status: 'success' });
      const r = await engine.chdb!.chdb.queryAsync(`SELECT count() FROM ${db}.audit_events`, { format: 'TabSeparated' });
      expect(r.text().trim()).toBe('200');
    } finally {
      await exporter.shutdown();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('a server error that will never succeed is a failure', async () => {
    const port = await freePort();
    const server = await startClickHouseStandIn(engine, port);
    const db = uniqueDatabase();
    // Operators manage the schema and have not created it: UNKNOWN_DATABASE / UNKNOWN_TABLE.
    const exporter = createClickHouseExporter({ url: `http://127.0.0.1:${port}`, database: db, createSchema: false });
    try {
      await exporter.start();
      const r = await exporter.export(batchOf(makeEntries({ count: 2 })));
      expect(r.status).toBe('failure');
      if (r.status === 'failure') expect(r.error.message).toMatch(/UNKNOWN_(DATABASE|TABLE)/);
    } finally {
      await exporter.shutdown();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
