/**
 * Runs benchmark scenarios and records their results.
 *
 *   npm run bench                         every scenario below
 *   npm run bench -- sdk-record --quick   only the named scenarios, short runs
 *
 * Each scenario is a module exporting `run(opts: { quick: boolean }) => Promise<object>`. Results
 * are printed as JSON and written to bench/results/<timestamp>.json with machine info and the
 * command. To add a scenario, add one line to SCENARIOS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface Scenario {
  name: string;
  load: () => Promise<{ run: (opts: { quick: boolean }) => Promise<object> }>;
}

const SCENARIOS: Scenario[] = [
  { name: 'sdk-record', load: () => import('./sdk-record.ts') },
  { name: 'pipeline-append', load: () => import('./pipeline-append.ts') },
  { name: 'integrity', load: () => import('./integrity.ts') },
  { name: 'clickhouse-export', load: () => import('./clickhouse-export.ts') },
  { name: 'coldstore', load: () => import('./coldstore.ts') },
];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const names = args.filter((a) => !a.startsWith('--'));
const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const selected = names.length > 0 ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS;

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  node: process.version,
  loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
};
const startedAt = new Date().toISOString();
const results: Record<string, object> = {};
let failed = false;
for (const scenario of selected) {
  const t0 = performance.now();
  try {
    const mod = await scenario.load();
    const result = await mod.run({ quick });
    results[scenario.name] = { ...result, wallSeconds: Math.round(performance.now() - t0) / 1000 };
  } catch (err) {
    // One failing scenario (a missing service, say) must not hide the others' numbers.
    failed = true;
    results[scenario.name] = { error: err instanceof Error ? err.message : String(err) };
  }
  console.log(JSON.stringify({ scenario: scenario.name, result: results[scenario.name] }, null, 2));
}

const report = { command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`, startedAt, machine, quick, results };
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
fs.mkdirSync(dir, { recursive: true });
const file = path.join(dir, `${startedAt.replace(/[:.]/g, '-')}.json`);
fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
console.log(`results written to ${path.relative(process.cwd(), file)}`);
process.exitCode = failed ? 1 : 0;
