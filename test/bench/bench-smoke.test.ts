/**
 * Keeps the benchmarks from rotting: runs every scenario of bench/run.ts at tiny (CI smoke) sizes
 * and checks that each ran and produced well-formed results, plus the JSON, the Markdown report and
 * its charts. No timing assertions: on a shared 2-core machine a number proves nothing here.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunBenchOutput, runBench, SCENARIOS } from '../../bench/run.ts';

const isFiniteNonNegative = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0;

/** Every number anywhere in a result must be finite (no NaN from a division by zero). */
function numbers(value: unknown, path = '$', out: Array<[string, number]> = []): Array<[string, number]> {
  if (typeof value === 'number') out.push([path, value]);
  else if (Array.isArray(value))
    value.forEach((v, i) => {
      numbers(v, `${path}[${i}]`, out);
    });
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) numbers(v, `${path}.${k}`, out);
  return out;
}

describe('npm run bench -- --tiny', () => {
  let dir: string;
  let out: RunBenchOutput;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs every scenario and writes well-formed results', { timeout: 420_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'otel-audit-bench-smoke-'));
    // Two lanes at once: fine for a smoke run, whose numbers nobody reads.
    out = await runBench({ tiny: true, parallel: true, outDir: dir, log: () => undefined });
    const results = out.report.results;
    expect(Object.keys(results).sort()).toEqual(SCENARIOS.map((s) => s.name).sort());
    const failed = Object.entries(results).filter(([, r]) => 'error' in r);
    expect(failed.map(([name, r]) => `${name}: ${String(r.error)}`)).toEqual([]);
    for (const [name, r] of Object.entries(results)) {
      expect(isFiniteNonNegative(r.wallSeconds), name).toBe(true);
      for (const [path, n] of numbers(r)) expect(Number.isFinite(n), `${name} ${path} = ${n}`).toBe(true);
    }

    const m = out.report.machine;
    expect(m.cpus).toBeGreaterThan(0);
    expect(m.node).toMatch(/^v\d+/);
    expect(m.gitCommit).toMatch(/^([0-9a-f]{40}|unknown)$/);
    expect(out.report.command).toContain('npm run bench');

    // The receiver-level scenarios, field by field (the others own their shapes).
    type Run = {
      ackedEventsPerSecond: number;
      ackLatencyMillis: { p50: number; p99: number; p999: number };
      receiver: { acceptedEvents: number } | null;
      generator: { errorBatches: number };
    };
    const ingest = results['ingest'] as {
      maxThroughput: Array<{ receiver: string; run: Run }>;
      connections: unknown[];
      fixedLoad: unknown[];
      profiles: Array<{ summary: { top: unknown[] } }>;
    };
    expect(new Set(ingest.maxThroughput.map((x) => x.receiver))).toEqual(new Set(['floor', 'ingestOnly']));
    for (const x of ingest.maxThroughput) {
      // Acks inside a half-second window are not guaranteed on a loaded machine; what the receiver
      // accepted over the whole run, and the absence of hard errors, are.
      expect(x.run.generator.errorBatches).toBe(0);
      if (x.receiver !== 'floor') expect(x.run.receiver!.acceptedEvents).toBeGreaterThan(0);
      expect(x.run.ackLatencyMillis.p50).toBeLessThanOrEqual(x.run.ackLatencyMillis.p99);
      expect(x.run.ackLatencyMillis.p99).toBeLessThanOrEqual(x.run.ackLatencyMillis.p999);
    }
    expect(ingest.connections.length).toBeGreaterThan(0);
    expect(ingest.fixedLoad.length).toBeGreaterThan(0);
    expect(ingest.profiles[0]!.summary.top.length).toBeGreaterThan(0);

    const e2e = results['end-to-end'] as { clickhouse: { sampled: number; found: number }; coldStorage: { found: number } };
    expect(e2e.clickhouse.sampled).toBeGreaterThan(0);
    expect(e2e.clickhouse.found).toBe(e2e.clickhouse.sampled);
    expect(e2e.coldStorage.found).toBeGreaterThan(0);

    const backlog = results['backlog'] as { backlogEvents: number; series: unknown[]; drain: { complete: boolean } };
    expect(backlog.backlogEvents).toBeGreaterThan(0);
    expect(backlog.series.length).toBeGreaterThan(0);
    expect(backlog.drain.complete).toBe(true);

    type Lookup = { lookups: number; duplicates: number };
    const dedupe = results['dedupe-window'] as { runs: { ids: number }; lookups: Record<string, Lookup>; ingest: { rounds: unknown[] } };
    expect(dedupe.runs.ids).toBeGreaterThan(0);
    // Stored ids are found, fresh ones are not (ids are stored exactly: no false duplicates).
    expect(dedupe.lookups['duplicateV7']!.duplicates).toBe(dedupe.lookups['duplicateV7']!.lookups);
    expect(dedupe.lookups['freshV7InWindow']!.duplicates).toBe(0);
    expect(dedupe.lookups['freshV4']!.duplicates).toBe(0);
    expect(dedupe.ingest.rounds.length).toBe(4);

    const webhook = results['webhook'] as {
      drains: Array<{ format: string; events: number; complete: boolean; badSignatures: number }>;
      besideIngest: { caughtUp: boolean; acceptedEvents: number; deliveredEvents: number; badSignatures: number };
    };
    expect(webhook.drains.map((d) => d.format)).toEqual(['ocsf']);
    for (const d of webhook.drains) {
      expect(d.complete).toBe(true);
      expect(d.events).toBeGreaterThanOrEqual(512);
      expect(d.badSignatures).toBe(0);
    }
    expect(webhook.besideIngest.caughtUp).toBe(true);
    expect(webhook.besideIngest.acceptedEvents).toBeGreaterThan(0);
    expect(webhook.besideIngest.deliveredEvents).toBeGreaterThanOrEqual(webhook.besideIngest.acceptedEvents);
    expect(webhook.besideIngest.badSignatures).toBe(0);

    const json = JSON.parse(await readFile(out.jsonFile, 'utf8')) as { results: object };
    expect(Object.keys(json.results).length).toBe(SCENARIOS.length);
    const md = await readFile(out.markdownFile, 'utf8');
    expect(md).toContain('## Aims');
    expect(md).toContain('## Baselines');
    expect(out.chartFiles.length).toBe(3);
    for (const f of out.chartFiles) expect(await readFile(f, 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
  });
});
