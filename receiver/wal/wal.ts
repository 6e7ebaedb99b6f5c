/**
 * The write-ahead log: segmented append-only files of framed, checksummed records with a global,
 * contiguous LSN (docs/wal.md).
 *
 * Writing is group commit: appends go synchronously into an in-memory batch; one writer writes the
 * batch with a single positioned write and one fdatasync while the next batch fills. Every append
 * of a batch becomes durable at the same moment, so N concurrent requests share one fsync.
 *
 * Reading (exporters) streams records from disk through {@link WalReader}s, only up to the durable
 * end, so exporters never see a record that a crash could still take away, and the backlog stays
 * on disk rather than in the heap.
 *
 * A failed write or fsync (disk full, quota, I/O error) is a condition that can clear, not the end
 * of the WAL (docs/wal.md "A full disk"): every record that was appended but is not durable — the
 * failed batch and the one filling behind it — is discarded and its LSNs are given back
 * (`nextLsn` returns to the durable end), `onRollback` tells the owner to undo what it did for
 * them, and their waiters get a retryable `AUDIT_ERR_WAL_IO`. The WAL then refuses appends
 * (`failed`) while a repair loop cuts the segment back to its durable size and probes with a real
 * write + fdatasync; once a probe succeeds, appends are accepted again. Nothing durable is touched.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { AuditError, type Logger, silentLogger } from '@otel-audit/core';
import type { DedupeChunkStore, DedupeId } from './dedupe-index.ts';
import {
  decodeSegmentHeader,
  encodeSegmentHeader,
  parseRecord,
  parseSegmentFileName,
  type RawRecord,
  RECORD_HEADER_BYTES,
  RECORD_TYPE_EVENT,
  SEGMENT_HEADER_BYTES,
  sealRecord,
  segmentFileName,
} from './format.ts';
import { FrameReader } from './frame-reader.ts';
import { atomicWriteFile, closeFd, type FsyncObserver, fdatasync, fsyncDir, openFd, readAt, writeFully } from './fs-util.ts';
import { type PackedPayloads, PayloadPacker } from './packed-payloads.ts';

function ftruncate(fd: number, len: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, len, (e) => (e ? reject(e) : resolve())));
}

/** Options of {@link Wal.open}. */
export interface WalOptions {
  /** Directory of the WAL (segments, cursors and state live below it). */
  dir: string;
  /** Target segment size in bytes; a new segment starts when the next batch would pass it. */
  segmentBytes: number;
  /** `fsync`: a batch is durable after fdatasync. `none`: after write() (survives a process crash, not an OS crash). */
  durability: 'fsync' | 'none';
  /** Segments are deleted only after every cursor passed them and they were closed this long ago (ms). */
  retentionMillis: number;
  /** Observer of every fsync (kind, milliseconds): the counter and latency histogram hook. */
  onFsync?: FsyncObserver;
  /** Clock in Unix milliseconds (tests). */
  now?: () => number;
  /** Pause between repair attempts after a failed write (ms). Default 1000. */
  repairIntervalMillis?: number;
  /** Where write failures, repairs and cleanup failures are logged. Default: silent. */
  logger?: Logger;
}

/** A position in the WAL: the last LSN consumed and where the next record starts. */
export interface WalPosition {
  /** Last LSN consumed (0 = nothing yet). */
  lsn: number;
  /** First LSN of the segment holding the next record. */
  segmentFirstLsn: number;
  /** Byte offset of the next record in that segment. */
  offset: number;
}

/** What recovery found. */
export interface WalRecoveryReport {
  segments: number;
  records: number;
  /** First and last LSN on disk (0/0 when empty). */
  firstLsn: number;
  lastLsn: number;
  /** Bytes cut off a torn tail (0 when the WAL ended cleanly). */
  truncatedBytes: number;
  truncatedAt?: { segment: string; offset: number; reason: string };
}

interface Segment {
  firstLsn: number;
  /** Last LSN written and durable (firstLsn - 1 when empty). */
  lastLsn: number;
  file: string;
  /** Durable size in bytes (readers never read past it). */
  size: number;
  /** Global byte offset of the segment's first byte (runtime only, for backlog arithmetic). */
  base: number;
  createdAtMillis: number;
  /** When the segment stopped being the active one (undefined while active). */
  closedAtMillis: number | undefined;
}

interface Batch {
  buf: Buffer;
  len: number;
  firstLsn: number;
  lastLsn: number;
  count: number;
  promise: Promise<AuditError | undefined> | undefined;
  resolve: ((err: AuditError | undefined) => void) | undefined;
}

const resolvedOk: Promise<AuditError | undefined> = Promise.resolve(undefined);

/** Visitor of recovered records (called in LSN order; the payload view is valid during the call). */
export type RecoveryVisitor = (record: RawRecord) => void;

