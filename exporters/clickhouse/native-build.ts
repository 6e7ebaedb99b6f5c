/**
 * Turning a WAL batch into Native insert blocks, in a worker thread (default) or inline: parse the
 * WAL payloads, map them to `audit_events` rows, encode each chunk as a Native block, and either
 * write it to a scratch file (the embedded engine reads files) or hand the bytes back (a server
 * takes them as the HTTP body). Chunks are reported one by one, so the caller inserts chunk n
 * while chunk n+1 is being built.
 */
import { closeSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { writeAuditRowBinaryChainColumns } from '@otel-audit/schema/audit-row-binary';
import { ClickHouseBinaryBuffer } from '@otel-audit/schema/binary-buffer';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';
import type { WalEntry, WalEventEntry } from '../../receiver/contracts.ts';
import { startsAsWalEvent, walEventHead } from '../../receiver/wal/event-head.ts';
import { type PackedPayloads, payloadBuffer, payloadRow, payloadStart, payloadText } from '../../receiver/wal/packed-payloads.ts';
import { NATIVE_BUILDER_HEAP_DEFAULTS, toResourceLimits, type WorkerHeapLimits } from '../../receiver/worker-limits.ts';
import { AuditNativeBlockWriter } from './native-format.ts';

/** What to build: a batch's WAL payloads (packed JSON bytes) or its parsed entries. */
export interface NativeBuildRequest {
  /** WAL payloads as read (UTF-8 JSON of {@link WalEntry}, packed); parsed by the builder. */
  payloads?: PackedPayloads;
  /** Parsed entries (when the caller already has them). */
  entries?: WalEntry[];
  /** Rows per chunk (one INSERT each). */
  chunkRows: number;
  /** Rows per Native block inside a chunk (default {@link NATIVE_BLOCK_ROWS}). */
  blockRows?: number;
  /**
   * Write chunk n to `<fileBase>.<n>.native` (embedded engine); absent: return the bytes.
   * The directory is created when missing.
   */
  fileBase?: string;
}

/** One built chunk. */
export interface NativeChunk {
  index: number;
  rows: number;
  /** The file holding the block (when `fileBase` was given). */
  file?: string;
  /** The block (when no `fileBase` was given). */
  bytes?: Uint8Array;
}

/** Everything the batch held besides its events. */
export interface NativeBuildSummary {
  chunks: number;
  events: number;
  checkpoints: CheckpointRecord[];
}

/** Receives the build's results in order: the chunk count, the chunks, then the summary (or an error). */
export interface NativeBuildSink {
  /** How many chunks will follow (known once the payloads are parsed, before any is encoded). */
  plan(chunks: number): void;
  chunk(c: NativeChunk): void;
  done(s: NativeBuildSummary): void;
  fail(err: Error): void;
}

/** Rows per Native block inside a chunk: bounds the builder's memory to a block's objects. */
export const NATIVE_BLOCK_ROWS = 8192;

/**
 * Build synchronously, reporting each chunk to `sink` as soon as it is ready.
 *
 * Memory: a chunk is written as consecutive Native blocks of {@link NATIVE_BLOCK_ROWS} rows; each
 * payload is parsed, mapped and encoded into the block's column buffers in turn, so no parsed
 * object outlives its own row. ClickHouse reads a file or body of several blocks as
 * one insert (the deduplication token covers it; ClickHouse numbers the blocks it forms after
 * squashing deterministically for the same input).
 */
export function buildNative(req: NativeBuildRequest, sink: Omit<NativeBuildSink, 'fail'>): void {
  const checkpoints: CheckpointRecord[] = [];
  // Which items are events (chunking counts events only, as the JSON path does). Payloads that do
  // not start with the event prefix are parsed now (checkpoints are rare); an event-prefixed
  // payload is checked to really be an event when it is parsed for its block.
  // Event items are payload indexes (parsed when their row is built) or parsed entries.
  const eventItems: Array<number | WalEventEntry> = [];
  const packed = req.payloads;
  const buf = packed === undefined ? undefined : payloadBuffer(packed);
  if (req.entries !== undefined) {
    for (const e of req.entries) {
      if (e.kind === 'event') eventItems.push(e);
      else if (e.kind === 'checkpoint') checkpoints.push(e.checkpoint);
    }
  } else if (packed !== undefined && buf !== undefined) {
    for (let i = 0; i < packed.ends.length; i++) {
      if (startsAsWalEvent(buf, payloadStart(packed, i), packed.ends[i]!)) {
        eventItems.push(i);
        continue;
      }
      const e = JSON.parse(payloadText(packed, i, buf)) as WalEntry;
      if (e.kind === 'event') eventItems.push(e);
      else if (e.kind === 'checkpoint') checkpoints.push(e.checkpoint);
    }
  }
  const blockRows = req.blockRows ?? NATIVE_BLOCK_ROWS;
  const entryOf = (item: number | WalEventEntry): WalEventEntry => {
    if (typeof item !== 'number') return item;
    const e = JSON.parse(payloadText(packed!, item, buf)) as WalEntry;
    if (e.kind !== 'event') throw new Error(`WAL payload starts as an event but is a ${String(e.kind)}`);
    return e;
  };
  const writer = new AuditNativeBlockWriter();
  const chain = new ClickHouseBinaryBuffer(1024);
  /**
   * Add event item `item` to the block: from its storage row when the WAL record carries one (only
   * the entry's head is parsed, for the chain columns), else from the parsed entry.
   */
  const addRow = (item: number | WalEventEntry): void => {
    if (typeof item === 'number') {
      const row = payloadRow(packed!, item);
      const head = row === undefined ? undefined : walEventHead(buf!, payloadStart(packed!, item), packed!.ends[item]!);
      if (row !== undefined && head !== undefined) {
        chain.reset();
        writeAuditRowBinaryChainColumns(head, chain);
        const rb = Buffer.isBuffer(row) ? row : Buffer.from(row.buffer, row.byteOffset, row.byteLength);
        writer.addRowBinary(rb, 0, rb.length, chain.bytes());
        return;
      }
    }
    writer.add(walEntryToAuditRow(entryOf(item)));
  };
  const chunks = Math.ceil(eventItems.length / req.chunkRows);
  sink.plan(chunks);
  if (req.fileBase !== undefined && chunks > 0) mkdirSync(join(req.fileBase, '..'), { recursive: true });
  for (let c = 0; c < chunks; c++) {
    const from = c * req.chunkRows;
    const to = Math.min(eventItems.length, from + req.chunkRows);
    const file = req.fileBase === undefined ? undefined : `${req.fileBase}.${c}.native`;
    // Not fsync'd: a crash loses nothing (the WAL still holds the batch and it is rebuilt).
    const fd = file === undefined ? undefined : openSync(file, 'w');
    const parts: Buffer[] = [];
    try {
      for (let b = from; b < to; b += blockRows) {
        for (let i = b; i < Math.min(to, b + blockRows); i++) {
          // Each row is encoded into the block's column buffers at once: neither the parsed entry
          // nor the row outlives this iteration (young-generation garbage only).
          addRow(eventItems[i]!);
          eventItems[i] = 0; // release a parsed entry once its row is written
        }
        const block = writer.finish();
        if (fd !== undefined) writeSync(fd, block);
        else parts.push(block);
      }
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    if (file !== undefined) sink.chunk({ index: c, rows: to - from, file });
    else sink.chunk({ index: c, rows: to - from, bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts) });
  }
  sink.done({ chunks, events: eventItems.length, checkpoints });
}

/** Builds Native blocks off (or on) the calling thread. */
export interface NativeBuilder {
  build(req: NativeBuildRequest, sink: NativeBuildSink): void;
  close(): Promise<void>;
}

/**
 * A builder backed by one worker thread (started lazily, restarted after a crash), or the calling
 * thread with `inline: true`. Builds run one at a time in request order. `heap` bounds the worker's
 * V8 heap (default {@link NATIVE_BUILDER_HEAP_DEFAULTS}); a worker past it exits with
 * ERR_WORKER_OUT_OF_MEMORY, its builds fail (the exporter answers retryable) and the next build
 * starts a new worker.
 */
export function createNativeBuilder(options: { inline?: boolean; heap?: WorkerHeapLimits } = {}): NativeBuilder {
  if (options.inline) {
    return {
      build(req, sink) {
        try {
          buildNative(req, sink);
        } catch (err) {
          sink.fail(err as Error);
        }
      },
      close: async () => {},
    };
  }
  let worker: Worker | undefined;
  let nextId = 0;
  const sinks = new Map<number, { sink: NativeBuildSink; worker: Worker }>();
  /**
   * Worker `w` failed or exited: fail the builds it held. Only its own: a thread past its heap
   * bound reports 'error' and then 'exit', and a build started between the two runs on the next
   * thread, which must not be failed (or forgotten) by the old one's 'exit'.
   */
  const failAll = (w: Worker, err: Error): void => {
    for (const [id, e] of sinks) {
      if (e.worker !== w) continue;
      sinks.delete(id);
      e.sink.fail(err);
    }
    if (worker === w) worker = undefined;
  };
  type Msg = { id: number; plan?: number; chunk?: NativeChunk; done?: NativeBuildSummary; error?: string };
  const start = (): Worker => {
    // Sources run as .ts (type stripping); the built package as .js.
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    const w = new Worker(new URL(`./native-worker${ext}`, import.meta.url), {
      name: 'clickhouse-native',
      resourceLimits: toResourceLimits(options.heap ?? NATIVE_BUILDER_HEAP_DEFAULTS),
    });
    w.unref();
    w.on('message', (msg: Msg) => {
      const s = sinks.get(msg.id)?.sink;
      if (!s) return;
      if (msg.done !== undefined || msg.error !== undefined) {
        // Idle again: let the process exit when nothing else keeps it alive.
        if (sinks.size === 1) w.unref();
      }
      if (msg.plan !== undefined) s.plan(msg.plan);
      else if (msg.chunk) s.chunk(msg.chunk);
      else if (msg.done) {
        sinks.delete(msg.id);
        s.done(msg.done);
      } else {
        sinks.delete(msg.id);
        s.fail(new Error(msg.error ?? 'native build failed'));
      }
    });
    w.on('error', (err) => failAll(w, err));
    w.on('exit', (code) => failAll(w, new Error(`native builder thread exited with code ${code}`)));
    return w;
  };
  return {
    build(req, sink) {
      const w = (worker ??= start());
      // A build in progress keeps the process alive (its caller awaits the result).
      w.ref();
      const id = nextId++;
      sinks.set(id, { sink, worker: w });
      if (req.payloads === undefined) w.postMessage({ ...req, id });
      else if (isShared(req.payloads)) {
        // The WAL reader's batches are shared memory: the worker reads them in place, and the
        // reader does not reuse them before this build is done (receiver/wal/packed-payloads.ts).
        w.postMessage({ ...req, id });
      } else {
        // An exact-size copy, moved to the worker: the caller keeps its batch for a retry, and the
        // clone does not drag along the unused tail of the reader's buffer.
        const data = new Uint8Array(req.payloads.data);
        const ends = new Uint32Array(req.payloads.ends);
        const rows = req.payloads.rows;
        if (rows === undefined) w.postMessage({ ...req, payloads: { data, ends }, id }, [data.buffer, ends.buffer]);
        else {
          const r = { data: new Uint8Array(rows.data), ends: new Uint32Array(rows.ends) };
          w.postMessage({ ...req, payloads: { data, ends, rows: r }, id }, [data.buffer, ends.buffer, r.data.buffer, r.ends.buffer]);
        }
      }
    },
    async close() {
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
    },
  };
}

/** Whether every buffer of `p` is a `SharedArrayBuffer` (posted to a worker without a copy). */
function isShared(p: PackedPayloads): boolean {
  const shared = (a: ArrayBufferView) => a.buffer instanceof SharedArrayBuffer;
  return shared(p.data) && shared(p.ends) && (p.rows === undefined || (shared(p.rows.data) && shared(p.rows.ends)));
}

/** Delete scratch files, ignoring ones already gone. */
export function removeFiles(files: Iterable<string>): void {
  for (const f of files) {
    try {
      unlinkSync(f);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
