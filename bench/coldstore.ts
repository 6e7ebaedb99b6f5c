/**
 * Benchmark of the cold path: events/s through the cold-storage exporter into the local archive
 * (staging with fsync + Parquet/zstd encoding + atomic object writes), bytes per event after
 * compression, Parquet decode rate, and replay events/s into ClickHouse (embedded chDB).
 * The write runs twice on the same events — Parquet from the embedded engine (`parquetEncoder:
 * engine`, the receiver's default) and from the JS encoder — and, as the floor, the engine's own
 * Parquet write of the same rows from a pre-built Native file (no staging, no row building), all in
 * the same run and engine.
 * `run({ quick })` returns the numbers; bench/run.ts prints them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createClient } from '@clickhouse/client';
import { walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { createChdbConnection } from 'chdb/connection';
import { encodeAuditRowsNative } from '../exporters/clickhouse/native-format.ts';
import {
  chdbParquetEngine,
  createClickHouseReplaySink,
  createColdStoreExporter,
  decodeParquet,
  encodeParquet,
  LocalDirectoryStore,
  listColdObjects,
  replayColdStorage,
} from '../exporters/coldstore/index.ts';
import type { WalEventEntry } from '../receiver/contracts.ts';
import { packPayloads } from '../receiver/wal/packed-payloads.ts';
import { batchOf, makeEntries } from '../test/exporters/coldstore/fixtures.ts';

/** Options of {@link run}. */
export interface ColdStoreBenchOptions {
  /** Fewer events (CI smoke). */
  quick?: boolean;
  /** Events to write (default 200 000, quick 20 000). */
  events?: number;
}

