import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

describe('setThreadNice', () => {
  it.runIf(process.platform === 'linux')('lowers the priority of the calling worker thread only', async () => {
    const source = new URL('../../receiver/thread-priority.ts', import.meta.url).href;
    const worker = new Worker(
      `import { parentPort } from 'node:worker_threads';
       const { setThreadNice } = await import(${JSON.stringify(source)});
       parentPort.postMessage(setThreadNice(7));
       parentPort.once('message', () => process.exit(0));`,
      { eval: true, type: 'module' } as ConstructorParameters<typeof Worker>[1],
    );
    const result = await new Promise<{ status: string; threadId?: number }>((resolve) => worker.once('message', resolve));
    try {
      expect(result.status).toBe('applied');
      // The kernel's view of that thread: nice is field 19 of /proc/<pid>/task/<tid>/stat.
      const stat = readFileSync(`/proc/${process.pid}/task/${result.threadId}/stat`, 'utf8');
      expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])).toBe(7);
      expect(getPriority(process.pid)).toBe(0);
    } finally {
      worker.postMessage('exit');
      await new Promise((r) => worker.once('exit', r));
    }
  });
});
