/**
 * `recordThread: 'worker'`: the durable spool lives in a worker thread (record-worker.ts) and this
 * class is its stand-in on the caller's thread. `record()` keeps only what must be synchronous —
 * completing, redacting and validating the event (an invalid event still throws at the call) —
 * and hands the validated event over as one JSON string; the worker maps, encodes, appends and
 * fsyncs. Hand-overs are batched: every `record()` of one synchronous burst (e.g. the callers a
 * group commit just released) travels in one postMessage, and the worker answers each batch with
 * one message once all of it is durable. An array of strings was measured the cheapest form to
 * cross threads (bench/sdk-record.ts, docs/performance.md): structured clone of event objects
 * costs ~3x more on the sending thread, and utf8-encoding into a SharedArrayBuffer ring ~2x more.
 *
 * It implements {@link Spool} for the sender (reads and acks are forwarded; records come back as
 * one transferred buffer) and for the audit processor of an app's provider (pre-encoded records).
 * One writer: only the worker touches the spool files. The lock file is taken here, synchronously,
 * so that `createAuditLogger()` still throws for a locked or unusable spool directory.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AuditError, type OperationResult } from '@otel-audit/core';
import {
  deserializeAuditError,
  type EncodedItem,
  type RecordWorkerData,
  type RecordWorkerRequest,
  type RecordWorkerResponse,
  type RecordWorkerStats,
  serializeAuditError,
} from './record-worker.ts';
import { lockSpoolDir, unlockSpoolDir } from './spool/file-spool.ts';
import { unpackSpoolRecords } from './spool/packed-records.ts';
import type { Spool, SpoolBatch, SpoolCursor, SpoolProblemListener, SpoolStats } from './spool/types.ts';

// The worker file sits next to this module: record-worker.ts in a source checkout (Node strips
// the types), record-worker.js in the built package.
const WORKER_URL = new URL(`./record-worker${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** Called once per append with its outcome (`undefined`: durable). */
export type AppendSettler = (error: AuditError | undefined) => void;

/** Options of {@link RecordThread}. */
export interface RecordThreadOptions extends RecordWorkerData {
  /** Spool problems (corruption recovered, I/O failures) and the worker's failure. */
  onProblem: SpoolProblemListener;
}

type Pending = (m: RecordWorkerResponse) => void;

/** The spool in a worker thread; see the module comment. */
export class RecordThread implements Spool {
  private worker: Worker;
  private readonly data: RecordWorkerData;
  private readyPromise: Promise<void> = Promise.resolve();
  /** Workers lost in a row without one opening the spool (a crash loop ends at 3). */
  private lostInARow = 0;
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly onProblem: SpoolProblemListener;
  private readonly listeners: Array<() => void> = [];
  /** The batch being gathered in this synchronous burst. */
  private items: Array<string | EncodedItem> = [];
  private observed: number[] = [];
  private settlers: AppendSettler[] = [];
  private scheduled = false;
  private nextBatch = 1;
  private nextRequest = 1;
  private readonly batches = new Map<number, AppendSettler[]>();
  private readonly requests = new Map<number, Pending>();
  /** Appends handed to this class so far (the worker's `processed` catches up with it). */
  private taken = 0;
  private reported: RecordWorkerStats = { pendingRecords: 0, pendingBytes: 0, processed: 0 };
  private refed = false;
  private starting = false;
  private dead: AuditError | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private markReady: () => void = () => {};

  constructor(options: RecordThreadOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    this.onProblem = options.onProblem;
    lockSpoolDir(options.dir);
    this.data = {
      dir: path.resolve(options.dir),
      maxBytes: options.maxBytes,
      maxSegmentBytes: options.maxSegmentBytes,
      serviceName: options.serviceName,
      resourceAttributes: options.resourceAttributes,
    };
    try {
      this.worker = this.start();
    } catch (err) {
      unlockSpoolDir(options.dir);
      throw err;
    }
  }

  /** Resolves once the worker has opened the spool (or failed to). */
  get ready(): Promise<void> {
    return this.readyPromise;
  }

