/**
 * Benchmark: rows/s of the ClickHouse exporter (WAL payload text → worker: rows → Native block →
 * idempotent insert, exactly as the runner drives it) against two direct inserts of the same rows
 * into identical tables, in the same run and engine, batch by batch in alternation, for batch sizes
 * of 10k–100k rows: a `@clickhouse/client` JSONEachRow insert of pre-built row objects, and the
 * **Native floor** — a pre-encoded Native block inserted with `INSERT … SELECT FROM file(…, Native)`
 * (chDB) or as the HTTP body (server), so only the engine's work is timed. The ratios
 * exporter / direct are the exporter's overhead (aim ≥ 0.8). Embedded chDB by default; set
 * `url` to measure a server. `run({ quick })` returns the numbers; bench/run.ts prints them.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AUDIT_ROW_COLUMNS, walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { openClickHouse } from '../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../exporters/clickhouse/config.ts';
import { batchToJsonEachRow, createClickHouseExporter } from '../exporters/clickhouse/exporter.ts';
import { insertNative } from '../exporters/clickhouse/insert.ts';
import { applyMigrations } from '../exporters/clickhouse/migrations.ts';
import { encodeAuditRowsNative } from '../exporters/clickhouse/native-format.ts';
import type { WalEventEntry } from '../receiver/contracts.ts';
import { packPayloads } from '../receiver/wal/packed-payloads.ts';
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
  /**
   * The Native floor: a pre-encoded block inserted directly, and the process CPU it took per row
   * (µs, all threads: the engine's insert pool; background merges that overlap the insert are
   * included, later ones are not).
   */
  directNative: { seconds: number; rowsPerSecond: number; cpuMicrosPerRow: number };
  /** exporter rows/s ÷ Native floor rows/s. */
  ratioToNative: number;
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
  // The embedded engine's memory cap is raised for this bench only: the direct baseline's
  // JSONEachRow inserts of 50,000–100,000 rows (spliced into the query text by chdb/connection)
  // need more than the receiver's 1 GiB default and failed with MEMORY_LIMIT_EXCEEDED; the
  // exporter's Native inserts stay far below either cap.
  const config = parseClickHouseConfig(
    options.url === undefined ? { dataDir: dir, engineMemory: { maxServerMemoryBytes: 4 * 1024 ** 3 } } : { url: options.url },
  );
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
      const nativeDb = `bench_native_${stamp}`;
      for (const database of [exporterDb, directDb, nativeDb]) await applyMigrations(handle.client, { ...config, database });
      // The Native floor's blocks, encoded before timing (files for chDB, bytes for a server).
      const blocks: Array<{ file: string } | { bytes: Uint8Array }> = [];
      for (let i = 0; i < total; i += size) {
        const bytes = encodeAuditRowsNative(rows.slice(i, i + size));
        if (dir === undefined) blocks.push({ bytes });
        else {
          const file = join(dir, `floor-${stamp}-${i}.native`);
          await writeFile(file, bytes);
          blocks.push({ file });
        }
      }
      const payloads = entries.map((e) => JSON.stringify(e));
      const exporter = createClickHouseExporter(
        { ...(options.url ? { url: options.url } : {}), database: exporterDb, ...(dir === undefined ? {} : { dataDir: dir }) },
        { handle },
      );
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
      let nativeMs = 0;
      let nativeCpuMicros = 0;
      let n = 0;
      for (let i = 0; i < total; i += size, n++) {
        const viaExporter = async () => {
          const t = performance.now();
          const b = batchOf(entries.slice(i, i + size));
          const r = await exporter.exportPayloads({
            firstLsn: b.firstLsn,
            lastLsn: b.lastLsn,
            payloads: packPayloads(payloads.slice(i, i + size)),
          });
          if (r.status !== 'success') throw r.error;
          exporterMs += performance.now() - t;
        };
        const direct = async () => {
          const t = performance.now();
          await handle.client.insert({ table: `${directDb}.audit_events`, values: rows.slice(i, i + size), format: 'JSONEachRow' });
          directMs += performance.now() - t;
        };
        const native = async () => {
          const t = performance.now();
          const c = process.cpuUsage();
          await insertNative(handle, { database: nativeDb, table: 'audit_events' }, AUDIT_ROW_COLUMNS, blocks[n]!, {
            insert_deduplication_token: `floor-${stamp}-${i}`,
          });
          nativeMs += performance.now() - t;
          const d = process.cpuUsage(c);
          nativeCpuMicros += d.user + d.system;
        };
        // Which side goes first rotates too (background merges follow the previous insert).
        const order = [viaExporter, direct, native];
        for (let j = 0; j < order.length; j++) await order[(j + n) % order.length]!();
      }
      const exporterSeconds = exporterMs / 1000;
      const directSeconds = directMs / 1000;
      const nativeSeconds = nativeMs / 1000;

      for (const database of [exporterDb, directDb, nativeDb]) {
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
        directNative: {
          seconds: Number(nativeSeconds.toFixed(3)),
          rowsPerSecond: round(total / nativeSeconds),
          cpuMicrosPerRow: Number((nativeCpuMicros / total).toFixed(1)),
        },
        ratioToNative: Number((exporterRate / (total / nativeSeconds)).toFixed(2)),
      });
      for (const b of blocks) if ('file' in b) await rm(b.file, { force: true });
    }
    return {
      scenario: 'clickhouse-export',
      backend: options.url === undefined ? 'chdb' : 'server',
      results,
      rowBytes,
      conversionRowsPerSecond,
    };
  } finally {
    await handle.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}