function corrupt(file: string, offset: number, reason: string): AuditError {
  return new AuditError('AUDIT_ERR_WAL_CORRUPT', `segment ${file} at offset ${offset}: ${reason}`, {
    details: { segment: file, offset, reason },
  });
}

function ioError(what: string, err: unknown): AuditError {
  return new AuditError('AUDIT_ERR_WAL_IO', `${what}: ${(err as Error).message}`, { cause: err, retryable: true });
}

/** The write-ahead log (see the module comment). Create with {@link Wal.open}. */
export class Wal {
  readonly dir: string;
  private readonly segDir: string;
  private readonly cursorDir: string;
  private readonly options: WalOptions;
  private readonly now: () => number;
  private segments: Segment[] = [];
  private activeFd = -1;
  private filling: Batch;
  private inFlight: Batch | undefined;
  private flushing = false;
  private flushScheduled = false;
  private spare: Buffer[] = [];
  private broken: AuditError | undefined;
  private repairTimer: NodeJS.Timeout | undefined;
  /** Bytes of the batch that failed (the next repair probe writes as much). */
  private failedBytes = 0;
  private closed = false;
  private durableWaiters: Array<{ lsn: number; resolve: () => void }> = [];
  private cursors = new Map<string, WalPosition>();
  private pending = new Map<string, number>();
  private gcRunning: Promise<number> | undefined;
  /** Next LSN to assign. */
  nextLsn = 1;
  /** Highest LSN that is durable (and readable by exporters). */
  durableLsn = 0;
  /** Count of batch commits (write + fdatasync). */
  commits = 0;
  /** Count of failed batch commits (each rolled back) and of successful repairs after them. */
  writeFailures = 0;
  repairs = 0;
  /**
   * Called synchronously when appended records are discarded after a failed write: every record
   * with LSN ≥ `fromLsn` is gone, and the next append gets `fromLsn` again. The owner undoes what it
   * did at append time (chain heads, dedupe inserts) before any waiter hears of the failure.
   */
  onRollback: ((fromLsn: number) => void) | undefined;
  /** Called after every commit with the new durable LSN (before the commit's waiters resume). */
  onDurable: ((durableLsn: number) => void) | undefined;

  private constructor(options: WalOptions) {
    this.options = options;
    this.dir = options.dir;
    this.segDir = path.join(options.dir, 'segments');
    this.cursorDir = path.join(options.dir, 'cursors');
    this.now = options.now ?? Date.now;
    this.log = options.logger ?? silentLogger;
    this.filling = this.newBatch();
  }

  private readonly log: Logger;

  /**
   * Open the WAL in `options.dir`, recovering what is on disk: every record is checked; a torn tail
   * of the last segment is truncated; any other damage throws AUDIT_ERR_WAL_CORRUPT naming the
   * segment and offset. `visit` sees every surviving record in LSN order (to rebuild state).
   */
  static async open(options: WalOptions, visit: RecoveryVisitor): Promise<{ wal: Wal; report: WalRecoveryReport }> {
    const wal = new Wal(options);
    await fsp.mkdir(wal.segDir, { recursive: true });
    await fsp.mkdir(wal.cursorDir, { recursive: true });
    // Make the directory entries themselves durable (a first ack must not depend on an unsynced mkdir).
    for (const d of [wal.dir, path.dirname(wal.dir)]) await fsyncDir(d, options.onFsync);
    const report = await wal.recover(visit);
    return { wal, report };
  }

