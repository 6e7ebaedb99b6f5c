/**
 * Build a cold object from a sealed staging file, in the calling thread ({@link buildFromSealedFile})
 * or in a worker thread ({@link createObjectBuilder}), so encoding never blocks the event loop.
 */
import { type FileHandle, mkdir, open, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { type AuditRow, walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { writeAuditRowBinaryChainColumns } from '@otel-audit/schema/audit-row-binary';
import { ClickHouseBinaryBuffer } from '@otel-audit/schema/binary-buffer';
import type { WalEventEntry } from '../../receiver/contracts.ts';
import { walEventHead } from '../../receiver/wal/event-head.ts';
import { COLD_BUILDER_HEAP_DEFAULTS, toResourceLimits, type WorkerHeapLimits } from '../../receiver/worker-limits.ts';
import { NATIVE_BLOCK_ROWS } from '../clickhouse/native-build.ts';
import { AuditNativeBlockWriter } from '../clickhouse/native-format.ts';
import {
  assembleColdObject,
  type BuiltColdObject,
  buildColdObject,
  type ColdObjectMetadata,
  metadataFromKeyValues,
  metadataToKeyValues,
  RowMetadataAccumulator,
} from './object-format.ts';
import { AuditParquetWriter, readParquetFooter } from './parquet-codec.ts';
import { appendKeyValueMetadata } from './parquet-footer.ts';
import { walEventSeq } from './wal-routing.ts';

/** What to build. */
export interface BuildRequest {
  path: string;
  prefix: string;
  format: 'parquet' | 'ndjson.gz';
  zstdLevel: number;
}

/**
 * Writes `parquetFile` from the Native block in `nativeFile` (every audit row column, rows in
 * order): the embedded ClickHouse engine's Parquet writer, run on the thread that owns the engine.
 */
export type ParquetEngine = (nativeFile: string, parquetFile: string, zstdLevel: number) => Promise<void>;

/** A prepared engine build: the rows' metadata, their Native block written to `nativeFile`. */
export interface PreparedBuild {
  metadata: ColdObjectMetadata;
  rowCount: number;
  nativeFile: string;
}

/** Step 1 of an engine build (builder thread): rows of the sealed file → Native block file. */
export async function prepareNativeBuild(
  req: BuildRequest & { nativeFile: string; blockRows?: number },
): Promise<PreparedBuild | undefined> {
  // Streamed: the sealed file is indexed (seq and byte range of each line, first copy of a seq) and
  // its lines are then read back in seq order, each parsed, mapped and encoded into the block's
  // column buffers at once (as the ClickHouse builder does): no parsed line or row outlives its own
  // iteration, so they die young instead of a block's worth of rows being promoted to the old
  // generation (that promotion and its collection were the builder's largest CPU cost).
  const blockRows = req.blockRows ?? NATIVE_BLOCK_ROWS;
  const index = await indexSealedFile(req.path);
  if (index.length === 0) return undefined;
  const metadata = new RowMetadataAccumulator();
  const writer = new AuditNativeBlockWriter();
  const chain = new ClickHouseBinaryBuffer(1024);
  const input = await open(req.path, 'r');
  const output = await open(req.nativeFile, 'w');
  try {
    for (let from = 0; from < index.length; from += blockRows) {
      await forEachIndexedLine(input, req.path, index, from, Math.min(index.length, from + blockRows), (buf, at, end, fileOffset) => {
        // A line staged with its storage row: the row's event columns are copied into the block
        // and only the entry's head is parsed (for the chain columns and the metadata).
        const tab = separatorIn(buf, at, end);
        const head = tab < end ? walEventHead(buf, at, tab) : undefined;
        if (head !== undefined) {
          const row = Buffer.from(buf.toString('latin1', tab + 1, end), 'base64');
          chain.reset();
          writeAuditRowBinaryChainColumns(head, chain);
          writer.addRowBinary(row, 0, row.length, chain.bytes());
          metadata.addRowBinary(row, head);
          return;
        }
        const row = stagedLineRow(buf, at, tab, req.path, fileOffset);
        metadata.add(row);
        writer.add(row);
      });
      await output.write(writer.finish());
    }
  } finally {
    await output.close();
    await input.close();
  }
  return { metadata: metadata.result(), rowCount: index.length, nativeFile: req.nativeFile };
}

/**
 * The rows of a sealed file in blocks of at most `blockRows`, in the order and with the
 * de-duplication of {@link readSealedRows} (which they equal, concatenated), holding one block's rows
 * and the file's index at a time.
 */
export async function* sealedRowBlocks(path: string, blockRows: number): AsyncGenerator<AuditRow[]> {
  const index = await indexSealedFile(path);
  if (index.length === 0) return;
  const input = await open(path, 'r');
  try {
    for (let from = 0; from < index.length; from += blockRows) {
      const rows: AuditRow[] = [];
      await forEachIndexedRow(input, path, index, from, Math.min(index.length, from + blockRows), (row) => rows.push(row));
      yield rows;
    }
  } finally {
    await input.close();
  }
}

/** One row of a sealed file: its seq and the byte range of its line. */
export interface SealedLine {
  seq: number;
  offset: number;
  length: number;
}

/** Bytes read per step while indexing a sealed file. */
const INDEX_READ_BYTES = 1 << 20;

/**
 * Index a sealed file: each distinct seq's first line (byte range), sorted by seq. Same rules as
 * {@link readSealedRows}: a torn final line is skipped, any other line that is not JSON fails.
 * Lines are parsed only when their seq cannot be read from the WAL entry prefix (rows staged by an
 * earlier version, the final line); a damaged line with an intact prefix fails when it is read.
 */
export async function indexSealedFile(path: string): Promise<SealedLine[]> {
  const fh = await open(path, 'r');
  const lines: SealedLine[] = [];
  const seen = new Set<number>();
  try {
    const size = (await fh.stat()).size;
    let carry = Buffer.alloc(0);
    let carryOffset = 0;
    let lineNo = 0;
    const take = (line: Buffer, offset: number, final: boolean): void => {
      lineNo++;
      if (line.length === 0) return;
      let seq: number;
      const fast = final ? undefined : walEventSeq(line);
      if (fast !== undefined) seq = fast;
      else {
        let parsed: unknown;
        try {
          parsed = JSON.parse(stagedLineJson(line.toString('utf8')));
        } catch (err) {
          if (final) return; // a torn final line: an append that never completed (never acknowledged)
          throw new Error(`staging file ${path} line ${lineNo} is not valid JSON: ${(err as Error).message}`);
        }
        seq = stagedChainSeq(parsed).seq;
      }
      if (seen.has(seq)) return;
      seen.add(seq);
      lines.push({ seq, offset, length: line.length });
    };
    for (let pos = 0; pos < size; ) {
      const chunk = Buffer.allocUnsafe(Math.min(INDEX_READ_BYTES, size - pos));
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, pos);
      if (bytesRead === 0) break;
      const buf = carry.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      const bufOffset = carry.length === 0 ? pos : carryOffset;
      pos += bytesRead;
      let start = 0;
      for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
        take(buf.subarray(start, nl), bufOffset + start, false);
        start = nl + 1;
      }
      // Copy the partial line: the chunk's memory is not kept alive by a small view into it.
      carry = Buffer.from(buf.subarray(start));
      carryOffset = bufOffset + start;
    }
    if (carry.length > 0) take(carry, carryOffset, true);
  } finally {
    await fh.close();
  }
  return lines.sort((a, b) => a.seq - b.seq);
}

