/**
 * Worker thread that turns a sealed staging file into a cold object (parse, de-duplicate, Parquet
 * encode with zstd, SHA-256). Encoding tens of thousands of rows takes a second or more of CPU; on
 * the main thread it would stall the receiver's event loop (ingest latency) for that long.
 */
import { parentPort } from 'node:worker_threads';
import { EXPORTER_THREAD_NICE, setThreadNice } from '../../receiver/thread-priority.ts';
import type { BuiltColdObject } from './object-format.ts';
import { type PreparedBuild, runBuilderOp } from './sealed-build.ts';

// Below the threads that acknowledge ingest (receiver/thread-priority.ts).
setThreadNice(EXPORTER_THREAD_NICE);

parentPort?.on('message', (req: { id: number; op: 'build' | 'prepare' | 'finish' }) => {
  runBuilderOp(req.op ?? 'build', req)
    .then((result) => {
      if (!result) return parentPort!.postMessage({ id: req.id, empty: true });
      if (req.op === 'prepare') return parentPort!.postMessage({ id: req.id, prepared: result as PreparedBuild });
      const built = result as BuiltColdObject;
      const transfer = built.bytes.buffer as ArrayBuffer;
      parentPort!.postMessage({ id: req.id, built }, transfer.byteLength === built.bytes.byteLength ? [transfer] : []);
    })
    .catch((err: unknown) => parentPort!.postMessage({ id: req.id, error: (err as Error).message }));
});
