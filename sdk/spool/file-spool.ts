/**
 * The durable spool: append-only segment files in one directory, fsync'd with group commit, read
 * back by the sender from an acknowledged cursor.
 *
 *   <dir>/lock                       pid of the process that owns the spool
 *   <dir>/cursor.json                {"segment":n,"offset":m}: everything before it is acknowledged
 *   <dir>/00000000000000000001.seg   segments (format: frame.ts), numbered in append order
 *
 * Guarantees: `append()` resolves only after its frame is written and `fdatasync`'d (concurrent
 * appends share one write + one fsync); a crash loses only appends that had not resolved (their
 * torn frames are cut off at the next open); acknowledged segments are deleted; records after the
 * cursor are sent again after a restart (at-least-once; the receiver dedupes by event id).
 * The cursor is written after each acknowledged batch; losing its latest version only re-sends.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { AuditError, acquireLockFile, fsyncDirSync, type OperationResult, releaseLockFile } from '@otel-audit/core';
import { decodeFrame, encodeFrame, FRAME_CONTEXT, FRAME_HEADER_BYTES, FRAME_RECORD, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC } from './frame.ts';
import type { BatchAppendFailures, Spool, SpoolBatch, SpoolCursor, SpoolProblemListener, SpoolRecord, SpoolStats } from './types.ts';

/** Options of {@link openFileSpool}. */
export interface FileSpoolOptions {
  dir: string;
  /** Max bytes of unacknowledged frames. Appends beyond it fail with `AUDIT_ERR_SPOOL_FULL`. */
  maxBytes: number;
  /** A segment is closed and a new one started when the next append would pass this size. */
  maxSegmentBytes: number;
  /** Called for recovered corruption (`AUDIT_ERR_SPOOL_CORRUPT`) and I/O failures. */
  onProblem: SpoolProblemListener;
  /**
   * The caller already holds the directory's lock (taken with {@link lockSpoolDir}, in this
   * process): the spool does not take it again and releases it at `close()`. Used by the record
   * worker, whose logger takes the lock synchronously so that `createAuditLogger()` itself fails
   * for a locked spool. Default false.
   */
  lockHeld?: boolean;
}

interface Segment {
  id: number;
  file: string;
  /** Bytes assigned: header + frames appended (some may still be queued). */
  size: number;
  /** Bytes written and fsync'd: what readers may read. */
  durableSize: number;
  /** Where the next write goes (bytes written, fsync'd or not). */
  writePos: number;
  /** Context index → context JSON, for frames of this segment. */
  contexts: Map<number, string>;
  /** Context JSON → index, used by the writer of the active segment. */
  contextIndex: Map<string, number>;
  fd: number | undefined;
  /** The file exists on disk (created and its directory entry fsync'd). */
  created: boolean;
  /** A write failed: no more appends go here. */
  poisoned: boolean;
}

/** A recently appended record kept in memory so that the sender need not read it back. */
interface CachedRecord {
  segment: Segment;
  /** Offset of the first frame of its append (a context frame may precede the record frame). */
  start: number;
  end: number;
  contextJson: string;
  payload: Buffer;
  record: ReadableLogRecord | undefined;
}

interface QueuedAppend {
  segment: Segment;
  frames: Buffer[];
  bytes: number;
  /** Records in `frames` (more than one for a run of {@link FileSpoolHandle.appendBatch}). */
  records: number;
  resolve: (result: OperationResult) => void;
}

const CURSOR_FILE = 'cursor.json';
const LOCK_FILE = 'lock';
const SEGMENT_RE = /^(\d{20})\.seg$/;
const READ_CHUNK_BYTES = 4 * 1024 * 1024;
/** Records kept in memory for the sender (beyond this the sender reads them back from disk). */
const MAX_CACHED_RECORDS = 16_384;
/** Minimum interval between cursor file writes; a lost update only re-sends (at-least-once). */
const CURSOR_WRITE_INTERVAL_MILLIS = 200;

