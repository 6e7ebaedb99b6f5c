/**
 * `otel-audit replay` end to end in child processes (each opens the embedded chDB of its data
 * dir), plus the progress line format. The test process itself opens no chDB engine.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { formatReplayProgress } from '../../../cli/commands/replay.ts';
import { createColdStoreExporter } from '../../../exporters/coldstore/index.ts';
import { batchOf, makeEntries } from './fixtures.ts';

const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'coldstore-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function replay(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['cli/main.ts', 'replay', ...args], {
      cwd: join(import.meta.dirname, '../../..'),
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('otel-audit replay', () => {
  it('backfills the embedded ClickHouse from the local archive; a second run adds nothing', async () => {
    const dataDir = join(root, 'data');
    const exporter = createColdStoreExporter({ dataDir });
    await exporter.start();
    await exporter.export(batchOf(makeEntries({ count: 300, stepMillis: 30_000 })));
    await exporter.export(batchOf(makeEntries({ tenantId: 'globex', count: 50 })));
    expect(await exporter.flush()).toEqual({ status: 'success' });
    await exporter.shutdown();

    const first = await replay('--data-dir', dataDir);
    expect(first.stderr).toMatch(/replay: \d+\/\d+ objects/); // plain progress lines off a terminal
    expect(first.stdout).toMatch(/350 rows read, 350 inserted, 0 already present, 0 skipped/);
    expect(first.code).toBe(0);
    const second = await replay('--data-dir', dataDir, '--tenant', 'globex');
    expect(second.stdout).toMatch(/50 rows read, 0 inserted, 50 already present/);
    const bad = await replay('--data-dir', dataDir, '--since', 'yesterday-ish');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/AUDIT_ERR_INVALID_ARGUMENT.*--since/);
  });

  it('formats progress with counts, rate and ETA', () => {
    const p = {
      objectsTotal: 10,
      objectsDone: 4,
      bytesTotal: 1000,
      bytesDone: 250,
      rowsRead: 5000,
      rowsInserted: 4000,
      rowsAlreadyPresent: 1000,
      skipped: 1,
      elapsedMillis: 2000,
    };
    expect(formatReplayProgress(p)).toBe('4/10 objects, 5,000 rows (4,000 new), 2,500 rows/s, 1 skipped, ETA 0:06');
    expect(formatReplayProgress(p, 8)).toBe('[##......]  25% 4/10 objects, 5,000 rows (4,000 new), 2,500 rows/s, 1 skipped, ETA 0:06');
  });
});
