/**
 * The dedupe window, set by time rather than by memory: recent ids in the in-memory table
 * ({@link DedupeIndex}, bounded by `maxIds`), older ones in immutable on-disk runs
 * (dedupe-run.ts) cut per time slice, merged and dropped by age.
 *
 * - **Spill.** When the in-memory table reaches `maxIds` it is frozen (still consulted by lookups)
 *   and a fresh one takes over; the frozen table is written as runs once the WAL is durable up to
 *   the last LSN it holds, then dropped. Runs are grouped by receive-time slice (expiry) and, for
 *   UUIDv7 ids, by the slice of the id's own timestamp (lookup): a UUIDv7 lookup reads only the
 *   runs of its id-time slice, whose in-memory fences select one page. Ids without a usable time
 *   (other versions, derived v8 ids, v7 ids whose time is implausibly far from when they were
 *   accepted) go to full-width runs with a Bloom filter, consulted by every lookup.
 * - **Persistence.** `manifest.json` (atomic, checksummed) lists the runs and the spill watermark
 *   `coveredLsn`: every id of a WAL record with LSN ≤ it is in a run. WAL segments are deleted only
 *   up to the watermark ({@link DedupeWindow.add} spills first when needed). Recovery loads the run
 *   footers and rebuilds the in-memory table from the WAL records after the watermark. Run files
 *   not in the manifest (a crash between writing a run and the manifest) are removed: their ids
 *   are still in the WAL, since the watermark never moved past them.
 * - **Exactness.** Runs hold whole ids (UUIDv7: the 74 random bits plus the millisecond time;
 *   others: 128 bits), so a hit is always a real duplicate; summaries only save reads.
 * - **Window.** An id stays a duplicate for at least `windowMillis` after it was accepted and at most
 *   one slice longer (a run is dropped when its newest id has left the window). If the table must
 *   evict (spills failing or falling behind) the effective window shrinks and `onWindowShort` is
 *   called.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { AuditError, type Logger, silentLogger } from '@otel-audit/core';
import { DedupeIndex, decodeDedupeChunk } from './dedupe-index.ts';
import {
  compareIds,
  DEFAULT_RUN_PAGE_BYTES,
  isUuidV7,
  nextLookupSeq,
  pageChecksumOk,
  pageOffset,
  RUN_KIND_FULL,
  RUN_KIND_V7,
  RunIterator,
  type RunMeta,
  RunPageCache,
  type RunSummary,
  RunWriter,
  readRunSummary,
  runContains,
  uuidV7Millis,
} from './dedupe-run.ts';
import { type FsyncObserver, fsyncDir } from './fs-util.ts';

/** Options of {@link DedupeWindow}. */
export interface DedupeWindowOptions {
  /** Directory of the runs and the manifest. */
  dir: string;
  /** Window in ms: an id accepted longer ago than this is accepted again. */
  windowMillis: number;
  /** Most ids of the in-memory table; when reached, the table is spilled to runs. */
  maxIds: number;
  /** Slice length in ms (receive time and UUIDv7 id time). Default 1 h. */
  sliceMillis?: number;
  /** A UUIDv7 whose time is further than this from its accept time (or older than the window) is filed as untimed. Default 1 day. */
  clockSkewMillis?: number;
  /** Bloom filter bits per id of full-width (untimed) runs; 0 disables the filter. Default 10. */
  bloomBitsPerId?: number;
  /** Page size of runs in bytes. Default 8192. */
  pageBytes?: number;
  /** Pages kept in the lookup cache. Default 512. */
  cachePages?: number;
  /** Frozen tables allowed to wait for their spill before the live table evicts instead. Default 4. */
  maxPendingTables?: number;
  /** Resolves once the WAL is durable up to `lsn` (undefined = ok); spills wait for it. */
  waitDurable?: (lsn: number) => Promise<AuditError | undefined>;
  /** fsync observer (metrics). */
  observer?: FsyncObserver;
  /** Called when the effective window falls below the configured one (and then at most every 10 min). */
  onWindowShort?: (message: string) => void;
  /** Called once per run page found corrupt by the background scrub (lookups of it then fail). */
  onCorrupt?: (error: AuditError) => void;
  /** Pages the background scrub verifies per `maintain()` call. Default 2048 (16 MiB). */
  scrubPagesPerCall?: number;
  /** Where failed spills, merges and scrubs are logged. Default: silent. */
  logger?: Logger;
}

/** What {@link DedupeWindow.status} reports. */
export interface DedupeWindowStatus {
  /** Ids in the in-memory tables (live + frozen awaiting their spill). */
  memoryIds: number;
  /** Bytes of those tables. */
  memoryTableBytes: number;
  /** Frozen tables waiting to be written. */
  pendingTables: number;
  runFiles: number;
  runIds: number;
  /** Bytes of run files on disk. */
  runDiskBytes: number;
  /** Bytes of the in-memory summaries of the runs (fences, Bloom filters, first/last ids). */
  summaryBytes: number;
  /** runDiskBytes / runIds (0 without runs). */
  diskBytesPerRunId: number;
  /** summaryBytes / runIds (0 without runs). */
  summaryBytesPerRunId: number;
  /** The spill watermark: ids of WAL records up to this LSN are in runs. */
  coveredLsn: number;
  /** Pages read from run files (cache misses) since start. */
  pageReads: number;
  windowMillis: number;
  effectiveWindowMillis: number;
  /** Last spill / merge / expiry error, if the last attempt failed. */
  lastError?: { code: string; message: string };
  /** Corrupt run pages found by the background scrub (AUDIT_ERR_DEDUPE_CORRUPT messages). */
  corrupt: string[];
  /** Bytes of the runs' page fences and Bloom filters (the parts that grow with the ids). */
  fenceBytes: number;
  bloomBytes: number;
}