/** The file spool: a {@link Spool} that can also append a burst of records as one unit of work. */
export interface FileSpoolHandle extends Spool {
  /**
   * Append `payloads` (encoded records as text, see record-codec.ts; written as UTF-8) in order,
   * all under `contextJson`: the same frames, positions and durability as one {@link Spool.append}
   * per payload, but the frames are built in one buffer (no per-record Buffer, no per-record
   * promise) and the whole burst is one write in the next group commit. Resolves once every
   * accepted payload is written and fsync'd, with the payloads that were not: their index and
   * error (`AUDIT_ERR_SPOOL_FULL` for those that did not fit, the write's error when the write
   * or fsync failed, `AUDIT_ERR_SHUTDOWN` after close). Never rejects.
   */
  appendBatch(contextJson: string, payloads: readonly string[]): Promise<BatchAppendFailures>;
}

/**
 * Open (or create) the spool in `options.dir`: take the lock, read the cursor, scan every segment
 * (checksums), cut torn tails, delete acknowledged segments. Synchronous so that a misconfigured
 * or locked spool fails `createAuditLogger()` itself. Throws `AUDIT_ERR_INVALID_CONFIG` when the
 * directory cannot be used or is owned by a live process.
 */
export function openFileSpool(options: FileSpoolOptions): FileSpoolHandle {
  return new FileSpool(options);
}

/**
 * Create the spool directory (if missing) and take its lock file for this process, synchronously.
 * Throws `AUDIT_ERR_INVALID_CONFIG` when the directory cannot be created or written and
 * `AUDIT_ERR_DATA_DIR_LOCKED` when a live process (this one included) holds the lock. The lock is
 * released by the spool's `close()` (see {@link FileSpoolOptions.lockHeld}) or by
 * {@link unlockSpoolDir}.
 */
export function lockSpoolDir(dir: string): void {
  const abs = path.resolve(dir);
  try {
    fs.mkdirSync(abs, { recursive: true });
  } catch (cause) {
    throw new AuditError('AUDIT_ERR_INVALID_CONFIG', `spoolDir ${abs} cannot be created`, { path: 'spoolDir', cause });
  }
  let result: ReturnType<typeof acquireLockFile>;
  try {
    result = acquireLockFile(path.join(abs, LOCK_FILE));
  } catch (cause) {
    throw new AuditError('AUDIT_ERR_INVALID_CONFIG', `spoolDir ${abs} is not writable`, { path: 'spoolDir', cause });
  }
  if (result.status === 'busy') {
    throw new AuditError(
      'AUDIT_ERR_DATA_DIR_LOCKED',
      `spoolDir ${abs} is in use by process ${result.ownerPid}; each audit logger needs its own spool directory`,
      { path: 'spoolDir' },
    );
  }
}

/** Release a lock taken with {@link lockSpoolDir} when no spool was opened to release it. */
export function unlockSpoolDir(dir: string): void {
  releaseLockFile(path.join(path.resolve(dir), LOCK_FILE));
}

class FileSpool implements FileSpoolHandle {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly maxSegmentBytes: number;
  private readonly onProblem: SpoolProblemListener;
  private readonly segments: Segment[] = [];
  private active: Segment | undefined;
  private cursor: SpoolCursor;
  private pendingRecords = 0;
  private pendingBytes = 0;
  private queue: QueuedAppend[] = [];
  private flushing: Promise<void> | undefined;
  private readonly listeners: Array<() => void> = [];
  private closed = false;
  private readFd: { segment: number; fd: number } | undefined;
  private nextSegmentId: number;
  private cache: CachedRecord[] = [];
  private cacheHead = 0;
  private lastCursorWrite = 0;
  private cursorDirty = false;

  constructor(options: FileSpoolOptions) {
    this.dir = path.resolve(options.dir);
    this.maxBytes = options.maxBytes;
    this.maxSegmentBytes = options.maxSegmentBytes;
    this.onProblem = options.onProblem;
    if (!options.lockHeld) lockSpoolDir(this.dir);
    const saved = this.readCursor();
    this.scan();
    this.cursor = this.placeCursor(saved);
    this.nextSegmentId = Math.max((this.segments.at(-1)?.id ?? 0) + 1, this.cursor.segment);
    this.deleteAcknowledged();
    this.recount();
  }

