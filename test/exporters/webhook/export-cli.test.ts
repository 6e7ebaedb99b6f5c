/**
 * `otel-audit export` in child processes, from every source: the embedded ClickHouse of a data dir,
 * a running receiver's read-only ClickHouse endpoint, the local archive and an S3 archive (s3rver);
 * in every format (ndjson, csv, ocsf), with filters, to stdout or a file; argument errors exit 2
 * with a message naming the flag; a progress bar only on a terminal (`script` gives it a pty).
 *
 * The data: hash-chained entries written to the archive by the cold-storage exporter, then loaded
 * into ClickHouse with `otel-audit replay`, so both stores hold the same events. The test process
 * opens no chDB engine.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isoToUnixNanos } from '@otel-audit/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createColdStoreExporter } from '../../../exporters/coldstore/index.ts';
import { otelAuditJson, recordFromWalEntry } from '../../../exporters/webhook/index.ts';
import { computeEntryHash, GENESIS_HASH } from '../../../integrity/chain-hash.ts';
import type { WalEventEntry } from '../../../receiver/contracts.ts';
import { startReceiverProcess } from '../../e2e/helpers/receiver-process.ts';
import { batchOf, makeEntries } from '../coldstore/fixtures.ts';
import { S3RVER_CREDENTIALS, startS3, type TestS3 } from '../coldstore/s3-server.ts';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const root = mkdtempSync(join(tmpdir(), 'otel-audit-export-'));
const dataDir = join(root, 'data');
let s3: TestS3;
let all: WalEventEntry[];

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['cli/main.ts', ...args], {
      cwd: ROOT,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, OTEL_AUDIT_TOKEN: '' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Re-chain entries after editing their events (the reason with CSV-hostile characters). */
function rechain(entries: WalEventEntry[]): WalEventEntry[] {
  let prev = GENESIS_HASH;
  return entries.map((e) => {
    const hash = computeEntryHash(prev, e.event);
    const out = { ...e, prevHash: prev, hash };
    prev = hash;
    return out;
  });
}

/** The expected NDJSON objects (no LSN: it is receiver-local and not stored). */
function expected(entries: WalEventEntry[]): unknown[] {
  return entries.map((e) => {
    const { lsn: _lsn, ...r } = recordFromWalEntry(e);
    return otelAuditJson(r);
  });
}

const ndjson = (text: string): unknown[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);

