/**
 * Child process of the crash test (run with Node 24 type stripping). A fourth argument sets
 * `recordThread` (`main` or `worker`; default `main`).
 *   record <spoolDir> <endpoint>: record events forever in durable mode, printing "ok <id>" for
 *     every record() that resolved; the parent kills it with SIGKILL.
 *   resend <spoolDir> <endpoint>: open the same spool, wait until everything is delivered, print
 *     "flushed <status> <pendingRecords>" and exit.
 *   no-shutdown <spoolDir> <endpoint>: record one event and return without shutdown().
 */
import { createAuditLogger } from '@otel-audit/sdk';

const [mode, spoolDir, endpoint, recordThread = 'main'] = process.argv.slice(2);
const audit = createAuditLogger({
  spoolDir: spoolDir!,
  recordThread: recordThread as 'main' | 'worker',
  exporter: { endpoint: endpoint!, timeoutMillis: 500 },
  minBackoffMillis: 10,
  maxBackoffMillis: 100,
  maxSegmentBytes: 64 * 1024, // small segments: the crash lands on segment boundaries too
});

if (mode === 'record') {
  let n = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = n++;
      const id = await audit.record({
        action: 'document.read',
        outcome: 'success',
        actor: { id: `u-${i % 7}`, type: 'user' },
        tenant: { id: 'acme' },
        details: { i, pad: 'p'.repeat(i % 200) },
      });
      process.stdout.write(`ok ${id}\n`);
    }
  };
  for (let w = 0; w < 16; w++) void worker();
} else if (mode === 'no-shutdown') {
  // Record and return without shutdown(): the process must still exit on its own (the receiver is
  // down, so the sender is retrying; its timers and worker are unref'd).
  process.stdout.write(
    `ok ${await audit.record({ action: 'a.b', outcome: 'success', actor: { id: 'u', type: 'user' }, tenant: { id: 't' } })}\n`,
  );
} else {
  const result = await audit.flush({ timeoutMillis: 20_000 });
  const pending = audit.stats().pendingRecords;
  await audit.shutdown({ timeoutMillis: 1000 });
  process.stdout.write(`flushed ${result.status} ${pending}\n`);
}
