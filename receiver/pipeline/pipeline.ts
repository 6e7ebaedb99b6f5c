/**
 * The processing pipeline: the {@link LogsConsumer} the transports call, and the owner of
 * the WAL, the dedupe index, the chain state, the dead-letter store and the exporter runners.
 *
 *   consumeEncoded(): raw body ─▶ worker thread (prepare-pool.ts): gzip inflate → OTLP decode →
 *              classify → validate + normalize → tenant binding → JCS (prepare-stage.ts, pure) →
 *              event digest, packed into a PreparedBatch (prepared-batch.ts) ─▶ main thread:
 *              back-pressure gate → [synchronous sequencer: dedupe → seq + chain link (v2: one
 *              64-byte SHA-256) → WAL append] → wait for the group commit (fsync) → IngestResult
 *   consume():  the same for already decoded logs, prepared inline on the calling thread.
 *
 * Only the sequencer and the WAL's group commit need order; everything before them runs on every
 * core. The main thread handles bytes (the packed batch), not per-record object graphs.
 *
 * Components, started in this order and shut down in reverse by `start()` / `shutdown()`: the data
 * dir lock and instance id, the dedupe index (chunks) and chain heads (snapshot + WAL replay), the
 * WAL (recovery), the dead-letter store, each exporter and its runner, the maintenance timer.
 * This file only coordinates them; the parts live beside it: `data-dir.ts` (lock, instance id),
 * `chain-registry.ts` (chain heads, checkpoints, heads snapshot), `sequencer.ts` (the synchronous
 * block below and its undo log), `maintenance.ts` (disk probe, segment deletion, dedupe upkeep,
 * snapshot timer), `telemetry.ts` (status shape, fsync histogram).
 *
 * Race freedom: everything between the dedupe lookup and the WAL append runs in one synchronous
 * block (no `await`), and JavaScript runs one block at a time, so the sequencer is the single
 * writer by construction: two requests never interleave a chain, and an event id that is in flight
 * is already in the dedupe index when a concurrent duplicate looks it up. Such a duplicate's answer
 * waits until the original's batch is durable, so "acknowledged" always means "on disk".
 */
import * as fsp from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { AuditError, type Logger, type OperationResult, silentLogger } from '@otel-audit/core';
import { AUDIT_ATTR } from '@otel-audit/schema';
import { GENESIS_HASH } from '../../integrity/chain-hash.ts';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';
import type { AuditExporter, DecodedLogs, IngestContext, IngestResult, LogsConsumer } from '../contracts.ts';
import { type DeadLetter, DeadLetterStore } from '../dead-letter/store.ts';
import { ExporterRunner } from '../exporting/runner.ts';
import type { EncodedIngestResult, EncodedLogsConsumer, EncodedLogsRequest } from '../otlp/encoded-consumer.ts';
import { DedupeWindow } from '../wal/dedupe-window.ts';
import { RECORD_TYPE_CHECKPOINT } from '../wal/format.ts';
import { Wal } from '../wal/wal.ts';
import { ChainRegistry } from './chain-registry.ts';
import {
  type ExporterRunnerConfig,
  type PipelineConfig,
  type PipelineConfigInput,
  parseExporterRunnerConfig,
  parsePipelineConfig,
} from './config.ts';
import { acquireDataDirLock, readOrCreateInstanceId } from './data-dir.ts';
import { Maintenance } from './maintenance.ts';
import { PreparePool } from './prepare-pool.ts';
import { prepareBatch, type Rejection } from './prepare-stage.ts';
import { type PrepareOutcome, runPrepareTask } from './prepare-task.ts';
import type { PreparedBatch } from './prepared-batch.ts';
import { Sequencer } from './sequencer.ts';
import { FsyncStats, type PipelineStatus } from './telemetry.ts';

export type { ChainHead } from './chain-registry.ts';

export type { PipelineStatus } from './telemetry.ts';
export { FSYNC_BUCKETS_MILLIS } from './telemetry.ts';

/** Per-exporter options of {@link AuditPipeline.addExporter} (defaults from config `exporters`). */
export type AddExporterOptions = Partial<ExporterRunnerConfig> & {
  /** Jitter random source (tests). */
  random?: () => number;
};

