/**
 * Build a cold object from a sealed staging file, in the calling thread ({@link buildFromSealedFile})
 * or in a worker thread ({@link createObjectBuilder}), so encoding never blocks the event loop.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { type AuditRow, walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import type { WalEventEntry } from '../../receiver/contracts.ts';
import { encodeAuditRowsNative } from '../clickhouse/native-format.ts';
import {
  assembleColdObject,
  type BuiltColdObject,
  buildColdObject,
  type ColdObjectMetadata,
  metadataFromKeyValues,
  metadataOfRows,
  metadataToKeyValues,
} from './object-format.ts';
import { readParquetFooter } from './parquet-codec.ts';
import { appendKeyValueMetadata } from './parquet-footer.ts';

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
export async function prepareNativeBuild(req: BuildRequest & { nativeFile: string }): Promise<PreparedBuild | undefined> {
  const rows = await readSealedRows(req.path);
  if (rows.length === 0) return undefined;
  await writeFile(req.nativeFile, encodeAuditRowsNative(rows));
  return { metadata: metadataOfRows(rows), rowCount: rows.length, nativeFile: req.nativeFile };
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
      parsed = JSON.parse(line);
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
export async function buildFromSealedFile(req: BuildRequest): Promise<(BuiltColdObject & { rowCount: number }) | undefined> {
  const rows = await readSealedRows(req.path);
  if (rows.length === 0) return undefined;
  return { ...buildColdObject(rows, { prefix: req.prefix, format: req.format, zstdLevel: req.zstdLevel }), rowCount: rows.length };
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
}

/**
 * A builder backed by one worker thread (started lazily, restarted after a crash). With
 * `inline: true`, builds in the calling thread. With an `engine`, Parquet objects are built in
 * three steps — rows → Native file (builder thread), Native → Parquet (the engine, on its own
 * threads), footer metadata + checksum + manifest (builder thread) — so the event loop only issues
 * the engine's query.
 */
export function createObjectBuilder(options: ObjectBuilderOptions = {}): ObjectBuilder {
  const base = options.inline ? inlineBuilder() : workerBuilder();
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

function workerBuilder(): OpRunner {
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const failAll = (err: Error): void => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    worker = undefined;
  };
  const start = (): Worker => {
    // Sources run as .ts (type stripping); the built package as .js.
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    const w = new Worker(new URL(`./build-worker${ext}`, import.meta.url));
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
    w.on('error', (err) => failAll(err));
    w.on('exit', (code) => failAll(new Error(`object builder thread exited with code ${code}`)));
    return w;
  };
  return {
    call(op, req) {
      worker ??= start();
      worker.ref();
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker!.postMessage({ ...(req as object), id, op });
      });
    },
    async close() {
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
    },
  };
}