  append(contextJson: string, payload: Buffer, record?: ReadableLogRecord): Promise<OperationResult> {
    if (this.closed) {
      return Promise.resolve({ status: 'failure', error: new AuditError('AUDIT_ERR_SHUTDOWN', 'the audit spool is closed') });
    }
    const contextFrameBytes = FRAME_HEADER_BYTES + 4 + Buffer.byteLength(contextJson, 'utf8');
    const place = this.place(contextJson, FRAME_HEADER_BYTES + 4 + payload.length, contextFrameBytes);
    if (place === undefined) return Promise.resolve({ status: 'failure', error: this.spoolFullError() });
    const { segment, contextIdx, start, bytes } = place;
    const frames: Buffer[] = [];
    if (place.newContext) frames.push(encodeFrame(FRAME_CONTEXT, contextIdx, Buffer.from(contextJson, 'utf8')));
    frames.push(encodeFrame(FRAME_RECORD, contextIdx, payload));
    if (this.cache.length - this.cacheHead < MAX_CACHED_RECORDS) {
      this.cache.push({ segment, start, end: start + bytes, contextJson, payload, record });
    }
    return new Promise((resolve) => {
      this.queue.push({ segment, frames, bytes, records: 1, resolve });
      this.flushing ??= this.flushLoop();
    });
  }

  /**
   * Where the next record goes, for {@link append} and {@link appendBatch} alike: the space check
   * (undefined when the spool is full), the segment roll, and whether the segment needs a context
   * frame for `contextJson` first (then registered). Reserves the bytes in the segment and the
   * pending totals; `start` is the segment offset of the record's first frame.
   */
  private place(
    contextJson: string,
    recordFrameBytes: number,
    contextFrameBytes: number,
  ): { segment: Segment; contextIdx: number; newContext: boolean; start: number; bytes: number } | undefined {
    let segment = this.active;
    let contextIdx = segment?.contextIndex.get(contextJson);
    const needed = recordFrameBytes + (contextIdx === undefined ? contextFrameBytes : 0);
    if (this.pendingBytes + needed > this.maxBytes) return undefined;
    if (!segment || segment.poisoned || (segment.size + needed > this.maxSegmentBytes && segment.size > SEGMENT_HEADER_BYTES)) {
      segment = this.roll();
      contextIdx = undefined;
    }
    let bytes = recordFrameBytes;
    const newContext = contextIdx === undefined;
    if (contextIdx === undefined) {
      contextIdx = segment.contextIndex.size;
      segment.contextIndex.set(contextJson, contextIdx);
      segment.contexts.set(contextIdx, contextJson);
      bytes += contextFrameBytes;
    }
    const start = segment.size;
    segment.size += bytes;
    this.pendingBytes += bytes;
    this.pendingRecords++;
    return { segment, contextIdx, newContext, start, bytes };
  }