  private start(): Worker {
    this.readyPromise = new Promise((resolve) => {
      this.markReady = resolve;
    });
    // `--input-type` (a `node -e` flag) would fail the worker's start: it is not for files.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    const worker = new Worker(WORKER_URL, { workerData: this.data, execArgv });
    // Referenced while starting and while appends or requests are outstanding: an idle logger
    // must not keep the process alive (unsent events are in the spool); a pending record() or a
    // flush() waiting for the spool to open must. A new Worker starts referenced.
    this.starting = true;
    this.refed = true;
    // Events of a replaced worker are ignored.
    worker.on('message', (m: RecordWorkerResponse) => {
      if (worker === this.worker) this.onMessage(m);
    });
    worker.on('error', (err) => {
      if (worker === this.worker) this.lost(`the record worker failed: ${err.message}`);
    });
    worker.on('exit', (code) => {
      if (worker === this.worker) this.lost(`the record worker exited (code ${code})`);
    });
    return worker;
  }

  /**
   * Hand over one validated event (as JSON) observed at `observedMillis`; `settle` is called
   * once it is durable or failed (`AUDIT_ERR_SPOOL_FULL`, `AUDIT_ERR_SHUTDOWN`, I/O errors).
   */
  appendEvent(json: string, observedMillis: number, settle: AppendSettler): void {
    if (this.closed || this.dead) {
      settle(this.dead ?? new AuditError('AUDIT_ERR_SHUTDOWN', 'the audit spool is closed'));
      return;
    }
    this.items.push(json);
    this.observed.push(observedMillis);
    this.settlers.push(settle);
    this.taken++;
    if (!this.scheduled) {
      this.scheduled = true;
      // After the current synchronous burst and the microtasks already queued (the other callers
      // a batch answer just released), so that they share one message.
      queueMicrotask(() => this.send());
    }
  }

