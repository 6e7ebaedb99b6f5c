/**
 * Benchmark: schema validation and the OTLP → event mapping in-process, the hand-written fast path
 * against the code it replaced (test/schema/reference.ts: zod for every event, the original
 * `logRecordToAuditEvent`), in the same process and run. Inputs are realistic: the pipeline
 * fixtures' audit events (actor, tenant, one target, request, small JSON details), half of them with
 * trace context, as `validateAuditEvent` inputs and as decoded OTLP `LogRecordView`s.
 *
 * Rounds interleave the candidates so load from other processes hits all alike. Reported per
 * candidate: the best round's events/s (least disturbed), and CPU time, GC time and heap bytes
 * allocated per event (process user + system; v8.GCProfiler; median round), since the machine is
 * shared and wall-clock alone misleads.
 *
 *   node bench/validate.ts [--quick]
 */
import { type AuditEvent, type LogRecordView, logRecordToAuditEvent, validateAuditEvent } from '@otel-audit/schema';
import { eventToRecord, makeEvent } from '../test/receiver/pipeline/fixtures.ts';
import { referenceLogRecordToAuditEvent, referenceValidateAuditEvent } from '../test/schema/reference.ts';
import { startHeapAccounting } from './lib/heap-accounting.ts';

/** Options of {@link run}. */
export interface ValidateBenchOptions {
  /** Shorter run (a few seconds). */
  quick?: boolean;
  /** CI smoke sizes (numbers meaningless). */
  tiny?: boolean;
}

/** One candidate's numbers. */
export interface ValidateBenchCandidate {
  name: string;
  eventsPerSecond: number;
  cpuMicrosPerEvent: number;
  /** Time in garbage collection per event (v8.GCProfiler), median round. */
  gcMicrosPerEvent: number;
  /** Heap bytes allocated per event (growth of the used heap across the round, GCs included), median round. */
  allocatedBytesPerEvent: number;
}

/** Result of {@link run}. */
export interface ValidateBenchResult {
  scenario: 'validate';
  events: number;
  rounds: number;
  candidates: ValidateBenchCandidate[];
  /** Old ÷ new CPU time per event, per function. */
  speedup: { validateAuditEvent: number; logRecordToAuditEvent: number };
}

const TENANTS = ['acme', 'globex', 'initech', 'umbrella'];

function realisticEvents(n: number): AuditEvent[] {
  return Array.from({ length: n }, (_, i) =>
    makeEvent({
      tenant: { id: TENANTS[i % TENANTS.length]! },
      ...(i % 2 === 0
        ? {
            trace: {
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId: (0x1000000000 + i).toString(16).padStart(16, '0'),
              traceFlags: 1,
            },
          }
        : {}),
    }),
  );
}

function toRecord(event: AuditEvent): LogRecordView {
  const rec = eventToRecord(event);
  if (event.trace) {
    rec.traceId = event.trace.traceId;
    rec.spanId = event.trace.spanId;
    rec.flags = event.trace.traceFlags ?? 0;
  }
  return rec;
}

/** Run the benchmark (see the module comment). */
export async function run(options: ValidateBenchOptions = {}): Promise<ValidateBenchResult> {
  const poolSize = options.tiny ? 64 : 1024;
  const perRound = options.tiny ? 512 : options.quick ? 20_000 : 50_000;
  const rounds = options.tiny ? 2 : options.quick ? 5 : 11;
  const events = realisticEvents(poolSize);
  const records = events.map(toRecord);

  // Every candidate must accept every input, or it is measuring the error path.
  for (const e of events) if (!validateAuditEvent(e).ok || !referenceValidateAuditEvent(e).ok) throw new Error('fixture event invalid');
  for (const r of records)
    if (!logRecordToAuditEvent(r).ok || !referenceLogRecordToAuditEvent(r).ok) throw new Error('fixture record invalid');

  let sink = 0;
  const candidates: Array<{ name: string; once: (i: number) => void }> = [
    { name: 'validateAuditEvent (zod, before)', once: (i) => (sink += referenceValidateAuditEvent(events[i % poolSize]!).ok ? 1 : 0) },
    { name: 'validateAuditEvent (fast, after)', once: (i) => (sink += validateAuditEvent(events[i % poolSize]!).ok ? 1 : 0) },
    { name: 'logRecordToAuditEvent (before)', once: (i) => (sink += referenceLogRecordToAuditEvent(records[i % poolSize]!).ok ? 1 : 0) },
    { name: 'logRecordToAuditEvent (after)', once: (i) => (sink += logRecordToAuditEvent(records[i % poolSize]!).ok ? 1 : 0) },
  ];

  const samples = candidates.map(() => ({ eps: [] as number[], cpu: [] as number[], gc: [] as number[], alloc: [] as number[] }));
  // Warm-up: let every candidate reach optimized code before measuring.
  for (const c of candidates) for (let i = 0; i < Math.min(perRound, 20_000); i++) c.once(i);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < candidates.length; k++) {
      const c = candidates[k]!;
      const s = samples[k]!;
      const stopHeap = startHeapAccounting();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < perRound; i++) c.once(i);
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const { allocatedBytes: allocated, gcMicros } = stopHeap();
      s.eps.push(perRound / (wall / 1000));
      s.cpu.push((cpu.user + cpu.system) / perRound);
      s.gc.push(gcMicros / perRound);
      s.alloc.push(allocated / perRound);
    }
  }
  if (sink === 0) throw new Error('nothing validated');

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const result = candidates.map((c, k) => {
    const s = samples[k]!;
    return {
      name: c.name,
      eventsPerSecond: Math.round(Math.max(...s.eps)),
      cpuMicrosPerEvent: Math.round(median(s.cpu) * 100) / 100,
      gcMicrosPerEvent: Math.round(median(s.gc) * 1000) / 1000,
      allocatedBytesPerEvent: Math.round(median(s.alloc)),
    };
  });
  const ratio = (before: number, after: number) =>
    Math.round((result[before]!.cpuMicrosPerEvent / result[after]!.cpuMicrosPerEvent) * 10) / 10;
  return {
    scenario: 'validate',
    events: poolSize,
    rounds,
    candidates: result,
    speedup: { validateAuditEvent: ratio(0, 1), logRecordToAuditEvent: ratio(2, 3) },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run({ quick: process.argv.includes('--quick') }), null, 2));
}