  appendBatch(contextJson: string, payloads: readonly string[]): Promise<BatchAppendFailures> {
    const n = payloads.length;
    if (this.closed) {
      const error = new AuditError('AUDIT_ERR_SHUTDOWN', 'the audit spool is closed');
      return Promise.resolve(Array.from({ length: n }, (_, i): [number, AuditError] => [i, error]));
    }
    const failures: BatchAppendFailures = [];
    // Planning pass: the same decisions, in the same order, as n calls of append() (both go through
    // place()), so that the bytes on disk are identical; only then one buffer
    // of the exact size is allocated and filled. Why: per-record Buffers (the UTF-8 copy of the
    // text, then the frame) were the largest cost of the record worker (docs/performance.md).
    const contextBytes = Buffer.byteLength(contextJson, 'utf8');
    const contextFrameBytes = FRAME_HEADER_BYTES + 4 + contextBytes;
    const lengths = new Uint32Array(n);
    /** Per payload: the segment it goes to (undefined: refused), and its context index there. */
    const segmentOf: Array<Segment | undefined> = new Array(n);
    const contextOf = new Uint32Array(n);
    /** Per payload: the segment offset of its first frame. */
    const starts = new Float64Array(n);
    /** Per payload: 1 when a context frame precedes it. */
    const withContext = new Uint8Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const length = Buffer.byteLength(payloads[i]!, 'utf8');
      lengths[i] = length;
      const place = this.place(contextJson, FRAME_HEADER_BYTES + 4 + length, contextFrameBytes);
      if (place === undefined) {
        failures.push([i, this.spoolFullError()]);
        continue;
      }
      if (place.newContext) withContext[i] = 1;
      segmentOf[i] = place.segment;
      contextOf[i] = place.contextIdx;
      starts[i] = place.start;
      total += place.bytes;
    }
    if (total === 0) return Promise.resolve(failures);
    // Not from Node's shared pool: views of this buffer stay in the read cache.
    const buf = Buffer.allocUnsafeSlow(total);
    let pos = 0;
    let runStart = 0;
    let runSegment: Segment | undefined;
    let runIndexes: number[] = [];
    let outstanding = 0;
    let settle: (failures: BatchAppendFailures) => void = () => {};
    const done = new Promise<BatchAppendFailures>((resolve) => {
      settle = resolve;
    });
    const finishRun = (): void => {
      if (!runSegment || pos === runStart) return;
      const indexes = runIndexes;
      outstanding++;
      this.queue.push({
        segment: runSegment,
        frames: [buf.subarray(runStart, pos)],
        bytes: pos - runStart,
        records: indexes.length,
        resolve: (result) => {
          if (result.status !== 'success') for (const i of indexes) failures.push([i, result.error]);
          if (--outstanding === 0) settle(failures.sort((a, b) => a[0] - b[0]));
        },
      });
      runStart = pos;
      runIndexes = [];
    };
    for (let i = 0; i < n; i++) {
      const segment = segmentOf[i];
      if (!segment) continue;
      if (segment !== runSegment) {
        finishRun();
        runSegment = segment;
      }
      const first = pos;
      if (withContext[i]) pos = writeFrame(buf, pos, FRAME_CONTEXT, contextOf[i]!, contextJson, contextBytes);
      const bodyStart = pos + FRAME_HEADER_BYTES + 4;
      pos = writeFrame(buf, pos, FRAME_RECORD, contextOf[i]!, payloads[i]!, lengths[i]!);
      runIndexes.push(i);
      if (this.cache.length - this.cacheHead < MAX_CACHED_RECORDS) {
        const start = starts[i]!;
        this.cache.push({
          segment,
          start,
          end: start + (pos - first),
          contextJson,
          payload: buf.subarray(bodyStart, pos),
          record: undefined,
        });
      }
    }
    finishRun();
    this.flushing ??= this.flushLoop();
    return done;
  }

  async read(maxRecords: number): Promise<SpoolBatch> {
    const records: SpoolRecord[] = [];
    const cur: SpoolCursor = { ...this.cursor };
    this.dropCachedBefore(cur);
    while (records.length < maxRecords) {
      const idx = this.segments.findIndex((s) => s.id === cur.segment);
      const segment = this.segments[idx];
      if (!segment) break;
      if (cur.offset >= segment.durableSize) {
        const next = this.segments[idx + 1];
        if (next && segment !== this.active && segment.durableSize >= segment.size) {
          cur.segment = next.id;
          cur.offset = SEGMENT_HEADER_BYTES;
          continue;
        }
        break;
      }
      // Fast path: the next records are still in memory (and durable).
      let fromCache = false;
      for (let i = this.cacheHead; i < this.cache.length && records.length < maxRecords; i++) {
        const c = this.cache[i]!;
        if (c.segment !== segment || c.start !== cur.offset || c.end > segment.durableSize) break;
        records.push(
          c.record
            ? { contextJson: c.contextJson, payload: c.payload, record: c.record }
            : { contextJson: c.contextJson, payload: c.payload },
        );
        cur.offset = c.end;
        fromCache = true;
      }
      if (fromCache) continue;
      const length = Math.min(segment.durableSize - cur.offset, READ_CHUNK_BYTES);
      const buf = Buffer.allocUnsafe(length);
      const got = await this.readAt(segment, buf, cur.offset);
      let pos = 0;
      while (records.length < maxRecords) {
        const frame = decodeFrame(buf.subarray(0, got), pos);
        if (frame === 'incomplete') break;
        if (frame === 'corrupt') {
          // Durable bytes were checked at open or written by us; a mismatch now is disk damage.
          this.onProblem(
            new AuditError(
              'AUDIT_ERR_SPOOL_CORRUPT',
              `segment ${segment.file} is damaged at offset ${cur.offset + pos}; the rest of it is skipped`,
            ),
          );
          segment.durableSize = cur.offset + pos;
          segment.size = segment.durableSize;
          break;
        }
        pos = frame.end;
        if (frame.type === FRAME_RECORD) {
          const contextJson = segment.contexts.get(frame.index);
          if (contextJson === undefined) {
            this.onProblem(
              new AuditError(
                'AUDIT_ERR_SPOOL_CORRUPT',
                `segment ${segment.file} references unknown context ${frame.index}; record skipped`,
              ),
            );
            continue;
          }
          records.push({ contextJson, payload: frame.body });
        }
      }
      cur.offset += pos;
      // No complete frame in a chunk of durable bytes cannot happen (frames are far smaller than
      // a chunk); stop rather than spin.
      if (pos === 0) break;
    }
    return { records, end: cur };
  }

  async ack(end: SpoolCursor, records: number): Promise<void> {
    this.cursor = { ...end };
    this.dropCachedBefore(this.cursor);
    this.pendingRecords = Math.max(0, this.pendingRecords - records);
    // A fully read, closed segment: move the cursor to the next one so that it can be deleted.
    const idx = this.segments.findIndex((s) => s.id === this.cursor.segment);
    const seg = this.segments[idx];
    const next = this.segments[idx + 1];
    if (seg && next && seg !== this.active && this.cursor.offset >= seg.size) {
      this.cursor = { segment: next.id, offset: SEGMENT_HEADER_BYTES };
    }
    // The cursor file is written before acknowledged segments are deleted, otherwise at most every
    // CURSOR_WRITE_INTERVAL_MILLIS (a stale cursor only re-sends; the receiver dedupes).
    this.cursorDirty = true;
    const deletes = this.segments.length > 0 && this.segments[0]!.id < this.cursor.segment && this.segments[0] !== this.active;
    if (deletes || Date.now() - this.lastCursorWrite >= CURSOR_WRITE_INTERVAL_MILLIS) await this.writeCursor();
    this.deleteAcknowledged();
    this.recount(false);
  }

  private spoolFullError(): AuditError {
    return new AuditError(
      'AUDIT_ERR_SPOOL_FULL',
      `${this.pendingBytes} bytes are waiting for delivery and the limit (maxSpoolBytes) is ${this.maxBytes}`,
      { retryable: true, details: { pendingBytes: this.pendingBytes, maxSpoolBytes: this.maxBytes } },
    );
  }

  private dropCachedBefore(cur: SpoolCursor): void {
    while (this.cacheHead < this.cache.length) {
      const c = this.cache[this.cacheHead]!;
      if (c.segment.id > cur.segment || (c.segment.id === cur.segment && c.start >= cur.offset)) break;
      this.cacheHead++;
    }
    if (this.cacheHead > 4096 || this.cacheHead === this.cache.length) {
      this.cache = this.cache.slice(this.cacheHead);
      this.cacheHead = 0;
    }
  }

  onReadable(listener: () => void): void {
    this.listeners.push(listener);
  }

  stats(): SpoolStats {
    return { pendingRecords: this.pendingRecords, pendingBytes: this.pendingBytes, maxBytes: this.maxBytes };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    // Reported, not thrown: close() must release the segments and the lock; a stale cursor only
    // means some acknowledged records are sent again after the restart (the receiver dedupes them).
    if (this.cursorDirty)
      await this.writeCursor().catch((err: unknown) =>
        this.onProblem(
          new AuditError('AUDIT_ERR_INTERNAL', `spool cursor in ${this.dir} not saved at close: ${(err as Error).message}`, { cause: err }),
        ),
      );
    this.cache = [];
    for (const s of this.segments) this.closeFd(s);
    if (this.readFd) {
      fs.closeSync(this.readFd.fd);
      this.readFd = undefined;
    }
    releaseLockFile(path.join(this.dir, LOCK_FILE));
  }

  // --- writing -------------------------------------------------------------------------------

  private roll(): Segment {
    const id = this.nextSegmentId++;
    const segment: Segment = {
      id,
      file: path.join(this.dir, `${String(id).padStart(20, '0')}.seg`),
      size: SEGMENT_HEADER_BYTES,
      durableSize: 0,
      writePos: 0,
      contexts: new Map(),
      contextIndex: new Map(),
      fd: undefined,
      created: false,
      poisoned: false,
    };
    this.segments.push(segment);
    this.active = segment;
    return segment;
  }

  private async flushLoop(): Promise<void> {
    // Start on the next microtask: appends made in the same synchronous burst share the first write.
    await Promise.resolve();
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        // Group consecutive appends by segment: one write + one fdatasync per segment per round.
        let start = 0;
        while (start < batch.length) {
          const segment = batch[start]!.segment;
          let end = start;
          while (end < batch.length && batch[end]!.segment === segment) end++;
          await this.writeGroup(segment, batch.slice(start, end));
          start = end;
        }
        for (const l of this.listeners) l();
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async writeGroup(segment: Segment, group: QueuedAppend[]): Promise<void> {
    if (segment.poisoned) {
      this.failGroup(
        segment,
        group,
        new AuditError('AUDIT_ERR_INTERNAL', 'an earlier write to this spool segment failed', { retryable: true }),
      );
      return;
    }
    const buffers: Buffer[] = [];
    let bytes = 0;
    for (const item of group) {
      for (const f of item.frames) buffers.push(f);
      bytes += item.bytes;
    }
    try {
      if (!segment.created) await this.create(segment);
      await writevAll(segment.fd!, buffers, segment.writePos);
      segment.writePos += bytes;
      await fdatasync(segment.fd!);
      segment.durableSize = segment.writePos;
    } catch (cause) {
      segment.poisoned = true;
      const code = (cause as NodeJS.ErrnoException).code;
      const error =
        code === 'ENOSPC' || code === 'EDQUOT'
          ? new AuditError('AUDIT_ERR_SPOOL_FULL', `the disk of ${this.dir} is full`, { retryable: true, cause })
          : new AuditError('AUDIT_ERR_INTERNAL', `spool write failed: ${(cause as Error).message}`, { retryable: true, cause });
      this.onProblem(error);
      try {
        if (segment.fd !== undefined) fs.ftruncateSync(segment.fd, Math.max(segment.durableSize, 0));
      } catch {
        // The segment is poisoned either way; a torn tail is cut at the next open.
      }
      segment.writePos = segment.durableSize;
      this.failGroup(segment, group, error);
      return;
    }
    if (segment !== this.active && segment.durableSize >= segment.size) this.closeFd(segment);
    for (const item of group) item.resolve({ status: 'success', value: undefined });
  }

  private failGroup(segment: Segment, group: QueuedAppend[], error: AuditError): void {
    for (const item of group) {
      segment.size -= item.bytes;
      this.pendingBytes -= item.bytes;
      this.pendingRecords -= item.records;
      item.resolve({ status: 'failure', error });
    }
  }

  private async create(segment: Segment): Promise<void> {
    const fd = await new Promise<number>((resolve, reject) =>
      fs.open(segment.file, 'wx', 0o600, (err, fd) => (err ? reject(err) : resolve(fd))),
    );
    segment.fd = fd;
    await writevAll(fd, [SEGMENT_MAGIC], 0);
    segment.writePos = SEGMENT_HEADER_BYTES;
    await fdatasync(fd);
    segment.durableSize = SEGMENT_HEADER_BYTES;
    // The new directory entry must survive a crash too, or the fsync'd data is unreachable.
    fsyncDirSync(this.dir);
    segment.created = true;
  }

  private closeFd(segment: Segment): void {
    if (segment.fd !== undefined) {
      try {
        fs.closeSync(segment.fd);
      } catch {
        // Closing can only fail for a bad fd; nothing to recover.
      }
      segment.fd = undefined;
    }
  }

  // --- reading -------------------------------------------------------------------------------

  private readAt(segment: Segment, buf: Buffer, position: number): Promise<number> {
    if (this.readFd && this.readFd.segment !== segment.id) {
      fs.closeSync(this.readFd.fd);
      this.readFd = undefined;
    }
    if (!this.readFd) this.readFd = { segment: segment.id, fd: fs.openSync(segment.file, 'r') };
    const fd = this.readFd.fd;
    return new Promise((resolve, reject) => {
      let total = 0;
      const step = (): void => {
        fs.read(fd, buf, total, buf.length - total, position + total, (err, n) => {
          if (err) return reject(err);
          total += n;
          if (n === 0 || total >= buf.length) resolve(total);
          else step();
        });
      };
      step();
    });
  }

  // --- open, cursor, lock --------------------------------------------------------------------

  private readCursor(): SpoolCursor | undefined {
    try {
      const parsed = JSON.parse(fs.readFileSync(path.join(this.dir, CURSOR_FILE), 'utf8')) as Partial<SpoolCursor>;
      if (Number.isSafeInteger(parsed.segment) && Number.isSafeInteger(parsed.offset)) {
        return { segment: parsed.segment!, offset: parsed.offset! };
      }
    } catch {
      // Missing or unreadable cursor: start at the oldest segment (re-sending is safe).
    }
    return undefined;
  }

  private async writeCursor(): Promise<void> {
    const file = path.join(this.dir, CURSOR_FILE);
    const tmp = `${file}.tmp`;
    this.lastCursorWrite = Date.now();
    this.cursorDirty = false;
    await fs.promises.writeFile(tmp, JSON.stringify(this.cursor));
    await fs.promises.rename(tmp, file);
  }

  private scan(): void {
    const names = fs
      .readdirSync(this.dir)
      .filter((n) => SEGMENT_RE.test(n))
      .sort();
    names.forEach((name, i) => {
      const file = path.join(this.dir, name);
      const id = Number(SEGMENT_RE.exec(name)![1]);
      const isLast = i === names.length - 1;
      const buf = fs.readFileSync(file);
      const segment: Segment = {
        id,
        file,
        size: 0,
        durableSize: 0,
        writePos: 0,
        contexts: new Map(),
        contextIndex: new Map(),
        fd: undefined,
        created: true,
        poisoned: true, // never appended to again: new appends go to a new segment
      };
      if (buf.length < SEGMENT_HEADER_BYTES || !buf.subarray(0, SEGMENT_HEADER_BYTES).equals(SEGMENT_MAGIC)) {
        if (isLast && buf.length <= SEGMENT_HEADER_BYTES) {
          // Created but the header never became durable: a crash right after creation.
          fs.rmSync(file, { force: true });
          return;
        }
        this.onProblem(new AuditError('AUDIT_ERR_SPOOL_CORRUPT', `${file} is not a spool segment; moved aside to ${file}.corrupt`));
        fs.renameSync(file, `${file}.corrupt`);
        return;
      }
      let pos = SEGMENT_HEADER_BYTES;
      for (;;) {
        const frame = decodeFrame(buf, pos);
        if (frame === 'incomplete' || frame === 'corrupt') break;
        if (frame.type === FRAME_CONTEXT) segment.contexts.set(frame.index, frame.body.toString('utf8'));
        pos = frame.end;
      }
      if (pos < buf.length) {
        if (isLast) {
          // A write torn by a crash: its appends never resolved. Cut it off.
          fs.truncateSync(file, pos);
        } else {
          this.onProblem(
            new AuditError(
              'AUDIT_ERR_SPOOL_CORRUPT',
              `${file} is damaged at offset ${pos}; ${buf.length - pos} bytes after it cannot be read`,
            ),
          );
        }
      }
      segment.size = pos;
      segment.durableSize = pos;
      segment.writePos = pos;
      this.segments.push(segment);
    });
  }

  private placeCursor(saved: SpoolCursor | undefined): SpoolCursor {
    const first = this.segments[0];
    if (!first) return { segment: Math.max(1, saved?.segment ?? 1), offset: SEGMENT_HEADER_BYTES };
    if (!saved || saved.segment < first.id) return { segment: first.id, offset: SEGMENT_HEADER_BYTES };
    const seg = this.segments.find((s) => s.id === saved.segment);
    if (!seg) {
      const later = this.segments.find((s) => s.id > saved.segment);
      return later ? { segment: later.id, offset: SEGMENT_HEADER_BYTES } : { segment: saved.segment + 1, offset: SEGMENT_HEADER_BYTES };
    }
    return { segment: seg.id, offset: Math.max(SEGMENT_HEADER_BYTES, Math.min(saved.offset, seg.size)) };
  }

  private deleteAcknowledged(): void {
    while (this.segments.length > 0) {
      const first = this.segments[0]!;
      if (first.id >= this.cursor.segment || first === this.active) break;
      this.closeFd(first);
      if (this.readFd?.segment === first.id) {
        fs.closeSync(this.readFd.fd);
        this.readFd = undefined;
      }
      fs.rmSync(first.file, { force: true });
      this.segments.shift();
    }
  }

  /** Recompute pending bytes (and, at open, pending records) from the cursor. */
  private recount(countRecords = true): void {
    let bytes = 0;
    let records = 0;
    for (const s of this.segments) {
      if (s.id < this.cursor.segment) continue;
      const from = s.id === this.cursor.segment ? this.cursor.offset : SEGMENT_HEADER_BYTES;
      bytes += Math.max(0, s.size - from);
      if (countRecords && s.created) records += countRecordFrames(s.file, from, s.size);
    }
    this.pendingBytes = bytes;
    if (countRecords) this.pendingRecords = records;
  }
}