interface Run {
  name: string;
  file: string;
  summary: RunSummary;
  bytes: number;
}

interface FrozenTable {
  table: DedupeIndex;
  coveredLsn: number;
  durable: boolean;
}

const MANIFEST = 'manifest.json';
const RUN_NAME = /^run-(\d{12})\.bin$/;
const LEGACY_CHUNK = /^ids-\d{20}-\d{20}\.bin$/;
const GROUP_SPAN = 2 ** 19;

function corrupt(what: string, reason: string, cause?: unknown): AuditError {
  return new AuditError('AUDIT_ERR_DEDUPE_CORRUPT', `${what}: ${reason}`, { details: { file: what, reason }, ...(cause ? { cause } : {}) });
}

/** The time-windowed dedupe index (see the module comment). Call `open()` before use. */
export class DedupeWindow {
  private readonly o: Required<Omit<DedupeWindowOptions, 'waitDurable' | 'observer' | 'onWindowShort' | 'onCorrupt' | 'logger'>> &
    DedupeWindowOptions;
  private readonly windowSec: number;
  private active: DedupeIndex;
  private frozen: FrozenTable[] = [];
  private runs = new Map<string, Run>();
  private byIdSlice = new Map<number, Run[]>();
  /** Full-width runs of ids that are not UUIDv7 (idSlice -1). */
  private fullRuns: Run[] = [];
  /** Full-width runs of UUIDv7 ids whose time was implausible when accepted (idSlice -2). */
  private fullV7Runs: Run[] = [];
  private readonly cache: RunPageCache;
  private coveredLsn = 0;
  private nextSeq = 1;
  private lastInsertedLsn = 0;
  /** LSN of the first id in the live table (0 when empty). */
  private activeFirstLsn = 0;
  private lostBeforeSec = 0;
  private lastShortWarnAt = 0;
  private chain: Promise<void> = Promise.resolve();
  private lastError: AuditError | undefined;
  private legacyChunks: string[] = [];
  private recovering = true;
  /** Runs whose pages were all verified by the scrub (or written by this process). */
  private scrubbed = new Set<string>();
  private corruptFound: AuditError[] = [];
  private closing = false;

  constructor(options: DedupeWindowOptions) {
    this.o = {
      sliceMillis: 3600_000,
      clockSkewMillis: 24 * 3600_000,
      bloomBitsPerId: 10,
      pageBytes: DEFAULT_RUN_PAGE_BYTES,
      cachePages: 512,
      maxPendingTables: 4,
      scrubPagesPerCall: 2048,
      ...options,
    };
    this.windowSec = Math.ceil(options.windowMillis / 1000);
    this.active = this.newTable();
    this.cache = new RunPageCache(this.o.cachePages);
    this.log = options.logger ?? silentLogger;
  }

  private readonly log: Logger;

  /**
   * A new in-memory table. After a freeze it starts at the size the frozen one reached (up to
   * {@link NEW_TABLE_MAX_SLOTS}): growing from the default again would repeat every doubling, each
   * a synchronous rehash of the whole table on the ingest path (~20 ms at 200,000 ids).
   */
  private newTable(initialSlots?: number): DedupeIndex {
    return new DedupeIndex({
      windowMillis: this.o.windowMillis,
      maxIds: this.o.maxIds,
      ...(initialSlots === undefined ? {} : { initialCapacity: Math.min(NEW_TABLE_MAX_SLOTS, initialSlots) }),
    });
  }

  /** Ids held in memory (live and frozen tables). */
  get size(): number {
    let n = this.active.size;
    for (const f of this.frozen) n += f.table.size;
    return n;
  }

  /** Bytes of the in-memory tables. */
  get bytes(): number {
    let n = this.active.bytes;
    for (const f of this.frozen) n += f.table.bytes;
    return n;
  }

  /** Number of run files. */
  get runCount(): number {
    return this.runs.size;
  }

  /** The spill watermark (ids of WAL records with LSN ≤ it are in runs). */
  get watermark(): number {
    return this.coveredLsn;
  }