/**
 * Lines `from`..`to` (exclusive) of an index, read back from the file (adjacent lines in one read)
 * and handed to `onLine` one by one, in index order, as `buf[at..end)` (valid during the call).
 */
async function forEachIndexedLine(
  fh: FileHandle,
  path: string,
  index: SealedLine[],
  from: number,
  to: number,
  onLine: (buf: Buffer, at: number, end: number, fileOffset: number) => void,
): Promise<void> {
  for (let i = from; i < to; ) {
    let j = i + 1;
    let end = index[i]!.offset + index[i]!.length;
    // Lines of one run in the file (the usual case: staged in seq order) are read at once.
    while (j < to && index[j]!.offset === end + 1) {
      end = index[j]!.offset + index[j]!.length;
      j++;
    }
    const start = index[i]!.offset;
    const buf = Buffer.allocUnsafe(end - start);
    const { bytesRead } = await fh.read(buf, 0, buf.length, start);
    if (bytesRead !== buf.length) throw new Error(`staging file ${path} changed while it was read`);
    for (let k = i; k < j; k++) {
      const at = index[k]!.offset - start;
      onLine(buf, at, at + index[k]!.length, index[k]!.offset);
    }
    i = j;
  }
}

/** Where the staged line `buf[at..end)` has its {@link STAGED_ROW_SEPARATOR} (`end` when it has none). */
function separatorIn(buf: Buffer, at: number, end: number): number {
  const i = buf.subarray(at, end).indexOf(STAGED_ROW_SEPARATOR);
  return i < 0 ? end : at + i;
}

