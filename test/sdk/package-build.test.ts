/**
 * The installed package runs compiled JS (Node does not strip types inside node_modules). This
 * compiles the SDK with tsconfig.build.json's settings into a temporary install
 * (node_modules/otel-audit with the project's package.json and dist/), imports it by package name
 * from a consumer script run on the project's Node 24, and records an event through it.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startOtlpEndpoint } from './helpers/otlp-endpoint.ts';
import { tempDir } from './helpers/util.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('built package', () => {
  it('imports as "otel-audit" and "otel-audit/sdk" from compiled JS and records an event', async () => {
    const { dir, cleanup } = tempDir('otel-audit-pkg-');
    const endpoint = await startOtlpEndpoint();
    try {
      const pkgDir = path.join(dir, 'node_modules', 'otel-audit');
      fs.mkdirSync(pkgDir, { recursive: true });
      fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkgDir, 'package.json'));
      // Dependencies of the package resolve from the project's node_modules.
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkgDir, 'node_modules'), 'dir');
      // Compile only what the public entry points import (the build script compiles everything).
      const tsconfig = path.join(dir, 'tsconfig.json');
      fs.writeFileSync(
        tsconfig,
        JSON.stringify({
          extends: path.join(ROOT, 'tsconfig.build.json'),
          compilerOptions: { outDir: path.join(pkgDir, 'dist'), rootDir: ROOT, sourceMap: false, declaration: true, types: ['node'], typeRoots: [path.join(ROOT, 'node_modules/@types')] },
          // export-worker.ts is an entry point of its own (loaded by URL as a worker thread).
          files: [path.join(ROOT, 'sdk/index.ts'), path.join(ROOT, 'sdk/export-worker.ts'), path.join(ROOT, 'schema/index.ts')],
          include: [],
        }),
      );
      const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { encoding: 'utf8' });
      expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
      expect(fs.existsSync(path.join(pkgDir, 'dist/sdk/index.js'))).toBe(true);
      expect(fs.existsSync(path.join(pkgDir, 'dist/sdk/index.d.ts'))).toBe(true);

      const consumer = path.join(dir, 'consumer.mjs');
      fs.writeFileSync(
        consumer,
        `import { createAuditLogger, runWithAuditContext } from 'otel-audit';
import * as sdk from 'otel-audit/sdk';
import { validateAuditEvent } from 'otel-audit/schema';
if (sdk.createAuditLogger !== createAuditLogger) throw new Error('subpath export mismatch');
if (typeof validateAuditEvent !== 'function') throw new Error('schema export missing');
// The export worker too: its file must resolve inside dist/ (export-worker.js).
const audit = createAuditLogger({ delivery: 'memory', exportThread: 'worker', exporter: { endpoint: process.argv[2] } });
const id = await runWithAuditContext({ actor: { id: 'u-1', type: 'user' }, tenant: { id: 'acme' } }, () =>
  audit.record({ action: 'package.smoke', outcome: 'success' }));
const flushed = await audit.flush({ timeoutMillis: 10000 });
await audit.shutdown();
console.log(JSON.stringify({ id, flushed: flushed.status }));
`,
      );
      // Asynchronous spawn: the endpoint lives in this process and must keep answering.
      const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [consumer, endpoint.httpUrl], { cwd: dir });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('exit', (status) => resolve({ status, stdout, stderr }));
      });
      expect(run.status, run.stderr).toBe(0);
      const out = JSON.parse(run.stdout.trim()) as { id: string; flushed: string };
      expect(out.flushed).toBe('success');
      expect(endpoint.eventIds()).toEqual([out.id]);
      expect(endpoint.events()[0]).toMatchObject({ action: 'package.smoke', actor: { id: 'u-1' } });
      // No TypeScript sources are loaded from the package.
      expect(fs.readdirSync(path.join(pkgDir, 'dist/sdk')).some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toBe(false);
    } finally {
      await endpoint.close();
      cleanup();
    }
  });
});