  /**
   * Load the manifest and run summaries; remove run files the manifest does not list and runs
   * that left the window. Returns the ids in runs and the watermark: WAL records after it must be
   * fed to {@link addRecovered}. Throws AUDIT_ERR_DEDUPE_CORRUPT for a damaged manifest or run.
   */
  async open(nowSec: number): Promise<{ runIds: number; coveredLsn: number; legacyIds: number }> {
    await fsp.mkdir(this.o.dir, { recursive: true });
    const manifestFile = path.join(this.o.dir, MANIFEST);
    let listed: string[] = [];
    let haveManifest = true;
    try {
      const text = await fsp.readFile(manifestFile, 'utf8');
      let parsed: { body: { version: number; coveredLsn: number; nextSeq: number; files: string[]; lostBeforeSec?: number }; crc: number };
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch (err) {
        throw corrupt(manifestFile, 'not valid JSON', err);
      }
      if (!parsed?.body || crc32(JSON.stringify(parsed.body)) !== parsed.crc) throw corrupt(manifestFile, 'checksum mismatch');
      if (parsed.body.version !== 1 || !Array.isArray(parsed.body.files))
        throw corrupt(manifestFile, `unsupported manifest version ${parsed.body.version}`);
      this.coveredLsn = parsed.body.coveredLsn;
      this.nextSeq = parsed.body.nextSeq;
      // Ids evicted before a restart are still missing: the window stays short (and is warned about) until they would have expired.
      this.lostBeforeSec = parsed.body.lostBeforeSec ?? 0;
      listed = parsed.body.files;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      haveManifest = false;
    }
    const names = await fsp.readdir(this.o.dir);
    if (!haveManifest) {
      // The manifest is written before any run (below), and replaced atomically: runs without it
      // mean it was removed by hand — the ids it described would be lost silently.
      const runs = names.filter((n) => RUN_NAME.test(n));
      if (runs.length > 0) throw corrupt(manifestFile, `missing, but ${runs.length} run file(s) are present (e.g. ${runs[0]})`);
      await this.commit([], [], 0);
    }
    for (const name of listed) {
      if (!RUN_NAME.test(name)) throw corrupt(manifestFile, `lists an invalid run name ${JSON.stringify(name)}`);
      const file = path.join(this.o.dir, name);
      if (!names.includes(name)) throw corrupt(file, 'listed in the manifest but missing');
      const summary = readRunSummary(file);
      this.addRun({ name, file, summary, bytes: fs.statSync(file).size });
    }
    for (const name of names) {
      // A run that never made it into the manifest (crash before the manifest write), or a temp file.
      if ((RUN_NAME.test(name) && !listed.includes(name)) || name.includes('.tmp-'))
        await fsp.rm(path.join(this.o.dir, name), { force: true });
    }
    // Ids persisted by the previous format (one chunk per deleted WAL range): fed into the table,
    // spilled as runs after start, then deleted.
    let legacyIds = 0;
    for (const name of names.filter((n) => LEGACY_CHUNK.test(n)).sort()) {
      const file = path.join(this.o.dir, name);
      for (const id of decodeDedupeChunk(await fsp.readFile(file), file)) {
        this.insertRecovered(id.a, id.b, id.c, id.d, id.seenAtSec, nowSec);
        legacyIds++;
      }
      this.legacyChunks.push(file);
    }
    let runIds = 0;
    for (const r of this.runs.values()) runIds += r.summary.meta.count;
    return { runIds, coveredLsn: this.coveredLsn, legacyIds };
  }

  /** Recovery is over: spill what recovery froze (in the background) and apply the pending-table cap from now on. */
  finishRecovery(): void {
    this.recovering = false;
    if (this.legacyChunks.length > 0 && this.active.size > 0) this.freeze(this.lastInsertedLsn, true);
    if (this.frozen.length > 0) this.scheduleSpill();
  }

  /** Feed a recovered WAL record (LSN order). Records at or below the watermark are in runs already. */
  addRecovered(a: number, b: number, c: number, d: number, seenAtSec: number, nowSec: number, lsn: number): void {
    if (lsn <= this.coveredLsn) return;
    if (this.active.size >= this.o.maxIds) this.freeze(lsn - 1, true);
    if (this.active.size === 0) this.activeFirstLsn = lsn;
    this.insertRecovered(a, b, c, d, seenAtSec, nowSec);
    this.lastInsertedLsn = lsn;
  }

  private insertRecovered(a: number, b: number, c: number, d: number, seenAtSec: number, nowSec: number): void {
    if (this.active.size >= this.o.maxIds && this.recovering) this.freeze(this.lastInsertedLsn, true);
    this.active.addRecovered(a, b, c, d, seenAtSec, nowSec);
  }

  /**
   * The synchronous lookup of the sequencer: true when the id was accepted within the window;
   * otherwise it is recorded as accepted at `seenAtSec` with WAL LSN `lsn` (the LSN its record is
   * about to get) and false is returned. Throws AUDIT_ERR_DEDUPE_CORRUPT when a run page it must
   * read fails its checksum.
   */
  checkAndInsert(a: number, b: number, c: number, d: number, seenAtSec: number, nowSec: number, lsn: number): boolean {
    if (this.active.has(a, b, c, d, nowSec)) return true;
    for (const f of this.frozen) if (f.table.has(a, b, c, d, nowSec)) return true;
    if (this.runs.size > 0 && this.inRuns(a, b, c, d, nowSec)) return true;
    if (this.active.size >= this.o.maxIds && (this.recovering || this.frozen.length < this.o.maxPendingTables)) this.freeze(lsn - 1, false);
    if (this.active.size === 0) this.activeFirstLsn = lsn;
    this.active.checkAndInsert(a, b, c, d, seenAtSec, nowSec);
    if (this.active.evictedBeforeSeconds > this.lostBeforeSec) this.noteLoss(this.active.evictedBeforeSeconds, nowSec);
    this.lastInsertedLsn = lsn;
    return false;
  }