/**
 * The pipeline: a {@link LogsConsumer} with lifecycle, exporters and status. It also takes encoded
 * requests ({@link EncodedLogsConsumer}), decoded and prepared in its worker threads.
 */
export interface AuditPipeline extends EncodedLogsConsumer {
  /** The parsed config (defaults applied). */
  readonly config: PipelineConfig;
  /** True after `start()` finished recovery and until shutdown begins. */
  readonly ready: boolean;
  /**
   * Why ingest cannot succeed right now although the pipeline runs — the WAL cannot write (disk
   * full, I/O error: it repairs itself) or back-pressure applies — else undefined. `/readyz`
   * answers not ready while it is set.
   */
  readonly unavailable: string | undefined;
  /**
   * Register an exporter (before `start()`). The pipeline starts it (retrying `exporter.start()`
   * with backoff while it fails — ingest does not wait for it) and shuts it down.
   */
  addExporter(exporter: AuditExporter, options?: AddExporterOptions): void;
  /** Recover the WAL and state, start exporters. Throws AUDIT_ERR_WAL_CORRUPT / _WAL_IO on damage. */
  start(): Promise<void>;
  /** Stop accepting, finish in-flight requests, fsync, stop exporters, close. Idempotent. */
  shutdown(): Promise<void>;
  status(): PipelineStatus;
  /** Run housekeeping now (disk check, segment deletion, heads snapshot); tests and tools. */
  maintain(): Promise<void>;
  /**
   * Append a signed checkpoint of a chain (integrity/checkpointer.ts) to the WAL, after the entries
   * it covers, so every exporter receives it in order. Resolves once it is durable. `failure` when
   * the chain is unknown or covers entries not yet sequenced; `retryable` when not accepting.
   */
  appendCheckpoint(record: CheckpointRecord): Promise<OperationResult<{ lsn: number }>>;
  /** The last checkpoint of every chain (from the WAL, the heads snapshot, and appends since start). */
  lastCheckpoints(): CheckpointRecord[];
}

/** Options for tests and benchmarks that are not user configuration. */
export interface PipelineHooks {
  /**
   * The receiver's logger; the pipeline logs with `component: 'pipeline'` and hands children to
   * the WAL (`wal`), the dedupe window (`dedupe`) and each exporter runner (`exporter:<name>`).
   * Default: silent (library use and tests).
   */
  logger?: Logger;
  /** Observer of every fsync (kind, ms), in addition to the built-in histogram. */
  onFsync?: (kind: 'data' | 'file' | 'dir', millis: number) => void;
  /** Clock in Unix ms. */
  now?: () => number;
  /** Free-space probe (bytes) replacing fs.statfs (tests of the disk-full gate). */
  freeDiskBytes?: () => Promise<number>;
  /**
   * Called synchronously for every event appended, in chain order (the checkpointer's feed:
   * `checkpointer.append({ chainId, seq, hash })`). Also called during recovery for the replayed
   * entries after the heads snapshot (`recovered: true`). Must not throw.
   */
  onSequenced?: (entry: { chainId: string; seq: number; hash: string; lsn: number; recovered: boolean }) => void;
}

/** Id words of records that carry no event (checkpoints). */
const ZERO_ID = new Uint32Array(4);

class Pipeline implements AuditPipeline {
  readonly config: PipelineConfig;
  private readonly hooks: PipelineHooks;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly rootLog: Logger;
  private instanceId = '';
  private wal: Wal | undefined;
  private dedupe: DedupeWindow;
  private deadLetters: DeadLetterStore | undefined;
  private readonly registry: ChainRegistry;
  private readonly sequencer: Sequencer;
  private pendingExporters: Array<{ exporter: AuditExporter; options: AddExporterOptions }> = [];
  private runners: ExporterRunner[] = [];
  private started = false;
  private accepting = false;
  private shuttingDown = false;
  private shutdownPromise: Promise<void> | undefined;
  private inFlightRequests = 0;
  private idleWaiters: Array<() => void> = [];
  private maintenance: Maintenance | undefined;
  private lockFile: string | undefined;
  private recovery: PipelineStatus['recovery'];
  private readonly counters = { received: 0, accepted: 0, rejected: 0, deduped: 0, nonAudit: 0, requests: 0, retryableAnswers: 0 };
  private readonly fsyncStats = new FsyncStats();
  private pool: PreparePool | undefined;

