/**
 * Same-process A/B of the SDK's durable `record()`: a base commit's `sdk/` against the checkout's,
 * one logger each, alternating rounds, 256 closed-loop callers, one child-process OTLP endpoint.
 * Prints per round: events/s, p50/p99 (ms), the calling thread's and the process's CPU per event
 * (µs), the CPU per event of every thread above 0.5 µs (`/proc/self/task`, Linux only), and
 * events per message to the record worker. A measuring tool, not a `npm run bench` scenario:
 *
 *   mkdir -p .tmp/base && git archive <base-commit> sdk | tar -x -C .tmp/base
 *   NODE_OPTIONS=--conditions=@otel-audit/source npx node bench/sdk-record-ab.ts
 *
 * Env: MODE (worker|main, default worker), EVENTS (30000), ROUNDS (3), CALLERS (256), ONLY (old|new).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAuditLogger as createNew } from '../sdk/index.ts';
import { event, startEndpoint } from './sdk-record.ts';

const { url, child } = await startEndpoint();
const mode = (process.env.MODE ?? 'worker') as 'worker' | 'main';
const events = Number(process.env.EVENTS ?? 30000);
const rounds = Number(process.env.ROUNDS ?? 3);
const callers = Number(process.env.CALLERS ?? 256);
const dirs: string[] = [];
const mk = (f: typeof createNew) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h13sdk2-ab-'));
  dirs.push(dir);
  return f({
    spoolDir: dir,
    maxSpoolBytes: 2 * 1024 ** 3,
    exporter: { endpoint: url },
    exportThread: 'worker',
    recordThread: mode,
    maxExportBatchSize: 1024,
  });
};
const only = process.env.ONLY;
// A computed path: the base snapshot exists only where it was extracted (typecheck must not need it).
const basePath = new URL('../.tmp/base/sdk/index.ts', import.meta.url).href;
const createOld: typeof createNew =
  only === 'new' ? createNew : ((await import(basePath)) as typeof import('../sdk/index.ts')).createAuditLogger;
const loggers = (
  only === 'new' ? { new: mk(createNew) } : only === 'old' ? { old: mk(createOld) } : { old: mk(createOld), new: mk(createNew) }
) as Record<'old' | 'new', ReturnType<typeof createNew>>;
const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]!;
const HZ = 100;
function threads(): Map<string, [string, number]> {
  const m = new Map<string, [string, number]>();
  for (const t of fs.readdirSync('/proc/self/task')) {
    try {
      const st = fs.readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const comm = fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim();
      m.set(t, [comm, ((Number(rest[11]) + Number(rest[12])) * 1e6) / HZ]);
    } catch {}
  }
  return m;
}
/** Messages sent to the record worker so far (a private counter of RecordThread; 0 in main mode). */
const batchesSent = (audit: unknown): number => (audit as { thread?: { nextBatch?: number } }).thread?.nextBatch ?? 0;
async function phase(audit: ReturnType<typeof createNew>) {
  const tt0 = threads();
  const b0 = batchesSent(audit);
  const lat = new Float64Array(events);
  let next = 0;
  const cpu0 = process.cpuUsage();
  const th0 = process.threadCpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      for (;;) {
        const i = next++;
        if (i >= events) return;
        const s = performance.now();
        await audit.record(event(i));
        lat[i] = performance.now() - s;
      }
    }),
  );
  const sec = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const th = process.threadCpuUsage(th0);
  const tt1 = threads();
  const batches = batchesSent(audit) - b0;
  const per: string[] = [];
  for (const [t, [comm, us]] of tt1) {
    const d = us - (tt0.get(t)?.[1] ?? 0);
    if (d / events >= 0.5) per.push(`${comm}#${t}:${(d / events).toFixed(1)}`);
  }
  const pending = audit.stats().pendingRecords;
  const d0 = performance.now();
  await audit.flush({ timeoutMillis: 600000 });
  const drain = (performance.now() - d0) / 1000;
  const s = Array.from(lat).sort((a, b) => a - b);
  return {
    evps: Math.round(events / sec),
    p50: +pct(s, 50).toFixed(2),
    p99: +pct(s, 99).toFixed(2),
    callerUs: +((th.user + th.system) / events).toFixed(2),
    procUs: +((cpu.user + cpu.system) / events).toFixed(1),
    pending,
    drainS: +drain.toFixed(2),
    e2e: Math.round(events / (sec + drain)),
    load: os.loadavg()[0]!.toFixed(2),
    threads: per.join(' '),
    perBatch: batches > 0 ? +(events / batches).toFixed(1) : 0,
  };
}
for (const a of Object.values(loggers)) {
  await Promise.all(Array.from({ length: 5000 }, (_, i) => a.record(event(i))));
  await a.flush();
}
const res: Record<string, unknown[]> = { old: [], new: [] };
for (let r = 0; r < rounds; r++) {
  for (const k of ((r % 2 ? ['new', 'old'] : ['old', 'new']) as Array<'old' | 'new'>).filter((k) => loggers[k])) {
    const p = await phase(loggers[k]);
    res[k]!.push(p);
    console.log(k, JSON.stringify(p));
  }
}
for (const a of Object.values(loggers)) await a.shutdown({ timeoutMillis: 1000 });
child.kill();
for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