  /**
   * Undo {@link checkAndInsert} for an id whose WAL record was never written (a failed group
   * commit was rolled back, docs/wal.md "A full disk"), so the client's retry is not taken for a
   * duplicate. Such an id is always in memory: a table is spilled to runs only after every LSN it
   * covers is durable. Returns false when the id was not found.
   */
  remove(a: number, b: number, c: number, d: number): boolean {
    if (this.active.remove(a, b, c, d)) return true;
    for (const f of this.frozen) if (f.table.remove(a, b, c, d)) return true;
    return false;
  }

  private inRuns(a: number, b: number, c: number, d: number, nowSec: number): boolean {
    const minSeen = nowSec - this.windowSec;
    const seq = nextLookupSeq();
    if (isUuidV7(b, c)) {
      const list = this.byIdSlice.get(Math.floor(uuidV7Millis(a, b) / this.o.sliceMillis));
      if (list)
        for (const r of list)
          if (r.summary.meta.maxSeenAtSec >= minSeen && runContains(r.file, r.summary, this.cache, a, b, c, d, seq)) return true;
      for (const r of this.fullV7Runs)
        if (r.summary.meta.maxSeenAtSec >= minSeen && runContains(r.file, r.summary, this.cache, a, b, c, d, seq)) return true;
      return false;
    }
    for (const r of this.fullRuns)
      if (r.summary.meta.maxSeenAtSec >= minSeen && runContains(r.file, r.summary, this.cache, a, b, c, d, seq)) return true;
    return false;
  }

  private noteLoss(beforeSec: number, nowSec: number): void {
    this.lostBeforeSec = Math.max(this.lostBeforeSec, beforeSec);
    const now = nowSec * 1000;
    if (this.o.onWindowShort && now - this.lastShortWarnAt >= 600_000) {
      this.lastShortWarnAt = now;
      this.o.onWindowShort(
        `dedupe window is ${this.effectiveWindowMillis(nowSec)} ms, shorter than the configured ${this.o.windowMillis} ms: ` +
          `the in-memory table (dedupeMaxIds ${this.o.maxIds}) had to evict ids because ${this.frozen.length} spill(s) to disk are pending` +
          (this.lastError ? ` (last error: ${this.lastError.message})` : ''),
      );
    }
  }

  /** Effective window in ms: the configured one, unless ids had to be evicted for space. */
  effectiveWindowMillis(nowSec: number): number {
    let lost = Math.max(this.lostBeforeSec, this.active.evictedBeforeSeconds);
    for (const f of this.frozen) lost = Math.max(lost, f.table.evictedBeforeSeconds);
    if (lost === 0) return this.windowSec * 1000;
    return Math.min(this.windowSec, Math.max(0, nowSec - lost)) * 1000;
  }

  /** Check the effective window now and warn (rate-limited) when it is short; used at start. */
  warnIfShort(nowSec: number): void {
    if (this.effectiveWindowMillis(nowSec) < this.windowSec * 1000) this.noteLoss(this.lostBeforeSec, nowSec);
  }

  private freeze(coveredLsn: number, durable: boolean): void {
    if (this.active.size === 0) return;
    const f: FrozenTable = { table: this.active, coveredLsn: Math.max(coveredLsn, 0), durable };
    this.frozen.push(f);
    this.active = this.newTable(f.table.capacity);
    this.activeFirstLsn = 0;
    if (!this.recovering) this.scheduleSpill();
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const p = this.chain.then(task);
    this.chain = p.then(
      () => {
        this.lastError = undefined;
      },
      (err: unknown) => {
        const e =
          err instanceof AuditError ? err : new AuditError('AUDIT_ERR_DEDUPE_IO', `dedupe runs: ${(err as Error).message}`, { cause: err });
        // Logged when the message changes: a job that keeps failing is retried every maintenance tick.
        if (this.lastError?.message !== e.message)
          this.log.warn({ err: e, code: e.code, dir: this.o.dir }, 'dedupe run job failed; retrying');
        this.lastError = e;
      },
    );
    return p;
  }

  private spillQueued = false;
  private scheduleSpill(): void {
    if (this.spillQueued) return;
    this.spillQueued = true;
    // enqueue() records (status lastError) and logs a failure; maintain() retries the spill.
    void this.enqueue(() => {
      this.spillQueued = false;
      return this.spillAll();
    }).catch(() => undefined);
  }

  /** Spill the frozen tables oldest first (the watermark must never pass an unwritten table). */
  private async spillAll(): Promise<void> {
    while (this.frozen.length > 0) await this.spill(this.frozen[0]!);
  }

