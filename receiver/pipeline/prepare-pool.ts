/**
 * A minimal pool of worker threads for the pipeline's order-free stages (prepare-worker.ts).
 *
 * Why not piscina: the tasks are uniform (one OTLP request each, milliseconds of CPU), so
 * least-loaded dispatch is all the scheduling needed; the pool must transfer buffers both ways,
 * answer a crashed worker's tasks with an error and replace the worker, and nothing else — about
 * a hundred lines, without a dependency.
 *
 * Every task is posted immediately to the worker with the fewest tasks in flight (its message queue
 * is the backlog), so the main thread never holds a queue of its own.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AuditError, type Logger, silentLogger } from '@otel-audit/core';
import { PREPARE_WORKER_HEAP_DEFAULTS, toResourceLimits, type WorkerHeapLimits } from '../worker-limits.ts';
import type { PrepareOutcome, PrepareTask } from './prepare-task.ts';

interface Slot {
  worker: Worker;
  inFlight: Map<number, { resolve: (o: PrepareOutcome) => void; reject: (e: AuditError) => void }>;
}

/** The pool (see the module comment). */
export class PreparePool {
  readonly size: number;
  private slots: Slot[] = [];
  private nextId = 1;
  private closed = false;
  private readonly url: URL;

  private readonly log: Logger;
  private readonly heap: WorkerHeapLimits;

  /**
   * `logger` receives lost workers (a crash or exit: their requests answer retryable). `heap` bounds
   * each worker's V8 heap (`resourceLimits`, default {@link PREPARE_WORKER_HEAP_DEFAULTS}); a worker
   * past it exits with ERR_WORKER_OUT_OF_MEMORY and is replaced like a crashed one.
   */
  constructor(size: number, logger: Logger = silentLogger, heap: WorkerHeapLimits = PREPARE_WORKER_HEAP_DEFAULTS) {
    this.log = logger;
    this.heap = heap;
    if (!Number.isInteger(size) || size < 1)
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `pool size must be a positive integer, got ${size}`);
    this.size = size;
    const ext = extname(fileURLToPath(import.meta.url)) || '.js';
    this.url = new URL(`./prepare-worker${ext}`, import.meta.url);
  }

  /** Start the workers and wait until each is running. */
  async start(): Promise<void> {
    const online: Array<Promise<void>> = [];
    for (let i = 0; i < this.size; i++) online.push(this.spawn(i));
    await Promise.all(online);
  }

  private spawn(index: number): Promise<void> {
    const worker = new Worker(this.url, { name: 'prepare', resourceLimits: toResourceLimits(this.heap) });
    const slot: Slot = { worker, inFlight: new Map() };
    this.slots[index] = slot;
    let ready: (() => void) | undefined;
    worker.on('message', (m: { id: number; outcome?: PrepareOutcome; error?: string; ready?: true }) => {
      if (m.ready) {
        ready?.();
        return;
      }
      const p = slot.inFlight.get(m.id);
      if (!p) return;
      slot.inFlight.delete(m.id);
      if (m.outcome) p.resolve(m.outcome);
      else p.reject(new AuditError('AUDIT_ERR_INTERNAL', `prepare worker failed: ${m.error}`));
    });
    const lost = (why: string) => {
      const err = new AuditError('AUDIT_ERR_INTERNAL', `prepare worker ${why}`);
      if (!this.closed) this.log.error({ err, worker: index, requests: slot.inFlight.size }, 'prepare worker lost; replacing it');
      for (const p of slot.inFlight.values()) p.reject(err);
      slot.inFlight.clear();
      // Replace the worker so the pool keeps its size (a worker only dies of a bug or of memory).
      if (!this.closed && this.slots[index] === slot)
        void this.spawn(index).catch((err: unknown) => this.log.error({ err, worker: index }, 'cannot replace a prepare worker'));
    };
    worker.on('error', (err) => lost(`crashed: ${err.message}`));
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    // Ready once the worker loaded its modules (decoders, schema), not merely started: the first
    // requests must not pay for module loading.
    return new Promise<void>((resolve, reject) => {
      ready = resolve;
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new AuditError('AUDIT_ERR_INTERNAL', `prepare worker exited with code ${code} while starting`)));
    });
  }

  /**
   * Run one task on the least-loaded worker. With `transferBody` the body's memory is moved to the
   * worker (detached here; only for a buffer nobody else uses that spans its whole ArrayBuffer),
   * otherwise the worker gets a copy (a transport's buffer may be a view into memory it reuses; a
   * 300 KB copy costs ~20 µs, far less than decoding it).
   */
  run(task: PrepareTask, transferBody = false): Promise<PrepareOutcome> {
    if (this.closed) return Promise.reject(new AuditError('AUDIT_ERR_SHUTDOWN', 'prepare pool is closed'));
    let slot = this.slots[0]!;
    for (let i = 1; i < this.slots.length; i++) if (this.slots[i]!.inFlight.size < slot.inFlight.size) slot = this.slots[i]!;
    const id = this.nextId++;
    return new Promise<PrepareOutcome>((resolve, reject) => {
      slot.inFlight.set(id, { resolve, reject });
      const body = task.body;
      const own = transferBody && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
      const bytes = own ? body : new Uint8Array(body);
      slot.worker.postMessage({ id, task: { ...task, body: bytes } }, [bytes.buffer as ArrayBuffer]);
    });
  }

  /** Tasks posted and not yet answered. */
  pending(): number {
    let n = 0;
    for (const s of this.slots) n += s.inFlight.size;
    return n;
  }

  /** Terminate the workers (tasks still in flight are rejected). Idempotent. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
