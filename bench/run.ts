/**
 * Runs benchmark scenarios and records their results.
 *
 *   npm run bench                          every scenario below (about 15 min on 2 cores)
 *   npm run bench -- --quick               every scenario, short runs
 *   npm run bench -- --only ingest         one scenario (repeat --only, or list names, for more)
 *   npm run bench -- sdk-record --quick    the same, positional
 *   npm run bench -- --latest              also write bench/results/latest.md (+ SVGs), the checked-in report
 *   npm run bench -- --render <file.json>  re-render the Markdown report of an earlier run
 *   npm run bench -- --tiny --parallel     CI smoke sizes, two lanes at once (numbers meaningless)
 *
 * Each scenario is a module exporting `run(opts: { quick: boolean }) => Promise<object>`. Results
 * go to bench/results/<timestamp>.json with machine info, git commit and the command, and a
 * Markdown report bench/results/<timestamp>.md with SVG charts next to it. To add a scenario, add
 * one line to SCENARIOS.
 *
 * `tiny` (`--tiny`, or {@link runBench} from test/bench) shrinks every scenario that has size knobs
 * to CI-smoke sizes: it proves the scenarios run and produce well-formed results, nothing more.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo } from './lib/machine.ts';
import { type BenchRunReport, renderReport } from './lib/report.ts';

/** Options every scenario's `run` receives (scenarios ignore what they do not know). */
export interface ScenarioOptions {
  quick: boolean;
  tiny?: boolean;
  [knob: string]: unknown;
}

interface Scenario {
  name: string;
  load: () => Promise<{ run: (opts: ScenarioOptions) => Promise<object> }>;
  /** Size knobs of the scenario for tiny (CI smoke) runs. */
  tiny?: Record<string, unknown>;
  /** Scenarios that load a receiver child process (run in their own lane with `parallel`). */
  receiverLevel?: boolean;
}

/** Every scenario, in run order (the receiver-level ones first, while the machine is freshest). */
export const SCENARIOS: Scenario[] = [
  { name: 'ingest', load: () => import('./ingest.ts'), receiverLevel: true },
  { name: 'end-to-end', load: () => import('./end-to-end.ts'), receiverLevel: true, tiny: { coldObjectAgeMillis: 500 } },
  { name: 'backlog', load: () => import('./backlog.ts'), receiverLevel: true },
  { name: 'webhook', load: () => import('./webhook.ts'), receiverLevel: true, tiny: { events: 512, seconds: 1, formats: ['ocsf'] } },
  { name: 'decode', load: () => import('./decode.ts') },
  { name: 'prepare', load: () => import('./prepare.ts') },
  { name: 'sdk-record', load: () => import('./sdk-record.ts') },
  { name: 'pipeline-append', load: () => import('./pipeline-append.ts') },
  { name: 'integrity', load: () => import('./integrity.ts'), tiny: { events: 5000, leaves: 10_000 } },
  { name: 'verify-stores', load: () => import('./verify-stores.ts'), tiny: { perTenant: 200 } },
  { name: 'validate', load: () => import('./validate.ts') },
  { name: 'clickhouse-export', load: () => import('./clickhouse-export.ts'), tiny: { rows: 2000, batchSizes: [1000] } },
  { name: 'coldstore', load: () => import('./coldstore.ts'), tiny: { events: 2000 } },
  { name: 'outbox', load: () => import('./outbox.ts') },
  { name: 'dedupe-window', load: () => import('./dedupe-window.ts'), tiny: { ids: 100_000, lookups: 5000, ingestSeconds: 1 } },
];

/** Options of {@link runBench}. */
export interface RunBenchOptions {
  quick?: boolean;
  tiny?: boolean;
  /** Scenario names; default all. */
  only?: string[];
  /** Results directory (default bench/results). */
  outDir?: string;
  /** Also write `latest.md` and `latest-*.svg`. */
  latest?: boolean;
  /** The command line recorded in the results. */
  command?: string;
  /**
   * Run the receiver-level scenarios and the others in two concurrent lanes. Only for smoke runs:
   * concurrent scenarios disturb each other's numbers.
   */
  parallel?: boolean;
  /** Progress lines (default console.log). */
  log?: (line: string) => void;
}

/** What {@link runBench} wrote. */
export interface RunBenchOutput {
  report: BenchRunReport;
  jsonFile: string;
  markdownFile: string;
  chartFiles: string[];
}

const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