  /** Write the oldest frozen table as runs, then replace it by them for lookups. */
  private async spill(f: FrozenTable): Promise<void> {
    if (!f.durable && this.o.waitDurable) {
      const err = await this.o.waitDurable(f.coveredLsn);
      if (err) throw err;
      f.durable = true;
    }
    const ids = f.table.snapshot();
    const created: Run[] = [];
    // A spill runs on the event loop beside ingest: its CPU work (sort, run encoding) is cut into
    // slices of about a millisecond or ten, with the loop free in between.
    await yieldToEventLoop();
    for (const g of await this.partition(ids)) {
      for (const _ of sortIdsInSteps(ids, g.order, SPILL_SLICE_IDS * 4)) await yieldToEventLoop();
      const writer = new RunWriter(g.meta, g.order.length, { pageBytes: this.o.pageBytes, bloomBitsPerId: this.o.bloomBitsPerId });
      for (let k = 0; k < g.order.length; k++) {
        const o = g.order[k]! * 5;
        writer.add(ids[o]!, ids[o + 1]!, ids[o + 2]!, ids[o + 3]!, ids[o + 4]!);
        if ((k + 1) % SPILL_SLICE_IDS === 0) await yieldToEventLoop();
      }
      created.push(await this.writeRun(writer));
    }
    await this.commit(created, [], Math.max(this.coveredLsn, f.coveredLsn));
    // Lookups switch from the frozen table to the runs in one synchronous step.
    for (const r of created) {
      this.addRun(r);
      this.scrubbed.add(r.name);
    }
    this.frozen = this.frozen.filter((x) => x !== f);
    if (f.table.evictedBeforeSeconds > this.lostBeforeSec) this.lostBeforeSec = f.table.evictedBeforeSeconds;
    // Legacy ids were all frozen by finishRecovery(); once no frozen table is left they are in runs.
    if (this.legacyChunks.length > 0 && !this.recovering && this.frozen.length === 0) {
      for (const file of this.legacyChunks) await fsp.rm(file, { force: true });
      this.legacyChunks = [];
    }
  }

