/**
 * Cold objects written by the embedded engine's Parquet writer (chDB, through the same engine the
 * ClickHouse exporter uses) are equivalent to those of the JS encoder: same keys, same manifest
 * metadata, same rows read back by the archive reader (hyparquet) with every check passing, readable
 * by the engine's own `file()`, and byte-identical when a sealed file is built again (a crash
 * between build and upload re-uploads the same object).
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseHandle, openClickHouse } from '../../../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../../../exporters/clickhouse/config.ts';
import {
  type ColdObjectManifest,
  chdbParquetEngine,
  createColdStoreExporter,
  LocalDirectoryStore,
  listColdObjects,
  parseColdStoreConfig,
  readColdObject,
} from '../../../exporters/coldstore/index.ts';
import { createObjectBuilder } from '../../../exporters/coldstore/sealed-build.ts';
import { removeTempDirs, tempDir } from '../clickhouse/fixtures.ts';
import { batchOf, makeEntries } from './fixtures.ts';

let handle: ClickHouseHandle;
beforeAll(() => {
  handle = openClickHouse(parseClickHouseConfig({ dataDir: tempDir('engine-parquet') }));
});
afterAll(async () => {
  await handle.close();
  removeTempDirs();
});

const engine = () => chdbParquetEngine((sql, o) => handle.chdb!.chdb.queryAsync(sql, o));

async function archive(dataDir: string, encoder: 'js' | 'engine', inline: boolean) {
  const exporter = createColdStoreExporter(parseColdStoreConfig({ dataDir, parquetEncoder: encoder, maxObjectAgeMillis: 3_600_000 }), {
    buildInline: inline,
    ...(encoder === 'engine' ? { parquetEngine: engine() } : {}),
  });
  await exporter.start();
  const a = makeEntries({ tenantId: 'acme', count: 1200, startAt: '2026-11-22T10:50:00.000Z' }); // crosses an hour: two objects
  const b = makeEntries({ tenantId: 'globex', count: 300 });
  expect(await exporter.export(batchOf([...a.slice(0, 700), ...b]))).toEqual({ status: 'success' });
  expect(await exporter.export(batchOf(a.slice(700)))).toEqual({ status: 'success' });
  expect(await exporter.flush()).toEqual({ status: 'success' });
  await exporter.shutdown();
  return new LocalDirectoryStore(join(dataDir, 'archive'), '');
}

describe('Parquet written by the embedded engine', () => {
  it('equals the JS encoder object for object: keys, metadata, rows; every reader check passes', async () => {
    const jsStore = await archive(tempDir('cold-js'), 'js', true);
    const engineStore = await archive(tempDir('cold-engine'), 'engine', false);
    const jsList = await listColdObjects(jsStore);
    const engineList = await listColdObjects(engineStore);
    if (jsList.status !== 'success' || engineList.status !== 'success') throw new Error('listing failed');
    const keys = engineList.value.objects.map((o) => o.key).sort();
    expect(keys).toEqual(jsList.value.objects.map((o) => o.key).sort());
    expect(keys.length).toBe(3);
    for (const key of keys) {
      const fromJs = await readColdObject(jsStore, key);
      const fromEngine = await readColdObject(engineStore, key);
      if (!fromJs.ok || !fromEngine.ok) throw new Error(`read failed: ${JSON.stringify([fromJs, fromEngine].filter((r) => !r.ok))}`);
      expect(fromEngine.warnings).toEqual([]);
      expect(fromEngine.rows).toEqual(fromJs.rows);
      expect(fromEngine.metadata).toEqual(fromJs.metadata);
      const { sha256: _a, sizeBytes: _b, ...engineManifest } = fromEngine.manifest as ColdObjectManifest;
      const { sha256: _c, sizeBytes: _d, ...jsManifest } = fromJs.manifest as ColdObjectManifest;
      expect(engineManifest).toEqual(jsManifest);
      // The engine reads its own file back with the footer metadata added.
      const file = join(engineStore.root, key);
      const r = await handle.chdb!.chdb.queryAsync(`SELECT count(), min(Seq), max(Seq) FROM file('${file}', Parquet)`, {
        format: 'TabSeparated',
      });
      expect(r.text().trim()).toBe(`${fromEngine.metadata.rowCount}\t${fromEngine.metadata.firstSeq}\t${fromEngine.metadata.lastSeq}`);
    }
  });

  it('building the same sealed file again gives the same bytes (a re-upload after a crash is identical)', async () => {
    const dataDir = tempDir('cold-rebuild');
    const exporter = createColdStoreExporter(parseColdStoreConfig({ dataDir, parquetEncoder: 'engine', maxObjectAgeMillis: 3_600_000 }), {
      parquetEngine: engine(),
    });
    await exporter.start();
    expect(await exporter.export(batchOf(makeEntries({ tenantId: 'acme', count: 500 })))).toEqual({ status: 'success' });
    await exporter.sealAll();
    const sealedDir = join(dataDir, 'coldstore-staging', 'coldstore', 'sealed');
    const [sealed] = readdirSync(sealedDir);
    const copy = join(tempDir('cold-rebuild-copy'), sealed!);
    mkdirSync(join(copy, '..'), { recursive: true });
    copyFileSync(join(sealedDir, sealed!), copy);
    expect(await exporter.uploadSealed()).toEqual({ status: 'success' });
    await exporter.shutdown();
    const builder = createObjectBuilder({ engine: engine(), scratchDir: tempDir('cold-rebuild-scratch') });
    try {
      const again = await builder.build({ path: copy, prefix: '', format: 'parquet', zstdLevel: 3 });
      expect(again).toBeDefined();
      expect(Buffer.from(again!.bytes)).toEqual(readFileSync(join(dataDir, 'archive', again!.key)));
    } finally {
      await builder.close();
    }
  });

  it('parquetEncoder "engine" without an engine is a configuration error naming the key', () => {
    expect(() => createColdStoreExporter(parseColdStoreConfig({ dataDir: tempDir('cold-noengine'), parquetEncoder: 'engine' }))).toThrow(
      /parquetEncoder/,
    );
  });
});
