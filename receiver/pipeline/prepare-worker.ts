/**
 * Worker thread of the pipeline's {@link PreparePool}: runs {@link runPrepareTask} for each message
 * `{ id, task }` and answers `{ id, outcome }`, transferring the prepared buffers back. An unexpected
 * exception (a bug: the task itself never throws for bad input) is answered as `{ id, error }` so
 * the request fails with a 500 and the worker keeps serving. The first message, `{ ready: true }`,
 * says its modules are loaded.
 */
import { parentPort } from 'node:worker_threads';
import { outcomeTransferList, type PrepareTask, runPrepareTask } from './prepare-task.ts';

parentPort?.on('message', (message: { id: number; task: PrepareTask }) => {
  try {
    const outcome = runPrepareTask(message.task);
    parentPort!.postMessage({ id: message.id, outcome }, outcomeTransferList(outcome));
  } catch (err) {
    parentPort!.postMessage({ id: message.id, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
});
// Modules are loaded once this line runs: tell the pool the worker can take tasks.
parentPort?.postMessage({ ready: true });
