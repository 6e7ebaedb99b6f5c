/**
 * Verification speed from the real stores: a receiver with integrity enabled ingests a
 * data set (in a child process, so this process and the CLI can open the embedded ClickHouse
 * afterwards), then `otel-audit verify --source archive|clickhouse|wal --json` and
 * `otel-audit prove` run as users run them, each in its own process.
 *
 * Reported: entries/s per source (entries verified ÷ wall time of the whole command, process
 * start-up included, so small data sets understate the rate) and proof generation latency.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../test/integrity/e2e-fixture-main.ts', import.meta.url));

/** Options of {@link run}. */
export interface VerifyStoresBenchOptions {
  quick?: boolean;
  /** Events per tenant (two tenants). Default 25,000; quick 1,000. */
  perTenant?: number;
}

interface Fixture {
  dataDir: string;
  key: { verifierPath: string };
  ids: Record<string, string[]>;
}

function runNode(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; millis: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('exit', (code) => resolve({ code, stdout, stderr, millis: performance.now() - started }));
  });
}

/** Run the scenario; returns per-source verification rates and proof latencies. */
export async function run(options: VerifyStoresBenchOptions = {}) {
  const perTenant = options.perTenant ?? (options.quick ? 1000 : 25_000);
  const fx = await runNode([FIXTURE, JSON.stringify({ prefix: 'bench-verify', perTenant })]);
  if (fx.code !== 0) throw new Error(`fixture failed (${fx.code}): ${fx.stderr.slice(-2000)}`);
  const fixture = JSON.parse(fx.stdout.trim().split('\n').at(-1)!) as Fixture;
  try {
    const verify: Record<string, { ok: boolean; entries: number; seconds: number; entriesPerSecond: number }> = {};
    for (const source of ['archive', 'clickhouse', 'wal'] as const) {
      const r = await runNode([
        CLI,
        'verify',
        '--source',
        source,
        '--data-dir',
        fixture.dataDir,
        '--public-key',
        fixture.key.verifierPath,
        '--json',
      ]);
      const report = JSON.parse(r.stdout) as { ok: boolean; stats: { entries: number } };
      verify[source] = {
        ok: report.ok && r.code === 0,
        entries: report.stats.entries,
        seconds: r.millis / 1000,
        entriesPerSecond: Math.round(report.stats.entries / (r.millis / 1000)),
      };
    }
    const ids = fixture.ids.acme!;
    const prove: Array<{ position: string; source: string; millis: number; ok: boolean }> = [];
    for (const [position, id] of [
      ['first', ids[0]!],
      ['middle', ids[Math.floor(ids.length / 2)]!],
      ['last', ids[ids.length - 1]!],
    ] as const) {
      for (const source of ['clickhouse', 'archive'] as const) {
        const out = join(fixture.dataDir, `proof-${position}-${source}.json`);
        const r = await runNode([CLI, 'prove', id, '--source', source, '--data-dir', fixture.dataDir, '--out', out]);
        prove.push({ position, source, millis: Math.round(r.millis), ok: r.code === 0 });
      }
    }
    return {
      scenario: 'verify-stores',
      events: perTenant * 2,
      fixtureIngestSeconds: fx.millis / 1000,
      verify,
      prove,
      note: 'Wall time of each CLI process, start-up (Node, chDB) included; aims: verify >= 500,000 events/s from the archive, a proof <= 50 ms.',
    };
  } finally {
    rmSync(fixture.dataDir, { recursive: true, force: true });
  }
}