  constructor(config: PipelineConfig, hooks: PipelineHooks) {
    this.config = config;
    this.hooks = hooks;
    this.now = hooks.now ?? Date.now;
    this.registry = new ChainRegistry(config.dataDir);
    this.rootLog = hooks.logger ?? silentLogger;
    this.log = this.rootLog.child({ component: 'pipeline' });
    const dedupeLog = this.rootLog.child({ component: 'dedupe' });
    this.dedupe = new DedupeWindow({
      dir: path.join(config.dataDir, 'wal', 'dedupe'),
      windowMillis: config.dedupeWindowMillis,
      maxIds: config.dedupeMaxIds,
      sliceMillis: config.dedupeSliceMillis,
      clockSkewMillis: config.dedupeClockSkewMillis,
      bloomBitsPerId: config.dedupeBloomBitsPerId,
      observer: this.onFsync,
      waitDurable: (lsn) => (this.wal ? this.wal.waitDurable(lsn) : Promise.resolve(undefined)),
      onWindowShort: (message) => dedupeLog.warn({ code: 'OTEL_AUDIT_DEDUPE_WINDOW' }, message),
      onCorrupt: (err) => dedupeLog.error({ err, code: err.code }, 'dedupe run corrupt'),
      logger: dedupeLog,
    });
    this.sequencer = new Sequencer(this.dedupe, this.registry, hooks.onSequenced);
  }

  get ready(): boolean {
    return this.accepting;
  }

  get unavailable(): string | undefined {
    const wal = this.wal;
    if (!wal || !this.accepting) return undefined;
    if (wal.failed) return `the WAL cannot write (${wal.failed.message}); retrying`;
    return this.backpressureReason();
  }

  private onFsync = (kind: 'data' | 'file' | 'dir', millis: number): void => {
    this.fsyncStats.observe(kind, millis);
    this.hooks.onFsync?.(kind, millis);
  };