/** The row of the staged line whose JSON is `buf[at..end)` (a WAL entry, or a row staged by an earlier version). */
function stagedLineRow(buf: Buffer, at: number, end: number, path: string, fileOffset: number): AuditRow {
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString('utf8', at, end));
  } catch (err) {
    throw new Error(`staging file ${path} at byte ${fileOffset} is not valid JSON: ${(err as Error).message}`);
  }
  return (parsed as { kind?: string }).kind === 'event' ? walEntryToAuditRow(parsed as WalEventEntry) : (parsed as AuditRow);
}

/** Rows `from`..`to` (exclusive) of an index, from the lines' JSON, handed to `onRow` in index order. */
async function forEachIndexedRow(
  fh: FileHandle,
  path: string,
  index: SealedLine[],
  from: number,
  to: number,
  onRow: (row: AuditRow) => void,
): Promise<void> {
  await forEachIndexedLine(fh, path, index, from, to, (buf, at, end, fileOffset) => {
    onRow(stagedLineRow(buf, at, separatorIn(buf, at, end), path, fileOffset));
  });
}

/**
 * Step 3 of an engine build (builder thread): the engine's Parquet file + the integrity metadata in
 * its footer → the object. The footer is checked to read back the metadata exactly.
 */
export async function finishParquetBuild(req: {
  parquetFile: string;
  prefix: string;
  metadata: ColdObjectMetadata;
  rowCount: number;
}): Promise<BuiltColdObject & { rowCount: number }> {
  const written = new Uint8Array(await readFile(req.parquetFile));
  const before = readParquetFooter(written);
  if (Object.keys(before.kv).length > 0) throw new Error(`engine Parquet file ${req.parquetFile} already has key-value metadata`);
  if (Number(before.metadata.num_rows) !== req.rowCount)
    throw new Error(`engine Parquet file has ${before.metadata.num_rows} rows, expected ${req.rowCount}`);
  const bytes = appendKeyValueMetadata(written, metadataToKeyValues(req.metadata));
  const back = metadataFromKeyValues(readParquetFooter(bytes).kv);
  if (JSON.stringify(back) !== JSON.stringify(req.metadata)) throw new Error('Parquet footer metadata does not read back as written');
  return { ...assembleColdObject(bytes, req.metadata, { prefix: req.prefix, format: 'parquet' }), rowCount: req.rowCount };
}

/**
 * The embedded engine (chDB, through the receiver's shared ClickHouse handle) as a
 * {@link ParquetEngine}: `INSERT INTO FUNCTION file(…, Parquet) SELECT * FROM file(…, Native)`.
 * Bloom filters are off (the archive is read whole or by partition key, and they made files ~50 %
 * larger); zstd at the configured level, as the JS encoder.
 */
export function chdbParquetEngine(queryAsync: (sql: string, opts: { format: string }) => Promise<unknown>): ParquetEngine {
  const lit = (s: string) => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
  return async (nativeFile, parquetFile, zstdLevel) => {
    await queryAsync(
      `INSERT INTO FUNCTION file(${lit(parquetFile)}, Parquet) SELECT * FROM file(${lit(nativeFile)}, Native) ` +
        `SETTINGS engine_file_truncate_on_insert = 1, output_format_parquet_compression_method = 'zstd', ` +
        `output_format_compression_level = ${Math.trunc(zstdLevel)}, output_format_parquet_write_bloom_filter = 0`,
      { format: 'TabSeparated' },
    );
  };
}

/**
 * One staging line: the WAL entry as JSON. The WAL stores entries as JSON too, so this is the same
 * shape the runner hands over after a restart; `bigint` (possible in attributes of entries handed
 * over in memory) becomes its decimal string and bytes their base64, as `walEntryToAuditRow` renders
 * attribute values anyway.
 */
export function stageLine(entry: WalEventEntry): string {
  return JSON.stringify(entry, (_k, v: unknown) =>
    typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v,
  );
}

/**
 * Separates a staged line's JSON from the entry's storage row, when the line carries one:
 * `<WAL entry JSON>\t<base64 of the row's event columns, RowBinary>` (docs/coldstore.md). A TAB
 * never occurs in the JSON (the WAL's JSON has no whitespace, and a tab inside a string is escaped).
 */
export const STAGED_ROW_SEPARATOR = 0x09;

/** The JSON of a staged line (the text before a storage row, if the line carries one). */
export function stagedLineJson(line: string): string {
  const tab = line.indexOf('\t');
  return tab < 0 ? line : line.slice(0, tab);
}

