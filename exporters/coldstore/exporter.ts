/**
 * The cold-storage exporter. Durability contract with the exporter runner:
 *
 *   export(batch) → rows appended to a local staging file per (tenant, event hour, chain) and
 *   fsync'd, chain watermarks saved → `success` (the runner may advance its WAL cursor).
 *
 * Uploading is decoupled: a segment is sealed (atomic rename into `sealed/`) once it reaches
 * `maxObjectBytes` or `maxObjectAgeMillis`, and a background uploader turns each sealed file into
 * one object + manifest, then deletes it. A crash anywhere re-uploads the same sealed file under
 * the same key (keys and bytes are a function of the rows). A re-exported range after a crash
 * between staging and the cursor save is dropped by the per-chain watermark (seq ≤ watermark) and,
 * should the watermark lag, by seq de-duplication when a segment is built. While the store is
 * down, staging grows up to `maxStagingBytes`; past it export() answers `retryable`, so the WAL
 * holds the rest and back-pressure applies at its bound. See docs/coldstore.md.
 */
import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditError, type Logger, silentLogger } from '@otel-audit/core';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';
import type { AuditExporter, ExportResult, WalEntry } from '../../receiver/contracts.ts';
import type { ExporterCapabilities, PayloadBatch } from '../../receiver/exporting/runner.ts';
import { payloadBuffer, payloadRow, payloadStart } from '../../receiver/wal/packed-payloads.ts';
import { checkpointKeys } from './checkpoints.ts';
import { type ColdStoreConfig, type ColdStoreConfigInput, localArchiveDir, parseColdStoreConfig } from './config.ts';
import { escapeKeySegment, manifestKey } from './keys.ts';
import { applyRetention, type RetentionReport } from './retention.ts';
import {
  createObjectBuilder,
  eventHour,
  type ParquetEngine,
  STAGED_ROW_SEPARATOR,
  stagedChainSeq,
  stagedLineJson,
  stageLine,
} from './sealed-build.ts';
import { fsyncDir, LocalDirectoryStore, type ObjectStore, S3ObjectStore, sha256Hex, writeFileAtomic } from './store.ts';
import { walEventRouting } from './wal-routing.ts';

/** Status of the exporter, for `/v1/audit/status` and tests. */
export interface ColdStoreStatus {
  openSegments: number;
  sealedSegments: number;
  stagedBytes: number;
  uploadedObjects: number;
  uploadedRows: number;
  /** Last upload error (cleared by the next successful upload). */
  lastError: AuditError | undefined;
}

/**
 * The cold-storage exporter: an {@link AuditExporter} plus flush and status. It also takes batches
 * as the WAL payloads (`exportPayloads`), which it stages as they are instead of serializing each
 * entry again.
 */
export interface ColdStoreExporter extends AuditExporter, ExporterCapabilities {
  exportPayloads(batch: PayloadBatch): Promise<ExportResult>;
  readonly batching: { maxEntries: number; maxBytes: number; maxDelayMillis: number };
  /** Seal every open segment and upload everything staged. Resolves when staging is empty or an upload failed. */
  flush(): Promise<ExportResult>;
  /** Seal every open segment (no upload). */
  sealAll(): Promise<void>;
  /** Upload every sealed segment once (no waiting for backoff). */
  uploadSealed(): Promise<ExportResult>;
  /** Run local-archive retention now (no-op for S3 or `retentionDays: 0`). */
  applyRetention(now?: Date): Promise<RetentionReport>;
  status(): ColdStoreStatus;
  /** The validated configuration. */
  readonly config: ColdStoreConfig;
  /** The object store objects are written to. */
  readonly store: ObjectStore;
}

