/**
 * Benchmark: the receiver's prepare stage alone, in-process — what one prepare worker does per
 * request (receiver/pipeline/prepare-task.ts: decode → classify → validate + map → canonical JSON →
 * event digest → PreparedBatch) — for this tree's code against a baseline commit's code in the same
 * process and run. The baseline is the tree of a git commit (default {@link DEFAULT_BASELINE}, the
 * code before the issue-13 prepare-stage work), extracted with `git archive` into a temporary
 * directory whose node_modules links the workspace packages to that tree, so the old code runs
 * unchanged beside the new one. When the commit is not in the repository (a shallow clone), only
 * the current code is measured.
 *
 * Inputs: the 512-record fixture batch of test/receiver/helpers/otlp-fixtures.ts as protobuf, and
 * the load generator's shape of it (bench/loadgen.ts: UUIDv7-like ids, current times) as protobuf,
 * OTLP/JSON and id-less protobuf (ids derived from content). Rounds alternate the candidates so
 * load from other processes hits them alike. Reported per input and candidate, median round: CPU
 * time per event (this thread, and the whole process, which adds V8's GC helper threads), GC time
 * and heap bytes allocated per event (v8.GCProfiler); and new ÷ old ratios. Before measuring, the
 * two candidates' batches are compared byte for byte (meta, digests, payload, tenants, ids,
 * rejections): a difference fails the run.
 *
 *   NODE_OPTIONS=--conditions=@otel-audit/source npx node bench/prepare.ts [--quick] [--baseline <commit>]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { PrepareOutcome, PrepareTask } from '../receiver/pipeline/prepare-task.ts';
import { runPrepareTask } from '../receiver/pipeline/prepare-task.ts';
import { auditRequestObject, encodeRequest, encodeRequestJson } from '../test/receiver/helpers/otlp-fixtures.ts';
import { startHeapAccounting } from './lib/heap-accounting.ts';
import { loadgenRequestObject } from './loadgen.ts';

/** The commit whose prepare stage is the baseline: main before the issue-13 prepare-stage work. */
export const DEFAULT_BASELINE = '2d2068b';

/** Options of {@link run}. */
export interface PrepareBenchOptions {
  quick?: boolean;
  /** CI smoke sizes (numbers meaningless); no baseline. */
  tiny?: boolean;
  /** Baseline commit (default {@link DEFAULT_BASELINE}); `''` measures only the current code. */
  baseline?: string;
}

/** One candidate's numbers on one input (median rounds). */
export interface PrepareBenchCandidate {
  name: string;
  /** CPU time of the benchmark thread per event (µs). */
  threadCpuMicrosPerEvent: number;
  /** CPU time of the whole process per event (µs): the thread plus V8's GC helper threads. */
  processCpuMicrosPerEvent: number;
  gcMicrosPerEvent: number;
  allocatedBytesPerEvent: number;
  /** Events per second of wall time, best round. */
  eventsPerSecond: number;
}

/** Result of {@link run}. */
export interface PrepareBenchResult {
  scenario: 'prepare';
  baseline: string | null;
  rounds: number;
  loadAverage: number[];
  inputs: Array<{
    name: string;
    records: number;
    bytes: number;
    candidates: PrepareBenchCandidate[];
    /** new ÷ baseline, thread CPU per event and allocation per event (when a baseline ran). */
    ratio?: { cpu: number; allocated: number };
  }>;
}

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** CPU time of this thread (µs): `process.threadCpuUsage` (Node ≥ 23.9), else the process's. */
function threadCpu(): number {
  const p = process as unknown as { threadCpuUsage?: () => { user: number; system: number } };
  const u = p.threadCpuUsage ? p.threadCpuUsage() : process.cpuUsage();
  return u.user + u.system;
}

/**
 * Extract `commit`'s tree into a temporary directory with a node_modules that resolves the
 * workspace packages (@otel-audit/*) to that tree and everything else to this tree's packages.
 * Returns its path, or undefined when the commit is not available.
 */
