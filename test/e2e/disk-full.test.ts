/**
 * A full disk is retryable and recoverable. The receiver runs as a process with its data dir (WAL,
 * keys, cursors) on a small tmpfs this test mounts (root: `mount -t tmpfs -o size=16m`); ClickHouse
 * (chDB) lives outside it. A sender keeps posting OTLP/JSON batches with known event ids, resending
 * a batch until it is acknowledged. The test fills the filesystem while it runs, then frees it:
 *  - while full, ingest answers 503 + Retry-After (never 500) and `/readyz` is 503;
 *  - once space is back it accepts again, without a restart;
 *  - every acknowledged event is stored exactly once, in ClickHouse and in the WAL, with seq
 *    contiguous — the batches that failed were rolled back (no seq gap, no ghost dedupe entry that
 *    would have swallowed their resend).
 * Skipped (and says so) where tmpfs cannot be mounted.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uuidv7 } from '@otel-audit/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WalEntry } from '../../receiver/contracts.ts';
import { readWalEntries } from '../../receiver/wal/index.ts';
import { eventually, type ReceiverProcess, startReceiverProcess, tenantEventsInClickHouse } from './helpers/receiver-process.ts';

const root = mkdtempSync(join(tmpdir(), 'otel-audit-diskfull-'));
const mnt = join(root, 'mnt');
let mounted = false;
/** The receiver under test, killed in afterAll if a failure left it running (it holds the mount). */
let running: ReceiverProcess | undefined;

beforeAll(() => {
  mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt], { stdio: 'pipe' });
    mounted = true;
  } catch (err) {
    process.stderr.write(`disk-full test skipped: cannot mount tmpfs (${(err as Error).message.split('\n')[0]})\n`);
  }
});

afterAll(async () => {
  if (running && running.child.exitCode === null) await running.kill();
  if (mounted) {
    rmSync(join(mnt, 'data'), { recursive: true, force: true });
    execFileSync('umount', [mnt]);
  }
  rmSync(root, { recursive: true, force: true });
});

const tenant = `t-full-${Date.now()}`;
const PAD = 'x'.repeat(1500);

/** One OTLP/JSON request of `ids.length` audit records (~2 KB each in the WAL). */
function body(ids: readonly string[]): string {
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'disk-full-sender' } }] },
        scopeLogs: [
          {
            scope: { name: 'test', version: '1' },
            logRecords: ids.map((id, i) => ({
              timeUnixNano: `${Date.now()}000000`,
              severityNumber: 9,
              body: { stringValue: JSON.stringify({ pad: PAD, i }) },
              attributes: [
                { key: 'audit.schema_version', value: { stringValue: '1.0' } },
                { key: 'audit.event_id', value: { stringValue: id } },
                { key: 'audit.action', value: { stringValue: 'file.write' } },
                { key: 'audit.outcome', value: { stringValue: 'success' } },
                { key: 'audit.actor.id', value: { stringValue: `u-${i}` } },
                { key: 'audit.actor.type', value: { stringValue: 'user' } },
                { key: 'audit.tenant.id', value: { stringValue: tenant } },
              ],
            })),
          },
        ],
      },
    ],
  });
}

/** Write a file until the filesystem is full; returns its path. */
function fill(dir: string): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return file;
}

