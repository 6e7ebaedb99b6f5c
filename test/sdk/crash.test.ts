import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startOtlpEndpoint } from './helpers/otlp-endpoint.ts';
import { tempDir } from './helpers/util.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'crash-child.ts');

describe.each(['main', 'worker'] as const)('crash (recordThread: %s)', (recordThread) => {
  it('a new process sends every event whose record() resolved before SIGKILL, with the same ids', async () => {
    const endpoint = await startOtlpEndpoint();
    const { dir, cleanup } = tempDir();
    try {
      // Phase 1: the receiver refuses (503), so acknowledged-to-producer events pile up in the spool.
      endpoint.defaultAnswer = { kind: 'error', httpStatus: 503, grpcCode: 14 };
      const resolved: string[] = [];
      const child = spawn(process.execPath, [CHILD, 'record', dir, endpoint.httpUrl, recordThread], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      let buffered = '';
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          if (line.startsWith('ok ')) resolved.push(line.slice(3));
        }
        // Kill mid-stream, while record() calls are in flight and the sender is retrying.
        if (resolved.length >= 500 && !child.killed) child.kill('SIGKILL');
      });
      const signal = await exited;
      expect(signal, stderr).toBe('SIGKILL');
      expect(resolved.length).toBeGreaterThanOrEqual(500);

      // Phase 2: the receiver is healthy; a new process opens the same spool.
      endpoint.defaultAnswer = { kind: 'ok' };
      const out = await new Promise<string>((resolve, reject) => {
        const second = spawn(process.execPath, [CHILD, 'resend', dir, endpoint.httpUrl, recordThread], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let text = '';
        second.stdout.on('data', (d: Buffer) => (text += d.toString()));
        second.on('error', reject);
        second.on('exit', () => resolve(text));
      });
      expect(out.trim()).toBe('flushed success 0');
      const delivered = new Set(endpoint.eventIds());
      const missing = resolved.filter((id) => !delivered.has(id));
      expect(missing).toEqual([]);
      // Every delivered record is a complete, valid audit event.
      expect(() => endpoint.events()).not.toThrow();
    } finally {
      await endpoint.close();
      cleanup();
    }
  });

  it('an idle logger does not keep the process alive, and what it left is sent by the next one', async () => {
    const endpoint = await startOtlpEndpoint();
    const { dir, cleanup } = tempDir();
    try {
      endpoint.defaultAnswer = { kind: 'error', httpStatus: 503, grpcCode: 14 };
      const run = (mode: string) =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn(process.execPath, [CHILD, mode, dir, endpoint.httpUrl, recordThread], {
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.on('exit', (code) => resolve({ code, out }));
        });
      // Resolves only if the child exits by itself (vitest's timeout fails the test otherwise).
      const first = await run('no-shutdown');
      expect(first.code).toBe(0);
      const id = first.out.trim().replace(/^ok /, '');
      endpoint.defaultAnswer = { kind: 'ok' };
      expect((await run('resend')).out.trim()).toBe('flushed success 0');
      expect(endpoint.eventIds()).toContain(id);
    } finally {
      await endpoint.close();
      cleanup();
    }
  });
});