/** Minimal RFC 4180 reader (quoted fields with doubled quotes, CRLF records). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  return rows;
}

beforeAll(async () => {
  const acme = rechain(
    makeEntries({ tenantId: 'acme', count: 300, stepMillis: 60_000 }).map((e, i) =>
      i % 10 === 0
        ? { ...e, event: { ...e.event, reason: `needs "review", later #${i}` } }
        : // A value a spreadsheet would run as a formula (OWASP "CSV Injection").
          i % 10 === 5
          ? { ...e, event: { ...e.event, reason: `=HYPERLINK("http://evil.example/?${i}")` } }
          : e,
    ),
  );
  const globex = makeEntries({ tenantId: 'globex', count: 50, firstLsn: 301 });
  all = [...acme, ...globex];
  const local = createColdStoreExporter({ dataDir });
  await local.start();
  await local.export(batchOf(acme));
  await local.export(batchOf(globex));
  expect(await local.flush()).toEqual({ status: 'success' });
  await local.shutdown();
  s3 = await startS3('export-archive');
  const remote = createColdStoreExporter({
    dataDir: join(root, 's3-staging'),
    backend: {
      type: 's3',
      bucket: s3.bucket,
      prefix: 'audit',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
    },
  });
  await remote.start();
  await remote.export(batchOf(acme));
  await remote.export(batchOf(globex));
  expect(await remote.flush()).toEqual({ status: 'success' });
  await remote.shutdown();
  const replay = await cli('replay', '--data-dir', dataDir, '--quiet');
  expect(replay.code, replay.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await s3?.dispose();
  rmSync(root, { recursive: true, force: true });
});

const HOUR_START = isoToUnixNanos('2026-11-22T11:00:00Z');
const HOUR_END = isoToUnixNanos('2026-11-22T12:00:00Z');
const inHour = (e: WalEventEntry) =>
  e.tenantId === 'acme' && isoToUnixNanos(e.event.occurredAt) >= HOUR_START && isoToUnixNanos(e.event.occurredAt) < HOUR_END;
const HOUR = ['--tenant', 'acme', '--since', '2026-11-22T11:00:00Z', '--until', '2026-11-22T12:00:00Z'];

// Each case spawns CLI processes (a few seconds each on a loaded two-core machine).
const SLOW = 180_000;

describe('otel-audit export', () => {
  it(
    'ndjson from the embedded ClickHouse, the local archive and S3 give the same events, filtered by tenant and time',
    async () => {
      const want = expected(all.filter(inHour));
      expect(want).toHaveLength(60);
      const ch = await cli('export', '--data-dir', dataDir, ...HOUR, '--page-size', '7'); // many keyset pages
      expect(ch.code, ch.stderr).toBe(0);
      expect(ndjson(ch.stdout)).toEqual(want);
      expect(ch.stderr).toContain('export: 60 events from clickhouse');
      expect(ch.stderr).not.toContain('['); // no progress bar off a terminal

      const local = await cli('export', '--archive', join(dataDir, 'archive'), ...HOUR);
      expect(local.code, local.stderr).toBe(0);
      expect(ndjson(local.stdout)).toEqual(want);

      const config = join(root, 's3.yaml');
      writeFileSync(
        config,
        JSON.stringify({
          exporters: {
            coldstore: {
              backend: {
                type: 's3',
                bucket: s3.bucket,
                prefix: 'audit',
                endpoint: s3.endpoint,
                forcePathStyle: true,
                credentials: S3RVER_CREDENTIALS,
              },
            },
          },
        }),
      );
      const remote = await cli('export', '--source', 'archive', '--config', config, '--data-dir', join(root, 's3-staging'), ...HOUR);
      expect(remote.code, remote.stderr).toBe(0);
      expect(ndjson(remote.stdout)).toEqual(want);
    },
    SLOW,
  );

  it(
    'csv with action prefix and outcome filters, RFC 4180 quoting, to a file',
    async () => {
      const out = join(root, 'denied.csv');
      const r = await cli(
        'export',
        '--data-dir',
        dataDir,
        '--action',
        'grant.*',
        '--outcome',
        'denied',
        '--format',
        'csv',
        '--output',
        out,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('');
      expect(existsSync(`${out}.partial`)).toBe(false);
      const rows = parseCsv(readFileSync(out, 'utf8'));
      const [header, ...data] = rows;
      expect(header!.slice(0, 6)).toEqual(['occurred_at', 'event_id', 'tenant_id', 'tenant_name', 'action', 'outcome']);
      const want = all.filter((e) => e.event.action.startsWith('grant.') && e.event.outcome === 'denied');
      expect(data).toHaveLength(want.length);
      const col = (name: string) => header!.indexOf(name);
      const byId = new Map(data.map((d) => [d[col('event_id')]!, d]));
      for (const e of want) {
        const d = byId.get(e.event.eventId)!;
        // A formula-like value is exported with a leading apostrophe; the rest as it is.
        const reason = e.event.reason ?? '';
        expect(d[col('reason')]).toBe(reason.startsWith('=') ? `'${reason}` : reason);
        expect(d[col('hash')]).toBe(e.hash);
        expect(d[col('seq')]).toBe(String(e.seq));
        expect(d[col('target_ids')]).toBe((e.event.targets ?? []).map((t) => t.id).join('|'));
        expect(JSON.parse(d[col('details')]!)).toEqual(e.event.details);
      }
      expect(want.some((e) => e.event.reason?.includes('"'))).toBe(true);
      expect(want.some((e) => e.event.reason?.startsWith('='))).toBe(true);
    },
    SLOW,
  );

  it(
    'ocsf from the archive with OCSF overrides, and --limit',
    async () => {
      const overrides = join(root, 'ocsf.yaml');
      writeFileSync(overrides, 'productName: acme-audit\noverrides:\n  - prefix: grant\n    classUid: 6003\n');
      const r = await cli(
        'export',
        '--archive',
        join(dataDir, 'archive'),
        '--tenant',
        'globex',
        '--format',
        'ocsf',
        '--ocsf-config',
        overrides,
      );
      expect(r.code, r.stderr).toBe(0);
      // biome-ignore lint/suspicious/noExplicitAny: exported NDJSON is read field by field as the CLI wrote it
      const events = ndjson(r.stdout) as Array<Record<string, any>>;
      expect(events).toHaveLength(50);
      const src = new Map(all.filter((e) => e.tenantId === 'globex').map((e) => [e.event.eventId, e]));
      for (const o of events) {
        const e = src.get(o.metadata.uid)!;
        expect(o.class_uid).toBe(e.event.action === 'grant.issue' ? 6003 : 3002);
        expect(o.metadata.product.name).toBe('acme-audit');
        expect(o.metadata.tenant_uid).toBe('globex');
        expect(o.time).toBe(Date.parse(e.event.occurredAt));
        expect(o.unmapped.otel_audit.hash).toBe(e.hash);
      }
      const limited = await cli('export', '--data-dir', dataDir, '--limit', '7', '--quiet');
      expect(ndjson(limited.stdout)).toHaveLength(7);
      expect(limited.stderr).toBe('');
    },
    SLOW,
  );

  it(
    'reads a running receiver through its ClickHouse endpoint, and says so when the embedded engine is held',
    async () => {
      const receiver = await startReceiverProcess({ dataDir, env: { OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false' } });
      try {
        const r = await cli('export', '--url', `${receiver.http}/clickhouse`, ...HOUR, '--page-size', '25');
        expect(r.code, r.stderr).toBe(0);
        expect(ndjson(r.stdout)).toEqual(expected(all.filter(inHour)));
        const held = await cli('export', '--data-dir', dataDir);
        expect(held.code).toBe(2);
        expect(held.stderr).toMatch(/holds the embedded ClickHouse .*--url http:\/\/127\.0\.0\.1:4318\/clickhouse/);
      } finally {
        await receiver.stop();
      }
    },
    SLOW,
  );

  it(
    'draws a progress bar on a terminal only',
    async () => {
      const out = join(root, 'tty.ndjson');
      const cmd = `${process.execPath} cli/main.ts export --data-dir ${dataDir} --output ${out} --page-size 100`;
      const { stdout } = await exec('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT });
      expect(stdout).toMatch(/\[#+\.*\]\s+\d+% [\d,]+\/350 events/);
      expect(stdout).toContain('export: 350 events');
      expect(ndjson(readFileSync(out, 'utf8'))).toHaveLength(350);
    },
    SLOW,
  );

  it(
    'rejects bad arguments with exit 2 and a message naming the flag',
    async () => {
      const cases: Array<[string[], RegExp]> = [
        [['--format', 'xml'], /--format: "xml" is not one of ndjson, csv, ocsf/],
        [['--outcome', 'maybe'], /--outcome: "maybe"/],
        [['--since', '2026-11-23', '--until', '2026-11-22'], /--since must be before --until/],
        [['--since', 'last tuesday'], /--since: "last tuesday" is not an ISO 8601/],
        [['--source', 'archive', '--url', 'http://x'], /do not go with --source archive/],
        [['--source', 'wal'], /--source: "wal" is not one of clickhouse, archive/],
        [['--action', 'grant.*.x'], /--action: "grant\.\*\.x"/],
        [['--limit', '0'], /--limit: "0" is not a positive integer/],
        [['--ocsf-config', 'x.yaml'], /--ocsf-config goes with --format ocsf/],
        [['--colour'], /Unknown option '--colour'/],
      ];
      for (const [args, message] of cases) {
        const r = await cli('export', '--data-dir', dataDir, ...args);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr).toMatch(message);
      }
    },
    SLOW,
  );
});
