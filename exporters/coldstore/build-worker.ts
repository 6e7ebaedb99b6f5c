/**
 * Worker thread that turns a sealed staging file into a cold object (parse, de-duplicate, Parquet
 * encode with zstd, SHA-256). Encoding tens of thousands of rows takes a second or more of CPU; on
 * the main thread it would stall the receiver's event loop (ingest latency) for that long.
 */
import { parentPort } from 'node:worker_threads';
import { buildFromSealedFile, type BuildRequest } from './sealed-build.ts';

parentPort?.on('message', (req: BuildRequest & { id: number }) => {
  buildFromSealedFile(req)
    .then((built) => {
      if (!built) return parentPort!.postMessage({ id: req.id, empty: true });
      const transfer = built.bytes.buffer as ArrayBuffer;
      parentPort!.postMessage({ id: req.id, built }, [transfer]);
    })
    .catch((err: unknown) => parentPort!.postMessage({ id: req.id, error: (err as Error).message }));
});
