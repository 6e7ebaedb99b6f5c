import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { acquireLockFile, atomicWriteFile, fsyncDir, fsyncDirSync, releaseLockFile } from '@otel-audit/core';
import { afterEach, describe, expect, it } from 'vitest';

const dirs: string[] = [];
function temp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'durable-fs-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A real other process that holds `file` as its lock until killed. */
function holder(file: string): Promise<{ pid: number; kill(): Promise<void> }> {
  const code = `
    const { acquireLockFile } = await import(${JSON.stringify(new URL('../../core/durable-fs.ts', import.meta.url).href)});
    const r = acquireLockFile(${JSON.stringify(file)});
    console.log(r.status);
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => {
      if (d.toString().trim() !== 'acquired') reject(new Error(`holder: ${d.toString()}`));
      resolve({
        pid: child.pid!,
        kill: () =>
          new Promise((r) => {
            child.once('exit', () => r());
            child.kill('SIGKILL');
          }),
      });
    });
    child.once('error', reject);
  });
}

describe('durable file helpers', () => {
  it('writes atomically and fsyncs directories', async () => {
    const d = temp();
    const f = path.join(d, 'state.json');
    await atomicWriteFile(f, '{"a":1}');
    await atomicWriteFile(f, '{"a":2}');
    expect(readFileSync(f, 'utf8')).toBe('{"a":2}');
    await fsyncDir(d);
    fsyncDirSync(d);
    await expect(fsyncDir(path.join(d, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('lock: one owner at a time; busy while a live process holds it; taken over after it is SIGKILLed', async () => {
    const d = temp();
    const file = path.join(d, 'LOCK');
    const other = await holder(file);
    expect(acquireLockFile(file)).toMatchObject({ status: 'busy', ownerPid: other.pid });
    await other.kill();
    const mine = acquireLockFile(file);
    expect(mine.status).toBe('acquired');
    expect(readFileSync(file, 'utf8').trim()).toBe(String(process.pid));
    // Held by this very process: a second component must not share the directory.
    expect(acquireLockFile(file)).toMatchObject({ status: 'busy', ownerPid: process.pid });
    if (mine.status === 'acquired') mine.release();
    expect(existsSync(file)).toBe(false);
  });

  it('release leaves another process’s lock alone; a garbage lock file is stale', () => {
    const d = temp();
    const file = path.join(d, 'LOCK');
    writeFileSync(file, '1\n'); // pid 1 is alive (init) and not us
    releaseLockFile(file);
    expect(existsSync(file)).toBe(true);
    expect(acquireLockFile(file)).toMatchObject({ status: 'busy', ownerPid: 1 });
    writeFileSync(file, 'not a pid');
    expect(acquireLockFile(file).status).toBe('acquired');
    expect(() => acquireLockFile(path.join(d, 'no-such-dir', 'LOCK'))).toThrow(/ENOENT/);
  });
});