  /**
   * Group a snapshot (5 words per id) by run (each group's `order` in snapshot order; {@link sortIds}
   * sorts it), letting the event loop run after every {@link SPILL_SLICE_IDS} × 4 ids.
   */
  private async partition(ids: Uint32Array): Promise<Array<{ meta: Omit<RunMeta, 'count'>; order: Uint32Array }>> {
    const n = ids.length / 5;
    const slice = this.o.sliceMillis;
    const groupOf = new Float64Array(n);
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const o = i * 5;
      const a = ids[o]!;
      const b = ids[o + 1]!;
      const c = ids[o + 2]!;
      const seenMs = ids[o + 4]! * 1000;
      const r = Math.floor(seenMs / slice);
      let key = -(2 * r + 1); // full-width run of receive slice r, not UUIDv7
      if (isUuidV7(b, c)) {
        const ms = uuidV7Millis(a, b);
        const s = Math.floor(ms / slice);
        if (
          ms >= seenMs - this.o.windowMillis - this.o.clockSkewMillis &&
          ms <= seenMs + this.o.clockSkewMillis &&
          Math.abs(s - r) < GROUP_SPAN
        ) {
          key = r * 2 * GROUP_SPAN + (s - r + GROUP_SPAN);
        } else key = -(2 * r + 2); // full-width run of UUIDv7 ids with an implausible time
      }
      groupOf[i] = key;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if ((i + 1) % (SPILL_SLICE_IDS * 4) === 0) await yieldToEventLoop();
    }
    const groups = new Map<number, { meta: Omit<RunMeta, 'count'>; order: Uint32Array; fill: number }>();
    for (const [key, count] of counts) {
      const full = key < 0;
      const r = full ? Math.floor((-key - 1) / 2) : Math.floor(key / (2 * GROUP_SPAN));
      const s = full ? (-key % 2 === 1 ? -1 : -2) : (key % (2 * GROUP_SPAN)) - GROUP_SPAN + r;
      groups.set(key, {
        meta: {
          kind: full ? RUN_KIND_FULL : RUN_KIND_V7,
          sliceMillis: slice,
          receiveSlice: r,
          idSlice: s,
          minSeenAtSec: 0,
          maxSeenAtSec: 0,
          coveredLsn: 0,
        },
        order: new Uint32Array(count),
        fill: 0,
      });
    }
    for (let i = 0; i < n; i++) {
      const g = groups.get(groupOf[i]!)!;
      g.order[g.fill++] = i;
      if ((i + 1) % (SPILL_SLICE_IDS * 4) === 0) await yieldToEventLoop();
    }
    const out: Array<{ meta: Omit<RunMeta, 'count'>; order: Uint32Array }> = [];
    for (const g of groups.values()) {
      g.meta.coveredLsn = 0;
      out.push({ meta: g.meta, order: g.order });
    }
    return out;
  }

  /** Write a finished run durably under a new name (not yet in the manifest). */
  private async writeRun(writer: RunWriter): Promise<Run> {
    const { chunks, summary } = writer.finish();
    const name = `run-${String(this.nextSeq++).padStart(12, '0')}.bin`;
    const file = path.join(this.o.dir, name);
    const tmp = `${file}.tmp-${process.pid}`;
    const fh = await fsp.open(tmp, 'w');
    let bytes = 0;
    try {
      await fh.writev(chunks);
      for (const ch of chunks) bytes += ch.length;
      const t0 = performance.now();
      await fh.sync();
      this.o.observer?.('file', performance.now() - t0);
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
    return { name, file, summary, bytes };
  }

  /** Make new runs durable in the directory and the manifest, dropping `removed` from it. */
  private async commit(created: Run[], removed: Run[], coveredLsn: number): Promise<void> {
    if (created.length > 0) await fsyncDir(this.o.dir, this.o.observer);
    const files = [...this.runs.keys()].filter((n) => !removed.some((r) => r.name === n));
    for (const r of created) files.push(r.name);
    let lost = Math.max(this.lostBeforeSec, this.active.evictedBeforeSeconds);
    for (const f of this.frozen) lost = Math.max(lost, f.table.evictedBeforeSeconds);
    const body = { version: 1, coveredLsn, nextSeq: this.nextSeq, files, ...(lost > 0 ? { lostBeforeSec: lost } : {}) };
    const text = JSON.stringify({ body, crc: crc32(JSON.stringify(body)) });
    const file = path.join(this.o.dir, MANIFEST);
    const tmp = `${file}.tmp-${process.pid}`;
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(text);
      const t0 = performance.now();
      await fh.sync();
      this.o.observer?.('file', performance.now() - t0);
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
    await fsyncDir(this.o.dir, this.o.observer);
    this.coveredLsn = coveredLsn;
  }

  private addRun(r: Run): void {
    this.runs.set(r.name, r);
    if (r.summary.meta.kind === RUN_KIND_V7) {
      const list = this.byIdSlice.get(r.summary.meta.idSlice) ?? [];
      list.push(r);
      this.byIdSlice.set(r.summary.meta.idSlice, list);
    } else if (r.summary.meta.idSlice === -2) this.fullV7Runs.push(r);
    else this.fullRuns.push(r);
  }

  private removeRun(r: Run): void {
    this.runs.delete(r.name);
    if (r.summary.meta.kind === RUN_KIND_V7) {
      const list = (this.byIdSlice.get(r.summary.meta.idSlice) ?? []).filter((x) => x !== r);
      if (list.length > 0) this.byIdSlice.set(r.summary.meta.idSlice, list);
      else this.byIdSlice.delete(r.summary.meta.idSlice);
    } else if (r.summary.meta.idSlice === -2) this.fullV7Runs = this.fullV7Runs.filter((x) => x !== r);
    else this.fullRuns = this.fullRuns.filter((x) => x !== r);
    this.cache.forget(r.file);
  }

  /**
   * Make sure every id of WAL records up to `last` is in a run before those records' segments are
   * deleted (called by the WAL's garbage collection; the signature matches the previous chunk
   * store). Spills the in-memory table when it holds ids at or below `last`.
   */
  async add(_first: number, last: number, _ids: readonly unknown[], _nowSec: number): Promise<void> {
    if (last <= this.coveredLsn) return;
    if (this.active.size > 0 && this.activeFirstLsn <= last) this.freeze(Math.max(this.lastInsertedLsn, last), false);
    await this.enqueue(() => this.spillAll());
    // No id of LSN ≤ last is left in memory (they were checkpoints, or the table holds later ones only).
    if (this.coveredLsn < last && this.frozen.length === 0 && (this.active.size === 0 || this.activeFirstLsn > last)) {
      await this.enqueue(() => this.commit([], [], Math.max(this.coveredLsn, last)));
    }
    if (this.coveredLsn < last) {
      throw (
        this.lastError ?? new AuditError('AUDIT_ERR_DEDUPE_IO', `dedupe runs cover LSN ${this.coveredLsn}, not ${last}: WAL segments kept`)
      );
    }
  }

  /** Drop runs that left the window and merge runs of a slice (runs in the background queue). */
  maintain(nowSec: number): Promise<void> {
    return this.enqueue(async () => {
      await this.spillAll(); // retries a spill that failed earlier
      await this.dropExpired(nowSec);
      await this.scrub();
      for (let i = 0; i < 4 && !this.closing; i++) if (!(await this.mergeOne(nowSec))) break;
    });
  }

  /**
   * Verify the checksums of up to `scrubPagesPerCall` pages of runs loaded from disk (async reads,
   * off the lookup path). A bad page is reported (status, `onCorrupt`) and stays unverified, so a
   * lookup that needs it fails with AUDIT_ERR_DEDUPE_CORRUPT rather than trusting it.
   */
  private async scrub(): Promise<void> {
    let budget = this.o.scrubPagesPerCall;
    for (const r of this.runs.values()) {
      if (budget <= 0) return;
      if (this.scrubbed.has(r.name)) continue;
      const s = r.summary;
      let fh: fsp.FileHandle;
      try {
        fh = await fsp.open(r.file, 'r');
      } catch (err) {
        // A merge may have replaced the run meanwhile (ENOENT): nothing to scrub. Anything else is reported.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err, file: r.file }, 'dedupe scrub cannot open a run');
        continue;
      }
      try {
        const buf = Buffer.allocUnsafe(s.pageBytes);
        let complete = true;
        for (let p = 0; p < s.pageCount; p++) {
          if ((s.verified[p >>> 3]! & (1 << (p & 7))) !== 0) continue;
          if (budget-- <= 0) {
            complete = false;
            break;
          }
          const { bytesRead } = await fh.read(buf, 0, s.pageBytes, pageOffset(s.pageBytes, p));
          if (bytesRead === s.pageBytes && pageChecksumOk(buf)) s.verified[p >>> 3]! |= 1 << (p & 7);
          else {
            complete = false;
            if (!this.corruptFound.some((e) => e.message.includes(`${r.file}: page ${p} `))) {
              const err = corrupt(`dedupe run ${r.file}`, `page ${p} checksum mismatch (found by the background scrub)`);
              this.corruptFound.push(err);
              this.o.onCorrupt?.(err);
            }
          }
        }
        if (complete) this.scrubbed.add(r.name);
      } finally {
        await fh.close();
      }
    }
  }

  /** Drop expired ids from the in-memory table (one pass). */
  expireMemory(nowSec: number): void {
    this.active.expire(nowSec);
  }

  private async dropExpired(nowSec: number): Promise<void> {
    const expired = [...this.runs.values()].filter((r) => r.summary.meta.maxSeenAtSec + this.windowSec < nowSec);
    if (expired.length === 0) return;
    // The manifest first: a crash before the unlink leaves an unlisted file, removed at open.
    await this.commit([], expired, this.coveredLsn);
    for (const r of expired) {
      this.removeRun(r);
      await fsp.rm(r.file, { force: true });
    }
  }

  /**
   * Merge the runs of one (receive slice, id slice) group: all of them once the receive slice is
   * over, else four runs of a similar size (size-tiered, so each id is rewritten about log4 times).
   */
  private async mergeOne(nowSec: number): Promise<boolean> {
    const groups = new Map<string, Run[]>();
    for (const r of this.runs.values()) {
      const m = r.summary.meta;
      const k = `${m.kind}:${m.receiveSlice}:${m.idSlice}`;
      const g = groups.get(k) ?? [];
      g.push(r);
      groups.set(k, g);
    }
    for (const g of groups.values()) {
      if (g.length < 2) continue;
      const m = g[0]!.summary.meta;
      const closed = (m.receiveSlice + 1) * m.sliceMillis + this.o.sliceMillis <= nowSec * 1000;
      let pick: Run[] | undefined;
      if (closed) pick = g;
      else {
        const tiers = new Map<number, Run[]>();
        for (const r of g) {
          const t = Math.floor(Math.log(Math.max(1, r.summary.meta.count)) / Math.log(4));
          tiers.set(t, [...(tiers.get(t) ?? []), r]);
        }
        for (const t of tiers.values()) if (t.length >= 4) pick = t;
      }
      if (!pick) continue;
      await this.merge(pick);
      return true;
    }
    return false;
  }

  /** Streaming k-way merge of runs of one group into one run. */
  private async merge(inputs: Run[]): Promise<void> {
    const m0 = inputs[0]!.summary.meta;
    let total = 0;
    let minSeen = Infinity;
    let maxSeen = 0;
    let covered = 0;
    for (const r of inputs) {
      total += r.summary.meta.count;
      minSeen = Math.min(minSeen, r.summary.meta.minSeenAtSec);
      maxSeen = Math.max(maxSeen, r.summary.meta.maxSeenAtSec);
      covered = Math.max(covered, r.summary.meta.coveredLsn);
    }
    const writer = new RunWriter({ ...m0, minSeenAtSec: minSeen, maxSeenAtSec: maxSeen, coveredLsn: covered }, total, {
      pageBytes: this.o.pageBytes,
      bloomBitsPerId: this.o.bloomBitsPerId,
    });
    const its = inputs.map((r) => new RunIterator(r.file, r.summary));
    const name = `run-${String(this.nextSeq++).padStart(12, '0')}.bin`;
    const file = path.join(this.o.dir, name);
    const tmp = `${file}.tmp-${process.pid}`;
    const fd = fs.openSync(tmp, 'w');
    let bytes = 0;
    try {
      const live = its.filter((it) => it.next());
      let n = 0;
      while (live.length > 0) {
        let best = 0;
        for (let i = 1; i < live.length; i++) {
          const x = live[i]!.cur;
          const y = live[best]!.cur;
          if (compareIds(x[0]!, x[1]!, x[2]!, x[3]!, y[0]!, y[1]!, y[2]!, y[3]!) < 0) best = i;
        }
        const c = live[best]!.cur;
        writer.add(c[0]!, c[1]!, c[2]!, c[3]!, maxSeen);
        if (!live[best]!.next()) live.splice(best, 1);
        if (++n % 65536 === 0) {
          for (const ch of writer.takeChunks()) {
            fs.writeSync(fd, ch);
            bytes += ch.length;
          }
          await new Promise((r) => setImmediate(r)); // let ingest run between slices of the merge
          if (this.closing) throw new AuditError('AUDIT_ERR_SHUTDOWN', 'dedupe run merge interrupted by shutdown (the inputs are kept)');
        }
      }
      writer.widenSeen(minSeen, maxSeen);
      const { chunks, summary } = writer.finish();
      for (const ch of chunks) {
        fs.writeSync(fd, ch);
        bytes += ch.length;
      }
      const t0 = performance.now();
      // On the thread pool: an fsync of a merged run (megabytes) blocked the event loop for as long.
      await new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
      this.o.observer?.('file', performance.now() - t0);
      fs.closeSync(fd);
      await fsp.rename(tmp, file);
      const out: Run = { name, file, summary, bytes };
      await this.commit([out], inputs, this.coveredLsn);
      this.addRun(out);
      this.scrubbed.add(out.name);
      for (const r of inputs) {
        this.removeRun(r);
        await fsp.rm(r.file, { force: true });
      }
    } catch (err) {
      try {
        fs.closeSync(fd);
      } catch {
        // EBADF: closed above before the failure (rename or commit); the failure being thrown is the one to report.
      }
      await fsp.rm(tmp, { force: true });
      throw err;
    } finally {
      for (const it of its) it.close();
    }
  }

  /** Resolves when the spills, merges and expiries queued so far are done (failed ones show in status). */
  async idle(): Promise<void> {
    await this.chain;
  }

  /** Stop merging (a running merge stops at its next yield; its inputs stay): shutdown must not wait for one. */
  stopBackgroundWork(): void {
    this.closing = true;
  }

  /** Wait for pending spills (a running merge is abandoned; its inputs stay), then close files. Idempotent. */
  async close(): Promise<void> {
    this.closing = true;
    await this.chain;
    this.cache.close();
  }

  /** Memory, disk and window figures for status and metrics. */
  status(nowSec: number): DedupeWindowStatus {
    let runIds = 0;
    let disk = 0;
    let summary = 0;
    let fenceBytes = 0;
    let bloomBytes = 0;
    for (const r of this.runs.values()) {
      runIds += r.summary.meta.count;
      disk += r.bytes;
      fenceBytes += r.summary.fences.byteLength;
      bloomBytes += r.summary.bloom.byteLength;
      // Fences, Bloom words, verified bits, and ~300 bytes of objects per run.
      summary += r.summary.fences.byteLength + r.summary.bloom.byteLength + r.summary.verified.byteLength + 300;
    }
    return {
      memoryIds: this.size,
      memoryTableBytes: this.bytes,
      pendingTables: this.frozen.length,
      runFiles: this.runs.size,
      runIds,
      runDiskBytes: disk,
      summaryBytes: summary,
      fenceBytes,
      bloomBytes,
      diskBytesPerRunId: runIds > 0 ? disk / runIds : 0,
      summaryBytesPerRunId: runIds > 0 ? summary / runIds : 0,
      coveredLsn: this.coveredLsn,
      pageReads: this.cache.reads,
      windowMillis: this.o.windowMillis,
      effectiveWindowMillis: this.effectiveWindowMillis(nowSec),
      ...(this.lastError ? { lastError: { code: this.lastError.code, message: this.lastError.message } } : {}),
      corrupt: this.corruptFound.map((e) => e.message),
    };
  }
}

