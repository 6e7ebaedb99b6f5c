/**
 * The query surfaces (the SQL endpoint, `GET /v1/audit/events`) of a receiver without auth tokens
 * bound to every interface: loopback clients only, unless `query.allowRemoteWithoutAuth`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createReceiver } from '../../receiver/index.ts';

describe('query surfaces without auth', () => {
  /** A non-loopback IPv4 address of this machine. */
  const externalIPv4 = (): string | undefined => {
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
    return undefined;
  };

  it('answer loopback clients only unless query.allowRemoteWithoutAuth (bound to every interface)', async () => {
    const ip = externalIPv4();
    expect(ip, 'this test needs a non-loopback IPv4 address on the machine').toBeDefined();
    for (const allow of [false, true]) {
      const dir = mkdtempSync(join(tmpdir(), 'otel-audit-noauth-'));
      const r = createReceiver({
        dataDir: dir,
        http: { port: 0, host: '0.0.0.0' },
        grpc: { enabled: false },
        exporters: { coldstore: { enabled: false } },
        query: { allowRemoteWithoutAuth: allow },
        ui: { enabled: false },
      });
      try {
        const port = new URL((await r.start()).http!).port;
        const paths = ['/v1/audit/events?tenant=acme', '/clickhouse/?query=SELECT%201', '/clickhouse/ping'];
        for (const path of paths) {
          expect((await fetch(`http://127.0.0.1:${port}${path}`)).status, `loopback ${path}`).toBe(200);
          const remote = await fetch(`http://${ip}:${port}${path}`);
          expect(remote.status, `remote ${path} allow=${allow}`).toBe(allow ? 200 : 403);
          if (!allow)
            expect(await remote.json()).toMatchObject({ error: 'AUDIT_ERR_FORBIDDEN', message: expect.stringContaining('loopback') });
        }
      } finally {
        await r.shutdown();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});