/** Result of {@link run}. */
export interface ColdStoreBenchResult {
  scenario: 'coldstore';
  events: number;
  /** End to end: export() of 1000-event batches, then flush (seal, encode, write, manifest). */
  write: {
    seconds: number;
    eventsPerSecond: number;
    stageEventsPerSecond: number;
    objects: number;
    cpuSecondsPerMillionEvents: number;
    /** Worst event-loop stall while writing (objects are encoded in a worker thread). */
    maxEventLoopDelayMillis: number;
  };
  /** The same write with the JS Parquet encoder (engine run above), and write ÷ that. */
  writeJs: { seconds: number; eventsPerSecond: number; maxEventLoopDelayMillis: number };
  /**
   * The engine's own Parquet write of the same rows from a Native file (the floor; CPU per event is the
   * whole process's, i.e. the engine's threads), and exporter ÷ floor.
   */
  engineParquetFloor: { seconds: number; eventsPerSecond: number; cpuMicrosPerEvent: number };
  ratios: { engineWriteOverJsWrite: number; engineWriteOverFloor: number };
  /** Parquet encode alone (rows → zstd Parquet), and decode alone. */
  encodeEventsPerSecond: number;
  decodeEventsPerSecond: number;
  bytesPerEvent: { parquetZstd: number; rowJson: number };
  /** Replay wall time and rate, and this process's CPU (chDB runs in-process, so it is included). */
  replay: { seconds: number; eventsPerSecond: number; rerunSeconds: number; cpuSecondsPerMillionEvents: number };
  /** 1-minute load average at the end: the machine is shared, wall-clock rates drop under load. */
  loadAverage: number;
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

/** Run the benchmark (see the module comment). */
export async function run(options: ColdStoreBenchOptions = {}): Promise<ColdStoreBenchResult> {
  const n = options.events ?? (options.quick ? 20_000 : 200_000);
  const root = await mkdtemp(join(tmpdir(), 'otel-audit-bench-coldstore-'));
  try {
    // Four tenants' chains, one event every 50 ms of event time: ~72k events per chain-hour.
    const entries: WalEventEntry[] = [];
    const per = Math.ceil(n / 4);
    for (const t of ['acme', 'globex', 'initech', 'umbrella']) {
      entries.push(...makeEntries({ tenantId: t, count: Math.min(per, n - entries.length), stepMillis: 50, firstLsn: entries.length + 1 }));
    }
    const conn = createChdbConnection({ path: join(root, 'chdb') });
    const ch = createClient({ connection: conn } as unknown as Parameters<typeof createClient>[0]);
    const engine = chdbParquetEngine((sql, o) => conn.chdb.queryAsync(sql, o));
    const payloads = entries.map((e) => JSON.stringify(e));
    const write = async (dataDir: string, encoder: 'engine' | 'js', count = entries.length) => {
      const exporter = createColdStoreExporter(
        { dataDir, maxObjectAgeMillis: 3_600_000, parquetEncoder: encoder },
        encoder === 'engine' ? { parquetEngine: engine } : {},
      );
      await exporter.start();
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < count; i += 1000) {
        const b = batchOf(entries.slice(i, Math.min(count, i + 1000)));
        // As the runner hands it over: the WAL payload text.
        const r = await exporter.exportPayloads({
          firstLsn: b.firstLsn,
          lastLsn: b.lastLsn,
          payloads: packPayloads(payloads.slice(i, Math.min(count, i + 1000))),
        });
        if (r.status !== 'success') throw r.error;
      }
      const t1 = performance.now();
      const flushed = await exporter.flush();
      if (flushed.status !== 'success') throw flushed.error;
      const t2 = performance.now();
      const cpu = cpuSeconds(c0);
      loop.disable();
      await exporter.shutdown();
      return { t0, t1, t2, cpu, maxLoop: Math.round(loop.max / 1e6) };
    };
    // Warm both paths (worker start, JIT, the engine's first Parquet write) on a throw-away archive.
    await write(join(root, 'warm-engine'), 'engine', 2000);
    await write(join(root, 'warm-js'), 'js', 2000);
    const w = await write(join(root, 'data'), 'engine');
    const { t0, t1, t2 } = w;
    const writeCpu = w.cpu;
    const loop = { max: w.maxLoop * 1e6 };
    const wj = await write(join(root, 'data-js'), 'js');
    // Floor: the engine's own Parquet write of the same rows, per object-sized slice, from Native files.
    const allRows = entries.map(walEntryToAuditRow);
    const natives: string[] = [];
    for (let i = 0; i < allRows.length; i += 75_000) {
      const f = join(root, `floor-${i}.native`);
      await writeFile(f, encodeAuditRowsNative(allRows.slice(i, i + 75_000)));
      natives.push(f);
    }
    const f0 = performance.now();
    const fc0 = process.cpuUsage();
    for (const f of natives) await engine(f, `${f}.parquet`, 3);
    const floorSeconds = (performance.now() - f0) / 1000;
    const floorCpu = cpuSeconds(fc0);

    const store = new LocalDirectoryStore(join(root, 'data', 'archive'));
    const listing = await listColdObjects(store);
    if (listing.status !== 'success') throw listing.error;
    const parquetBytes = listing.value.objects.reduce((s, o) => s + o.size, 0);

    const rows = entries.slice(0, 20_000).map(walEntryToAuditRow);
    const rowJson = rows.reduce((s, r) => s + Buffer.byteLength(JSON.stringify(r)) + 1, 0) / rows.length;
    encodeParquet(rows.slice(0, 1000)); // warm-up
    const e0 = performance.now();
    const encoded = encodeParquet(rows);
    const e1 = performance.now();
    await decodeParquet(encoded);
    const e2 = performance.now();

    let replay: ColdStoreBenchResult['replay'];
    try {
      const sink = createClickHouseReplaySink({ client: ch, database: 'bench', embedded: true });
      const rc0 = process.cpuUsage();
      const r0 = performance.now();
      const r = await replayColdStorage({ source: store, sink });
      const r1 = performance.now();
      const replayCpu = cpuSeconds(rc0);
      if (r.status !== 'success') throw r.error;
      const again = await replayColdStorage({ source: store, sink });
      const r2 = performance.now();
      if (again.status !== 'success' || again.value.rowsInserted !== 0) throw new Error('replay is not idempotent');
      replay = {
        seconds: (r1 - r0) / 1000,
        eventsPerSecond: Math.round(r.value.rowsInserted / ((r1 - r0) / 1000)),
        rerunSeconds: (r2 - r1) / 1000,
        cpuSecondsPerMillionEvents: Math.round((replayCpu / r.value.rowsInserted) * 1e6),
      };
    } finally {
      await ch.close();
    }
    return {
      scenario: 'coldstore',
      events: entries.length,
      write: {
        seconds: (t2 - t0) / 1000,
        eventsPerSecond: Math.round(entries.length / ((t2 - t0) / 1000)),
        stageEventsPerSecond: Math.round(entries.length / ((t1 - t0) / 1000)),
        objects: listing.value.objects.length,
        cpuSecondsPerMillionEvents: Math.round((writeCpu / entries.length) * 1e6),
        maxEventLoopDelayMillis: Math.round(loop.max / 1e6),
      },
      writeJs: {
        seconds: (wj.t2 - wj.t0) / 1000,
        eventsPerSecond: Math.round(entries.length / ((wj.t2 - wj.t0) / 1000)),
        maxEventLoopDelayMillis: wj.maxLoop,
      },
      engineParquetFloor: {
        seconds: floorSeconds,
        eventsPerSecond: Math.round(entries.length / floorSeconds),
        cpuMicrosPerEvent: Number(((floorCpu / entries.length) * 1e6).toFixed(1)),
      },
      ratios: {
        engineWriteOverJsWrite: Math.round(((wj.t2 - wj.t0) / (t2 - t0)) * 100) / 100,
        engineWriteOverFloor: Math.round((floorSeconds / ((t2 - t0) / 1000)) * 100) / 100,
      },
      encodeEventsPerSecond: Math.round(rows.length / ((e1 - e0) / 1000)),
      decodeEventsPerSecond: Math.round(rows.length / ((e2 - e1) / 1000)),
      bytesPerEvent: { parquetZstd: Math.round((parquetBytes / entries.length) * 10) / 10, rowJson: Math.round(rowJson) },
      replay,
      loadAverage: Math.round(loadavg()[0]! * 10) / 10,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run({ quick: process.argv.includes('--quick') }), null, 2));
}
