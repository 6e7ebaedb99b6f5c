/**
 * The packages as users get them: `npm pack` of the four workspace packages, installed from the
 * tarballs into empty projects (`npm install --prefer-offline`, so chDB comes from the npm cache
 * when it is there), with real processes on the project's Node 24:
 *
 * - an SDK-only install (`@otel-audit/sdk` + core + schema) holds no chDB, AWS SDK, Postgres
 *   driver, hyparquet or native module, and its size is reported;
 * - `npx otel-audit start` from the installed `otel-audit` package runs the receiver (compiled JS);
 * - the installed SDK, configured only by OTel environment variables (endpoint, headers with a
 *   percent-encoded bearer token, service name, resource attributes), records an event;
 * - the event is queried back through the receiver (`npx otel-audit query` and the HTTP endpoint).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../receiver/auth/index.ts';
import { freePort } from '../e2e/helpers/receiver-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKSPACES = ['@otel-audit/core', '@otel-audit/schema', '@otel-audit/sdk'];
/** Packages an SDK-only install must not contain (the receiver's heavy or native dependencies). */
const FORBIDDEN = [/^chdb$/, /^@aws-sdk\//, /^pg$/, /^hyparquet/, /^@clickhouse\//];
/** Installed-size budget of the SDK-only install (docs/sdk.md). */
const SDK_INSTALL_BUDGET_BYTES = 60 * 1024 * 1024;

const work = mkdtempSync(path.join(tmpdir(), 'otel-audit-pack-'));
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const child of children) await stopGroup(child);
  rmSync(work, { recursive: true, force: true });
});

/**
 * Environment of the child processes: the project's Node 24 first on PATH (npm, npx and the
 * package's `#!/usr/bin/env node` bin run on it), and none of this test run's settings that would
 * change what an installed package resolves or how npm behaves: the source export condition in
 * NODE_OPTIONS (vitest.config.ts) and the npm_* variables of the `npm test` that started us.
 */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('npm_') || k === 'NODE_OPTIONS' || k.startsWith('OTEL_')) continue;
    env[k] = v;
  }
  env.PATH = `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`;
  return { ...env, ...extra };
}

