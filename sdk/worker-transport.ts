/**
 * Runs the OTLP exporter in a worker thread (export-worker.ts). Encoding a batch as OTLP protobuf
 * or JSON costs about as much CPU as recording it; on its own thread it no longer competes with
 * `record()` and the application for the event loop. Records travel as their spool payloads in one
 * transferred buffer (no re-encoding). A worker that dies is replaced at the next send; its
 * in-flight batch counts as a retryable failure (the records are still in the spool).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AuditError } from '@otel-audit/core';
import type { WorkerExportRequest, WorkerExportResponse } from './export-worker.ts';
import type { OtlpExporterSettings } from './otlp-exporter.ts';
import type { ExportTransport, TransportResult } from './sender.ts';
import { packSpoolRecords } from './spool/packed-records.ts';
import type { SpoolRecord } from './spool/types.ts';

// The worker file sits next to this module: export-worker.ts in a source checkout (Node strips
// the types), export-worker.js in the built package.
const WORKER_URL = new URL(`./export-worker${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** Create the transport and start its worker (start-up overlaps with the application's). */
export function createWorkerTransport(settings: OtlpExporterSettings, exportTimeoutMillis: number): ExportTransport {
  let worker: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, (r: TransportResult) => void>();
  const failAll = (message: string): void => {
    for (const [id, resolve] of pending) {
      pending.delete(id);
      resolve({ kind: 'retryable', error: new AuditError('AUDIT_ERR_EXPORT_FAILED', message, { retryable: true }) });
    }
  };
  const start = (): Worker => {
    const w = new Worker(WORKER_URL, { workerData: { settings } });
    // The worker must not keep the process alive: unsent records are in the spool.
    w.unref();
    w.on('message', (m: WorkerExportResponse | { type: 'closed' }) => {
      if (m.type !== 'result') return;
      const resolve = pending.get(m.id);
      if (!resolve) return;
      pending.delete(m.id);
      if (m.kind === 'success') resolve({ kind: 'success', partial: m.partial });
      else if (m.kind === 'invalid') resolve({ kind: 'invalid', message: m.message });
      else {
        const error = new AuditError('AUDIT_ERR_EXPORT_FAILED', `${m.message} (will retry)`, { retryable: true });
        resolve(
          m.retryAfterMillis === undefined
            ? { kind: 'retryable', error }
            : { kind: 'retryable', error, retryAfterMillis: m.retryAfterMillis },
        );
      }
    });
    w.on('error', (err) => failAll(`the export worker failed: ${err.message}`));
    w.on('exit', () => {
      if (worker === w) worker = undefined;
      failAll('the export worker exited');
    });
    return w;
  };
  worker = start();
  return {
    send(records: SpoolRecord[]): Promise<TransportResult> {
      worker ??= start();
      const { contexts, contextOf, offsets, data } = packSpoolRecords(records);
      const id = nextId++;
      const message: WorkerExportRequest = { type: 'export', id, contexts, contextOf, offsets, data };
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          if (!pending.delete(id)) return;
          resolve({
            kind: 'retryable',
            error: new AuditError('AUDIT_ERR_EXPORT_FAILED', 'the export did not complete in time', { retryable: true }),
          });
        }, exportTimeoutMillis).unref();
        pending.set(id, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        worker!.postMessage(message, [data.buffer as ArrayBuffer]);
      });
    },
    async shutdown(): Promise<void> {
      const w = worker;
      worker = undefined;
      if (!w) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        w.on('message', (m: { type: string }) => {
          if (m.type === 'closed') {
            clearTimeout(timer);
            resolve();
          }
        });
        w.postMessage({ type: 'shutdown' });
      });
      await w.terminate();
      failAll('the audit logger was shut down');
    },
  };
}