/** Options beyond the config (injection points). */
export interface ColdStoreExporterOptions {
  /** Use this store instead of building one from the config (tests, custom stores). */
  store?: ObjectStore;
  /** Exporter/cursor name (default `coldstore`). */
  name?: string;
  /** Encode objects in the calling thread instead of a worker thread (default false). */
  buildInline?: boolean;
  /**
   * The embedded ClickHouse engine's Parquet writer (`chdbParquetEngine` over the receiver's shared
   * chDB handle: one engine per process). Used when `parquetEncoder` is `auto` or `engine`.
   */
  parquetEngine?: ParquetEngine;
  /** Called with a message for every upload failure and recovery (default: none). */
  onEvent?: (event: { type: 'uploaded' | 'upload-failed' | 'retention'; message: string }) => void;
  /** Where background failures (timer sealing, retention, staging cleanup) are logged. Default: silent. */
  logger?: Logger;
}

interface OpenSegment {
  id: string;
  path: string;
  handle: FileHandle;
  bytes: number;
  firstStagedAt: number;
}

/**
 * One exported WAL entry as staging sees it: an event with its routing fields and the JSON line
 * that is staged (its UTF-8 bytes, without the newline), or a checkpoint.
 */
type StageItem =
  | { kind: 'event'; chainId: string; tenantId: string; seq: number; occurredAt: string; line: Uint8Array }
  | { kind: 'checkpoint'; chainId: string; tenantId: string; checkpoint: CheckpointRecord };

/** The stage item of a parsed entry (`line`: its WAL bytes when known); undefined for other kinds. */
function stageItem(entry: WalEntry, line?: Uint8Array): StageItem | undefined {
  if (entry.kind === 'checkpoint') {
    return { kind: 'checkpoint', chainId: entry.chainId, tenantId: entry.tenantId, checkpoint: entry.checkpoint };
  }
  if (entry.kind !== 'event') return undefined;
  return {
    kind: 'event',
    chainId: entry.chainId,
    tenantId: entry.tenantId,
    seq: entry.seq,
    occurredAt: entry.event.occurredAt,
    // bigint/bytes can only appear in entries handed over in memory, which stageLine renders.
    line: line ?? Buffer.from(stageLine(entry), 'utf8'),
  };
}

/**
 * A staged line that carries the entry's storage row: `<JSON>\t<base64 of the row>` (see
 * `STAGED_ROW_SEPARATOR`), so the builder copies the row instead of parsing and mapping the JSON.
 */
function lineWithRow(json: Uint8Array, row: Uint8Array): Buffer {
  const b64 = Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('base64');
  const out = Buffer.allocUnsafe(json.length + 1 + b64.length);
  out.set(json, 0);
  out[json.length] = STAGED_ROW_SEPARATOR;
  out.write(b64, json.length + 1, 'latin1');
  return out;
}

/** A UTC RFC 3339 time whose date and hour can be read off the text (the normalized form). */
const UTC_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** `<date>+<hour>` of an event time: read off a UTC time, else computed (any offset). */
function hourOf(occurredAt: string): string {
  if (UTC_TIME.test(occurredAt)) return `${occurredAt.slice(0, 10)}+${occurredAt.slice(11, 13)}`;
  const { date, hour } = eventHour(occurredAt);
  return `${date}+${hour}`;
}

/** Escaped key segments of recent tenant and chain ids (few distinct values, one per event). */
const keySegments = new Map<string, string>();

/** {@link escapeKeySegment}, remembered for up to 4,096 distinct ids. */
function keySegment(id: string): string {
  let escaped = keySegments.get(id);
  if (escaped === undefined) {
    escaped = escapeKeySegment(id);
    if (keySegments.size >= 4096) keySegments.clear();
    keySegments.set(id, escaped);
  }
  return escaped;
}

const STATE_FILE = 'state.json';
/** Checkpoints staged but not yet written, and the last tree size written per chain. */
const CHECKPOINTS_FILE = 'checkpoints.json';

/**
 * A signed checkpoint waiting for the objects it covers. `waitFor` names the staging segments that
 * held rows of its chain when it arrived: `open:<segment id>` (becomes `sealed:<file>` when sealed)
 * and `sealed:<file>`; it is written once none of them is left in staging (all uploaded).
 */
