/**
 * Build a cold object from a sealed staging file, in the calling thread ({@link buildFromSealedFile})
 * or in a worker thread ({@link createObjectBuilder}), so encoding never blocks the event loop.
 */
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { WalEventEntry } from '../../receiver/contracts.ts';
import { type AuditRow, walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { type BuiltColdObject, buildColdObject } from './object-format.ts';

/** What to build. */
export interface BuildRequest {
  path: string;
  prefix: string;
  format: 'parquet' | 'ndjson.gz';
  zstdLevel: number;
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

/**
 * A builder backed by one worker thread (started lazily, restarted after a crash). With
 * `inline: true`, builds in the calling thread (tests, tiny deployments).
 */
export function createObjectBuilder(options: { inline?: boolean } = {}): ObjectBuilder {
  if (options.inline) return { build: buildFromSealedFile, close: async () => {} };
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, { resolve: (v: (BuiltColdObject & { rowCount: number }) | undefined) => void; reject: (e: Error) => void }>();
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
    w.on('message', (msg: { id: number; built?: BuiltColdObject & { rowCount: number }; empty?: boolean; error?: string }) => {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.error !== undefined) p.reject(new Error(msg.error));
      else if (msg.empty || !msg.built) p.resolve(undefined);
      else p.resolve({ ...msg.built, bytes: new Uint8Array(msg.built.bytes), manifestBytes: new Uint8Array(msg.built.manifestBytes) });
    });
    w.on('error', (err) => failAll(err));
    w.on('exit', (code) => failAll(new Error(`object builder thread exited with code ${code}`)));
    return w;
  };
  return {
    build(req) {
      worker ??= start();
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker!.postMessage({ ...req, id });
      });
    },
    async close() {
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
    },
  };
}