function materializeBaseline(commit: string): { dir: string; sha: string } | undefined {
  let sha: string;
  try {
    sha = execFileSync('git', ['-C', ROOT, 'rev-parse', '--verify', '--quiet', `${commit}^{commit}`], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prepare-baseline-'));
  const tar = execFileSync('git', ['-C', ROOT, 'archive', '--format=tar', sha], { maxBuffer: 1 << 30 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  const nm = path.join(dir, 'node_modules');
  fs.mkdirSync(path.join(nm, '@otel-audit'), { recursive: true });
  for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (entry === '@otel-audit' || entry === '.bin') continue;
    fs.symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(nm, entry));
  }
  for (const pkg of ['core', 'schema', 'sdk']) fs.symlinkSync(path.join(dir, pkg), path.join(nm, '@otel-audit', pkg));
  return { dir, sha };
}

type Prepare = (task: PrepareTask) => PrepareOutcome;

interface Input {
  name: string;
  records: number;
  task: PrepareTask;
}

/** The load generator's batch (bench/loadgen.ts): UUIDv7-like ids (or none), current times. */
function loadgenObject(records: number, withIds: boolean): Record<string, unknown> {
  return loadgenRequestObject(
    records,
    'tenant-0',
    withIds ? (i) => `0193a1b2-c3d4-7e5f-8a6b-${i.toString(16).padStart(12, '0')}` : undefined,
  );
}

function task(body: Buffer, format: 'protobuf' | 'json'): PrepareTask {
  return { body, format, encoding: 'identity', maxBytes: 64 << 20, context: { transport: 'http' }, nonAudit: 'reject' };
}

function inputs(records: number): Input[] {
  return [
    { name: 'fixture batch, protobuf', records, task: task(encodeRequest(auditRequestObject(records)), 'protobuf') },
    { name: 'loadgen batch, protobuf', records, task: task(encodeRequest(loadgenObject(records, true)), 'protobuf') },
    { name: 'loadgen batch, OTLP/JSON', records, task: task(encodeRequestJson(loadgenObject(records, true)), 'json') },
    {
      name: 'loadgen batch without ids (derived), protobuf',
      records,
      task: task(encodeRequest(loadgenObject(records, false)), 'protobuf'),
    },
  ];
}

/** Throw unless two outcomes are byte-identical where it matters (everything the sequencer reads). */
function assertSameOutcome(a: PrepareOutcome, b: PrepareOutcome, what: string): void {
  if (!a.ok || !b.ok) throw new Error(`${what}: prepare failed: ${JSON.stringify(a.ok ? b : a)}`);
  const x = a.batch;
  const y = b.batch;
  const same =
    a.records === b.records &&
    a.bytes === b.bytes &&
    x.count === y.count &&
    Buffer.compare(
      Buffer.from(x.meta.buffer, x.meta.byteOffset, x.meta.byteLength),
      Buffer.from(y.meta.buffer, y.meta.byteOffset, y.meta.byteLength),
    ) === 0 &&
    Buffer.compare(Buffer.from(x.digests), Buffer.from(y.digests)) === 0 &&
    Buffer.compare(Buffer.from(x.payload), Buffer.from(y.payload)) === 0 &&
    JSON.stringify([x.tenants, x.eventIds, x.rejections, x.received, x.nonAudit, x.nonAuditDropped]) ===
      JSON.stringify([y.tenants, y.eventIds, y.rejections, y.received, y.nonAudit, y.nonAuditDropped]);
  if (!same) throw new Error(`${what}: the current prepare stage's batch differs from the baseline's`);
  if (x.count === 0) throw new Error(`${what}: no record prepared`);
}

/** Run the benchmark (see the module comment). */
export async function run(options: PrepareBenchOptions = {}): Promise<PrepareBenchResult> {
  const records = options.tiny ? 64 : 512;
  const rounds = options.tiny ? 2 : options.quick ? 5 : 11;
  const roundMillis = options.tiny ? 20 : options.quick ? 300 : 600;
  const commit = options.tiny ? '' : (options.baseline ?? DEFAULT_BASELINE);
  const base = commit === '' ? undefined : materializeBaseline(commit);
  const candidates: Array<{ name: string; prepare: Prepare }> = [];
  if (base) {
    const mod = (await import(pathToFileURL(path.join(base.dir, 'receiver/pipeline/prepare-task.ts')).href)) as { runPrepareTask: Prepare };
    candidates.push({ name: `baseline ${base.sha.slice(0, 7)}`, prepare: mod.runPrepareTask });
  }
  candidates.push({ name: 'current', prepare: runPrepareTask });
  const out: PrepareBenchResult = { scenario: 'prepare', baseline: base?.sha ?? null, rounds, loadAverage: os.loadavg(), inputs: [] };
  try {
    for (const input of inputs(records)) {
      // The task's body is read, never consumed, so one task serves every call.
      const first = candidates.map((c) => c.prepare(input.task));
      for (let k = 1; k < first.length; k++) assertSameOutcome(first[0]!, first[k]!, input.name);
      for (const c of candidates) for (let i = 0; i < (options.tiny ? 2 : 30); i++) c.prepare(input.task); // JIT warm-up
      const samples = candidates.map(() => ({
        thread: [] as number[],
        proc: [] as number[],
        gc: [] as number[],
        alloc: [] as number[],
        eps: [] as number[],
      }));
      for (let round = 0; round < rounds; round++) {
        for (let k = 0; k < candidates.length; k++) {
          const c = candidates[k]!;
          const s = samples[k]!;
          const stopHeap = startHeapAccounting();
          const cpu0 = process.cpuUsage();
          const thread0 = threadCpu();
          const t0 = performance.now();
          let n = 0;
          while (performance.now() - t0 < roundMillis || n === 0) {
            c.prepare(input.task);
            n++;
          }
          const wall = performance.now() - t0;
          const thread = threadCpu() - thread0;
          const cpu = process.cpuUsage(cpu0);
          const { allocatedBytes: allocated, gcMicros } = stopHeap();
          const events = n * input.records;
          s.thread.push(thread / events);
          s.proc.push((cpu.user + cpu.system) / events);
          s.gc.push(gcMicros / events);
          s.alloc.push(allocated / events);
          s.eps.push(events / (wall / 1000));
          await new Promise((r) => setImmediate(r));
        }
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
      const r2 = (x: number) => Math.round(x * 100) / 100;
      const results = candidates.map((c, k) => {
        const s = samples[k]!;
        return {
          name: c.name,
          threadCpuMicrosPerEvent: r2(median(s.thread)),
          processCpuMicrosPerEvent: r2(median(s.proc)),
          gcMicrosPerEvent: Math.round(median(s.gc) * 1000) / 1000,
          allocatedBytesPerEvent: Math.round(median(s.alloc)),
          eventsPerSecond: Math.round(Math.max(...s.eps)),
        };
      });
      const entry: PrepareBenchResult['inputs'][number] = {
        name: input.name,
        records: input.records,
        bytes: input.task.body.byteLength,
        candidates: results,
      };
      if (results.length === 2) {
        entry.ratio = {
          cpu: r2(results[1]!.threadCpuMicrosPerEvent / results[0]!.threadCpuMicrosPerEvent),
          allocated: r2(results[1]!.allocatedBytesPerEvent / results[0]!.allocatedBytesPerEvent),
        };
      }
      out.inputs.push(entry);
    }
  } finally {
    if (base) fs.rmSync(base.dir, { recursive: true, force: true });
  }
  out.loadAverage = out.loadAverage.map((l, i) => Math.round(((l + os.loadavg()[i]!) / 2) * 100) / 100);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--baseline');
  const options: PrepareBenchOptions = { quick: args.includes('--quick') };
  if (at >= 0) options.baseline = args[at + 1] ?? '';
  console.log(JSON.stringify(await run(options), null, 2));
}