  private async recover(visit: RecoveryVisitor): Promise<WalRecoveryReport> {
    const names = (await fsp.readdir(this.segDir))
      .map((n) => ({ n, lsn: parseSegmentFileName(n) }))
      .filter((x): x is { n: string; lsn: number } => x.lsn !== undefined)
      .sort((a, b) => a.lsn - b.lsn);
    const report: WalRecoveryReport = { segments: 0, records: 0, firstLsn: 0, lastLsn: 0, truncatedBytes: 0 };
    let expected = 0; // next LSN expected (0 = take the first segment's)
    let base = 0;
    for (let i = 0; i < names.length; i++) {
      const { n, lsn: nameLsn } = names[i]!;
      const isLast = i === names.length - 1;
      const file = path.join(this.segDir, n);
      const fd = await openFd(file, 'r+');
      let fdOpen = true;
      try {
        const st = fs.fstatSync(fd);
        const head = Buffer.alloc(SEGMENT_HEADER_BYTES);
        const got = await readAt(fd, head, 0, SEGMENT_HEADER_BYTES, 0);
        const h = decodeSegmentHeader(head.subarray(0, got));
        if (!h.ok) {
          if (isLast && st.size <= SEGMENT_HEADER_BYTES) {
            // Crash while creating the segment: it never held a record.
            await closeFd(fd);
            fdOpen = false;
            await fsp.rm(file);
            await fsyncDir(this.segDir, this.options.onFsync);
            report.truncatedBytes += st.size;
            report.truncatedAt = { segment: file, offset: 0, reason: `incomplete segment header (${h.reason})` };
            continue;
          }
          throw corrupt(file, 0, `bad segment header: ${h.reason}`);
        }
        if (h.firstLsn !== nameLsn) throw corrupt(file, 0, `header says first LSN ${h.firstLsn}, file name says ${nameLsn}`);
        if (expected !== 0 && h.firstLsn !== expected)
          throw corrupt(file, 0, `first LSN ${h.firstLsn} does not follow the previous segment (expected ${expected})`);
        if (expected === 0) expected = h.firstLsn;
        const reader = new FrameReader(fd, SEGMENT_HEADER_BYTES, 4 << 20);
        let goodEnd = SEGMENT_HEADER_BYTES;
        for (;;) {
          const r = await reader.next(st.size);
          if (r.kind === 'end') break;
          if (r.kind === 'record') {
            if (r.record.lsn !== expected)
              throw corrupt(file, reader.offset - r.record.size, `LSN ${r.record.lsn} where ${expected} was expected`);
            visit(r.record);
            expected++;
            report.records++;
            goodEnd = reader.offset;
            continue;
          }
          const at = reader.offset;
          const reason = r.kind === 'short' ? `record truncated (needs ${r.needBytes} bytes, ${st.size - at} left)` : r.reason;
          if (!isLast) throw corrupt(file, at, reason);
          if (r.kind === 'bad' && (await this.validRecordFollows(fd, at, st.size)))
            throw corrupt(file, at, `${reason}, and valid records follow`);
          // Torn tail: the last write did not complete; it was never acknowledged. Cut it off.
          await fsp.truncate(file, at);
          await fdatasync(fd);
          report.truncatedBytes += st.size - at;
          report.truncatedAt = { segment: file, offset: at, reason };
          break;
        }
        this.segments.push({
          firstLsn: h.firstLsn,
          lastLsn: expected - 1,
          file,
          size: goodEnd,
          base,
          createdAtMillis: h.createdAtMillis,
          closedAtMillis: isLast ? undefined : st.mtimeMs,
        });
        base += goodEnd;
      } finally {
        if (fdOpen) {
          if (isLast && this.segments.at(-1)?.file === file) this.activeFd = fd;
          else await closeFd(fd);
        }
      }
    }
    // The last kept segment becomes the active one (the loop kept its descriptor open).
    const last = this.segments.at(-1);
    if (last && last.closedAtMillis !== undefined) {
      // The real last segment was removed (torn header): reopen the previous one for appends.
      last.closedAtMillis = undefined;
      this.activeFd = await openFd(last.file, 'r+');
    }
    this.nextLsn = expected === 0 ? 1 : expected;
    this.durableLsn = this.nextLsn - 1;
    this.filling.firstLsn = this.nextLsn;
    report.segments = this.segments.length;
    report.firstLsn = this.segments[0]?.firstLsn ?? 0;
    report.lastLsn = this.durableLsn;
    if (report.records === 0 && report.lastLsn < report.firstLsn) report.firstLsn = 0;
    return report;
  }

  /** After a bad record at `at`: does its declared length lead to another valid record? */
  private async validRecordFollows(fd: number, at: number, size: number): Promise<boolean> {
    const head = Buffer.alloc(4);
    if ((await readAt(fd, head, 0, 4, at)) < 4) return false;
    const next = at + RECORD_HEADER_BYTES + head.readUInt32LE(0);
    if (next + RECORD_HEADER_BYTES > size) return false;
    const hdr = Buffer.alloc(RECORD_HEADER_BYTES);
    await readAt(fd, hdr, 0, RECORD_HEADER_BYTES, next);
    const len = hdr.readUInt32LE(0);
    if (next + RECORD_HEADER_BYTES + len > size) return false;
    const rec = Buffer.alloc(RECORD_HEADER_BYTES + len);
    await readAt(fd, rec, 0, rec.length, next);
    return parseRecord(rec, 0, rec.length).kind === 'record';
  }

  private newBatch(): Batch {
    const buf = this.spare.pop() ?? Buffer.allocUnsafe(1 << 20);
    return { buf, len: 0, firstLsn: this.nextLsn, lastLsn: this.nextLsn - 1, count: 0, promise: undefined, resolve: undefined };
  }

  /**
   * The write error while appends are refused (from a failed write until a repair probe succeeds),
   * else undefined. Retryable: the WAL repairs itself (see the module comment).
   */
  get failed(): AuditError | undefined {
    return this.broken;
  }

  /**
   * Append one event record with the next LSN (synchronously; the caller built `json` with that
   * LSN, {@link nextLsn}). Durability comes later: await {@link waitDurable}(lsn).
   * `idWords` is the event id as four big-endian u32 words; `receivedAtSeconds` the dedupe clock.
   */
  append(lsn: number, idWords: Uint32Array, receivedAtSeconds: number, json: string): void {
    this.appendParts(lsn, idWords, receivedAtSeconds, json);
  }