/** Most slots a table made after a freeze starts with (20 bytes each: 20 MiB). */
const NEW_TABLE_MAX_SLOTS = 1 << 20;

/** Ids a spill encodes into a run between two turns of the event loop. */
const SPILL_SLICE_IDS = 32_768;

/** Below this many ids a comparison sort is cheaper than eight counting passes over 65,536 buckets. */
const RADIX_SORT_MIN_IDS = 512;

/**
 * Sort `order` (indices into 5-word ids) by id, in {@link compareIds} order (unsigned,
 * lexicographic), stably. An LSD radix sort over the id's eight 16-bit digits: O(n) whatever the ids
 * have in common, and a pass whose digit is the same for every id is skipped. A comparison sort
 * keyed on the ids' leading bits, which this replaces, fell back to comparing whole ids for ids
 * minted in the same millisecond or sharing a long prefix (a producer's counter in the low bits):
 * 281 ms for 300,000 such ids against 22 ms now (docs/performance.md).
 */
export function sortIds(ids: Uint32Array, order: Uint32Array): void {
  for (const _ of sortIdsInSteps(ids, order, Number.POSITIVE_INFINITY));
}

/**
 * {@link sortIds} cut into steps: the generator pauses after about every `stepIds` ids visited, so a
 * caller on the event loop can let other work run in between. `order` is sorted when it is done.
 */
