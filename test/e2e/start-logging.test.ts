/**
 * `otel-audit start` as a child process with pipes (not a TTY): the banner goes to standard output,
 * the structured log to standard error as JSON lines; `--log-level` is validated like the config key.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
// No stores: this test is about the process's output channels.
const ENV = {
  ...process.env,
  OTEL_AUDIT_EXPORTERS__CLICKHOUSE__ENABLED: 'false',
  OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false',
  OTEL_AUDIT_UI__ENABLED: 'false',
};

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'otel-audit-start-log-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('otel-audit start: log output', () => {
  it('writes the banner to stdout and JSON log lines to stderr', async () => {
    const dataDir = tempDir();
    const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dataDir, '--http-port', '0', '--grpc-port', '0'], {
      env: ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString('utf8');
        if (/OTLP\/HTTP\s+http:\/\/\S+\/v1\/logs/.test(stdout)) resolve();
      });
      void exited.then((code) => reject(new Error(`exited with ${code} before it was ready:\n${stdout}\n${stderr}`)));
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    // Standard output: the human banner only, no JSON.
    expect(stdout).toMatch(/^otel-audit receiver \S+ ready/);
    expect(stdout.split('\n').filter((l) => l.startsWith('{'))).toEqual([]);
    // Standard error: every line one JSON object (Node's own warnings aside).
    const lines = stderr
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('(node:') && !l.startsWith('(Use `node'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; name?: string; time: string; dataDir?: string; http?: string });
    const ready = lines.find((l) => l.msg === 'receiver ready');
    expect(ready).toMatchObject({ level: 30, name: 'otel-audit', dataDir });
    expect(ready?.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Number.isNaN(Date.parse(ready!.time))).toBe(false);
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['receiver ready', 'stopping', 'stopped']));
  }, 60_000);

  it('refuses an unknown --log-level naming the key', () => {
    const r = spawnSync(process.execPath, [CLI, 'start', '--data-dir', tempDir(), '--log-level', 'loud'], { env: ENV, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/AUDIT_ERR_INVALID_CONFIG.*logLevel/);
  });
});
