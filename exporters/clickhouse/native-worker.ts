/**
 * Worker thread of the ClickHouse exporter: parses WAL payloads, builds rows and encodes Native
 * blocks (about 20–30 µs of CPU per event), so none of that runs on the receiver's event loop,
 * which acknowledges ingest.
 */
import { parentPort } from 'node:worker_threads';
import { EXPORTER_THREAD_NICE, setThreadNice } from '../../receiver/thread-priority.ts';
import { buildNative, type NativeBuildRequest } from './native-build.ts';

// Below the threads that acknowledge ingest (receiver/thread-priority.ts).
setThreadNice(EXPORTER_THREAD_NICE);

parentPort?.on('message', (req: NativeBuildRequest & { id: number }) => {
  try {
    buildNative(req, {
      plan(chunks) {
        parentPort!.postMessage({ id: req.id, plan: chunks });
      },
      chunk(c) {
        if (c.bytes) {
          const buf = c.bytes.buffer as ArrayBuffer;
          parentPort!.postMessage({ id: req.id, chunk: c }, buf.byteLength === c.bytes.byteLength ? [buf] : []);
        } else {
          parentPort!.postMessage({ id: req.id, chunk: c });
        }
      },
      done(s) {
        parentPort!.postMessage({ id: req.id, done: s });
      },
    });
  } catch (err) {
    parentPort!.postMessage({ id: req.id, error: (err as Error).message });
  }
});
