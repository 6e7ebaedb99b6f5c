/**
 * The embedded engine's memory bounds (`engineMemory`) are in force as server settings, and work
 * past `maxServerMemoryBytes` fails with MEMORY_LIMIT_EXCEEDED, which the exporter's classification
 * makes retryable (the runner backs off; the batch stays in the WAL) — the engine stays usable and
 * an export after it lands every row exactly once. The Native builder thread's heap bound behaves
 * the same way: a build past it fails, the next one gets a new thread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseHandle, openClickHouse } from '../../../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../../../exporters/clickhouse/config.ts';
import { classifyClickHouseError, clickHouseCode } from '../../../exporters/clickhouse/errors.ts';
import { createClickHouseExporter } from '../../../exporters/clickhouse/exporter.ts';
import { createNativeBuilder, type NativeBuildSummary } from '../../../exporters/clickhouse/native-build.ts';
import type { WalEntry } from '../../../receiver/contracts.ts';
import { batchOf, makeEntries, removeTempDirs, tempDir } from './fixtures.ts';

const MiB = 1024 ** 2;
let handle: ClickHouseHandle;
const memory = {
  maxServerMemoryBytes: 256 * MiB,
  markCacheBytes: 8 * MiB,
  uncompressedCacheBytes: 0,
  indexMarkCacheBytes: 4 * MiB,
  primaryIndexCacheBytes: 4 * MiB,
  queryConditionCacheBytes: 2 * MiB,
};
beforeAll(() => {
  handle = openClickHouse(parseClickHouseConfig({ dataDir: tempDir('engine-memory'), engineMemory: memory }));
});
afterAll(async () => {
  await handle.close();
  removeTempDirs();
});

describe('embedded engine memory bounds', () => {
  it('defaults bound the caches a dedicated server would size in GiB', () => {
    const c = parseClickHouseConfig({});
    expect(c.engineMemory).toEqual({
      maxServerMemoryBytes: 1024 * MiB,
      markCacheBytes: 64 * MiB,
      uncompressedCacheBytes: 0,
      indexMarkCacheBytes: 16 * MiB,
      primaryIndexCacheBytes: 64 * MiB,
      queryConditionCacheBytes: 16 * MiB,
    });
    expect(() => parseClickHouseConfig({ engineMemory: { maxServerMemoryBytes: 1024 } })).toThrow(/engineMemory\.maxServerMemoryBytes/);
    expect(() => parseClickHouseConfig({ engineMemory: { pageCacheBytes: 1 } })).toThrow(/engineMemory/);
  });

  it('are the engine settings in force', async () => {
    const rs = await handle.client.query({
      query: `SELECT name, value FROM system.server_settings WHERE name IN
        ('max_server_memory_usage', 'mark_cache_size', 'uncompressed_cache_size', 'index_mark_cache_size',
         'primary_index_cache_size', 'query_condition_cache_size') ORDER BY name`,
      format: 'JSONEachRow',
    });
    const got = Object.fromEntries((await rs.json<{ name: string; value: string }>()).map((r) => [r.name, Number(r.value)]));
    expect(got).toEqual({
      max_server_memory_usage: memory.maxServerMemoryBytes,
      mark_cache_size: memory.markCacheBytes,
      uncompressed_cache_size: memory.uncompressedCacheBytes,
      index_mark_cache_size: memory.indexMarkCacheBytes,
      primary_index_cache_size: memory.primaryIndexCacheBytes,
      query_condition_cache_size: memory.queryConditionCacheBytes,
    });
  });

  it('work past the bound fails with MEMORY_LIMIT_EXCEEDED (retryable), and an export afterwards lands every row once', async () => {
    // ~800 MiB of array state: past the 256 MiB server bound.
    const err = await handle.client
      .query({ query: 'SELECT length(groupArray(number)) FROM numbers(100000000)', format: 'JSONEachRow' })
      .then((rs) => rs.json())
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeDefined();
    expect(clickHouseCode(err)).toBe(241);
    const classified = classifyClickHouseError(err, 'insert of LSN 1-10');
    expect(classified.retryable).toBe(true);
    expect(classified.error.code).toBe('AUDIT_ERR_STORE_UNAVAILABLE');

    const exporter = createClickHouseExporter({ dataDir: tempDir('engine-memory-export'), database: 'mem_bound' }, { handle });
    await exporter.start();
    const entries = makeEntries({ count: 3000 });
    expect(await exporter.export(batchOf(entries))).toEqual({ status: 'success' });
    // The same range again (a retry after a failure the caller could not tell from a success).
    expect(await exporter.export(batchOf(entries))).toEqual({ status: 'success' });
    const rs = await handle.client.query({
      query: 'SELECT count() AS c, uniqExact(EventId) AS u FROM mem_bound.audit_events',
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ c: number | string; u: number | string }>();
    expect([Number(row!.c), Number(row!.u)]).toEqual([3000, 3000]);
    await exporter.shutdown();
  });

  it('a Native builder thread past its heap bound fails the build; the next build gets a new thread', async () => {
    const builder = createNativeBuilder({ heap: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 } });
    const run = (entries: WalEntry[]) =>
      new Promise<NativeBuildSummary>((resolve, reject) => {
        const chunks: Uint8Array[] = [];
        builder.build(
          // Parsed entries live in the worker's heap (packed payloads are off-heap bytes): 40,000
          // of them do not fit a 32 MiB old generation.
          { entries, chunkRows: 1_000_000, blockRows: 1_000_000 },
          { plan: () => {}, chunk: (c) => chunks.push(c.bytes!), done: resolve, fail: reject },
        );
      });
    try {
      const big = makeEntries({ count: 40_000 });
      await expect(run(big)).rejects.toThrow(/memory|exited/i);
      expect((await run(makeEntries({ count: 10 }))).events).toBe(10);
    } finally {
      await builder.close();
    }
  });
});
