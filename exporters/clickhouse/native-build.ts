/**
 * Turning a WAL batch into Native insert blocks, in a worker thread (default) or inline: parse the
 * WAL payloads, map them to `audit_events` rows, encode each chunk as a Native block, and either
 * write it to a scratch file (the embedded engine reads files) or hand the bytes back (a server
 * takes them as the HTTP body). Chunks are reported one by one, so the caller inserts chunk n
 * while chunk n+1 is being built.
 */
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';
import type { WalEntry, WalEventEntry } from '../../receiver/contracts.ts';
import { walEntryToAuditRow } from '../../schema/audit-row.ts';
import { encodeAuditRowsNative } from './native-format.ts';

/** What to build: a batch's WAL payloads (JSON text) or its parsed entries. */
export interface NativeBuildRequest {
  /** WAL payloads as read (JSON of {@link WalEntry}); parsed by the builder. */
  payloads?: string[];
  /** Parsed entries (when the caller already has them). */
  entries?: WalEntry[];
  /** Rows per Native block / INSERT. */
  chunkRows: number;
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

/** Build synchronously, reporting each chunk to `sink` as soon as it is ready. */
export function buildNative(req: NativeBuildRequest, sink: Omit<NativeBuildSink, 'fail'>): void {
  const entries: WalEntry[] = req.entries ?? (req.payloads ?? []).map((p) => JSON.parse(p) as WalEntry);
  const events: WalEventEntry[] = [];
  const checkpoints: CheckpointRecord[] = [];
  for (const e of entries) {
    if (e.kind === 'event') events.push(e);
    else if (e.kind === 'checkpoint') checkpoints.push(e.checkpoint);
  }
  const chunks = Math.ceil(events.length / req.chunkRows);
  sink.plan(chunks);
  if (req.fileBase !== undefined && chunks > 0) mkdirSync(join(req.fileBase, '..'), { recursive: true });
  for (let c = 0; c < chunks; c++) {
    const slice = events.slice(c * req.chunkRows, (c + 1) * req.chunkRows);
    const bytes = encodeAuditRowsNative(slice.map(walEntryToAuditRow));
    if (req.fileBase !== undefined) {
      const file = `${req.fileBase}.${c}.native`;
      // Not fsync'd: a crash loses nothing (the WAL still holds the batch and it is rebuilt).
      writeFileSync(file, bytes);
      sink.chunk({ index: c, rows: slice.length, file });
    } else {
      sink.chunk({ index: c, rows: slice.length, bytes });
    }
  }
  sink.done({ chunks, events: events.length, checkpoints });
}

/** Builds Native blocks off (or on) the calling thread. */
export interface NativeBuilder {
  build(req: NativeBuildRequest, sink: NativeBuildSink): void;
  close(): Promise<void>;
}

/**
 * A builder backed by one worker thread (started lazily, restarted after a crash), or the calling
 * thread with `inline: true`. Builds run one at a time in request order.
 */
export function createNativeBuilder(options: { inline?: boolean } = {}): NativeBuilder {
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
  const sinks = new Map<number, NativeBuildSink>();
  const failAll = (err: Error): void => {
    for (const s of sinks.values()) s.fail(err);
    sinks.clear();
    worker = undefined;
  };
  type Msg = { id: number; plan?: number; chunk?: NativeChunk; done?: NativeBuildSummary; error?: string };
  const start = (): Worker => {
    // Sources run as .ts (type stripping); the built package as .js.
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    const w = new Worker(new URL(`./native-worker${ext}`, import.meta.url));
    w.unref();
    w.on('message', (msg: Msg) => {
      const s = sinks.get(msg.id);
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
    w.on('error', (err) => failAll(err));
    w.on('exit', (code) => failAll(new Error(`native builder thread exited with code ${code}`)));
    return w;
  };
  return {
    build(req, sink) {
      worker ??= start();
      // A build in progress keeps the process alive (its caller awaits the result).
      worker.ref();
      const id = nextId++;
      sinks.set(id, sink);
      worker.postMessage({ ...req, id });
    },
    async close() {
      const w = worker;
      worker = undefined;
      if (w) await w.terminate();
    },
  };
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
