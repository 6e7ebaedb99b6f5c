/**
 * Benchmark: rows/s of the ClickHouse exporter (WAL entries → rows → idempotent insert) against a
 * direct `@clickhouse/client` insert of the same rows (pre-built row objects, `JSONEachRow`) into
 * an identical table, in the same run and engine, batch by batch in alternation, for batch sizes of
 * 10k–100k rows. The ratio
 * exporter / direct is the exporter's overhead (aim ≥ 0.8). Embedded chDB by default; set
 * `url` to measure a server. `run({ quick })` returns the numbers; bench/run.ts prints them.
 */
import { rm } from 'node:fs/promises';
import { openClickHouse } from '../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../exporters/clickhouse/config.ts';
import { batchToJsonEachRow, createClickHouseExporter } from '../exporters/clickhouse/exporter.ts';
import { applyMigrations } from '../exporters/clickhouse/migrations.ts';
import type { WalEventEntry } from '../receiver/contracts.ts';
import { walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { batchOf, makeEntries, tempDir } from '../test/exporters/clickhouse/fixtures.ts';

/** Options of {@link run}. */
export interface ClickHouseExportBenchOptions {
  /** Smaller run for CI smoke (one batch size, fewer rows). */
  quick?: boolean;
  /** Rows per batch size (default 200 000; quick 20 000). */
  rows?: number;
  /** Batch sizes (default 10k, 50k, 100k; quick 10k). */
  batchSizes?: number[];
  /** ClickHouse server URL; default the embedded chDB engine in a temp dir. */
  url?: string;
}

/** Numbers for one batch size. */
export interface ClickHouseExportBatchResult {
  batchSize: number;
  rows: number;
  exporter: { seconds: number; rowsPerSecond: number };
  direct: { seconds: number; rowsPerSecond: number };
  /** exporter rows/s ÷ direct rows/s. */
  ratio: number;
}

/** Result of {@link run}. */
export interface ClickHouseExportBenchResult {
  scenario: 'clickhouse-export';
  backend: 'chdb' | 'server';
  results: ClickHouseExportBatchResult[];
  /** Average bytes of one JSONEachRow line of the synthetic events. */
  rowBytes: number;
  /**
   * The exporter's own CPU work alone (walEntryToAuditRow + JSON line), rows/s on one core: the
   * part of the exporter's time the direct insert of pre-built rows does not pay.
   */
  conversionRowsPerSecond: number;
}

const round = (n: number) => Math.round(n);

/** Run the benchmark (see the module comment). */
export async function run(options: ClickHouseExportBenchOptions = {}): Promise<ClickHouseExportBenchResult> {
  const quick = options.quick ?? false;
  const total = options.rows ?? (quick ? 20_000 : 200_000);
  const sizes = options.batchSizes ?? (quick ? [10_000] : [10_000, 50_000, 100_000]);
  const dir = options.url === undefined ? tempDir('bench-clickhouse') : undefined;
  const config = parseClickHouseConfig(options.url === undefined ? { dataDir: dir } : { url: options.url });
  const handle = openClickHouse(config);
  try {
    const entries: WalEventEntry[] = makeEntries({ count: total, tenants: ['acme', 'globex', 'initech', 'umbrella'] });
    const rows = entries.map(walEntryToAuditRow);
    const c0 = performance.now();
    const converted = batchToJsonEachRow(entries.slice(0, Math.min(20_000, entries.length)));
    const conversionRowsPerSecond = round(Math.min(20_000, entries.length) / ((performance.now() - c0) / 1000));
    if (converted.length === 0) throw new Error('no rows');
    const rowBytes = round(rows.slice(0, 1000).reduce((s, r) => s + JSON.stringify(r).length + 1, 0) / Math.min(1000, rows.length));
    const results: ClickHouseExportBatchResult[] = [];
    let k = 0;
    for (const size of sizes) {
      k++;
      const stamp = `${process.pid}_${Date.now().toString(36)}_${k}`;
      const exporterDb = `bench_exporter_${stamp}`;
      const directDb = `bench_direct_${stamp}`;
      for (const database of [exporterDb, directDb]) await applyMigrations(handle.client, { ...config, database });
      const exporter = createClickHouseExporter({ ...(options.url ? { url: options.url } : {}), database: exporterDb }, { handle });
      await exporter.start();

      // Warm both paths once (JIT, engine caches) on throw-away rows of another tenant range.
      await exporter.export(batchOf(entries.slice(0, 100)));
      await handle.client.insert({ table: `${directDb}.audit_events`, values: rows.slice(0, 100), format: 'JSONEachRow' });
      await handle.client.command({ query: `TRUNCATE TABLE ${exporterDb}.audit_events` });
      await handle.client.command({ query: `TRUNCATE TABLE ${directDb}.audit_events` });

      // Alternate exporter and direct batch by batch, so load drift on the machine (other
      // processes, merges) hits both sides alike.
      let exporterMs = 0;
      let directMs = 0;
      let n = 0;
      for (let i = 0; i < total; i += size, n++) {
        const viaExporter = async () => {
          const t = performance.now();
          const r = await exporter.export(batchOf(entries.slice(i, i + size)));
          if (r.status !== 'success') throw r.error;
          exporterMs += performance.now() - t;
        };
        const direct = async () => {
          const t = performance.now();
          await handle.client.insert({ table: `${directDb}.audit_events`, values: rows.slice(i, i + size), format: 'JSONEachRow' });
          directMs += performance.now() - t;
        };
        // Which side goes first alternates too (background merges follow the previous insert).
        if (n % 2 === 0) {
          await viaExporter();
          await direct();
        } else {
          await direct();
          await viaExporter();
        }
      }
      const exporterSeconds = exporterMs / 1000;
      const directSeconds = directMs / 1000;

      for (const database of [exporterDb, directDb]) {
        const rs = await handle.client.query({ query: `SELECT count() AS c FROM ${database}.audit_events`, format: 'JSONEachRow' });
        const [c] = await rs.json<{ c: number | string }>();
        if (Number(c?.c) !== total) throw new Error(`${database}: expected ${total} rows, found ${c?.c}`);
        await handle.client.command({ query: `DROP DATABASE ${database}` });
      }
      await exporter.shutdown();
      const exporterRate = total / exporterSeconds;
      const directRate = total / directSeconds;
      results.push({
        batchSize: size,
        rows: total,
        exporter: { seconds: Number(exporterSeconds.toFixed(3)), rowsPerSecond: round(exporterRate) },
        direct: { seconds: Number(directSeconds.toFixed(3)), rowsPerSecond: round(directRate) },
        ratio: Number((exporterRate / directRate).toFixed(2)),
      });
    }
    return { scenario: 'clickhouse-export', backend: options.url === undefined ? 'chdb' : 'server', results, rowBytes, conversionRowsPerSecond };
  } finally {
    await handle.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}