function countRecordFrames(file: string, from: number, to: number): number {
  if (to <= from) return 0;
  const buf = fs.readFileSync(file).subarray(0, to);
  let n = 0;
  let pos = from;
  for (;;) {
    const frame = decodeFrame(buf, pos);
    if (frame === 'incomplete' || frame === 'corrupt') break;
    if (frame.type === FRAME_RECORD) n++;
    pos = frame.end;
  }
  return n;
}

/**
 * Write one frame (see frame.ts) of `body` (`bodyBytes` long in UTF-8) at `pos` of `buf`; returns
 * the offset just past it. The same bytes as `encodeFrame(type, index, Buffer.from(body))`.
 */
function writeFrame(buf: Buffer, pos: number, type: number, index: number, body: string, bodyBytes: number): number {
  const end = pos + FRAME_HEADER_BYTES + 4 + bodyBytes;
  buf.writeUInt32LE(4 + bodyBytes, pos);
  buf.writeUInt8(type, pos + 8);
  buf.writeUInt32LE(index, pos + 9);
  // `bodyBytes` is Buffer.byteLength(body): the same conversion (lone surrogates become U+FFFD in
  // both), so the text fills the space exactly.
  buf.write(body, pos + 13, bodyBytes, 'utf8');
  buf.writeUInt32LE(crc32(buf.subarray(pos + 8, end)), pos + 4);
  return end;
}

function writevAll(fd: number, buffers: Buffer[], position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let bufs = buffers;
    let pos = position;
    const step = (): void => {
      fs.writev(fd, bufs, pos, (err, written) => {
        if (err) return reject(err);
        pos += written;
        // Short writes are rare but legal: continue with what is left.
        let skip = written;
        const rest: Buffer[] = [];
        for (const b of bufs) {
          if (skip >= b.length) {
            skip -= b.length;
          } else {
            rest.push(skip > 0 ? b.subarray(skip) : b);
            skip = 0;
          }
        }
        if (rest.length === 0) resolve();
        else {
          bufs = rest;
          step();
        }
      });
    };
    step();
  });
}

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}
