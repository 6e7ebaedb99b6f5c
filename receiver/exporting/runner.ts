/**
 * The exporter runner (the Collector's exporterhelper for WAL-fed exporters): one per
 * {@link AuditExporter}. It reads batches from the exporter's durable cursor, calls `export()`,
 * retries with exponential backoff and full jitter, and advances + persists the cursor only after
 * a success. A `failure` result is never skipped: the batch is retried at the maximum backoff and
 * the exporter is flagged as failing. After a crash between a successful export and the cursor
 * save, the same `(firstLsn, lastLsn)` range is handed out again — exporters write idempotently.
 */
import { AuditError, backoffDelayMillis, decodeWalEntryOrThrow, type Logger, silentLogger } from '@otel-audit/core';
import type { AuditEvent } from '@otel-audit/schema';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';
import type { AuditExporter, ExportBatch, ExportResult, LifecycleOptions, ShutdownOptions, WalEntry } from '../contracts.ts';
import { type PackedPayloads, payloadBuffer, payloadCount, payloadText } from '../wal/packed-payloads.ts';
import type { Wal, WalPosition, WalReader, WalReadResult } from '../wal/wal.ts';

/**
 * A contiguous range of WAL entries as read: their payloads (UTF-8 JSON of {@link WalEntry}),
 * packed in one buffer, neither decoded nor parsed (receiver/wal/packed-payloads.ts).
 */
export interface PayloadBatch {
  firstLsn: number;
  lastLsn: number;
  payloads: PackedPayloads;
}

/**
 * Optional capabilities an {@link AuditExporter} may have; the runner uses them when present and
 * every exporter without them works as before.
 * - `exportPayloads`: take the batch as the WAL payloads, unparsed, so an exporter that parses in a
 *   worker thread keeps that work off the event loop that acknowledges ingest. Same idempotency
 *   contract as `export()` (same `(firstLsn, lastLsn)` after a crash).
 * - `batching`: the exporter's own batch limits (rows, WAL bytes, age), overriding the runner
 *   defaults, for destinations that want large batches at high rates and a short wait at low ones.
 */
export interface ExporterCapabilities {
  exportPayloads?(batch: PayloadBatch, options?: LifecycleOptions): Promise<ExportResult>;
  /**
   * The exporter reads the records' storage rows (`PackedPayloads.rows`, docs/wal.md "Storage
   * rows") in `exportPayloads`; other exporters get the JSON payloads only, and their reads copy no
   * row bytes.
   */
  readonly storageRows?: boolean;
  readonly batching?: { maxEntries: number; maxBytes: number; maxDelayMillis: number };
}

/** Per-exporter runner settings (validated by the pipeline config). */
export interface ExporterRunnerOptions {
  /** Most entries per batch. */
  maxBatchEntries: number;
  /** How long to wait for a full batch once at least one entry is available (ms). 0 = send at once. */
  maxBatchDelayMillis: number;
  /** Most WAL bytes per batch (default 64 MiB). */
  maxBatchBytes?: number;
  /** First retry delay cap (ms); doubles per attempt. */
  initialBackoffMillis: number;
  /** Largest retry delay (ms); also the delay between retries of a `failure`. */
  maxBackoffMillis: number;
  /** Deadline of one export call (ms), passed to the exporter as an `AbortSignal`. Default 120 000. */
  exportTimeoutMillis?: number;
  /** Random source in [0, 1) for the jitter (tests pass a fixed one). Default Math.random. */
  random?: () => number;
  /** Where failures are logged (the receiver passes `component: 'exporter:<name>'`). Default: silent. */
  logger?: Logger;
}

