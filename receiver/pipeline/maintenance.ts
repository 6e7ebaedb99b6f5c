/**
 * The pipeline's periodic upkeep, on a timer (`maintenanceIntervalMillis`) and on demand: the
 * free-disk probe behind the back-pressure gate, WAL segment deletion once every exporter passed a
 * segment (its ids go to the dedupe runs first), dedupe upkeep (expiry, spill retries, merges,
 * scrub), and the chain heads snapshot every `headsSnapshotIntervalMillis`. Each job's failure is
 * logged once per error code and retried on the next tick; its recovery is logged too.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '@otel-audit/core';
import type { DedupeWindow } from '../wal/dedupe-window.ts';
import type { FsyncObserver } from '../wal/fs-util.ts';
import type { Wal } from '../wal/wal.ts';
import type { ChainRegistry } from './chain-registry.ts';
import type { PipelineConfig } from './config.ts';

/** What maintenance works on. */
export interface MaintenanceDeps {
  config: PipelineConfig;
  wal: Wal;
  dedupe: DedupeWindow;
  registry: ChainRegistry;
  now: () => number;
  log: Logger;
  onFsync: FsyncObserver;
  /** Free-space probe (bytes) replacing fs.statfs (tests of the disk-full gate). */
  freeDiskBytes?: () => Promise<number>;
}

type Job = 'disk' | 'gc' | 'heads' | 'dedupe';

/** Periodic upkeep of a started pipeline (see the module comment). */
export class Maintenance {
  /** Free bytes on the data dir's file system as last probed (the back-pressure gate reads it). */
  freeDiskBytes = Number.MAX_SAFE_INTEGER;
  private readonly d: MaintenanceDeps;
  /** Code (or message) of the last failure of each job, so a persisting failure is logged once. */
  private readonly lastFailure = new Map<Job, string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastExpireAt = 0;
  private gcQueued = false;
  private dedupeMaintaining = false;

  constructor(deps: MaintenanceDeps) {
    this.d = deps;
  }

  /** Start the timer (after recovery: recovery skipped expired ids and its heads are current). */
  start(): void {
    this.d.registry.savedAtMillis = this.d.now();
    this.lastExpireAt = this.d.now();
    this.timer = setInterval(() => void this.run(), this.d.config.maintenanceIntervalMillis);
    this.timer.unref();
  }

  /** Stop the timer (a run in progress finishes; {@link finish} waits for it). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Persist chain heads as of the current last LSN, once that LSN is durable. */
  persistHeads(): Promise<void> {
    const wal = this.d.wal;
    return this.d.registry.persist(wal.nextLsn - 1, (lsn) => wal.waitDurable(lsn), this.d.now, this.d.onFsync);
  }

  /**
   * {@link persistHeads} from the timer and at shutdown: a failure is logged (the previous snapshot
   * stays valid, recovery replays more of the WAL) and retried at the next interval.
   */
  private async persistHeadsLogged(): Promise<void> {
    try {
      await this.persistHeads();
      this.recovered('heads', 'chain heads snapshot written again');
    } catch (err) {
      this.failed('heads', err, { file: this.d.registry.file }, 'chain heads snapshot not written');
    }
  }

  /** Probe the free disk space of the data dir. */
  async checkDisk(): Promise<void> {
    try {
      if (this.d.freeDiskBytes) this.freeDiskBytes = await this.d.freeDiskBytes();
      else {
        const s = await fsp.statfs(this.d.config.dataDir);
        this.freeDiskBytes = s.bavail * s.bsize;
      }
      this.recovered('disk', 'free-space probe works again');
    } catch (err) {
      // Keep the last value; a failing statfs must not stop ingest.
      this.failed('disk', err, { dataDir: this.d.config.dataDir }, 'free-space probe failed; keeping the last value');
    }
  }

  /**
   * Log a failure of a periodic background job once per distinct error code (it is retried every
   * maintenance tick; the same failure every second would flood the log).
   */
  private failed(job: Job, err: unknown, fields: Record<string, unknown>, message: string): void {
    // By code where there is one: messages name temporary files that differ on every attempt.
    const code = (err as { code?: unknown })?.code;
    const text = typeof code === 'string' ? code : ((err as Error)?.message ?? String(err));
    if (this.lastFailure.get(job) === text) return;
    this.lastFailure.set(job, text);
    this.d.log.warn({ err, code, ...fields }, message);
  }

  /** The job succeeded: log the recovery if it had failed. */
  private recovered(job: Job, message: string): void {
    if (this.lastFailure.delete(job)) this.d.log.info({}, message);
  }

  /** Delete the WAL segments every exporter has passed (coalesced: one run per turn of the event loop). */
  collectGarbage(): Promise<void> {
    if (this.gcQueued) return Promise.resolve();
    this.gcQueued = true;
    return new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      this.gcQueued = false;
      try {
        await this.d.wal.collectGarbage(this.d.dedupe, () => this.persistHeads());
        this.recovered('gc', 'WAL segment deletion works again');
      } catch (err) {
        // Deletion is retried on the next maintenance tick; the data is still there.
        this.failed('gc', err, { walDir: path.join(this.d.config.dataDir, 'wal') }, 'WAL segment deletion failed; retrying');
      }
    });
  }

  /** One maintenance pass (a pass in progress is joined, not repeated). */
  run(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      await this.checkDisk();
      await this.collectGarbage();
      const now = this.d.now();
      const nowSec = Math.floor(now / 1000);
      if (now - this.lastExpireAt > 3600_000) {
        this.lastExpireAt = now;
        this.d.dedupe.expireMemory(nowSec);
      }
      // Retry failed spills, drop runs that left the window, merge and scrub runs (status shows
      // lastError). Not awaited: a merge of a large slice must not hold up segment deletion.
      if (!this.dedupeMaintaining) {
        this.dedupeMaintaining = true;
        void this.d.dedupe
          .maintain(nowSec)
          .then(
            () => this.recovered('dedupe', 'dedupe maintenance works again'),
            (err: unknown) =>
              this.failed('dedupe', err, { dir: path.join(this.d.config.dataDir, 'wal', 'dedupe') }, 'dedupe maintenance failed'),
          )
          .finally(() => (this.dedupeMaintaining = false));
      }
      if (now - this.d.registry.savedAtMillis >= this.d.config.headsSnapshotIntervalMillis) await this.persistHeadsLogged();
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * At shutdown, after the exporters stopped: wait for a pass in progress, delete what they
   * passed, and write the final heads snapshot (unless the WAL failed: it would not be durable).
   */
  async finish(): Promise<void> {
    await this.running?.catch((err: unknown) => this.d.log.warn({ err }, 'maintenance failed'));
    await this.d.wal
      .collectGarbage(this.d.dedupe, () => this.persistHeads())
      .catch((err: unknown) =>
        this.failed('gc', err, { walDir: path.join(this.d.config.dataDir, 'wal') }, 'WAL segment deletion at shutdown failed'),
      );
    if (!this.d.wal.failed) await this.persistHeadsLogged();
  }
}
