/**
 * The console's HTTP surface on a real receiver (in-process, embedded chDB off where not needed):
 * static files with content types and the CSP, SPA fallback for deep links, the 503 page naming the
 * build command when the build is missing, the loopback-only rule without auth, tokens on the APIs,
 * the `ui.enabled` switch, and the CSV field encoding.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { csvField } from '@otel-audit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../receiver/auth/index.ts';
import { isLoopbackAddress } from '../../receiver/console/index.ts';
import { createReceiver, type Receiver, type ReceiverConfigInput } from '../../receiver/index.ts';

const dirs: string[] = [];
const receivers: Receiver[] = [];
afterAll(async () => {
  for (const r of receivers) await r.shutdown().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** A fake console build (index.html, an asset, the build marker). */
function fakeBuild(): string {
  const dir = tempDir('otel-audit-console-build-');
  mkdirSync(join(dir, 'assets'));
  mkdirSync(join(dir, '.vite'));
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><title>console</title><script type="module" src="/ui/assets/app-1234.js"></script>',
  );
  writeFileSync(join(dir, 'assets', 'app-1234.js'), 'console.log(1)');
  writeFileSync(join(dir, 'assets', 'app-1234.css'), 'body{}');
  writeFileSync(join(dir, '.vite', 'manifest.json'), '{}');
  return dir;
}