  append(contextJson: string, payload: Buffer): Promise<OperationResult> {
    return new Promise((resolve) => {
      const settle: AppendSettler = (error) => resolve(error ? { status: 'failure', error } : { status: 'success', value: undefined });
      if (this.closed || this.dead) {
        settle(this.dead ?? new AuditError('AUDIT_ERR_SHUTDOWN', 'the audit spool is closed'));
        return;
      }
      this.items.push({ contextJson, payload });
      this.observed.push(0);
      this.settlers.push(settle);
      this.taken++;
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => this.send());
      }
    });
  }

  async read(maxRecords: number): Promise<SpoolBatch> {
    const m = await this.request({ type: 'read', id: 0, maxRecords });
    if (m.type !== 'read') throw new AuditError('AUDIT_ERR_INTERNAL', 'reading the spool in the record worker failed', { retryable: true });
    return { records: unpackSpoolRecords(m), end: m.end };
  }

  async ack(end: SpoolCursor, records: number): Promise<void> {
    const m = await this.request({ type: 'ack', id: 0, end, records }).catch((err: AuditError) => {
      // A dead worker cannot acknowledge: the records stay in the spool and are sent again by the
      // next logger (at-least-once); the sender must not stop on it.
      this.onProblem(err);
      return undefined;
    });
    if (m?.type === 'acked' && m.error) this.onProblem(deserializeAuditError(m.error));
  }

  onReadable(listener: () => void): void {
    this.listeners.push(listener);
  }

  stats(): SpoolStats {
    // The worker's last count plus what it has not taken yet (failures among those are counted
    // until its answer arrives: the count errs towards "pending", never towards "delivered").
    const notYetTaken = Math.max(0, this.taken - this.reported.processed);
    return {
      pendingRecords: this.reported.pendingRecords + notYetTaken,
      pendingBytes: this.reported.pendingBytes,
      maxBytes: this.maxBytes,
    };
  }

  /** Send what is gathered, wait for every append, close the spool in the worker, stop it. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.send();
      this.closed = true;
      await this.ready;
      if (!this.dead) {
        await this.request({ type: 'close', id: 0 }).catch(() => undefined);
      }
      this.dead ??= new AuditError('AUDIT_ERR_SHUTDOWN', 'the audit spool is closed');
      await this.worker.terminate();
      // Normally released by the worker's spool; after a worker failure it is still ours.
      unlockSpoolDir(this.dir);
    })();
    return this.closing;
  }

  // ---------------------------------------------------------------------------------------------

  private send(): void {
    this.scheduled = false;
    if (this.items.length === 0) return;
    const batch = this.nextBatch++;
    const message: RecordWorkerRequest = { type: 'append', batch, items: this.items, observed: this.observed };
    this.batches.set(batch, this.settlers);
    this.items = [];
    this.observed = [];
    this.settlers = [];
    this.updateRef();
    this.worker.postMessage(message);
  }

  private request(m: RecordWorkerRequest & { id: number }): Promise<RecordWorkerResponse> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextRequest++;
    m.id = id;
    return new Promise((resolve, reject) => {
      this.requests.set(id, (answer) =>
        answer.type === 'failed' || answer.type === 'readFailed' ? reject(deserializeAuditError(answer.error)) : resolve(answer),
      );
      this.updateRef();
      this.worker.postMessage(m);
    });
  }

  private onMessage(m: RecordWorkerResponse): void {
    switch (m.type) {
      case 'appended': {
        this.reported = m.stats;
        const settlers = this.batches.get(m.batch);
        this.batches.delete(m.batch);
        this.updateRef();
        if (!settlers) return;
        let f = 0;
        const failures = m.failures;
        for (let i = 0; i < settlers.length; i++) {
          if (f < failures.length && failures[f]![0] === i) settlers[i]!(deserializeAuditError(failures[f++]![1]));
          else settlers[i]!(undefined);
        }
        if (failures.length < settlers.length) for (const l of this.listeners) l();
        return;
      }
      case 'read':
      case 'readFailed':
      case 'acked':
      case 'closed': {
        if (m.type === 'read' || m.type === 'acked')
          this.reported = { ...m.stats, processed: Math.max(m.stats.processed, this.reported.processed) };
        const pending = this.requests.get(m.id);
        this.requests.delete(m.id);
        this.updateRef();
        pending?.(m);
        return;
      }
      case 'ready':
        this.reported = m.stats;
        this.starting = false;
        this.lostInARow = 0;
        this.updateRef();
        this.markReady();
        // Records left by an earlier process are readable now.
        if (m.stats.pendingRecords > 0) for (const l of this.listeners) l();
        return;
      case 'problem':
        this.onProblem(deserializeAuditError(m.error));
        return;
      case 'failed': {
        const error = deserializeAuditError(m.error);
        this.onProblem(error);
        this.fail(error);
        unlockSpoolDir(this.dir);
        this.markReady();
        return;
      }
    }
  }

  /**
   * The worker died (an uncaught error in it, or it was terminated). Outstanding appends and
   * requests fail with a retryable `AUDIT_ERR_INTERNAL` (appends may still have reached the disk:
   * they are then delivered, at least once, like any spooled event), and a new worker takes over
   * the spool: it opens it as after a crash (torn tail cut off). Three losses in a row without one
   * opening the spool, or a loss while closing, fail the spool for good.
   */
  private lost(message: string): void {
    if (this.dead) return;
    const error = new AuditError('AUDIT_ERR_INTERNAL', message, { retryable: true });
    if (this.closed || ++this.lostInARow >= 3) {
      if (!this.closed) this.onProblem(error);
      this.fail(error);
      this.markReady();
      return;
    }
    this.onProblem(new AuditError('AUDIT_ERR_INTERNAL', `${message}; starting a new one`, { retryable: true }));
    this.settleOutstanding(error);
    this.markReady();
    // What is gathered but not sent yet goes to the new worker, whose counts start from zero.
    this.taken = this.items.length;
    this.reported = { pendingRecords: 0, pendingBytes: 0, processed: 0 };
    this.worker = this.start();
  }

  /** Fail everything outstanding and everything to come with `error`. */
  private fail(error: AuditError): void {
    this.dead ??= error;
    const gathered = this.settlers;
    this.items = [];
    this.observed = [];
    this.settlers = [];
    for (const s of gathered) s(error);
    this.settleOutstanding(error);
  }

  /** Fail the appends and requests the worker has not answered. */
  private settleOutstanding(error: AuditError): void {
    const settlers = [...this.batches.values()].flat();
    this.batches.clear();
    for (const s of settlers) s(error);
    const answer: RecordWorkerResponse = { type: 'failed', error: serializeAuditError(error) };
    const requests = [...this.requests.values()];
    this.requests.clear();
    for (const r of requests) r(answer);
    this.updateRef();
  }

  private updateRef(): void {
    const busy = !this.dead && (this.starting || this.batches.size > 0 || this.requests.size > 0);
    if (busy === this.refed) return;
    this.refed = busy;
    if (busy) this.worker.ref();
    else this.worker.unref();
  }
}
