/**
 * Exporters survive SIGKILL: a real receiver (`otel-audit start`, embedded chDB, local archive with
 * Parquet from the engine) is killed without warning while the ClickHouse exporter is inserting
 * (its runner reports `exporting`) and while cold objects are being built and uploaded (sealed
 * segments waiting), several times under load. After a last clean run drains both exporters, every
 * acknowledged event is exactly once in ClickHouse (counted without FINAL) and exactly once in the
 * archive (every object passing the reader's checks).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uuidv7 } from '@otel-audit/sdk';
import { afterAll, expect, it } from 'vitest';
import { openClickHouse } from '../../exporters/clickhouse/client.ts';
import { parseClickHouseConfig } from '../../exporters/clickhouse/config.ts';
import { LocalDirectoryStore, listColdObjects, readColdObject } from '../../exporters/coldstore/index.ts';
import { auditRequestJson, eventually, type ReceiverProcess, startReceiverProcess } from './helpers/receiver-process.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Status {
  exporters: Array<{ name: string; state: string; lagEntries: number; exportedEntries: number }>;
}
async function status(r: ReceiverProcess): Promise<Status> {
  return (await (await fetch(`${r.http}/v1/audit/status`)).json()) as Status;
}

function sealedSegments(dataDir: string): number {
  const dir = join(dataDir, 'coldstore-staging', 'coldstore', 'sealed');
  return existsSync(dir) ? readdirSync(dir).length : 0;
}

it('every acknowledged event ends exactly once in ClickHouse and in the archive after SIGKILLs mid-insert and mid-upload', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-exporter-crash-'));
  dirs.push(dataDir);
  // Small batches and objects so inserts and uploads are always under way; objects sealed quickly.
  const env = {
    OTEL_AUDIT_EXPORTERS__COLDSTORE__MAX_OBJECT_AGE_MILLIS: '200',
    OTEL_AUDIT_EXPORTERS__COLDSTORE__MAX_OBJECT_BYTES: '200000',
    OTEL_AUDIT_EXPORTERS__CLICKHOUSE__MAX_BATCH_ROWS: '500',
    OTEL_AUDIT_EXPORTERS__CLICKHOUSE__MAX_BATCH_AGE_MILLIS: '20',
  };
  const acknowledged = new Set<string>();
  const killedWhile: string[] = [];
  for (let round = 0; round < 3; round++) {
    const receiver = await startReceiverProcess({ dataDir, env });
    let stop = false;
    const senders = Array.from({ length: 3 }, async (_, worker) => {
      while (!stop) {
        const ids = Array.from({ length: 50 }, () => uuidv7());
        const body = auditRequestJson(ids, { service: 'crash', actorId: `w${worker}`, tenants: ['acme', 'globex'] });
        try {
          const res = await fetch(`${receiver.http}/v1/logs`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          if (res.status === 200) for (const id of ids) acknowledged.add(id);
        } catch {
          // Killed mid-request: nothing of this batch was acknowledged.
        }
      }
    });
    const target = (round + 1) * 1500;
    await eventually(async () => (acknowledged.size >= target ? true : undefined), 1200, 50);
    // Kill at the moment the wanted exporter work is under way.
    const moment = await eventually(
      async () => {
        if (round !== 1) {
          const s = await status(receiver);
          return s.exporters.find((e) => e.name === 'clickhouse')?.state === 'exporting' ? 'clickhouse exporting' : undefined;
        }
        return sealedSegments(dataDir) > 0 ? 'cold objects sealed, uploading' : undefined;
      },
      1200,
      5,
    );
    await receiver.kill();
    killedWhile.push(moment);
    stop = true;
    await Promise.all(senders);
  }
  expect(killedWhile).toEqual(['clickhouse exporting', 'cold objects sealed, uploading', 'clickhouse exporting']);

  // A clean run drains both exporters (cold objects by age), then a graceful stop.
  const receiver = await startReceiverProcess({ dataDir, env });
  await eventually(
    async () => {
      const s = await status(receiver);
      return s.exporters.every((e) => e.lagEntries === 0) && sealedSegments(dataDir) === 0 ? true : undefined;
    },
    1200,
    100,
  );
  await eventually(async () => ((await archivedIds(dataDir)).length >= acknowledged.size ? true : undefined), 600, 100);
  expect(await receiver.stop(), receiver.output()).toBe(0);

  // ClickHouse: every acknowledged id, each once (no FINAL).
  const ch = openClickHouse(parseClickHouseConfig({ dataDir }));
  try {
    const r = await ch.chdb!.chdb.queryAsync(
      'SELECT EventId, count() AS c FROM otel_audit.audit_events GROUP BY EventId FORMAT TabSeparated',
      {},
    );
    const counts = new Map(
      r
        .text()
        .trim()
        .split('\n')
        .map((l) => l.split('\t') as [string, string])
        .map(([id, c]) => [id, Number(c)]),
    );
    const duplicated = [...counts].filter(([, c]) => c > 1);
    expect(duplicated).toEqual([]);
    const missing = [...acknowledged].filter((id) => !counts.has(id));
    expect(missing).toEqual([]);
  } finally {
    await ch.close();
  }

  // Archive: every acknowledged id, each once, every object passing the reader's checks.
  const ids = await archivedIds(dataDir);
  const seen = new Map<string, number>();
  for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
  expect([...seen].filter(([, c]) => c > 1)).toEqual([]);
  expect([...acknowledged].filter((id) => !seen.has(id))).toEqual([]);
}, 600_000);

async function archivedIds(dataDir: string): Promise<string[]> {
  const store = new LocalDirectoryStore(join(dataDir, 'archive'), '');
  const listing = await listColdObjects(store);
  if (listing.status !== 'success') throw listing.error;
  const ids: string[] = [];
  for (const o of listing.value.objects) {
    const read = await readColdObject(store, o.key);
    if (!read.ok) throw new Error(`${o.key}: ${read.reason}`);
    for (const row of read.rows!) ids.push(row.EventId);
  }
  return ids;
}