async function start(input: ReceiverConfigInput): Promise<string> {
  const r = createReceiver({
    dataDir: tempDir('otel-audit-console-rt-'),
    grpc: { enabled: false },
    exporters: { clickhouse: { enabled: false }, coldstore: { enabled: false } },
    ...input,
    http: { port: 0, ...input.http },
  });
  receivers.push(r);
  return (await r.start()).http!;
}

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalIPv4(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

describe('console static files', () => {
  it('serves files with their content types, the CSP, and index.html for deep links', async () => {
    const http = await start({ ui: { distDir: fakeBuild() } });
    const js = await fetch(`${http}/ui/assets/app-1234.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect(js.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect((await fetch(`${http}/ui/assets/app-1234.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    for (const deep of ['/ui/', '/ui/events?actor=alice&outcome=denied', '/ui/events/0193a1b2-c3d4-7e5f-8a9b-00000000000a', '/ui/status']) {
      const res = await fetch(`${http}${deep}`);
      expect(res.status, deep).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await res.text()).toContain('<title>console</title>');
    }
    const bare = await fetch(`${http}/ui`, { redirect: 'manual' });
    expect(bare.status).toBe(308);
    expect(bare.headers.get('location')).toBe('/ui/');
    expect((await fetch(`${http}/ui/assets/missing.js`)).status).toBe(404);
    // No dot files (the build marker), no traversal.
    expect((await fetch(`${http}/ui/.vite/manifest.json`)).status).toBe(404);
    expect((await fetch(`${http}/ui/%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404);
  });

  it('answers 503 naming the build command when the build output is missing', async () => {
    const http = await start({ ui: { distDir: tempDir('otel-audit-console-empty-') } });
    const res = await fetch(`${http}/ui/events`);
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toContain('npm run build');
  });

  it('is absent with ui.enabled: false', async () => {
    const http = await start({ ui: { enabled: false, distDir: fakeBuild() } });
    expect((await fetch(`${http}/ui/events`)).status).toBe(404);
    expect((await fetch(`${http}/v1/audit/console/session`)).status).toBe(404);
  });
});

describe('console access', () => {
  it('requires a token on every API when auth is configured, and scopes the session to a bound tenant', async () => {
    const http = await start({
      auth: {
        tokens: [
          { name: 'admin', sha256: hashToken('admin-secret-token') },
          { name: 'acme', sha256: hashToken('acme-secret-token'), tenantId: 'acme' },
        ],
      },
      ui: { distDir: fakeBuild() },
    });
    for (const path of [
      '/v1/audit/console/session',
      '/v1/audit/console/status',
      '/v1/audit/console/chains',
      '/v1/audit/export?tenant=acme',
      '/v1/audit/events/0193a1b2-c3d4-7e5f-8a9b-00000000000a',
    ]) {
      const res = await fetch(`${http}${path}`);
      expect(res.status, path).toBe(401);
    }
    // The page itself carries no data: it loads without a token (the token is entered in it).
    expect((await fetch(`${http}/ui/events`)).status).toBe(200);
    const session = await (
      await fetch(`${http}/v1/audit/console/session`, { headers: { authorization: 'Bearer acme-secret-token' } })
    ).json();
    expect(session).toMatchObject({
      authEnabled: true,
      principal: 'acme',
      boundTenantId: 'acme',
      tenants: ['acme'],
      eventsAvailable: false,
    });
    // Without ClickHouse the event views say so.
    const ev = await fetch(`${http}/v1/audit/events/0193a1b2-c3d4-7e5f-8a9b-00000000000a`, {
      headers: { authorization: 'Bearer admin-secret-token' },
    });
    expect(ev.status).toBe(503);
  });

  it('without auth, answers loopback clients only (also when bound to every interface)', async () => {
    const ip = externalIPv4();
    expect(ip, 'this test needs a non-loopback IPv4 address on the machine').toBeDefined();
    const http = await start({ http: { host: '0.0.0.0' }, ui: { distDir: fakeBuild() } });
    const port = new URL(http).port;
    expect((await fetch(`http://127.0.0.1:${port}/v1/audit/console/session`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/ui/events`)).status).toBe(200);
    const remote = await fetch(`http://${ip}:${port}/v1/audit/console/session`);
    expect(remote.status).toBe(403);
    expect((await remote.json()) as { message: string }).toMatchObject({ message: expect.stringContaining('loopback') });
    expect((await fetch(`http://${ip}:${port}/ui/events`)).status).toBe(403);
    // The explicit opt-out serves remote clients.
    const open = await start({ http: { host: '0.0.0.0' }, ui: { distDir: fakeBuild(), allowRemoteWithoutAuth: true } });
    expect((await fetch(`http://${ip}:${new URL(open).port}/v1/audit/console/session`)).status).toBe(200);
  });

  it('recognises loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['192.0.2.2', '::ffff:10.0.0.1', 'fd00::2', '', undefined, '::']) expect(isLoopbackAddress(a), String(a)).toBe(false);
  });
});

describe('CSV fields', () => {
  it('quotes per RFC 4180 and defuses spreadsheet formulas', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField('-1')).toBe("'-1");
    expect(csvField(undefined)).toBe('');
    expect(csvField(42)).toBe('42');
  });
});

describe('prefix routes of the HTTP router', () => {
  it('exact routes win, then the longest prefix; GET answers HEAD; a prefix must end with /', async () => {
    const { Router } = await import('../../receiver/http/index.ts');
    const r = new Router();
    const exact = () => undefined;
    const ui = () => undefined;
    const deep = () => undefined;
    r.add('GET', '/v1/audit/events', exact);
    r.add('GET', '/v1/audit/events/', deep, { prefix: true });
    r.add('GET', '/ui/', ui, { prefix: true });
    const handler = (m: ReturnType<typeof r.match>) => (m.kind === 'found' ? m.route.handler : m.kind);
    expect(handler(r.match('GET', '/v1/audit/events'))).toBe(exact);
    expect(handler(r.match('GET', '/v1/audit/events/0193a1b2/proof'))).toBe(deep);
    expect(handler(r.match('HEAD', '/ui/events/x'))).toBe(ui);
    expect(handler(r.match('GET', '/uix'))).toBe('not-found');
    expect(r.match('POST', '/ui/events')).toEqual({ kind: 'method-not-allowed', allow: ['GET', 'HEAD'] });
    expect(() => r.add('GET', '/nope', ui, { prefix: true })).toThrow(/must end with/);
    expect(() => r.add('GET', '/ui/', ui, { prefix: true })).toThrow(/already mounted/);
  });
});
