/**
 * End to end, intact data: events through a real receiver with integrity enabled are checkpointed,
 * the checkpoints reach the WAL, ClickHouse and the archive, and `otel-audit verify` passes from all
 * three sources; `--compare clickhouse,archive` agrees; `prove` + `verify-proof` round-trip from the
 * CLI and a tampered bundle fails.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyProofBundle } from '../../index.ts';
import { readWalEntries } from '../../receiver/wal/read-entries.ts';
import { startReceiverProcess } from '../e2e/helpers/receiver-process.ts';
import { type IntegrityFixture, runCli, runIntegrityReceiverInChild } from './e2e-helpers.ts';

let fx: IntegrityFixture;

beforeAll(async () => {
  fx = await runIntegrityReceiverInChild({ prefix: 'e2e-intact' });
}, 60_000);

afterAll(() => {
  if (fx) rmSync(fx.dataDir, { recursive: true, force: true });
});

describe('intact data verifies from every store', () => {
  it('the WAL holds checkpoint entries after the entries they cover', async () => {
    const seen = new Map<string, number>();
    let checkpoints = 0;
    for await (const e of readWalEntries(join(fx.dataDir, 'wal'))) {
      if (e.kind === 'event') seen.set(e.chainId, e.seq);
      else {
        checkpoints++;
        expect(e.checkpoint.treeSize).toBeLessThanOrEqual(seen.get(e.chainId) ?? 0);
      }
    }
    expect(checkpoints).toBeGreaterThanOrEqual(4);
  });

  for (const source of ['wal', 'clickhouse', 'archive'] as const) {
    it(`verify --source ${source}`, async () => {
      const r = await runCli(['verify', '--source', source, '--data-dir', fx.dataDir, '--public-key', fx.key.verifierPath, '--json']);
      expect(r.stderr).toBe('');
      const report = JSON.parse(r.stdout) as {
        ok: boolean;
        stats: { chains: number; entries: number; checkpointsVerified: number; checkpoints: number; uncoveredEntries: number };
      };
      expect(report.ok).toBe(true);
      expect(r.code).toBe(0);
      expect(report.stats.chains).toBe(2);
      expect(report.stats.entries).toBe(600);
      expect(report.stats.uncoveredEntries).toBe(0);
      expect(report.stats.checkpointsVerified).toBe(report.stats.checkpoints);
    });
  }

  it('verify with --tenant and a time window; human output', async () => {
    const r = await runCli([
      'verify',
      '--source',
      'clickhouse',
      '--data-dir',
      fx.dataDir,
      '--public-key',
      fx.key.verifierKey,
      '--tenant',
      'acme',
      '--since',
      '2000-01-01',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^intact: clickhouse .*1 chain\(s\), 300 entries/m);
  });

  it('verify --compare clickhouse,archive agrees', async () => {
    const r = await runCli(['verify', '--compare', 'clickhouse,archive', '--data-dir', fx.dataDir]);
    expect(r.stdout).toMatch(/stores agree: clickhouse vs archive, 2 chain\(s\), 600 entries compared/);
    expect(r.code).toBe(0);
  });

  it('an unknown key: every checkpoint is reported, exit 1', async () => {
    const other = join(fx.dataDir, 'keys', 'other');
    const { generateKeyFiles } = await import('../../integrity/keys.ts');
    const k = await generateKeyFiles({ name: 'otel-audit/someone-else', outDir: other });
    const r = await runCli(['verify', '--source', 'wal', '--data-dir', fx.dataDir, '--public-key', k.verifierKey]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/wal: chain acme\/rcv-test tree size \d+: unknown-key/);
  });
});

describe('replay carries the checkpoints', () => {
  it('replay of the archive into an empty ClickHouse verifies there, checkpoints included', async () => {
    const fresh = join(fx.dataDir, 'replayed');
    const r = await runCli(['replay', '--data-dir', fresh, '--archive', join(fx.dataDir, 'archive'), '--quiet']);
    expect(r.stdout).toMatch(/600 rows read, 600 inserted/);
    expect(r.stdout).toMatch(/replayed \d+ signed checkpoints into otel_audit\.audit_checkpoints/);
    expect(r.code).toBe(0);
    const v = await runCli(['verify', '--source', 'clickhouse', '--data-dir', fresh, '--public-key', fx.key.verifierKey, '--json']);
    const report = JSON.parse(v.stdout) as {
      ok: boolean;
      stats: { entries: number; checkpoints: number; checkpointsVerified: number; uncoveredEntries: number };
    };
    expect(report).toMatchObject({ ok: true, stats: { entries: 600, uncoveredEntries: 0 } });
    expect(report.stats.checkpointsVerified).toBe(report.stats.checkpoints);
    expect(v.code).toBe(0);
  });
});

describe('a running receiver holds the embedded ClickHouse', () => {
  it('verify --source clickhouse of a running receiver reads through its ClickHouse-HTTP endpoint, named or found in the data dir', async () => {
    const rcv = await startReceiverProcess({
      dataDir: fx.dataDir,
      env: { OTEL_AUDIT_INSTANCE_ID: 'rcv-test', OTEL_AUDIT_EXPORTERS__COLDSTORE__ENABLED: 'false' },
    });
    try {
      const viaUrl = await runCli([
        'verify',
        '--source',
        'clickhouse',
        '--url',
        rcv.http,
        '--pathname',
        '/clickhouse',
        '--public-key',
        fx.key.verifierKey,
      ]);
      expect(viaUrl.stdout).toMatch(/^intact: clickhouse \(http:\/\/127\.0\.0\.1:\d+\/clickhouse\): 2 chain\(s\), 600 entries/m);
      expect(viaUrl.code).toBe(0);
      // Only the data dir: the receiver holds the engine, so verify finds its endpoint (receiver.json).
      const direct = await runCli(['verify', '--source', 'clickhouse', '--data-dir', fx.dataDir, '--public-key', fx.key.verifierKey]);
      expect(direct.stderr).toContain(
        `reading ClickHouse through the running receiver (process ${rcv.child.pid}) at ${rcv.http}/clickhouse`,
      );
      expect(direct.stdout).toMatch(/^intact: clickhouse \(http:\/\/127\.0\.0\.1:\d+\/clickhouse\): 2 chain\(s\), 600 entries/m);
      expect(direct.code).toBe(0);
    } finally {
      await rcv.stop();
    }
  }, 180_000);
});

describe('prove + verify-proof from the CLI', () => {
  for (const source of ['clickhouse', 'archive', 'wal'] as const) {
    it(`round trip (${source}); a tampered bundle fails`, async () => {
      const eventId = fx.ids.acme![source === 'clickhouse' ? 0 : source === 'archive' ? 150 : 299]!;
      const out = join(fx.dataDir, `proof-${source}.json`);
      const p = await runCli([
        'prove',
        eventId,
        '--source',
        source,
        '--data-dir',
        fx.dataDir,
        '--out',
        out,
        '--public-key',
        fx.key.verifierPath,
      ]);
      expect(p.stderr).toMatch(/written to/);
      expect(p.code).toBe(0);
      const ok = await runCli(['verify-proof', out, '--public-key', fx.key.verifierKey]);
      expect(ok.stdout).toMatch(new RegExp(`verified: event ${eventId} is entry seq \\d+ of chain acme/rcv-test`));
      expect(ok.code).toBe(0);
      const bundle = JSON.parse(readFileSync(out, 'utf8')) as { event: { outcome: string }; inclusionPath: string[] };
      expect(verifyProofBundle(bundle, [fx.key.verifierKey]).ok).toBe(true);
      bundle.event.outcome = bundle.event.outcome === 'success' ? 'failure' : 'success';
      writeFileSync(out, JSON.stringify(bundle));
      const bad = await runCli(['verify-proof', out, '--public-key', fx.key.verifierKey]);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/event-modified/);
    });
  }

  it('an unknown event id: exit 1 with a clear message', async () => {
    const r = await runCli(['prove', '01936f6e-0000-7000-8000-000000000000', '--source', 'wal', '--data-dir', fx.dataDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not in wal/);
  });
});