interface PendingCheckpoint {
  tenantId: string;
  record: CheckpointRecord;
  waitFor: string[];
}
const MAX_BACKOFF_MS = 30_000;

/** Build the object store a configuration names. */
export function createColdStore(config: ColdStoreConfig): ObjectStore {
  if (config.backend.type === 's3') return new S3ObjectStore(config.backend);
  return new LocalDirectoryStore(localArchiveDir(config)!, config.backend.prefix);
}

/**
 * Create the cold-storage exporter (name `coldstore`).
 *
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming the offending key.
 */
export function createColdStoreExporter(
  configInput: ColdStoreConfigInput | ColdStoreConfig,
  options: ColdStoreExporterOptions = {},
): ColdStoreExporter {
  const config = parseColdStoreConfig(configInput);
  const store = options.store ?? createColdStore(config);
  const name = options.name ?? 'coldstore';
  const stagingDir = join(config.dataDir, 'coldstore-staging', name);
  const openDir = join(stagingDir, 'open');
  const sealedDir = join(stagingDir, 'sealed');
  const emit = options.onEvent ?? (() => {});
  const log = options.logger ?? silentLogger;
  if (config.parquetEncoder === 'engine' && options.parquetEngine === undefined) {
    throw new AuditError(
      'AUDIT_ERR_INVALID_CONFIG',
      'exporters.coldstore.parquetEncoder: "engine" needs the embedded ClickHouse engine (exporters.clickhouse enabled, without url)',
      {
        details: { path: 'exporters.coldstore.parquetEncoder' },
      },
    );
  }
  const engine = config.parquetEncoder === 'js' ? undefined : options.parquetEngine;
  const rowsWanted = engine !== undefined && config.format === 'parquet';
  const builder = createObjectBuilder({
    inline: options.buildInline,
    heap: config.buildWorkerHeap,
    ...(engine === undefined ? {} : { engine, scratchDir: join(stagingDir, 'encode') }),
  });

  const open_ = new Map<string, OpenSegment>();
  let watermarks: Record<string, number> = {};
  let pendingCheckpoints: PendingCheckpoint[] = [];
  let writtenCheckpoints: Record<string, number> = {};
  let checkpointSave: Promise<void> = Promise.resolve();
  let sealedCount = 0;
  let sealedBytes = 0;
  let sealCounter = 0;
  let started = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let retentionTimer: NodeJS.Timeout | undefined;
  let uploading: Promise<ExportResult> | undefined;
  let backoffMs = config.uploadRetryMillis;
  let retryAt = 0;
  let lastError: AuditError | undefined;
  let permanentError: AuditError | undefined;
  let uploadedObjects = 0;
  let uploadedRows = 0;
  // One mutation of staging at a time (export, timer sealing, flush).
  let lock: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = lock.then(fn, fn);
    // The caller gets the rejection; the chain only needs to go on after it.
    lock = run.catch(() => {});
    return run;
  };

  const stagedBytes = (): number => sealedBytes + [...open_.values()].reduce((s, o) => s + o.bytes, 0);

  async function saveState(next: Record<string, number>): Promise<void> {
    await writeFileAtomic(join(stagingDir, STATE_FILE), Buffer.from(JSON.stringify({ version: 1, watermarks: next })));
  }

  /** Persist the checkpoint state; saves run one after the other, each writing the latest state. */
  function saveCheckpoints(): Promise<void> {
    const run = checkpointSave.then(() =>
      writeFileAtomic(
        join(stagingDir, CHECKPOINTS_FILE),
        Buffer.from(JSON.stringify({ version: 1, pending: pendingCheckpoints, written: writtenCheckpoints })),
      ),
    );
    // The caller gets the rejection (its export answers retryable); the next save writes the latest state.
    checkpointSave = run.catch(() => {});
    return run;
  }

  /** Tenant and chain segments of a staging segment id `<tenant>+<date>+<hour>+<chain>` (escaped, so no `+` inside). */
  function segmentChain(id: string): string {
    const parts = id.split('+');
    return `${parts[0]}+${parts[3]}`;
  }

  /** Write every pending checkpoint whose objects are all uploaded (record, then its note). */
  async function writeReadyCheckpoints(): Promise<ExportResult> {
    if (pendingCheckpoints.length === 0) return { status: 'success' };
    const sealedNow = new Set((await readdir(sealedDir)).filter((f) => f.endsWith('.ndjson')));
    for (const p of [...pendingCheckpoints]) {
      const ready = p.waitFor.every((w) => w.startsWith('sealed:') && !sealedNow.has(w.slice('sealed:'.length)));
      if (!ready) continue;
      const keys = checkpointKeys(store.prefix, p.tenantId, p.record.chainId, p.record.treeSize);
      const json = Buffer.from(`${JSON.stringify(p.record)}\n`);
      const put = await store.put(keys.record, json, sha256Hex(json));
      if (put.status !== 'success') return put;
      const note = Buffer.from(p.record.note);
      const putNote = await store.put(keys.note, note, sha256Hex(note));
      if (putNote.status !== 'success') return putNote;
      pendingCheckpoints = pendingCheckpoints.filter((x) => x !== p);
      writtenCheckpoints[p.record.chainId] = Math.max(writtenCheckpoints[p.record.chainId] ?? 0, p.record.treeSize);
      await saveCheckpoints();
      emit({ type: 'uploaded', message: `wrote checkpoint ${keys.record}` });
    }
    return { status: 'success' };
  }

  async function openSegment(id: string, firstStagedAt: number): Promise<OpenSegment> {
    const path = join(openDir, `${id}.ndjson`);
    const handle = await open(path, 'a');
    const size = (await handle.stat()).size;
    const seg = { id, path, handle, bytes: size, firstStagedAt };
    open_.set(id, seg);
    return seg;
  }

  /** Atomically move an open segment to sealed/ (its content is final from here on). */
  async function seal(seg: OpenSegment): Promise<void> {
    await seg.handle.close();
    const target = join(sealedDir, `${seg.id}+${Date.now()}-${process.pid}-${sealCounter++}.ndjson`);
    await rename(seg.path, target);
    // Counted as sealed in the same step as it stops counting as open: `stagedBytes` (status,
    // back-pressure) never dips to 0 while the rename is being made durable. Callers hold
    // `exclusive`, so nothing appends to the segment meanwhile.
    sealedCount++;
    sealedBytes += seg.bytes;
    open_.delete(seg.id);
    await fsyncDir(sealedDir);
    await fsyncDir(openDir);
    const sealedName = `sealed:${target.slice(sealedDir.length + 1)}`;
    let changed = false;
    for (const p of pendingCheckpoints) {
      const i = p.waitFor.indexOf(`open:${seg.id}`);
      if (i >= 0) {
        p.waitFor[i] = sealedName;
        changed = true;
      }
    }
    if (changed) await saveCheckpoints();
  }

  async function recover(): Promise<void> {
    await mkdir(openDir, { recursive: true });
    await mkdir(sealedDir, { recursive: true });
    try {
      const state = JSON.parse(await readFile(join(stagingDir, STATE_FILE), 'utf8')) as { watermarks?: Record<string, number> };
      watermarks = { ...(state.watermarks ?? {}) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new AuditError('AUDIT_ERR_WAL_IO', `cold-storage staging state unreadable: ${(err as Error).message}`, { cause: err });
    }
    for (const file of (await readdir(openDir)).filter((f) => f.endsWith('.ndjson'))) {
      const path = join(openDir, file);
      const text = await readFile(path, 'utf8');
      // A crash mid-append leaves a torn last line: cut it (its batch was never acknowledged).
      const end = text.lastIndexOf('\n') + 1;
      if (end < text.length) await truncate(path, Buffer.byteLength(text.slice(0, end)));
      for (const line of text.slice(0, end).split('\n')) {
        if (line === '') continue;
        const { chainId, seq } = stagedChainSeq(JSON.parse(stagedLineJson(line)));
        if ((watermarks[chainId] ?? 0) < seq) watermarks[chainId] = seq;
      }
      const info = await stat(path);
      await openSegment(file.slice(0, -'.ndjson'.length), info.mtimeMs);
    }
    const sealedFiles: string[] = [];
    for (const file of await readdir(sealedDir)) {
      if (!file.endsWith('.ndjson')) continue;
      sealedFiles.push(file);
      sealedCount++;
      sealedBytes += (await stat(join(sealedDir, file))).size;
    }
    try {
      const saved = JSON.parse(await readFile(join(stagingDir, CHECKPOINTS_FILE), 'utf8')) as {
        pending?: PendingCheckpoint[];
        written?: Record<string, number>;
      };
      pendingCheckpoints = saved.pending ?? [];
      writtenCheckpoints = { ...(saved.written ?? {}) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new AuditError('AUDIT_ERR_WAL_IO', `cold-storage checkpoint state unreadable: ${(err as Error).message}`, { cause: err });
    }
    // A segment sealed after the last save of the checkpoint state (crash in between): wait for
    // every sealed file of that segment id instead.
    for (const p of pendingCheckpoints) {
      p.waitFor = p.waitFor.flatMap((w) => {
        if (!w.startsWith('open:')) return [w];
        const id = w.slice('open:'.length);
        if (open_.has(id)) return [w];
        return sealedFiles.filter((f) => f.startsWith(`${id}+`)).map((f) => `sealed:${f}`);
      });
    }
  }

  function exportError(
    code: 'AUDIT_ERR_EXPORT_FAILED' | 'AUDIT_ERR_BACKPRESSURE' | 'AUDIT_ERR_SHUTDOWN' | 'AUDIT_ERR_WAL_IO',
    message: string,
    cause?: unknown,
  ): AuditError {
    return new AuditError(code, message, { retryable: true, cause });
  }

  async function stage(items: readonly StageItem[]): Promise<ExportResult> {
    const next = { ...watermarks };
    const lines = new Map<string, { rows: Uint8Array[]; bytes: number; firstStagedAt: number }>();
    const checkpoints: Array<{ tenantId: string; record: CheckpointRecord }> = [];
    for (const item of items) {
      if (item.kind === 'checkpoint') {
        const done = writtenCheckpoints[item.chainId] ?? 0;
        const known = pendingCheckpoints.some((p) => p.record.chainId === item.chainId && p.record.treeSize === item.checkpoint.treeSize);
        if (item.checkpoint.treeSize > done && !known) checkpoints.push({ tenantId: item.tenantId, record: item.checkpoint });
        continue;
      }
      if (item.seq <= (next[item.chainId] ?? 0)) continue; // already staged or uploaded
      // The WAL entry itself is staged (half the bytes of its row, a fifth of the CPU); the row
      // mapping runs in the builder thread.
      const id = `${keySegment(item.tenantId)}+${hourOf(item.occurredAt)}+${keySegment(item.chainId)}`;
      let group = lines.get(id);
      if (!group) lines.set(id, (group = { rows: [], bytes: 0, firstStagedAt: Date.now() }));
      group.rows.push(item.line);
      group.bytes += item.line.length + 1;
      next[item.chainId] = item.seq;
    }
    const touched: Array<{ seg: OpenSegment; before: number }> = [];
    try {
      for (const [id, group] of lines) {
        const seg = open_.get(id) ?? (await openSegment(id, group.firstStagedAt));
        touched.push({ seg, before: seg.bytes });
        // One write of the group's lines (copied out of the batch, each followed by a newline).
        const text = Buffer.allocUnsafe(group.bytes);
        let at = 0;
        for (const row of group.rows) {
          text.set(row, at);
          at += row.length;
          text[at++] = 0x0a;
        }
        await seg.handle.appendFile(text);
        await seg.handle.sync();
        seg.bytes += text.length;
      }
      if (lines.size > 0) {
        // The directory entry of a new segment file must survive a power loss too.
        await fsyncDir(openDir);
        await saveState(next);
      }
      if (checkpoints.length > 0) {
        // A checkpoint follows its entries in the WAL, so they are staged by now: it waits for the
        // segments holding its chain's rows, then is written beside the uploaded objects.
        const sealedFiles = (await readdir(sealedDir)).filter((f) => f.endsWith('.ndjson'));
        for (const { tenantId, record } of checkpoints) {
          const chain = `${escapeKeySegment(tenantId)}+${escapeKeySegment(record.chainId)}`;
          const waitFor = [
            ...[...open_.keys()].filter((id) => segmentChain(id) === chain).map((id) => `open:${id}`),
            ...sealedFiles.filter((f) => segmentChain(f) === chain).map((f) => `sealed:${f}`),
          ];
          pendingCheckpoints.push({ tenantId, record, waitFor });
        }
        await saveCheckpoints();
      }
    } catch (err) {
      // Cut a half-written append (disk full) so the next append starts on a line boundary; rows
      // fully staged stay and the runner's re-sent batch is absorbed by the seq de-duplication.
      for (const { seg, before } of touched) {
        await seg.handle
          .truncate(before)
          .catch((e: unknown) => log.warn({ err: e, file: seg.path, size: before }, 'cannot cut a half-written staging append'));
        seg.bytes = before;
      }
      return {
        status: 'retryable',
        error: exportError('AUDIT_ERR_WAL_IO', `cannot stage cold-storage rows in ${stagingDir}: ${(err as Error).message}`, err),
        retryAfterMillis: 1000,
      };
    }
    watermarks = next;
    for (const id of lines.keys()) {
      const seg = open_.get(id);
      if (seg && seg.bytes >= config.maxObjectBytes) await seal(seg);
    }
    return { status: 'success' };
  }

  async function uploadOne(file: string): Promise<ExportResult> {
    const path = join(sealedDir, file);
    const size = (await stat(path)).size;
    const built = await builder.build({ path, prefix: store.prefix, format: config.format, zstdLevel: config.zstdLevel });
    if (built) {
      // Data first, manifest second: a manifest always describes an object that is fully there.
      const put = await store.put(built.key, built.bytes, built.sha256);
      if (put.status !== 'success') return put;
      const putManifest = await store.put(manifestKey(built.key), built.manifestBytes, sha256Hex(built.manifestBytes));
      if (putManifest.status !== 'success') return putManifest;
      uploadedObjects++;
      uploadedRows += built.rowCount;
      emit({ type: 'uploaded', message: `uploaded ${built.key} (${built.rowCount} rows, ${built.bytes.length} bytes)` });
    }
    await unlink(path);
    await fsyncDir(sealedDir);
    sealedCount--;
    sealedBytes -= size;
    return { status: 'success' };
  }

  async function uploadAll(): Promise<ExportResult> {
    const files = (await readdir(sealedDir)).filter((f) => f.endsWith('.ndjson')).sort();
    for (const file of files) {
      let result: ExportResult;
      try {
        result = await uploadOne(file);
      } catch (err) {
        result = {
          status: 'retryable',
          error: new AuditError('AUDIT_ERR_EXPORT_FAILED', `cold-storage upload of ${file} failed: ${(err as Error).message}`, {
            cause: err,
            retryable: true,
          }),
        };
      }
      if (result.status !== 'success') {
        lastError = result.error;
        if (result.status === 'failure') permanentError = result.error;
        retryAt = Date.now() + backoffMs;
        backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
        emit({ type: 'upload-failed', message: result.error.message });
        return result;
      }
      lastError = undefined;
      permanentError = undefined;
      backoffMs = config.uploadRetryMillis;
      retryAt = 0;
    }
    return writeCheckpointsNow();
  }

  /** Write the checkpoints whose objects are uploaded; a failure counts as an upload failure. */
  async function writeCheckpointsNow(): Promise<ExportResult> {
    let result: ExportResult;
    try {
      result = await writeReadyCheckpoints();
    } catch (err) {
      result = {
        status: 'retryable',
        error: new AuditError('AUDIT_ERR_EXPORT_FAILED', `cold-storage checkpoint write failed: ${(err as Error).message}`, {
          cause: err,
          retryable: true,
        }),
      };
    }
    if (result.status !== 'success') {
      lastError = result.error;
      retryAt = Date.now() + backoffMs;
      emit({ type: 'upload-failed', message: result.error.message });
    }
    return result;
  }

  /** Start an upload pass unless one is running; resolves with its outcome. */
  function kickUpload(force = false): Promise<ExportResult> {
    if (uploading) return uploading;
    if (stopped && !force) return Promise.resolve({ status: 'success' });
    if (!force && sealedCount === 0 && pendingCheckpoints.length > 0 && Date.now() >= retryAt) return writeCheckpointsNow();
    if (!force && (sealedCount === 0 || Date.now() < retryAt)) return Promise.resolve({ status: 'success' });
    uploading = uploadAll().finally(() => {
      uploading = undefined;
    });
    return uploading;
  }

  async function tick(): Promise<void> {
    const now = Date.now();
    await exclusive(async () => {
      for (const seg of [...open_.values()]) if (now - seg.firstStagedAt >= config.maxObjectAgeMillis) await seal(seg);
    });
    await kickUpload();
  }

  /** Stage a parsed batch; `payloads` (the WAL text of each entry, when the runner gave it) are staged as they are. */
  async function exportItems(items: readonly StageItem[]): Promise<ExportResult> {
    if (stopped || !started)
      return {
        status: 'retryable',
        error: exportError('AUDIT_ERR_SHUTDOWN', 'cold-storage exporter is not running'),
        retryAfterMillis: 1000,
      };
    if (permanentError && stagedBytes() > 0) {
      // Uploads are refused for good (credentials, bucket): say so instead of filling the disk.
      return {
        status: 'failure',
        error: new AuditError('AUDIT_ERR_EXPORT_FAILED', `cold storage refuses uploads: ${permanentError.message}`, {
          cause: permanentError,
        }),
      };
    }
    if (stagedBytes() >= config.maxStagingBytes) {
      void kickUpload();
      return {
        status: 'retryable',
        error: exportError(
          'AUDIT_ERR_BACKPRESSURE',
          `cold-storage staging is full (${stagedBytes()} bytes); waiting for uploads to ${store.location}${lastError ? `: ${lastError.message}` : ''}`,
        ),
        retryAfterMillis: Math.max(500, retryAt - Date.now()),
      };
    }
    const result = await exclusive(() => stage(items));
    if (sealedCount > 0) void kickUpload();
    return result;
  }

  async function runRetention(now = new Date()): Promise<RetentionReport> {
    if (!(store instanceof LocalDirectoryStore) || config.retentionDays === 0) return { removedPartitions: [], keptPartitions: 0 };
    const report = await applyRetention(store, config.retentionDays, now);
    if (report.removedPartitions.length > 0)
      emit({ type: 'retention', message: `removed ${report.removedPartitions.length} expired partitions` });
    return report;
  }

  return {
    name,
    config,
    store,
    batching: { maxEntries: config.maxBatchRows, maxBytes: config.maxBatchBytes, maxDelayMillis: config.maxBatchAgeMillis },
    // Only the engine's Parquet build reads storage rows (sealed-build.ts prepareNativeBuild).
    storageRows: rowsWanted,
    async start() {
      if (started) return;
      started = true;
      await recover();
      const every = Math.max(10, Math.min(1000, Math.floor(config.maxObjectAgeMillis / 4)));
      // Sealing is retried on the next tick; upload failures are in status (lastError) and onEvent.
      timer = setInterval(() => void tick().catch((err: unknown) => log.warn({ err, stagingDir }, 'cold-storage sealing failed')), every);
      timer.unref();
      if (config.retentionDays > 0) {
        const retentionFailed = (err: unknown) => log.warn({ err, retentionDays: config.retentionDays }, 'cold-storage retention failed');
        await runRetention().catch(retentionFailed);
        retentionTimer = setInterval(() => void runRetention().catch(retentionFailed), 3_600_000);
        retentionTimer.unref();
      }
      void kickUpload();
    },
    async exportPayloads(batch: PayloadBatch) {
      const items: StageItem[] = [];
      const p = batch.payloads;
      const buf = payloadBuffer(p);
      try {
        for (let i = 0; i < p.ends.length; i++) {
          // The WAL payload is already this entry's JSON line: it is staged as it is (bytes, never
          // decoded), and only its routing fields are read (wal-routing.ts); other entries are
          // parsed in full.
          const line = buf.subarray(payloadStart(p, i), p.ends[i]);
          const route = walEventRouting(line);
          const row = rowsWanted ? payloadRow(p, i) : undefined;
          if (route) items.push({ kind: 'event', ...route, line: row === undefined ? line : lineWithRow(line, row) });
          else {
            const item = stageItem(JSON.parse(line.toString('utf8')) as WalEntry, line);
            if (item) items.push(item);
          }
        }
      } catch (err) {
        return {
          status: 'failure',
          error: new AuditError(
            'AUDIT_ERR_EXPORT_FAILED',
            `LSN ${batch.firstLsn}-${batch.lastLsn}: unreadable WAL payload: ${(err as Error).message}`,
            { cause: err },
          ),
        };
      }
      return exportItems(items);
    },
    export: (batch) => exportItems(batch.entries.flatMap((entry) => stageItem(entry) ?? [])),
    async sealAll() {
      await exclusive(async () => {
        for (const seg of [...open_.values()]) await seal(seg);
      });
    },
    async uploadSealed() {
      // Only waits for the upload in progress; its outcome is in status and the next call's result.
      if (uploading) await uploading.catch(() => {});
      return kickUpload(true);
    },
    async flush() {
      await this.sealAll();
      return this.uploadSealed();
    },
    applyRetention: runRetention,
    status() {
      return {
        openSegments: open_.size,
        sealedSegments: sealedCount,
        stagedBytes: stagedBytes(),
        uploadedObjects,
        uploadedRows,
        lastError,
      };
    },
    async shutdown(shutdownOptions = {}) {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      if (retentionTimer) clearInterval(retentionTimer);
      // Only waits for the upload in progress; what it did not upload stays staged for the next start.
      await uploading?.catch((err: unknown) => log.warn({ err }, 'cold-storage upload failed during shutdown'));
      // A graceful stop with time left (the receiver's shutdownTimeoutMillis) seals and uploads
      // what is staged, so the archive holds every acknowledged event once the process is gone.
      // Past the deadline, or without one, staged data stays (durable) and goes up after restart.
      const left = shutdownOptions.deadline === undefined ? 0 : shutdownOptions.deadline - Date.now();
      if (left > 0 && stagedBytes() + pendingCheckpoints.length > 0) {
        let timeout: NodeJS.Timeout | undefined;
        const flushed = (async () => {
          await exclusive(async () => {
            for (const seg of [...open_.values()]) await seal(seg);
          });
          return kickUpload(true);
        })().catch((err: unknown) => ({
          status: 'retryable' as const,
          error: exportError('AUDIT_ERR_EXPORT_FAILED', `cold-storage flush at shutdown failed: ${(err as Error).message}`, err),
        }));
        const result = await Promise.race([
          flushed,
          new Promise<undefined>((resolve) => (timeout = setTimeout(() => resolve(undefined), left))),
        ]);
        clearTimeout(timeout);
        if (result === undefined)
          emit({
            type: 'upload-failed',
            message: `cold-storage flush at shutdown did not finish in time; ${stagedBytes()} staged bytes are uploaded at the next start`,
          });
        else if (result.status !== 'success')
          emit({ type: 'upload-failed', message: `${result.error.message}; staged data is uploaded at the next start` });
      }
      await exclusive(async () => {
        for (const seg of open_.values()) await seg.handle.close();
        open_.clear();
      });
      await builder.close();
      if (store instanceof S3ObjectStore && !options.store) store.destroy();
    },
  };
}