/** What a runner reports in status. */
export interface ExporterRunnerStatus {
  name: string;
  /** Last LSN the exporter acknowledged (saved cursor). */
  cursorLsn: number;
  /** Durable entries not yet acknowledged by this exporter. */
  lagEntries: number;
  /** WAL bytes not yet acknowledged by this exporter. */
  lagBytes: number;
  /** `starting`: `exporter.start()` is being (re)tried — a destination that is down at start-up does not stop ingest. */
  state: 'stopped' | 'starting' | 'idle' | 'batching' | 'exporting' | 'backoff';
  /** True while the current batch got a permanent `failure` (retried at max backoff). */
  failing: boolean;
  /** Attempts of the current batch that did not succeed. */
  consecutiveFailures: number;
  /** The delay chosen before the latest retry (ms). */
  lastBackoffMillis: number;
  lastError?: { code: string; message: string; atMillis: number };
  exportedBatches: number;
  exportedEntries: number;
  lastSuccessAtMillis?: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Retry delay for attempt `attempt` (0-based): full jitter over an exponentially growing cap,
 * `random() × min(max, initial × 2^attempt)` (AWS architecture blog, "Exponential Backoff And
 * Jitter") — the shared backoff policy of `@otel-audit/core` with multiplier 2 and jitter 1.
 */
export function backoffDelay(attempt: number, initialMillis: number, maxMillis: number, random: () => number): number {
  return backoffDelayMillis({ initialIntervalMillis: initialMillis, maxIntervalMillis: maxMillis, multiplier: 2, jitter: 1 }, attempt, {
    random,
  });
}

/** Runs one exporter from its WAL cursor (see the module comment). */
export class ExporterRunner {
  readonly exporter: AuditExporter;
  private readonly wal: Wal;
  private readonly options: ExporterRunnerOptions;
  private readonly random: () => number;
  private readonly log: Logger;
  private reader: WalReader | undefined;
  /** An export call that ran past its deadline and has not settled yet. */
  private abandoned: Promise<void> | undefined;
  private saved: WalPosition | undefined;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly st: ExporterRunnerStatus;
  /** Called after each cursor save (the pipeline uses it to delete passed segments). */
  onCursorSaved: (() => void) | undefined;
  /** True once `exporter.start()` succeeded (so `stop()` knows whether to call `shutdown()`). */
  exporterStarted = false;
  /** Set by {@link drain}: send what is there at once instead of waiting for a fuller batch. */
  private draining = false;

  constructor(wal: Wal, exporter: AuditExporter, options: ExporterRunnerOptions) {
    this.wal = wal;
    this.exporter = exporter;
    const own = (exporter as AuditExporter & ExporterCapabilities).batching;
    this.options = own
      ? { ...options, maxBatchEntries: own.maxEntries, maxBatchBytes: own.maxBytes, maxBatchDelayMillis: own.maxDelayMillis }
      : options;
    this.random = options.random ?? Math.random;
    this.log = options.logger ?? silentLogger;
    this.st = {
      name: exporter.name,
      cursorLsn: 0,
      lagEntries: 0,
      lagBytes: 0,
      state: 'stopped',
      failing: false,
      consecutiveFailures: 0,
      lastBackoffMillis: 0,
      exportedBatches: 0,
      exportedEntries: 0,
    };
  }

  /**
   * Load the cursor and start the loop. The loop starts the exporter itself (`exporter.start()`,
   * retried with backoff while it fails, reported as failing), so a destination that is down when the
   * receiver starts delays exporting, not ingest.
   */
  async start(): Promise<void> {
    this.saved = await this.wal.registerCursor(this.exporter.name);
    this.reader = this.wal.openReader(this.saved, { rows: (this.exporter as AuditExporter & ExporterCapabilities).storageRows === true });
    this.st.cursorLsn = this.saved.lsn;
    this.st.state = 'idle';
    this.loop = this.run().catch((err: unknown) => {
      // A WAL read error (corruption) stops this exporter loudly; it shows in status.
      this.st.state = 'stopped';
      this.st.failing = true;
      const e =
        err instanceof AuditError ? err : new AuditError('AUDIT_ERR_INTERNAL', String((err as Error)?.message ?? err), { cause: err });
      this.st.lastError = { code: e.code, message: e.message, atMillis: Date.now() };
      this.log.error({ err: e, cursorLsn: this.saved?.lsn }, 'exporter stopped: cannot read the WAL');
    });
  }

  /**
   * Graceful stop, first half: export everything durable now (up to the WAL's durable end at the
   * call) before `deadline` (Unix ms). Resolves true once the exporter acknowledged it all, false at
   * the deadline, when the loop stopped, or as soon as the destination fails (backing off or not
   * started: waiting for a store that is down would only delay the stop; the rest stays in the WAL
   * for the next start).
   */
  async drain(deadline: number): Promise<boolean> {
    const target = this.wal.durableLsn;
    this.draining = true;
    for (;;) {
      if ((this.saved?.lsn ?? 0) >= target) return true;
      const state = this.st.state;
      if (state === 'stopped' || state === 'backoff' || state === 'starting' || Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Stop after the export in progress (if any) finishes (its cursor is saved if it succeeded), then
   * shut the exporter down if it was started (with `options`, e.g. the deadline of its own flush).
   */
  async stop(options: ShutdownOptions = {}): Promise<void> {
    this.abort.abort();
    await this.loop;
    // An export abandoned at its deadline may still be running: the exporter is not shut down under it
    // (until the caller's deadline, if any).
    if (this.abandoned) {
      const left = options.deadline === undefined ? undefined : Math.max(0, options.deadline - Date.now());
      await (left === undefined ? this.abandoned : Promise.race([this.abandoned, new Promise<void>((r) => setTimeout(r, left).unref())]));
    }
    await this.reader?.close();
    if (this.exporterStarted) {
      this.exporterStarted = false;
      await this.exporter.shutdown(options).catch((err: unknown) => {
        // Its staged data stays where it is (WAL, staging) for the next start; say why it did not flush.
        this.st.lastError = {
          code: 'AUDIT_ERR_EXPORT_FAILED',
          message: `shutdown failed: ${(err as Error)?.message ?? err}`,
          atMillis: Date.now(),
        };
        this.log.error({ err }, 'exporter shutdown failed');
      });
    }
    this.st.state = 'stopped';
  }

  private async startExporter(signal: AbortSignal): Promise<boolean> {
    let attempt = 0;
    while (!signal.aborted) {
      this.st.state = 'starting';
      try {
        await this.exporter.start();
        this.exporterStarted = true;
        if (attempt > 0) this.st.failing = false;
        return true;
      } catch (err) {
        const e =
          err instanceof AuditError
            ? err
            : new AuditError('AUDIT_ERR_EXPORT_FAILED', `exporter start failed: ${(err as Error)?.message ?? err}`, { cause: err });
        this.st.failing = true;
        this.st.lastError = { code: e.code, message: e.message, atMillis: Date.now() };
        const delay = backoffDelay(attempt++, this.options.initialBackoffMillis, this.options.maxBackoffMillis, this.random);
        this.st.lastBackoffMillis = delay;
        // The first failure and then every tenth: a destination down for hours must not flood the log.
        if (attempt % 10 === 1) this.log.warn({ err: e, attempt, retryInMillis: delay }, 'exporter start failed; retrying');
        await sleep(delay, signal);
      }
    }
    return false;
  }

  /** Current status (lag computed against the WAL's durable end). */
  status(): ExporterRunnerStatus {
    const saved = this.saved;
    if (saved) {
      this.st.cursorLsn = saved.lsn;
      this.st.lagEntries = Math.max(0, this.wal.durableLsn - saved.lsn);
      this.st.lagBytes = Math.max(0, this.wal.headBytes() - this.wal.globalBytes(saved));
    }
    return { ...this.st, ...(this.st.lastError ? { lastError: { ...this.st.lastError } } : {}) };
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const reader = this.reader!;
    const o = this.options;
    if (!(await this.startExporter(signal))) return;
    while (!signal.aborted) {
      const pos = reader.position;
      // A batch that was in flight when the process stopped: re-send exactly that range first.
      const pending = this.wal.pendingLastLsn(this.exporter.name);
      if (pending !== undefined && pending > pos.lsn) {
        const read = await reader.read(pending - pos.lsn, Number.MAX_SAFE_INTEGER);
        if (payloadCount(read.payloads) === 0) continue;
        if (!(await this.exportBatch(read, signal, false))) break;
        continue;
      }
      if (this.wal.durableLsn <= pos.lsn) {
        this.st.state = 'idle';
        // false = stopped, or the WAL closed under us: either way there is nothing more to read.
        if (!(await this.wal.waitForDurableBeyond(pos.lsn, signal))) break;
        continue;
      }
      if (o.maxBatchDelayMillis > 0 && !this.draining && this.wal.durableLsn - pos.lsn < o.maxBatchEntries) {
        this.st.state = 'batching';
        const deadline = new AbortController();
        const onAbort = () => deadline.abort();
        signal.addEventListener('abort', onAbort, { once: true });
        const timer = setTimeout(() => deadline.abort(), o.maxBatchDelayMillis);
        while (!deadline.signal.aborted && this.wal.durableLsn - pos.lsn < o.maxBatchEntries) {
          await this.wal.waitForDurableBeyond(pos.lsn + o.maxBatchEntries - 1, deadline.signal);
        }
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) break;
      }
      const read = await reader.read(o.maxBatchEntries, o.maxBatchBytes);
      if (payloadCount(read.payloads) === 0) continue;
      if (!(await this.exportBatch(read, signal, true))) break;
    }
  }

  /**
   * Export one batch until success (then save the cursor) or stop (then rewind the reader).
   * `recordPending`: first persist the batch's range, so a crash before the cursor save re-sends
   * exactly this range (not a larger one) — the exporter's idempotency key is `(firstLsn, lastLsn)`.
   */
  private async exportBatch(read: WalReadResult, signal: AbortSignal, recordPending: boolean): Promise<boolean> {
    const raw = (this.exporter as AuditExporter & ExporterCapabilities).exportPayloads !== undefined;
    let batch: ExportBatch | PayloadBatch;
    if (raw) batch = { firstLsn: read.firstLsn, lastLsn: read.lastLsn, payloads: read.payloads };
    else {
      const p = read.payloads;
      const buf = payloadBuffer(p);
      const entries: WalEntry[] = new Array(payloadCount(p));
      for (let i = 0; i < entries.length; i++)
        entries[i] = decodeWalEntryOrThrow<AuditEvent, CheckpointRecord>(payloadText(p, i, buf), read.firstLsn + i) as WalEntry;
      batch = { firstLsn: read.firstLsn, lastLsn: read.lastLsn, entries };
    }
    if (recordPending) await this.persist(this.saved!, batch.lastLsn, signal);
    const ok = await this.deliver(batch, signal);
    if (!ok) {
      // Stopped before success: the batch stays un-acknowledged and is read again next start.
      this.reader!.seek(this.saved!);
      return false;
    }
    await this.persist(read.end, undefined, signal);
    this.saved = read.end;
    this.st.cursorLsn = read.end.lsn;
    this.onCursorSaved?.();
    return true;
  }

  /** Export with retries until success or stop. */
  private async deliver(batch: ExportBatch | PayloadBatch, signal: AbortSignal): Promise<boolean> {
    const o = this.options;
    let attempt = 0;
    for (;;) {
      if (signal.aborted) return false;
      this.st.state = 'exporting';
      // The previous attempt ran past its deadline: never two attempts of one batch at once.
      if (this.abandoned) {
        await Promise.race([
          this.abandoned,
          new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })),
        ]);
        if (signal.aborted) return false;
        this.abandoned = undefined;
      }
      const result = await this.attempt(batch, signal);
      if (result.status === 'success') {
        this.st.failing = false;
        this.st.consecutiveFailures = 0;
        this.st.exportedBatches++;
        this.st.exportedEntries += 'payloads' in batch ? payloadCount(batch.payloads) : batch.entries.length;
        this.st.lastSuccessAtMillis = Date.now();
        return true;
      }
      this.st.consecutiveFailures++;
      this.st.lastError = { code: result.error.code, message: result.error.message, atMillis: Date.now() };
      // The first failure of a streak and then every tenth (status keeps the latest).
      if (this.st.consecutiveFailures % 10 === 1)
        this.log.warn(
          { err: result.error, status: result.status, consecutiveFailures: this.st.consecutiveFailures, fromLsn: batch.firstLsn },
          'export failed; retrying',
        );
      let delay: number;
      if (result.status === 'failure') {
        this.st.failing = true;
        delay = o.maxBackoffMillis;
      } else if (result.retryAfterMillis !== undefined && result.retryAfterMillis >= 0) {
        delay = result.retryAfterMillis;
      } else {
        delay = backoffDelay(attempt, o.initialBackoffMillis, o.maxBackoffMillis, this.random);
      }
      attempt++;
      this.st.lastBackoffMillis = delay;
      this.st.state = 'backoff';
      await sleep(delay, signal);
    }
  }

  /**
   * One export call under the deadline (`exportTimeoutMillis`, and the runner's stop): the signal is
   * handed to the exporter; past the deadline the attempt is a retryable failure and the call, if
   * still running, is remembered so the next attempt waits for it.
   */
  private async attempt(batch: ExportBatch | PayloadBatch, stop: AbortSignal): Promise<ExportResult> {
    const timeoutMillis = this.options.exportTimeoutMillis ?? 120_000;
    const deadline = AbortSignal.timeout(timeoutMillis);
    // The exporter sees both: a stop asks it to give up early; the runner itself only stops waiting
    // at the deadline (a stop still waits for the call, so its cursor can be saved).
    const signal = AbortSignal.any([stop, deadline]);
    const x = this.exporter as AuditExporter & ExporterCapabilities;
    const call = (async (): Promise<ExportResult> => {
      try {
        return 'payloads' in batch ? await x.exportPayloads!(batch, { signal }) : await x.export(batch, { signal });
      } catch (err) {
        // A throwing exporter is a bug in it; treat as retryable so nothing is skipped.
        return {
          status: 'retryable',
          error: new AuditError('AUDIT_ERR_EXPORT_FAILED', `exporter threw: ${(err as Error)?.message ?? err}`, { cause: err }),
        };
      }
    })();
    let onExpired: (() => void) | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      onExpired = () => resolve('expired');
      deadline.addEventListener('abort', onExpired, { once: true });
    });
    const first = await Promise.race([call, expired]);
    deadline.removeEventListener('abort', onExpired!);
    if (first !== 'expired') return first;
    this.abandoned = call.then(() => undefined);
    return {
      status: 'retryable',
      error: new AuditError(
        'AUDIT_ERR_EXPORT_FAILED',
        `export of LSN ${batch.firstLsn}-${batch.lastLsn} exceeded exportTimeoutMillis (${timeoutMillis} ms)`,
        { retryable: true },
      ),
    };
  }

  /** Persist the cursor (and the pending range); an I/O error is retried with backoff. */
  private async persist(pos: WalPosition, pendingLastLsn: number | undefined, signal: AbortSignal): Promise<void> {
    let attempt = 0;
    for (;;) {
      try {
        await this.wal.saveCursor(this.exporter.name, pos, pendingLastLsn);
        return;
      } catch (err) {
        this.st.lastError = { code: 'AUDIT_ERR_WAL_IO', message: `cursor save failed: ${(err as Error).message}`, atMillis: Date.now() };
        if (attempt % 10 === 0) this.log.warn({ err, cursorLsn: pos.lsn, attempt }, 'cursor save failed; retrying');
        if (signal.aborted) return;
        await sleep(backoffDelay(attempt++, this.options.initialBackoffMillis, this.options.maxBackoffMillis, this.random), signal);
      }
    }
  }
}