  /**
   * Like {@link append}, with the payload given as consecutive parts (their concatenation is the
   * JSON). Saves building one large string per record: the pipeline passes the JCS text, resource
   * and scope JSON it already holds, and they are encoded straight into the batch buffer.
   */
  appendParts(lsn: number, idWords: Uint32Array, receivedAtSeconds: number, ...parts: string[]): void {
    this.appendRecord(RECORD_TYPE_EVENT, lsn, idWords, receivedAtSeconds, parts);
  }

  /**
   * Append a record of any type (`RECORD_TYPE_EVENT` or `RECORD_TYPE_CHECKPOINT`); see {@link appendParts}.
   * A part may also be UTF-8 bytes (copied as they are): the pipeline's worker threads hand the
   * sequencer each event's payload already encoded.
   */
  appendRecord(
    type: number,
    lsn: number,
    idWords: Uint32Array,
    receivedAtSeconds: number,
    parts: ReadonlyArray<string | Uint8Array>,
  ): void {
    if (this.closed) throw new AuditError('AUDIT_ERR_SHUTDOWN', 'WAL is closed');
    if (this.broken) throw this.broken;
    if (lsn !== this.nextLsn) throw new AuditError('AUDIT_ERR_INTERNAL', `append of LSN ${lsn}, expected ${this.nextLsn}`);
    const b = this.filling;
    let chars = 0;
    let bytes = 0;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (typeof p === 'string') chars += p.length;
      else bytes += p.length;
    }
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    const need = b.len + RECORD_HEADER_BYTES + chars * 3 + bytes;
    if (need > b.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, b.buf.length * 2));
      b.buf.copy(bigger, 0, 0, b.len);
      b.buf = bigger;
    }
    const start = b.len + RECORD_HEADER_BYTES;
    let off = start;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (typeof p === 'string') off += b.buf.write(p, off, 'utf8');
      else {
        b.buf.set(p, off);
        off += p.length;
      }
    }
    sealRecord(b.buf, b.len, off - start, type, lsn, idWords, receivedAtSeconds);
    b.len = off;
    b.lastLsn = lsn;
    b.count++;
    this.nextLsn = lsn + 1;
    if (!this.flushing && !this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        void this.flushLoop();
      });
    }
  }

  /**
   * Start writing the current batch now if no write is in progress (instead of at the end of the
   * current microtask queue). The pipeline calls it right after a request's appends, so the write and
   * fsync run in the libuv thread pool while other requests are still being validated — otherwise
   * every request resumed by one commit would be prepared before the next write starts, and the CPU
   * would idle during each fsync.
   */
  startFlush(): void {
    if (!this.flushing && this.filling.count > 0) void this.flushLoop();
  }

  /** Resolves (with undefined) once `lsn` is durable, or with the I/O error that prevents it. */
  waitDurable(lsn: number): Promise<AuditError | undefined> {
    if (lsn <= this.durableLsn) return resolvedOk;
    if (this.broken) return Promise.resolve(this.broken);
    const b = this.inFlight && lsn <= this.inFlight.lastLsn ? this.inFlight : this.filling;
    if (!b.promise) b.promise = new Promise((resolve) => (b.resolve = resolve));
    return b.promise;
  }

  /** Resolves once everything appended so far is durable (or the WAL failed). */
  sync(): Promise<AuditError | undefined> {
    return this.waitDurable(this.nextLsn - 1);
  }

  /** Resolves when `durableLsn > lsn`, or when `signal` aborts (then with false). */
  waitForDurableBeyond(lsn: number, signal?: AbortSignal): Promise<boolean> {
    if (this.durableLsn > lsn) return Promise.resolve(true);
    if (signal?.aborted || this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w = { lsn, resolve: () => resolve(true) };
      this.durableWaiters.push(w);
      signal?.addEventListener(
        'abort',
        () => {
          this.durableWaiters = this.durableWaiters.filter((x) => x !== w);
          resolve(false);
        },
        { once: true },
      );
    });
  }

  private async flushLoop(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.filling.count > 0 && !this.broken) {
        const batch = this.filling;
        this.filling = this.newBatch();
        this.inFlight = batch;
        try {
          let seg = this.segments.at(-1);
          if (!seg || this.activeFd < 0 || (seg.size > SEGMENT_HEADER_BYTES && seg.size + batch.len > this.options.segmentBytes)) {
            seg = await this.roll(batch.firstLsn);
          }
          await writeFully(this.activeFd, batch.buf, 0, batch.len, seg.size);
          if (this.options.durability === 'fsync') {
            const t0 = performance.now();
            await fdatasync(this.activeFd);
            this.options.onFsync?.('data', performance.now() - t0);
          }
          seg.size += batch.len;
          seg.lastLsn = batch.lastLsn;
          this.durableLsn = batch.lastLsn;
          this.commits++;
        } catch (err) {
          this.inFlight = undefined;
          this.rollback(batch, ioError('WAL write failed', err));
          return;
        } finally {
          this.inFlight = undefined;
        }
        if (batch.buf.length <= 8 << 20 && this.spare.length < 2) this.spare.push(batch.buf);
        this.onDurable?.(this.durableLsn);
        batch.resolve?.(undefined);
        this.notifyDurable();
      }
    } finally {
      this.flushing = false;
    }
  }

  private notifyDurable(): void {
    if (this.durableWaiters.length === 0) return;
    const ready = this.durableWaiters.filter((w) => this.durableLsn > w.lsn);
    if (ready.length === 0) return;
    this.durableWaiters = this.durableWaiters.filter((w) => this.durableLsn <= w.lsn);
    for (const w of ready) w.resolve();
  }

  /**
   * After a failed write of `batch`: discard it and the batch filling behind it, give their LSNs
   * back, let the owner undo its state (`onRollback`), fail their waiters (retryable), and start
   * the repair loop. Appends are refused until a repair succeeds.
   */
  private rollback(batch: Batch, err: AuditError): void {
    const filling = this.filling;
    this.log.error(
      { err, code: err.code, fromLsn: batch.firstLsn, records: batch.count + filling.count },
      'WAL write failed: the batch was rolled back (answered retryable) and appends pause until a write probe succeeds',
    );
    this.broken = err;
    this.writeFailures++;
    this.failedBytes = batch.len + filling.len;
    this.nextLsn = batch.firstLsn;
    this.filling = this.newBatch();
    this.onRollback?.(batch.firstLsn);
    batch.resolve?.(err);
    filling.resolve?.(err);
    this.scheduleRepair();
  }

  private scheduleRepair(): void {
    if (this.closed || this.repairTimer) return;
    this.repairTimer = setTimeout(() => {
      this.repairTimer = undefined;
      void this.repair();
    }, this.options.repairIntervalMillis ?? 1000);
    this.repairTimer.unref();
  }

  /**
   * One repair attempt: cut the active segment back to its durable size (a torn batch may have
   * reached the file, or the page cache after a failed fsync), then probe — write as many bytes as
   * the failed batch held past the end, fdatasync, cut them off again. Success reopens appends;
   * failure keeps them refused and tries again later. A segment half-created by a failed roll is
   * removed (it never held a durable record).
   */
  private async repair(): Promise<void> {
    if (this.closed || !this.broken) return;
    const probe = Buffer.alloc(Math.min(16 << 20, Math.max(64 << 10, this.failedBytes)));
    try {
      const seg = this.segments.at(-1);
      if (seg && this.activeFd >= 0) {
        const fd = this.activeFd;
        await ftruncate(fd, seg.size);
        await fdatasync(fd);
        await writeFully(fd, probe, 0, probe.length, seg.size);
        await fdatasync(fd);
        await ftruncate(fd, seg.size);
        await fdatasync(fd);
      } else {
        const stale = path.join(this.segDir, segmentFileName(this.nextLsn));
        if (!this.segments.some((x) => x.file === stale)) await fsp.rm(stale, { force: true });
        const file = path.join(this.segDir, 'write-probe.tmp');
        const fd = await openFd(file, 'w');
        try {
          await writeFully(fd, probe, 0, probe.length, 0);
          await fdatasync(fd);
        } finally {
          await closeFd(fd);
          await fsp.rm(file, { force: true });
        }
      }
      this.broken = undefined;
      this.failedBytes = 0;
      this.repairs++;
      this.log.info({ repairs: this.repairs }, 'WAL writes work again');
      if (this.filling.count > 0) this.startFlush();
    } catch (err) {
      this.broken = ioError('WAL write failed (retrying)', err);
      this.scheduleRepair();
    }
  }

  /** Start a new segment whose first record will be `firstLsn`: header, fsync file, fsync directory. */
  private async roll(firstLsn: number): Promise<Segment> {
    const prev = this.segments.at(-1);
    if (prev) prev.closedAtMillis = this.now();
    if (this.activeFd >= 0) {
      await closeFd(this.activeFd);
      this.activeFd = -1;
    }
    const file = path.join(this.segDir, segmentFileName(firstLsn));
    const createdAt = this.now();
    const fd = await openFd(file, 'wx');
    try {
      await writeFully(fd, encodeSegmentHeader(firstLsn, createdAt), 0, SEGMENT_HEADER_BYTES, 0);
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
      this.options.onFsync?.('file', performance.now() - t0);
      await fsyncDir(this.segDir, this.options.onFsync);
    } catch (err) {
      // Disk full while creating the segment: it never held a record; remove it so the next roll
      // (after repair) can create it again.
      // A failure of this cleanup is logged: the error the caller needs is the one that broke the roll,
      // and a leftover empty segment is removed by the repair (or refused loudly by the next roll).
      await closeFd(fd).catch((e: unknown) => this.log.warn({ err: e, file }, 'closing a segment that failed to start failed'));
      await fsp
        .rm(file, { force: true })
        .catch((e: unknown) => this.log.warn({ err: e, file }, 'removing a segment that failed to start failed'));
      throw err;
    }
    this.activeFd = fd;
    const seg: Segment = {
      firstLsn,
      lastLsn: firstLsn - 1,
      file,
      size: SEGMENT_HEADER_BYTES,
      base: prev ? prev.base + prev.size : 0,
      createdAtMillis: createdAt,
      closedAtMillis: undefined,
    };
    this.segments.push(seg);
    return seg;
  }

  // ---- positions, readers, cursors ----

  /** Position at the start of the oldest retained record (a new cursor starts here). */
  startPosition(): WalPosition {
    const first = this.segments[0];
    if (!first) return { lsn: this.nextLsn - 1, segmentFirstLsn: this.nextLsn, offset: SEGMENT_HEADER_BYTES };
    return { lsn: first.firstLsn - 1, segmentFirstLsn: first.firstLsn, offset: SEGMENT_HEADER_BYTES };
  }

  /** Position just after the last durable record. */
  endPosition(): WalPosition {
    const last = this.segments.at(-1);
    if (!last) return this.startPosition();
    return { lsn: this.durableLsn, segmentFirstLsn: last.firstLsn, offset: last.size };
  }

  /** @internal Segment by first LSN. */
  segmentAt(firstLsn: number): Segment | undefined {
    return this.segments.find((s) => s.firstLsn === firstLsn);
  }

  /** @internal The segment after the given one. */
  segmentAfter(firstLsn: number): Segment | undefined {
    const i = this.segments.findIndex((s) => s.firstLsn === firstLsn);
    return i >= 0 ? this.segments[i + 1] : this.segments.find((s) => s.firstLsn > firstLsn);
  }

  /** Global byte position of a WAL position (for lag in bytes). */
  globalBytes(pos: WalPosition): number {
    const seg = this.segmentAt(pos.segmentFirstLsn);
    if (seg) return seg.base + pos.offset;
    const first = this.segments[0];
    if (!first) return 0;
    return pos.segmentFirstLsn < first.firstLsn ? first.base : this.headBytes();
  }

  /** Global byte position of the durable end. */
  headBytes(): number {
    const last = this.segments.at(-1);
    return last ? last.base + last.size : 0;
  }

  /**
   * Open a reader after `position` (defaults to the oldest retained record). A position older than
   * the retained WAL starts at the oldest retained record. `options.rows`: batches carry the
   * records' storage rows (default false: JSON payloads only).
   */
  openReader(position?: WalPosition, options: { rows?: boolean } = {}): WalReader {
    let pos = position ?? this.startPosition();
    const first = this.segments[0];
    if (first && pos.lsn < first.firstLsn - 1) pos = this.startPosition();
    return new WalReader(this, pos, options.rows === true);
  }

  private cursorFile(name: string): string {
    return path.join(this.cursorDir, `${encodeURIComponent(name)}.json`);
  }

  /**
   * Register a cursor (an exporter's) and return its saved position (or the start for a new one).
   * A saved position ahead of the WAL (only possible after losing un-fsync'd data with
   * `durability: 'none'`) is clamped to the end. See {@link pendingLastLsn} for the batch that was
   * in flight when the cursor was last saved.
   */
  async registerCursor(name: string): Promise<WalPosition> {
    let pos: WalPosition | undefined;
    this.pending.delete(name);
    try {
      const saved = JSON.parse(await fsp.readFile(this.cursorFile(name), 'utf8')) as WalPosition & { pendingLastLsn?: number };
      if (Number.isSafeInteger(saved.lsn) && Number.isSafeInteger(saved.segmentFirstLsn) && Number.isSafeInteger(saved.offset)) {
        pos = { lsn: saved.lsn, segmentFirstLsn: saved.segmentFirstLsn, offset: saved.offset };
        if (Number.isSafeInteger(saved.pendingLastLsn) && saved.pendingLastLsn! > saved.lsn) this.pending.set(name, saved.pendingLastLsn!);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot read cursor ${name}`, err);
    }
    if (!pos) pos = this.startPosition();
    if (pos.lsn > this.durableLsn) pos = this.endPosition();
    const first = this.segments[0];
    if (first && pos.lsn < first.firstLsn - 1) pos = this.startPosition();
    this.cursors.set(name, pos);
    return pos;
  }

  /**
   * The last LSN of the batch that was handed to this cursor's exporter but not acknowledged when
   * the cursor was last saved (undefined when none). The runner re-sends exactly `lsn+1 ..
   * pendingLastLsn` first, so the exporter sees the same `(firstLsn, lastLsn)` it may already have
   * written — the idempotency key stays valid across a crash.
   */
  pendingLastLsn(name: string): number | undefined {
    const p = this.pending.get(name);
    return p === undefined ? undefined : Math.min(p, this.durableLsn);
  }

  /**
   * Durably save a cursor (atomic replace). `pos` is what the exporter acknowledged; `pendingLastLsn`
   * (optional) records the end of the batch about to be exported (see {@link pendingLastLsn}).
   */
  async saveCursor(name: string, pos: WalPosition, pendingLastLsn?: number): Promise<void> {
    const text = JSON.stringify({ name, ...pos, ...(pendingLastLsn === undefined ? {} : { pendingLastLsn }), savedAtMillis: this.now() });
    await atomicWriteFile(this.cursorFile(name), text, this.options.onFsync);
    this.cursors.set(name, pos);
    if (pendingLastLsn === undefined) this.pending.delete(name);
    else this.pending.set(name, pendingLastLsn);
  }

  /** Registered cursors and their positions. */
  cursorPositions(): ReadonlyMap<string, WalPosition> {
    return this.cursors;
  }

  /** Bytes of WAL behind the slowest registered cursor (0 without cursors). */
  backlogBytes(): number {
    if (this.cursors.size === 0) return 0;
    let min = Infinity;
    for (const pos of this.cursors.values()) min = Math.min(min, this.globalBytes(pos));
    return Math.max(0, this.headBytes() - min);
  }

  /** Total bytes of retained segments. */
  totalBytes(): number {
    let t = 0;
    for (const s of this.segments) t += s.size;
    return t;
  }

  /** Number of retained segments. */
  segmentCount(): number {
    return this.segments.length;
  }

  /** LSN of the oldest retained record (nextLsn when empty). */
  firstLsn(): number {
    return this.segments[0]?.firstLsn ?? this.nextLsn;
  }

  /**
   * Delete closed segments that every registered cursor has passed and whose retention elapsed
   * (nothing is deleted while no cursor is registered).
   * Before deleting, their event ids go to `dedupe` (so the dedupe window outlives them) and
   * `beforeDelete(lastLsn)` runs (the pipeline persists chain heads there). Resolves with the
   * number of segments deleted. Runs one at a time.
   */
  collectGarbage(dedupe: DedupeChunkStore, beforeDelete: (upToLsn: number) => Promise<void>): Promise<number> {
    if (this.gcRunning) return this.gcRunning;
    this.gcRunning = this.runGc(dedupe, beforeDelete).finally(() => (this.gcRunning = undefined));
    return this.gcRunning;
  }

  private async runGc(dedupe: DedupeChunkStore, beforeDelete: (upToLsn: number) => Promise<void>): Promise<number> {
    // Without any exporter the WAL is the only copy of acknowledged data: keep it all (the
    // free-disk gate applies back-pressure before the disk fills).
    if (this.cursors.size === 0) return 0;
    let minLsn = Infinity;
    for (const pos of this.cursors.values()) minLsn = Math.min(minLsn, pos.lsn);
    const now = this.now();
    const victims: Segment[] = [];
    for (const s of this.segments.slice(0, -1)) {
      if (s.lastLsn > minLsn) break;
      if (s.closedAtMillis === undefined || s.closedAtMillis + this.options.retentionMillis > now) break;
      victims.push(s);
    }
    if (victims.length === 0) return 0;
    const first = victims[0]!.firstLsn;
    const last = victims.at(-1)!.lastLsn;
    const ids: DedupeId[] = [];
    for (const s of victims) {
      const fd = await openFd(s.file, 'r');
      try {
        const r = new FrameReader(fd, SEGMENT_HEADER_BYTES);
        for (;;) {
          const x = await r.next(s.size);
          if (x.kind !== 'record') break;
          const rec = x.record;
          if (rec.type === RECORD_TYPE_EVENT)
            ids.push({ a: rec.id0, b: rec.id1, c: rec.id2, d: rec.id3, seenAtSec: rec.receivedAtSeconds });
        }
      } finally {
        await closeFd(fd);
      }
    }
    await dedupe.add(first, last, ids, Math.floor(now / 1000));
    await beforeDelete(last);
    for (const s of victims) await fsp.rm(s.file, { force: true });
    await fsyncDir(this.segDir, this.options.onFsync);
    this.segments = this.segments.filter((s) => !victims.includes(s));
    return victims.length;
  }

  /** Wait for pending writes, then close. Idempotent. Appends after close throw AUDIT_ERR_SHUTDOWN. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.sync();
    this.closed = true;
    if (this.repairTimer) clearTimeout(this.repairTimer);
    this.repairTimer = undefined;
    while (this.flushing) await new Promise((r) => setImmediate(r));
    if (this.activeFd >= 0) await closeFd(this.activeFd);
    this.activeFd = -1;
    for (const w of this.durableWaiters) w.resolve();
    this.durableWaiters = [];
  }
}

/** A decoded batch from a {@link WalReader}. */
export interface WalReadResult {
  /**
   * Raw payloads (UTF-8 JSON of `WalEntry`) in LSN order, packed in one buffer (not decoded): views
   * of the reader's buffer, valid until its next `read()` (copy what must outlive that).
   */
  payloads: PackedPayloads;
  firstLsn: number;
  lastLsn: number;
  /** Position after the last record returned. */
  end: WalPosition;
  /** Bytes of the records returned (headers included). */
  bytes: number;
}

/**
 * Streams records from a position onwards, up to the durable end, one segment file at a time.
 * Memory: one read window (1 MiB) plus the records of the batch being returned.
 */
export class WalReader {
  private readonly wal: Wal;
  private pos: WalPosition;
  private fd = -1;
  private fdSegment = -1;
  private frames: FrameReader | undefined;
  /** The payloads of the last batch returned (reused by the next read). */
  private readonly packer = new PayloadPacker();

  /** Whether batches carry the records' storage rows (`PackedPayloads.rows`); else only the JSON. */
  private readonly rows: boolean;

  constructor(wal: Wal, pos: WalPosition, rows = false) {
    this.wal = wal;
    this.pos = { ...pos };
    this.rows = rows;
  }

  /** Current position (after the last record returned). */
  get position(): WalPosition {
    return { ...this.pos };
  }

  /** Re-position (e.g. back to the last saved cursor). */
  seek(pos: WalPosition): void {
    this.pos = { ...pos };
    this.frames = undefined;
  }

  /** Read up to `maxEntries` durable records (and at most about `maxBytes`). Empty when caught up. */
  async read(maxEntries: number, maxBytes = 64 << 20): Promise<WalReadResult> {
    const payloads = this.packer;
    // Sized for the batch this read will probably return (the lag, capped by the limits; the
    // average record size of the lag stands in for the rows limit), so the buffer rarely grows.
    const lagEntries = this.wal.durableLsn - this.pos.lsn;
    const lagBytes = Math.max(0, this.wal.headBytes() - this.wal.globalBytes(this.pos));
    const byRows = lagEntries > 0 ? Math.ceil((lagBytes / lagEntries) * Math.min(maxEntries, lagEntries)) : 0;
    payloads.reset(Math.min(maxBytes, lagBytes, byRows) + (64 << 10));
    const startLsn = this.pos.lsn;
    let bytes = 0;
    while (payloads.length < maxEntries && bytes < maxBytes && this.pos.lsn < this.wal.durableLsn) {
      let seg = this.wal.segmentAt(this.pos.segmentFirstLsn);
      if (!seg) {
        // The segment of this position is gone or not yet known; find the one holding the next LSN.
        seg = this.wal.segmentAfter(this.pos.segmentFirstLsn - 1);
        if (!seg) break;
        this.pos = { lsn: this.pos.lsn, segmentFirstLsn: seg.firstLsn, offset: SEGMENT_HEADER_BYTES };
        this.frames = undefined;
      }
      if (this.pos.offset >= seg.size) {
        const next = this.wal.segmentAfter(seg.firstLsn);
        if (!next) break;
        this.pos = { lsn: this.pos.lsn, segmentFirstLsn: next.firstLsn, offset: SEGMENT_HEADER_BYTES };
        this.frames = undefined;
        continue;
      }
      if (this.fdSegment !== seg.firstLsn || this.fd < 0) {
        if (this.fd >= 0) await closeFd(this.fd);
        this.fd = await openFd(seg.file, 'r');
        this.fdSegment = seg.firstLsn;
        this.frames = undefined;
      }
      if (!this.frames) this.frames = new FrameReader(this.fd, this.pos.offset);
      const r = await this.frames.next(seg.size);
      if (r.kind === 'end') continue;
      if (r.kind !== 'record')
        throw corrupt(seg.file, this.pos.offset, r.kind === 'bad' ? r.reason : 'record truncated below the durable end');
      const rec = r.record;
      if (rec.lsn <= this.pos.lsn) {
        // Skipping forward to the position's LSN (a cursor saved without a byte offset hint).
        this.pos = { lsn: this.pos.lsn, segmentFirstLsn: seg.firstLsn, offset: this.frames.offset };
        continue;
      }
      if (rec.lsn !== this.pos.lsn + 1) throw corrupt(seg.file, this.pos.offset, `LSN ${rec.lsn} where ${this.pos.lsn + 1} was expected`);
      payloads.add(rec.payload, this.rows ? rec.row : undefined);
      bytes += rec.size;
      this.pos = { lsn: rec.lsn, segmentFirstLsn: seg.firstLsn, offset: this.frames.offset };
    }
    return { payloads: payloads.finish(), firstLsn: startLsn + 1, lastLsn: this.pos.lsn, end: { ...this.pos }, bytes };
  }

  /** Release the file descriptor. */
  async close(): Promise<void> {
    if (this.fd >= 0) await closeFd(this.fd);
    this.fd = -1;
    this.frames = undefined;
  }
}
