/**
 * The engine build reads a sealed staging file block by block (bounded memory) instead of holding
 * a whole object's rows: the blocks, concatenated, are exactly the rows of the whole-file reader
 * (seq order, first copy of a seq wins, rows staged by an earlier version, torn final line
 * skipped, damage anywhere else fails loudly), the metadata is the whole object's, and the engine
 * turns the block-wise Native file into the same Parquet object as a single-block one.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseHandle, openClickHouse } from '../../../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../../../exporters/clickhouse/config.ts';
import { buildColdObject, metadataOfRows } from '../../../exporters/coldstore/object-format.ts';
import { decodeParquet, readParquetFooter } from '../../../exporters/coldstore/parquet-codec.ts';
import {
  buildFromSealedFile,
  chdbParquetEngine,
  createObjectBuilder,
  finishParquetBuild,
  indexSealedFile,
  prepareNativeBuild,
  readSealedRows,
  sealedRowBlocks,
  stageLine,
} from '../../../exporters/coldstore/sealed-build.ts';
import { removeTempDirs, tempDir } from '../clickhouse/fixtures.ts';
import { makeEntries } from './fixtures.ts';

let handle: ClickHouseHandle;
beforeAll(() => {
  handle = openClickHouse(parseClickHouseConfig({ dataDir: tempDir('sealed-stream') }));
});
afterAll(async () => {
  await handle.close();
  removeTempDirs();
});

/** A sealed file as a crash-and-replay history leaves it: out of order, duplicates, old-style rows, a torn tail. */
function messySealedFile(): string {
  const entries = makeEntries({ tenantId: 'acme', count: 700 });
  // An event whose own attributes say `"seq":1` must not be mistaken for the entry's seq.
  (entries[10]!.event.details as Record<string, unknown>).seq = 1;
  const lines: string[] = [];
  for (const e of entries.slice(300)) lines.push(stageLine(e)); // a later range first
  for (const e of entries.slice(0, 300)) lines.push(stageLine(e));
  for (const e of entries.slice(250, 350)) lines.push(stageLine(e)); // replayed after a crash: duplicates
  // Rows staged by an earlier version (AuditRow JSON), for seqs not present otherwise.
  const older = makeEntries({ tenantId: 'acme', count: 20, after: { seq: 700, hash: entries[699]!.hash }, firstLsn: 701 });
  for (const e of older) lines.push(JSON.stringify(walEntryToAuditRow(e)));
  const dir = tempDir('sealed-stream-file');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'acme+1.ndjson');
  writeFileSync(path, `${lines.join('\n')}\n`);
  appendFileSync(path, stageLine(makeEntries({ tenantId: 'acme', count: 1, after: { seq: 720, hash: older[19]!.hash } })[0]!).slice(0, 80));
  return path;
}

async function collect(path: string, blockRows: number) {
  const out = [];
  let blocks = 0;
  for await (const rows of sealedRowBlocks(path, blockRows)) {
    expect(rows.length).toBeLessThanOrEqual(blockRows);
    out.push(...rows);
    blocks++;
  }
  return { rows: out, blocks };
}

describe('streamed sealed-file build', () => {
  it('blocks concatenate to the whole-file rows: seq order, first copy wins, old rows, torn tail skipped', async () => {
    const path = messySealedFile();
    const whole = await readSealedRows(path);
    expect(whole.map((r) => r.Seq)).toEqual(Array.from({ length: 720 }, (_, i) => i + 1));
    const { rows, blocks } = await collect(path, 64);
    expect(blocks).toBe(Math.ceil(720 / 64));
    expect(rows).toEqual(whole);
    expect((await indexSealedFile(path)).length).toBe(720);
  });

  it('a damaged line that is not the last fails the build instead of dropping rows', async () => {
    const dir = tempDir('sealed-stream-bad');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'acme+2.ndjson');
    const entries = makeEntries({ tenantId: 'acme', count: 10 });
    const lines = entries.map(stageLine);
    lines[4] = lines[4]!.slice(0, 40); // the prefix is intact, the rest is gone
    lines[6] = '{not json';
    writeFileSync(path, `${lines.join('\n')}\n`);
    await expect(collect(path, 4)).rejects.toThrow(/not valid JSON/);
    await expect(
      prepareNativeBuild({ path, prefix: '', format: 'parquet', zstdLevel: 3, nativeFile: join(dir, 'x.native') }),
    ).rejects.toThrow(/not valid JSON/);
  });

  it('metadata and Parquet object equal those of a single-block build', async () => {
    const path = messySealedFile();
    const scratch = tempDir('sealed-stream-scratch');
    mkdirSync(scratch, { recursive: true });
    const engine = chdbParquetEngine((sql, o) => handle.chdb!.chdb.queryAsync(sql, o));
    const built = [];
    for (const blockRows of [50, 1_000_000]) {
      const nativeFile = join(scratch, `${blockRows}.native`);
      const parquetFile = join(scratch, `${blockRows}.parquet`);
      const prepared = await prepareNativeBuild({ path, prefix: '', format: 'parquet', zstdLevel: 3, nativeFile, blockRows });
      expect(prepared!.rowCount).toBe(720);
      expect(prepared!.metadata).toEqual(metadataOfRows(await readSealedRows(path)));
      await engine(nativeFile, parquetFile, 3);
      built.push(await finishParquetBuild({ parquetFile, prefix: '', metadata: prepared!.metadata, rowCount: prepared!.rowCount }));
    }
    expect(built[0]!.key).toBe(built[1]!.key);
    expect(Buffer.from(built[0]!.bytes)).toEqual(Buffer.from(built[1]!.bytes));
  });

  it('the JS encoder writes the object one row group at a time: same rows and metadata as the whole-file build', async () => {
    const path = messySealedFile();
    const rows = await readSealedRows(path);
    const streamed = await buildFromSealedFile({ path, prefix: 'p', format: 'parquet', zstdLevel: 3 }, 100);
    const whole = buildColdObject(rows, { prefix: 'p', format: 'parquet', zstdLevel: 3 });
    expect(streamed!.rowCount).toBe(720);
    expect(streamed!.key).toBe(whole.key);
    expect(streamed!.manifest).toEqual({ ...whole.manifest, sha256: streamed!.sha256, sizeBytes: streamed!.bytes.length });
    expect(readParquetFooter(streamed!.bytes).metadata.row_groups).toHaveLength(8);
    expect(readParquetFooter(streamed!.bytes).kv).toEqual(readParquetFooter(whole.bytes).kv);
    expect(await decodeParquet(streamed!.bytes)).toEqual(rows);
  });

  it('a builder thread past its heap bound fails the build (retried later), and the next build gets a new thread', async () => {
    // 20,000 rows through the JS encoder need more than a 32 MiB old generation (5 rows do not).
    const dir = tempDir('sealed-stream-oom');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'acme+3.ndjson');
    writeFileSync(path, `${makeEntries({ tenantId: 'acme', count: 20_000 }).map(stageLine).join('\n')}\n`);
    const small = createObjectBuilder({ heap: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 } });
    try {
      await expect(small.build({ path, prefix: '', format: 'parquet', zstdLevel: 3 })).rejects.toThrow(/exited|memory/i);
      const tinyPath = join(dir, 'acme+4.ndjson');
      writeFileSync(tinyPath, `${makeEntries({ tenantId: 'acme', count: 5 }).map(stageLine).join('\n')}\n`);
      expect((await small.build({ path: tinyPath, prefix: '', format: 'parquet', zstdLevel: 3 }))?.rowCount).toBe(5);
    } finally {
      await small.close();
    }
  });
});