/** UTC date and hour of an event time (any RFC 3339 offset). */
export function eventHour(occurredAt: string): { date: string; hour: string } {
  const iso = new Date(Date.parse(occurredAt)).toISOString();
  return { date: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/** Chain and seq of a parsed staging line (a WAL entry, or a row staged by an earlier version). */
export function stagedChainSeq(v: unknown): { chainId: string; seq: number } {
  const o = v as { kind?: string; chainId?: string; seq?: number; ChainId?: string; Seq?: number };
  return o.kind === 'event' ? { chainId: o.chainId!, seq: o.seq! } : { chainId: o.ChainId!, seq: o.Seq! };
}

/** Rows of a sealed file: parsed, mapped to rows, de-duplicated by seq (first copy wins), sorted. */
export async function readSealedRows(path: string): Promise<AuditRow[]> {
  const bySeq = new Map<number, AuditRow>();
  const lines = (await readFile(path, 'utf8')).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(stagedLineJson(line));
    } catch (err) {
      // A torn final line is an append that never completed (its batch was not acknowledged).
      // Anything else is damage: fail loudly (the upload is retried and reported), never drop rows.
      if (i === lines.length - 1) continue;
      throw new Error(`staging file ${path} line ${i + 1} is not valid JSON: ${(err as Error).message}`);
    }
    const { seq } = stagedChainSeq(parsed);
    if (bySeq.has(seq)) continue;
    bySeq.set(seq, (parsed as { kind?: string }).kind === 'event' ? walEntryToAuditRow(parsed as WalEventEntry) : (parsed as AuditRow));
  }
  return [...bySeq.values()].sort((a, b) => a.Seq - b.Seq);
}

/** Build the object of a sealed file; undefined when the file holds no rows. */
export async function buildFromSealedFile(
  req: BuildRequest,
  rowGroupRows = JS_PARQUET_ROW_GROUP_ROWS,
): Promise<(BuiltColdObject & { rowCount: number }) | undefined> {
  if (req.format === 'parquet') return buildParquetStreamed(req, rowGroupRows);
  const rows = await readSealedRows(req.path);
  if (rows.length === 0) return undefined;
  return { ...buildColdObject(rows, { prefix: req.prefix, format: req.format, zstdLevel: req.zstdLevel }), rowCount: rows.length };
}

/**
 * Rows per row group of a Parquet object written by the JS encoder: the builder holds one group's
 * rows (~4 KB each as objects) at a time instead of the object's (up to ~75,000 rows, ~300 MiB of
 * heap, measured with a 1M-event backlog and a ClickHouse server by URL). 4,096 rather than 16,384:
 * the builder's peak heap in that backlog went from 180 to 55 MiB and the receiver's peak RSS from
 * 759–827 to 676 MiB, for objects 1.5 % larger (60,000 rows: 5.78 vs 5.69 MB) and the same encode
 * time (docs/performance.md).
 */
export const JS_PARQUET_ROW_GROUP_ROWS = 4_096;

/** {@link buildFromSealedFile} for Parquet: indexed, read back and encoded one row group at a time. */
async function buildParquetStreamed(
  req: BuildRequest,
  rowGroupRows: number,
): Promise<(BuiltColdObject & { rowCount: number }) | undefined> {
  const metadata = new RowMetadataAccumulator();
  const writer = new AuditParquetWriter({ zstdLevel: req.zstdLevel });
  for await (const rows of sealedRowBlocks(req.path, rowGroupRows)) {
    for (const row of rows) metadata.add(row);
    writer.writeRowGroup(rows);
  }
  if (metadata.rowCount === 0) return undefined;
  const m = metadata.result();
  const bytes = writer.finish(metadataToKeyValues(m));
  return { ...assembleColdObject(bytes, m, { prefix: req.prefix, format: 'parquet' }), rowCount: m.rowCount };
}

/** Builds objects off the calling thread. */
export interface ObjectBuilder {
  build(req: BuildRequest): Promise<(BuiltColdObject & { rowCount: number }) | undefined>;
  close(): Promise<void>;
}

/** Options of {@link createObjectBuilder}. */
export interface ObjectBuilderOptions {
  /** Build in the calling thread (tests, tiny deployments). */
  inline?: boolean;
  /** Encode Parquet with this engine instead of the JS encoder (rows and metadata still built here). */
  engine?: ParquetEngine;
  /** Scratch directory of engine builds (Native and Parquet files, deleted after each build). */
  scratchDir?: string;
  /**
   * V8 heap bounds of the builder thread (default {@link COLD_BUILDER_HEAP_DEFAULTS}); past them the
   * thread exits with ERR_WORKER_OUT_OF_MEMORY, the build fails (the upload is retried from the
   * sealed file) and the next build starts a new thread.
   */
  heap?: WorkerHeapLimits;
}

