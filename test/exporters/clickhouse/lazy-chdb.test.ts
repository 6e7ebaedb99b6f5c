/**
 * chDB (a native library of ~190 MiB resident pages once loaded) is loaded only when the embedded
 * engine is opened: a receiver that writes to a ClickHouse server by URL never maps it. Checked in
 * a fresh process, from the process's own memory map.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');

describe('chDB is loaded lazily', () => {
  it.skipIf(process.platform !== 'linux')(
    'a server client does not map libchdb; the embedded engine does',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'otel-audit-lazy-chdb-'));
      try {
        const script = join(dir, 'probe.mjs');
        const mod = (p: string) => JSON.stringify(pathToFileURL(join(ROOT, p)).href);
        writeFileSync(
          script,
          `import { readFileSync } from 'node:fs';
import { openClickHouse } from ${mod('exporters/clickhouse/client.ts')};
import { parseClickHouseConfig } from ${mod('exporters/clickhouse/config.ts')};
const mapped = () => readFileSync('/proc/self/maps', 'utf8').includes('libchdb');
const server = openClickHouse(parseClickHouseConfig({ url: 'http://127.0.0.1:9', dataDir: ${JSON.stringify(dir)} }));
const afterServer = mapped();
await server.close();
const embedded = openClickHouse(parseClickHouseConfig({ dataDir: ${JSON.stringify(dir)} }));
const afterEmbedded = mapped();
await embedded.close();
process.stdout.write(JSON.stringify({ afterServer, afterEmbedded }));
`,
        );
        const r = spawnSync(process.execPath, ['--conditions=@otel-audit/source', script], {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 120_000,
        });
        expect(r.status, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toEqual({ afterServer: false, afterEmbedded: true });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    150_000,
  );
});