describe('a full disk', () => {
  it('answers 503 + Retry-After and not-ready while full, recovers without a restart, loses and duplicates nothing', {
    timeout: 300_000,
  }, async (ctx) => {
    if (!mounted) ctx.skip();
    const dataDir = join(mnt, 'data');
    const receiver: ReceiverProcess = (running = await startReceiverProcess({
      dataDir,
      env: {
        OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false',
        OTEL_AUDIT_EXPORTERS__CLICKHOUSE__PATH: join(root, 'clickhouse'),
        // Let the WAL run into the full disk (the free-space gate would answer 503 before it).
        OTEL_AUDIT_PIPELINE__MIN_FREE_DISK_BYTES: '0',
        // Keep every segment, so the WAL itself can be checked at the end.
        OTEL_AUDIT_PIPELINE__WAL__RETENTION_MILLIS: '86400000',
      },
    }));
    const acked = new Set<string>();
    const statuses = new Map<number, number>();
    const retryAfter = new Set<string>();
    let stop = false;
    let rejectedWithout503 = '';
    const sender = (async () => {
      while (!stop) {
        const ids = Array.from({ length: 40 }, () => uuidv7());
        // Resend the same batch until it is acknowledged, as an OTLP client does.
        for (;;) {
          const res = await fetch(`${receiver.http}/v1/logs`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: body(ids),
          });
          const text = await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 200) {
            for (const id of ids) acked.add(id);
            break;
          }
          if (res.status !== 503) rejectedWithout503 ||= `${res.status}: ${text}`;
          retryAfter.add(res.headers.get('retry-after') ?? '(none)');
          await new Promise((r) => setTimeout(r, 100));
          if (stop && res.status !== 503) break;
        }
      }
    })();

    try {
      await eventually(async () => (acked.size >= 800 ? true : undefined), 600, 100);
      const filler = fill(mnt);
      // While full: retryable answers and not ready.
      await eventually(async () => ((statuses.get(503) ?? 0) >= 5 ? true : undefined), 600, 100);
      const notReady = await fetch(`${receiver.http}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.text()).toMatch(/^not ready: the WAL cannot write \(WAL I\/O failed: .*ENOSPC/);
      const status = (await (await fetch(`${receiver.http}/v1/audit/status`)).json()) as {
        wal: { failed?: { code: string }; writeFailures: number };
      };
      expect(status.wal.failed?.code).toBe('AUDIT_ERR_WAL_IO');
      expect(status.wal.writeFailures).toBeGreaterThan(0);
      const ackedWhileFull = acked.size;

      // Space comes back: accepted again, without a restart.
      rmSync(filler);
      await eventually(async () => (acked.size >= ackedWhileFull + 400 ? true : undefined), 600, 100);
      expect((await fetch(`${receiver.http}/readyz`)).status).toBe(200);
    } finally {
      stop = true;
      await sender;
    }
    expect(rejectedWithout503).toBe('');
    expect(statuses.get(500) ?? 0).toBe(0);
    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    expect([...retryAfter].every((v) => /^\d+$/.test(v))).toBe(true);

    // Every acknowledged event in ClickHouse exactly once, seq contiguous.
    const stored = await eventually(
      async () => {
        const r = await tenantEventsInClickHouse(receiver.http, tenant);
        return r.distinct >= acked.size ? r : undefined;
      },
      600,
      200,
    );
    expect(stored.count).toBe(acked.size);
    expect(new Set(stored.ids)).toEqual(acked);
    const seqRes = await fetch(
      `${receiver.http}/clickhouse?query=${encodeURIComponent(`SELECT min(Seq), max(Seq), uniqExact(Seq), count() FROM audit_events WHERE TenantId = '${tenant}' FORMAT TSV`)}`,
    );
    expect(await seqRes.text()).toBe(`1\t${acked.size}\t${acked.size}\t${acked.size}\n`);
    expect(await receiver.stop(), receiver.output()).toBe(0);

    // The WAL: the same events once each, seq 1..n without a gap.
    const events: WalEntry[] = [];
    for await (const e of readWalEntries(join(dataDir, 'wal'))) if (e.kind === 'event' && e.tenantId === tenant) events.push(e);
    expect(events.length).toBe(acked.size);
    expect(new Set(events.map((e) => (e.kind === 'event' ? e.event.eventId : '')))).toEqual(acked);
    expect(events.map((e) => (e.kind === 'event' ? e.seq : 0))).toEqual(Array.from({ length: acked.size }, (_, i) => i + 1));
  });
});