/**
 * A builder backed by one worker thread (started lazily, restarted after a crash). With
 * `inline: true`, builds in the calling thread. With an `engine`, Parquet objects are built in
 * three steps — rows → Native file (builder thread), Native → Parquet (the engine, on its own
 * threads), footer metadata + checksum + manifest (builder thread) — so the event loop only issues
 * the engine's query.
 */
export function createObjectBuilder(options: ObjectBuilderOptions = {}): ObjectBuilder {
  const base = options.inline ? inlineBuilder() : workerBuilder(options.heap ?? COLD_BUILDER_HEAP_DEFAULTS);
  const engine = options.engine;
  if (engine === undefined)
    return { build: (req) => base.call('build', req) as Promise<(BuiltColdObject & { rowCount: number }) | undefined>, close: base.close };
  const scratch = options.scratchDir;
  if (scratch === undefined) throw new Error('an engine builder needs a scratchDir');
  return {
    async build(req) {
      if (req.format !== 'parquet') return base.call('build', req) as Promise<(BuiltColdObject & { rowCount: number }) | undefined>;
      await mkdir(scratch, { recursive: true });
      const name = basename(req.path);
      const nativeFile = join(scratch, `${name}.native`);
      const parquetFile = join(scratch, `${name}.parquet`);
      try {
        const prepared = (await base.call('prepare', { ...req, nativeFile })) as PreparedBuild | undefined;
        if (prepared === undefined) return undefined;
        await engine(nativeFile, parquetFile, req.zstdLevel);
        return (await base.call('finish', {
          parquetFile,
          prefix: req.prefix,
          metadata: prepared.metadata,
          rowCount: prepared.rowCount,
        })) as BuiltColdObject & { rowCount: number };
      } finally {
        await rm(nativeFile, { force: true });
        await rm(parquetFile, { force: true });
      }
    },
    close: base.close,
  };
}

type BuilderOp = 'build' | 'prepare' | 'finish';

/** Runs builder operations: in this thread or in the worker. */
interface OpRunner {
  call(op: BuilderOp, req: unknown): Promise<unknown>;
  close(): Promise<void>;
}

/** Run one builder operation in the current thread. */
export function runBuilderOp(op: BuilderOp, req: unknown): Promise<unknown> {
  if (op === 'prepare') return prepareNativeBuild(req as BuildRequest & { nativeFile: string });
  if (op === 'finish') return finishParquetBuild(req as Parameters<typeof finishParquetBuild>[0]);
  return buildFromSealedFile(req as BuildRequest);
}

function inlineBuilder(): OpRunner {
  return { call: runBuilderOp, close: async () => {} };
}

function workerBuilder(heap: WorkerHeapLimits): OpRunner {
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; worker: Worker }>();
  /**
   * Worker `w` failed or exited: reject the builds it held. Only its own: a thread past its heap
   * bound reports 'error' and then 'exit', and a build started between the two runs on the next
   * thread, which must not be failed (or forgotten) by the old one's 'exit'.
   */
  const failAll = (w: Worker, err: Error): void => {
    for (const [id, p] of pending) {
      if (p.worker !== w) continue;
      pending.delete(id);
      p.reject(err);
    }
    if (worker === w) worker = undefined;
  };
  const start = (): Worker => {
    // Sources run as .ts (type stripping); the built package as .js.
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    const w = new Worker(new URL(`./build-worker${ext}`, import.meta.url), {
      name: 'coldstore-build',
      resourceLimits: toResourceLimits(heap),
    });
    w.unref();
    w.on(
      'message',
      (msg: { id: number; built?: BuiltColdObject & { rowCount: number }; prepared?: PreparedBuild; empty?: boolean; error?: string }) => {
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if (pending.size === 0) w.unref();
        if (msg.error !== undefined) p.reject(new Error(msg.error));
        else if (msg.prepared) p.resolve(msg.prepared);
        else if (msg.empty || !msg.built) p.resolve(undefined);
        else p.resolve({ ...msg.built, bytes: new Uint8Array(msg.built.bytes), manifestBytes: new Uint8Array(msg.built.manifestBytes) });
      },
    );
    w.on('error', (err) => failAll(w, err));
    w.on('exit', (code) => failAll(w, new Error(`object builder thread exited with code ${code}`)));
    return w;
  };
  return {
    call(op, req) {
      const w = (worker ??= start());
      w.ref();
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, worker: w });
        w.postMessage({ ...(req as object), id, op });
      });
    },
    async close() {
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
    },
  };
}