/** Write the Markdown report and its charts as `<dir>/<base>.md` and `<dir>/<base>-<chart>.svg`. */
export function writeReport(report: BenchRunReport, dir: string, base: string): { markdownFile: string; chartFiles: string[] } {
  const rendered = renderReport(report, `${base}-`);
  fs.mkdirSync(dir, { recursive: true });
  const markdownFile = path.join(dir, `${base}.md`);
  fs.writeFileSync(markdownFile, rendered.markdown);
  const chartFiles = Object.entries(rendered.charts).map(([name, svg]) => {
    const file = path.join(dir, `${base}-${name}.svg`);
    fs.writeFileSync(file, svg);
    return file;
  });
  return { markdownFile, chartFiles };
}

/** Run the selected scenarios one after another and write the JSON and Markdown results. */
export async function runBench(options: RunBenchOptions = {}): Promise<RunBenchOutput> {
  const quick = options.quick ?? false;
  const tiny = options.tiny ?? false;
  const log = options.log ?? ((l: string) => console.log(l));
  const names = options.only ?? [];
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const selected = names.length > 0 ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS;
  const machine = machineInfo(os.tmpdir());
  const startedAt = new Date().toISOString();
  const unordered: BenchRunReport['results'] = {};
  const runOne = async (scenario: Scenario) => {
    const t0 = performance.now();
    log(
      `bench: ${scenario.name} … (load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')})`,
    );
    try {
      const mod = await scenario.load();
      const result = await mod.run({ quick: quick || tiny, ...(tiny ? { tiny: true, ...scenario.tiny } : {}) });
      unordered[scenario.name] = { ...(result as Record<string, unknown>), wallSeconds: Math.round(performance.now() - t0) / 1000 };
    } catch (err) {
      // One failing scenario (a missing service, say) must not hide the others' numbers.
      unordered[scenario.name] = {
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        wallSeconds: Math.round(performance.now() - t0) / 1000,
      };
    }
    log(
      `bench: ${scenario.name} ${'error' in unordered[scenario.name]! ? 'FAILED' : 'done'} in ${unordered[scenario.name]!.wallSeconds} s`,
    );
  };
  const lanes = options.parallel ? [selected.filter((s) => s.receiverLevel), selected.filter((s) => !s.receiverLevel)] : [selected];
  await Promise.all(
    lanes.map(async (lane) => {
      for (const scenario of lane) await runOne(scenario);
    }),
  );
  const results: BenchRunReport['results'] = {};
  for (const s of selected) results[s.name] = unordered[s.name]!;
  const report: BenchRunReport = {
    command:
      options.command ??
      `npm run bench --${quick ? ' --quick' : ''}${tiny ? ' --tiny' : ''}${options.parallel ? ' --parallel' : ''}${names.map((n) => ` --only ${n}`).join('')}`,
    startedAt,
    finishedAt: new Date().toISOString(),
    quick,
    tiny,
    machine,
    loadAverageAtEnd: os.loadavg().map((l) => Math.round(l * 100) / 100),
    results,
  };
  const dir = options.outDir ?? RESULTS_DIR;
  fs.mkdirSync(dir, { recursive: true });
  const base = startedAt.replace(/[:.]/g, '-');
  const jsonFile = path.join(dir, `${base}.json`);
  fs.writeFileSync(jsonFile, JSON.stringify(report, null, 2) + '\n');
  const { markdownFile, chartFiles } = writeReport(report, dir, base);
  if (options.latest) writeReport(report, dir, 'latest');
  return { report, jsonFile, markdownFile, chartFiles };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const only: string[] = [];
  let render: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--only') only.push(...(args[++i] ?? '').split(',').filter(Boolean));
    else if (args[i] === '--render') render = args[++i];
    else if (!args[i]!.startsWith('--')) only.push(args[i]!);
  }
  if (render !== undefined) {
    const report = JSON.parse(fs.readFileSync(render, 'utf8')) as BenchRunReport;
    const base = args.includes('--latest') ? 'latest' : path.basename(render, '.json');
    const { markdownFile } = writeReport(report, path.dirname(render), base);
    console.log(`report written to ${path.relative(process.cwd(), markdownFile)}`);
  } else {
    try {
      const out = await runBench({
        quick: args.includes('--quick'),
        tiny: args.includes('--tiny'),
        only,
        latest: args.includes('--latest'),
        parallel: args.includes('--parallel'),
        command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
      });
      for (const [name, r] of Object.entries(out.report.results)) console.log(JSON.stringify({ scenario: name, result: r }, null, 2));
      console.log(`results written to ${path.relative(process.cwd(), out.jsonFile)} and ${path.relative(process.cwd(), out.markdownFile)}`);
      process.exitCode = Object.values(out.report.results).some((r) => 'error' in r) ? 1 : 0;
    } catch (err) {
      console.error((err as Error).message);
      process.exitCode = 2;
    }
  }
}