export function* sortIdsInSteps(ids: Uint32Array, order: Uint32Array, stepIds: number): Generator<void, void, void> {
  const n = order.length;
  if (n < 2) return;
  if (n < RADIX_SORT_MIN_IDS) {
    const cmp = (x: number, y: number) =>
      compareIds(
        ids[x * 5]!,
        ids[x * 5 + 1]!,
        ids[x * 5 + 2]!,
        ids[x * 5 + 3]!,
        ids[y * 5]!,
        ids[y * 5 + 1]!,
        ids[y * 5 + 2]!,
        ids[y * 5 + 3]!,
      );
    order.set(Array.from(order).sort(cmp));
    return;
  }
  let src: Uint32Array = order;
  let dst: Uint32Array = new Uint32Array(n);
  const counts = new Uint32Array(0x10000);
  const step = Math.max(1, Math.min(n, stepIds));
  // Least significant digit first: the low half of word 3 (d) up to the high half of word 0 (a).
  for (let pass = 0; pass < 8; pass++) {
    const word = 3 - (pass >> 1);
    const shift = (pass & 1) * 16;
    counts.fill(0);
    for (let from = 0; from < n; from += step) {
      const to = Math.min(n, from + step);
      for (let j = from; j < to; j++) counts[(ids[src[j]! * 5 + word]! >>> shift) & 0xffff]!++;
      if (to < n) yield;
    }
    if (counts[(ids[src[0]! * 5 + word]! >>> shift) & 0xffff] === n) continue; // one digit value: order unchanged
    let sum = 0;
    for (let k = 0; k < 0x10000; k++) {
      const c = counts[k]!;
      counts[k] = sum;
      sum += c;
    }
    for (let from = 0; from < n; from += step) {
      const to = Math.min(n, from + step);
      for (let j = from; j < to; j++) {
        const i = src[j]!;
        dst[counts[(ids[i * 5 + word]! >>> shift) & 0xffff]!++] = i;
      }
      if (to < n) yield;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== order) order.set(src);
}