/** Run a command to completion; rejects with its output when it exits non-zero. */
function run(cmd: string, args: string[], cwd: string, env = childEnv()): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}\n${stdout}\n${stderr}`));
    });
  });
}

/** SIGTERM the process group of a child started with `detached: true` (npx → node), then SIGKILL. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }, 10_000);
  await exited;
  clearTimeout(timer);
}

/** Packages installed under `node_modules` (names like `pg`, `@aws-sdk/client-s3`), any depth. */
function installedPackages(nodeModules: string, out = new Set<string>()): Set<string> {
  for (const name of readdirSync(nodeModules)) {
    if (name.startsWith('.')) continue;
    const dir = path.join(nodeModules, name);
    const scoped = name.startsWith('@')
      ? readdirSync(dir).map((n) => [`${name}/${n}`, path.join(dir, n)] as const)
      : [[name, dir] as const];
    for (const [pkg, pkgDir] of scoped) {
      out.add(pkg);
      const nested = path.join(pkgDir, 'node_modules');
      if (lstatSafe(nested)?.isDirectory()) installedPackages(nested, out);
    }
  }
  return out;
}

function lstatSafe(p: string) {
  try {
    return lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Apparent size of a tree in bytes, and its native modules (`*.node` files). */
function treeStats(dir: string, acc = { bytes: 0, native: [] as string[] }): { bytes: number; native: string[] } {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) treeStats(p, acc);
    else if (entry.isFile()) {
      acc.bytes += lstatSync(p).size;
      if (entry.name.endsWith('.node')) acc.native.push(path.relative(dir, p));
    }
  }
  return acc;
}

describe('packed packages installed from their tarballs', () => {
  const tarballs = new Map<string, string>();
  const sdkApp = path.join(work, 'sdk-app');
  const receiverApp = path.join(work, 'receiver-app');

  it('pack: compiled JS + types, no tests, benchmarks or sources', async () => {
    const dest = path.join(work, 'tarballs');
    mkdirSync(dest);
    // The workspaces build on prepack (core first: the others compile against its dist/ types).
    for (const ws of WORKSPACES) {
      const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dest, '-w', ws], ROOT);
      const [info] = JSON.parse(stdout) as Array<{ name: string; filename: string; files: Array<{ path: string }> }>;
      tarballs.set(info!.name, path.join(dest, info!.filename));
      checkFiles(
        info!.name,
        info!.files.map((f) => f.path),
      );
    }
    // The root package's own build (its `prepare` would rebuild the workspaces once more).
    await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], ROOT);
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], ROOT);
    const [info] = JSON.parse(stdout) as Array<{ name: string; filename: string; files: Array<{ path: string }> }>;
    tarballs.set(info!.name, path.join(dest, info!.filename));
    checkFiles(
      info!.name,
      info!.files.map((f) => f.path),
    );
    expect(info!.files.map((f) => f.path)).toContain('dist/cli/main.js');
    expect([...tarballs.keys()].sort()).toEqual(['@otel-audit/core', '@otel-audit/schema', '@otel-audit/sdk', 'otel-audit']);

    function checkFiles(name: string, files: string[]) {
      expect(files, name).toContain('README.md');
      expect(files, name).toContain('package.json');
      expect(
        files.some((f) => f.endsWith('.d.ts')),
        name,
      ).toBe(true);
      const unwanted = files.filter(
        (f) => /(^|\/)(test|bench|results)\//.test(f) || f.endsWith('.test.js') || (f.endsWith('.ts') && !f.endsWith('.d.ts')),
      );
      expect(unwanted, name).toEqual([]);
    }
  }, 600_000);

  it('the SDK installs alone without chDB, the AWS SDK, pg, hyparquet or native modules', async () => {
    mkdirSync(sdkApp);
    writeFileSync(path.join(sdkApp, 'package.json'), JSON.stringify({ name: 'sdk-app', private: true, type: 'module' }));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...WORKSPACES.map((w) => tarballs.get(w)!)], sdkApp);
    const nodeModules = path.join(sdkApp, 'node_modules');
    const packages = installedPackages(nodeModules);
    expect(packages.has('@otel-audit/sdk')).toBe(true);
    expect([...packages].filter((p) => FORBIDDEN.some((re) => re.test(p)))).toEqual([]);
    const stats = treeStats(nodeModules);
    expect(stats.native).toEqual([]);
    const mb = (stats.bytes / 1024 / 1024).toFixed(1);
    console.log(
      `SDK-only install: ${packages.size} packages, ${mb} MB in node_modules (budget ${SDK_INSTALL_BUDGET_BYTES / 1024 / 1024} MB)`,
    );
    expect(stats.bytes).toBeLessThanOrEqual(SDK_INSTALL_BUDGET_BYTES);
  }, 600_000);

  it('npx otel-audit start from the installed package receives an event sent by the installed SDK configured only by OTel variables', async () => {
    mkdirSync(receiverApp);
    writeFileSync(path.join(receiverApp, 'package.json'), JSON.stringify({ name: 'receiver-app', private: true, type: 'module' }));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...[...tarballs.values()]], receiverApp);
    const receiverSize = treeStats(path.join(receiverApp, 'node_modules')).bytes;
    console.log(`receiver install (otel-audit + workspaces): ${(receiverSize / 1024 / 1024).toFixed(1)} MB in node_modules`);

    // The root entry keeps the single-package import paths working, from compiled JS.
    const { stdout: entries } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import('otel-audit'); const s = await import('otel-audit/schema'); const o = await import('otel-audit/outbox');
console.log([typeof m.createAuditLogger, typeof m.verifyProofBundle, typeof s.validateAuditEvent, typeof o.createOutboxRelay].join(','));`,
      ],
      receiverApp,
    );
    expect(entries.trim()).toBe('function,function,function,function');

    const token = randomBytes(24).toString('base64url');
    const dataDir = path.join(work, 'data');
    const config = path.join(work, 'otel-audit.yaml');
    writeFileSync(config, `auth:\n  tokens:\n    - name: package-test\n      sha256: ${hashToken(token)}\n`);
    const [httpPort, grpcPort] = [await freePort(), await freePort()];
    const receiver = spawn(
      'npx',
      ['otel-audit', 'start', '--config', config, '--data-dir', dataDir, '--http-port', String(httpPort), '--grpc-port', String(grpcPort)],
      {
        cwd: receiverApp,
        env: childEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // its own process group: npx and the node it starts are stopped together
      },
    );
    children.push(receiver);
    let banner = '';
    receiver.stdout!.on('data', (d: Buffer) => (banner += d.toString()));
    receiver.stderr!.on('data', (d: Buffer) => (banner += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (banner.includes(`http://127.0.0.1:${httpPort}/v1/logs`)) {
          clearInterval(timer);
          resolve();
        }
      }, 100);
      receiver.once('exit', (code) => {
        clearInterval(timer);
        reject(new Error(`receiver exited ${code}:\n${banner}`));
      });
    });
    expect(banner).toMatch(new RegExp(`OTLP/gRPC\\s+127\\.0\\.0\\.1:${grpcPort}`));

    // The SDK gets its destination only from the environment: the generic endpoint (the SDK
    // appends /v1/logs), the bearer token percent-encoded in the headers, the service and resource.
    writeFileSync(
      path.join(sdkApp, 'send.mjs'),
      `import { createAuditLogger } from '@otel-audit/sdk';
const audit = createAuditLogger();
const id = await audit.record({ action: 'package.install', outcome: 'success', actor: { id: 'u-1', type: 'user' }, tenant: { id: 'acme' } });
const flushed = await audit.flush({ timeoutMillis: 30000 });
await audit.shutdown();
console.log(JSON.stringify({ id, flushed: flushed.status, stats: audit.stats() }));
`,
    );
    const { stdout: sent } = await run(
      process.execPath,
      ['send.mjs'],
      sdkApp,
      childEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${httpPort}`,
        OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${token}`,
        OTEL_SERVICE_NAME: 'package-test',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=ci,team=audit%2Cplatform',
      }),
    );
    const { id, flushed } = JSON.parse(sent.trim()) as { id: string; flushed: string };
    expect(flushed).toBe('success');

    // The HTTP endpoint answers once the exporter has copied the event to ClickHouse.
    let events: Array<{ event: { eventId: string; action: string } }> = [];
    for (let i = 0; i < 120 && events.length === 0; i++) {
      const res = await fetch(`http://127.0.0.1:${httpPort}/v1/audit/events?tenant=acme`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
      events = ((await res.json()) as { events: typeof events }).events;
      if (events.length === 0) await new Promise((r) => setTimeout(r, 500));
    }
    expect(events.map((e) => e.event.eventId)).toEqual([id]);
    expect(events[0]!.event.action).toBe('package.install');

    const { stdout: rows } = await run(
      'npx',
      [
        'otel-audit',
        'query',
        `SELECT EventId, ServiceName, ResourceAttributes['deployment.environment'] AS env, ResourceAttributes['team'] AS team FROM otel_audit.audit_events`,
        '--url',
        `http://127.0.0.1:${httpPort}`,
        '--token',
        token,
        '--format',
        'json',
      ],
      receiverApp,
    );
    expect(
      rows
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([{ EventId: id, ServiceName: 'package-test', env: 'ci', team: 'audit,platform' }]);
  }, 600_000);
});