  addExporter(exporter: AuditExporter, options: AddExporterOptions = {}): void {
    if (this.started) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `addExporter(${exporter.name}) after start()`);
    if (this.pendingExporters.some((e) => e.exporter.name === exporter.name)) {
      throw new AuditError('AUDIT_ERR_INVALID_CONFIG', `two exporters named "${exporter.name}" (the name is the cursor id)`, {
        path: 'exporters',
      });
    }
    const { random, ...rest } = options;
    parseExporterRunnerConfig(this.config.exporters, rest); // fail fast on bad options
    this.pendingExporters.push({ exporter, options });
  }

  async start(): Promise<void> {
    if (this.started) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'start() called twice');
    this.started = true;
    try {
      await this.recoverAndStart();
    } catch (err) {
      // Leave nothing running and release the data dir, so a fixed configuration can start again.
      // Cleanup failures are logged, not thrown: the start failure is the error the caller needs.
      const cleanupFailed = (what: string) => (e: unknown) => this.log.warn({ err: e }, `after a failed start: ${what} failed`);
      for (const r of this.runners) await r.stop().catch(cleanupFailed(`stopping exporter ${r.status().name}`));
      await this.pool?.shutdown().catch(cleanupFailed('stopping the prepare workers'));
      this.pool = undefined;
      await this.wal?.close().catch(cleanupFailed('closing the WAL'));
      if (this.lockFile) await fsp.rm(this.lockFile, { force: true }).catch(cleanupFailed(`removing ${this.lockFile}`));
      throw err;
    }
  }

  private async recoverAndStart(): Promise<void> {
    const t0 = performance.now();
    const c = this.config;
    // The prepare workers start (load their modules) while the WAL is recovered, not after it: the
    // pipeline becomes ready no later than before, and nothing else waits for them.
    const threads = c.prepareWorkers ?? availableParallelism();
    if (threads > 0) this.pool = new PreparePool(threads, this.log, c.prepareWorkerHeap);
    const poolReady = this.pool?.start() ?? Promise.resolve();
    poolReady.catch(() => undefined); // awaited below; a failure must not be an unhandled rejection meanwhile
    await fsp.mkdir(c.dataDir, { recursive: true });
    this.lockFile = await acquireDataDirLock(c.dataDir);
    this.instanceId = await readOrCreateInstanceId(c.dataDir, c.instanceId);
    const walDir = path.join(c.dataDir, 'wal');
    await fsp.mkdir(path.join(walDir, 'state'), { recursive: true });

    // Chain heads as of the last snapshot; the WAL after it is replayed on top.
    const headsLsn = await this.registry.load();
    const nowSec = Math.floor(this.now() / 1000);
    const { runIds: dedupeIdsLoaded } = await this.dedupe.open(nowSec);
    const { wal, report } = await Wal.open(
      {
        dir: walDir,
        segmentBytes: c.wal.segmentBytes,
        durability: c.durability,
        retentionMillis: c.wal.retentionMillis,
        onFsync: this.onFsync,
        now: this.now,
        logger: this.rootLog.child({ component: 'wal' }),
      },
      (rec) => {
        if (rec.type === RECORD_TYPE_CHECKPOINT) {
          const cp = JSON.parse(rec.payload.toString('utf8')) as { checkpoint: CheckpointRecord };
          this.registry.recoverCheckpoint(cp.checkpoint);
          return;
        }
        this.dedupe.addRecovered(rec.id0, rec.id1, rec.id2, rec.id3, rec.receivedAtSeconds, nowSec, rec.lsn);
        if (rec.lsn <= headsLsn) return;
        const e = JSON.parse(rec.payload.toString('utf8')) as {
          chainId: string;
          tenantId: string;
          seq: number;
          prevHash: string;
          hash: string;
        };
        const cur = this.registry.chains.get(e.chainId);
        const prevSeq = cur?.seq ?? 0;
        const prevHash = cur?.hash ?? GENESIS_HASH;
        if (e.seq !== prevSeq + 1 || e.prevHash !== prevHash) {
          throw new AuditError(
            'AUDIT_ERR_WAL_CORRUPT',
            `LSN ${rec.lsn}: chain ${e.chainId} seq ${e.seq} / prevHash ${e.prevHash} does not follow seq ${prevSeq} / ${prevHash}`,
            {
              details: { lsn: rec.lsn, chainId: e.chainId },
            },
          );
        }
        this.registry.set(e.chainId, e.tenantId, e.seq, e.hash);
        this.hooks.onSequenced?.({ chainId: e.chainId, seq: e.seq, hash: e.hash, lsn: rec.lsn, recovered: true });
      },
    );
    this.wal = wal;
    const maintenance = new Maintenance({
      config: c,
      wal,
      dedupe: this.dedupe,
      registry: this.registry,
      now: this.now,
      log: this.log,
      onFsync: this.onFsync,
      ...(this.hooks.freeDiskBytes ? { freeDiskBytes: this.hooks.freeDiskBytes } : {}),
    });
    this.maintenance = maintenance;
    wal.onDurable = (durable) => this.sequencer.onDurable(durable);
    wal.onRollback = (fromLsn) => this.sequencer.onRollback(fromLsn);
    this.dedupe.finishRecovery();
    this.dedupe.warnIfShort(nowSec);
    this.deadLetters = await DeadLetterStore.open(path.join(c.dataDir, 'dead-letters'), c.deadLetters, this.log);
    this.recovery = { ...report, durationMillis: performance.now() - t0, dedupeIdsLoaded };
    await maintenance.checkDisk();
    for (const { exporter, options } of this.pendingExporters) {
      const { random, ...rest } = options;
      const cfg = parseExporterRunnerConfig(c.exporters, rest);
      const runner = new ExporterRunner(wal, exporter, {
        ...cfg,
        ...(random ? { random } : {}),
        logger: this.rootLog.child({ component: `exporter:${exporter.name}` }),
      });
      runner.onCursorSaved = () => void maintenance.collectGarbage();
      await runner.start();
      this.runners.push(runner);
    }
    maintenance.start();
    if (this.pool) await poolReady;
    this.accepting = true;
  }

  /** Disk check, segment deletion, dedupe upkeep and heads snapshots (see {@link Maintenance}). */
  async maintain(): Promise<void> {
    await this.maintenance?.run();
  }

  /** Why ingest must wait, or undefined. */
  private backpressureReason(): string | undefined {
    const wal = this.wal!;
    const backlog = wal.backlogBytes();
    if (backlog > this.config.maxBacklogBytes)
      return `un-exported WAL backlog ${backlog} bytes exceeds maxBacklogBytes ${this.config.maxBacklogBytes}`;
    const freeDisk = this.maintenance?.freeDiskBytes ?? Number.MAX_SAFE_INTEGER;
    if (freeDisk < this.config.minFreeDiskBytes)
      return `free disk space ${freeDisk} bytes is below minFreeDiskBytes ${this.config.minFreeDiskBytes}`;
    return undefined;
  }

  private retryable(error: AuditError, retryAfterMillis = this.config.backpressureRetryAfterMillis): IngestResult {
    this.counters.retryableAnswers++;
    return { status: 'retryable', error, retryAfterMillis };
  }

  /** The answer when the pipeline cannot take a request now, or undefined. Counts the request. */
  private gate(): IngestResult | undefined {
    this.counters.requests++;
    if (!this.accepting) {
      if (this.shuttingDown) return this.retryable(new AuditError('AUDIT_ERR_SHUTDOWN', 'receiver is shutting down', { retryable: true }));
      return this.retryable(new AuditError('AUDIT_ERR_NOT_READY', 'receiver is recovering its WAL', { retryable: true }));
    }
    const wal = this.wal!;
    // A write failure clears (the WAL repairs itself): retryable, never a permanent failure.
    if (wal.failed) return this.retryable(wal.failed);
    const bp = this.backpressureReason();
    if (bp) return this.retryable(new AuditError('AUDIT_ERR_BACKPRESSURE', bp, { retryable: true }));
    return undefined;
  }

  private requestDone(): void {
    if (--this.inFlightRequests === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  async consume(logs: DecodedLogs, context: IngestContext): Promise<IngestResult> {
    const refused = this.gate();
    if (refused) return refused;
    this.inFlightRequests++;
    try {
      // Stages 1-4 (classify, validate + normalize, tenant binding, canonicalize) and the event
      // digest, inline: the caller already decoded on this thread.
      const batch = prepareBatch(logs, context, this.config.nonAudit, this.config.defaultTenantId, 0, this.config.storageRows);
      return await this.sequence(batch, context, this.wal!);
    } finally {
      this.requestDone();
    }
  }

  async consumeEncoded(request: EncodedLogsRequest, context: IngestContext): Promise<EncodedIngestResult> {
    // Counted in flight from the start, so shutdown waits for requests still in a worker (they then
    // answer retryable) instead of terminating the workers under them.
    this.inFlightRequests++;
    // Read before the body may be moved to a worker (a transferred buffer reads as 0 bytes).
    const bodyBytes = request.body.byteLength;
    try {
      const { transferable, ...encoded } = request;
      const task = {
        ...encoded,
        context,
        nonAudit: this.config.nonAudit,
        defaultTenantId: this.config.defaultTenantId,
        storageRows: this.config.storageRows,
      };
      let outcome: PrepareOutcome;
      try {
        outcome = this.pool ? await this.pool.run(task, transferable === true) : runPrepareTask(task);
      } catch (err) {
        // A worker died (a bug, or a request past its heap bound) with this request in it: nothing
        // of it was sequenced. Answered retryable (503 / UNAVAILABLE): the requests that shared the
        // worker did nothing wrong, and an OTLP client drops a batch answered 500 — an audit event
        // lost. The worker is replaced; a request that kills it every time is retried until the
        // client's retry budget ends, each loss logged by the pool.
        const error = new AuditError(
          err instanceof AuditError && err.code === 'AUDIT_ERR_SHUTDOWN' ? 'AUDIT_ERR_SHUTDOWN' : 'AUDIT_ERR_INTERNAL',
          `preparing the request failed: ${(err as Error).message}`,
          { cause: err, retryable: true },
        );
        return { decoded: true, records: 0, bytes: bodyBytes, result: this.retryable(error) };
      }
      if (!outcome.ok) {
        const error = new AuditError(outcome.code, outcome.detail, {
          ...(outcome.path !== undefined ? { path: outcome.path } : {}),
          ...(outcome.details ? { details: outcome.details } : {}),
        });
        return { decoded: false, stage: outcome.stage, status: outcome.status, error, bytes: outcome.bytes };
      }
      const refused = this.gate();
      const result = refused ?? (await this.sequence(outcome.batch, context, this.wal!));
      return { decoded: true, records: outcome.records, bytes: outcome.bytes, result };
    } finally {
      this.requestDone();
    }
  }

  /**
   * Stages 5-7, the sequencer: one synchronous block over the packed batch — dedupe → seq + chain
   * link → WAL append — then wait for the group commit.
   */
  private async sequence(batch: PreparedBatch, context: IngestContext, wal: Wal): Promise<IngestResult> {
    const c = this.counters;
    const rejections = batch.rejections;
    c.received += batch.received;
    c.nonAudit += batch.nonAudit;

    if (wal.failed) return this.retryable(wal.failed);
    if (!this.accepting) return this.retryable(new AuditError('AUDIT_ERR_SHUTDOWN', 'receiver is shutting down', { retryable: true }));
    const nowMs = this.now();
    const nowSec = Math.floor(nowMs / 1000);
    const receivedAtNanos = `${nowMs}000000`;
    const { waitLsn, accepted, duplicates, dedupeError } = this.sequencer.append(batch, wal, nowSec, receivedAtNanos, this.instanceId);
    if (rejections.length > 0) this.deadLetter(rejections, context);
    c.rejected += rejections.length;

    if (waitLsn > 0) {
      const err = await wal.waitDurable(waitLsn);
      this.sequencer.purgeInflight(wal.durableLsn);
      // Not written (disk full, I/O error): rolled back, nothing of this request was kept; the
      // client retries (503 + Retry-After / UNAVAILABLE) and the same ids are accepted then.
      if (err) return this.retryable(err);
    }
    c.accepted += accepted;
    if (dedupeError) return { status: 'failure', error: dedupeError };
    c.deduped += duplicates;
    return {
      status: 'success',
      accepted,
      duplicates,
      rejected: rejections.length,
      message: this.message(rejections, batch.nonAuditDropped),
    };
  }

  private message(rejections: Rejection[], nonAuditDropped: number): string {
    const max = this.config.maxMessageLength;
    const parts: string[] = [];
    if (rejections.length > 0) parts.push(`rejected ${rejections.length} record(s)`);
    let text = parts.join('');
    let shown = 0;
    for (const r of rejections) {
      const item = `${shown === 0 ? ': ' : '; '}record ${r.index}: ${r.reason}`;
      if (text.length + item.length > max - 40) break;
      text += item;
      shown++;
    }
    if (shown < rejections.length) text += `; … ${rejections.length - shown} more (see dead letters)`;
    if (nonAuditDropped > 0)
      text += `${text ? '. ' : ''}warning: dropped ${nonAuditDropped} non-audit record(s) (no ${AUDIT_ATTR.schemaVersion})`;
    return text.length > max ? `${text.slice(0, max - 1)}…` : text;
  }

  private deadLetter(rejections: Rejection[], context: IngestContext): void {
    const time = new Date(this.now()).toISOString();
    const letters: DeadLetter[] = rejections.map((r) => ({
      time,
      transport: context.transport,
      ...(context.principal ? { principal: context.principal } : {}),
      reason: r.reason,
      code: r.code,
      recordIndex: r.index,
      record: { resource: r.resource, scope: r.scope, logRecord: r.record },
    }));
    this.deadLetters?.add(letters);
  }

  async appendCheckpoint(record: CheckpointRecord): Promise<OperationResult<{ lsn: number }>> {
    const wal = this.wal;
    if (!wal || !this.accepting)
      return { status: 'retryable', error: new AuditError('AUDIT_ERR_NOT_READY', 'pipeline is not accepting'), retryAfterMillis: 1000 };
    if (wal.failed) return { status: 'retryable', error: wal.failed, retryAfterMillis: 1000 };
    const chain = this.registry.chains.get(record.chainId);
    if (!chain || record.treeSize > chain.seq) {
      return {
        status: 'failure',
        error: new AuditError(
          'AUDIT_ERR_INTEGRITY',
          `checkpoint of ${record.chainId} at size ${record.treeSize} is ahead of the chain (seq ${chain?.seq ?? 0})`,
        ),
      };
    }
    const lsn = wal.nextLsn;
    const json = `{"kind":"checkpoint","lsn":${lsn},${chain.jsonPrefix},"checkpoint":${JSON.stringify(record)}}`;
    wal.appendRecord(RECORD_TYPE_CHECKPOINT, lsn, ZERO_ID, Math.floor(this.now() / 1000), [json]);
    wal.startFlush();
    const err = await wal.waitDurable(lsn);
    if (err) return { status: 'retryable', error: err, retryAfterMillis: 1000 };
    // Only a durable checkpoint is the chain's last one (a failed write discarded the record).
    this.registry.noteCheckpoint(record);
    return { status: 'success', value: { lsn } };
  }

  lastCheckpoints(): CheckpointRecord[] {
    return this.registry.lastCheckpoints();
  }

  status(): PipelineStatus {
    const wal = this.wal;
    const nowSec = Math.floor(this.now() / 1000);
    const exporters = this.runners.map((r) => r.status());
    const bp = wal && this.accepting ? this.backpressureReason() : undefined;
    return {
      ready: this.accepting,
      shuttingDown: this.shuttingDown,
      instanceId: this.instanceId,
      dataDir: this.config.dataDir,
      durability: this.config.durability,
      chains: this.registry.heads(),
      wal: {
        firstLsn: wal?.firstLsn() ?? 0,
        lastLsn: wal?.durableLsn ?? 0,
        segments: wal?.segmentCount() ?? 0,
        bytes: wal?.totalBytes() ?? 0,
        backlogBytes: wal?.backlogBytes() ?? 0,
        commits: wal?.commits ?? 0,
        writeFailures: wal?.writeFailures ?? 0,
        repairs: wal?.repairs ?? 0,
        ...(wal?.failed ? { failed: { code: wal.failed.code, message: wal.failed.message } } : {}),
      },
      exporters,
      failingExporters: exporters.filter((e) => e.failing).map((e) => e.name),
      deadLetters: {
        stored: this.deadLetters?.count ?? 0,
        written: this.deadLetters?.written ?? 0,
        writeErrors: this.deadLetters?.writeErrors ?? 0,
      },
      dedupe: {
        ...this.dedupe.status(nowSec),
        ids: this.dedupe.size,
        bytes: this.dedupe.bytes,
        chunkFiles: this.dedupe.runCount,
      },
      backpressure: {
        active: bp !== undefined,
        ...(bp ? { reason: bp } : {}),
        freeDiskBytes: this.maintenance?.freeDiskBytes ?? Number.MAX_SAFE_INTEGER,
        maxBacklogBytes: this.config.maxBacklogBytes,
        minFreeDiskBytes: this.config.minFreeDiskBytes,
      },
      counters: { ...this.counters },
      fsync: this.fsyncStats.snapshot(),
      recovery: this.recovery,
      prepare: { workers: this.pool?.size ?? 0, pending: this.pool?.pending() ?? 0 },
    };
  }

  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.doShutdown();
    return this.shutdownPromise;
  }

  private async doShutdown(): Promise<void> {
    this.shuttingDown = true;
    this.accepting = false;
    this.maintenance?.stop();
    this.dedupe.stopBackgroundWork();
    if (this.inFlightRequests > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.pool?.shutdown();
    this.pool = undefined;
    const wal = this.wal;
    if (wal) await wal.sync();
    // Graceful stop: every exporter first exports what the WAL holds, then shuts down with the
    // rest of the time (cold storage seals and uploads its staged objects), so the stores of a
    // stopped receiver hold every acknowledged event. Past the deadline the rest waits in the WAL
    // and in staging for the next start.
    const deadline = Date.now() + this.config.shutdownTimeoutMillis;
    if (wal && !wal.failed) await Promise.all(this.runners.map((r) => r.drain(deadline)));
    await Promise.all(this.runners.map((r) => r.stop({ deadline }))); // also shuts its exporter down
    if (wal) {
      await this.maintenance?.finish();
      await wal.close();
    }
    // The dedupe window is rebuilt from its runs and the WAL on the next start; a failed close loses nothing.
    await this.dedupe
      .close()
      .catch((err: unknown) => this.log.warn({ err, code: (err as { code?: unknown })?.code }, 'dedupe window close failed'));
    await this.deadLetters?.flush();
    if (this.lockFile) await fsp.rm(this.lockFile, { force: true });
  }
}

/**
 * Create the pipeline from a config (parsed strictly; AUDIT_ERR_INVALID_CONFIG names a bad key).
 * Nothing touches the disk until `start()`.
 */
export function createAuditPipeline(config: PipelineConfigInput = {}, hooks: PipelineHooks = {}): AuditPipeline {
  return new Pipeline(parsePipelineConfig(config), hooks);
}
