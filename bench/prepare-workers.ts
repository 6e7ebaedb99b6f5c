/**
 * In-process measurement of what the prepare workers take off the main thread: the pipeline's
 * `consumeEncoded()` with fsync'd acks, 512-record protobuf requests, 8 in flight, once with
 * `prepareWorkers: 0` (everything on the main thread, as before the pool) and once with the pool.
 * Reports events/s, the main thread's CPU time per event (`process.threadCpuUsage()`: this thread
 * only), the whole process's CPU per event (main + workers + libuv) and the main thread's event-loop
 * utilization. Main-thread CPU per event bounds the rate once the main thread saturates, and it is
 * far less sensitive to other processes on the machine than events/s.
 *
 *   node bench/prepare-workers.ts '{"requests":200,"workers":[0,1,2]}'
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createAuditPipeline } from '../receiver/pipeline/index.ts';
import { auditRequestObject, encodeRequest } from '../test/receiver/helpers/otlp-fixtures.ts';

/** CPU time of this thread (µs): `process.threadCpuUsage` (Node ≥ 23.9). */
function threadCpu(): number {
  const u = (process as unknown as { threadCpuUsage: () => { user: number; system: number } }).threadCpuUsage();
  return u.user + u.system;
}

interface Options {
  requests?: number;
  workers?: number[];
  concurrency?: number;
}

const TEMPLATE = encodeRequest(auditRequestObject(512));
const ID_MARK = Buffer.from('-8000-00000000');

/** A copy of the template with fresh ids (overwrite 8 hex digits after each id's fixed part). */
function freshRequest(n: number): Buffer {
  const b = Buffer.from(TEMPLATE);
  const tag = n.toString(16).padStart(8, '0');
  for (let at = b.indexOf(ID_MARK); at >= 0; at = b.indexOf(ID_MARK, at + 1)) b.write(tag, at + 6, 'latin1');
  return b;
}

export async function run(options: Options = {}) {
  const requests = options.requests ?? 200;
  const concurrency = options.concurrency ?? 8;
  const out: Array<Record<string, number>> = [];
  let serial = 0;
  for (const workers of options.workers ?? [0, 2]) {
    const dir = await mkdtemp(join(tmpdir(), 'prepare-workers-'));
    const p = createAuditPipeline({ dataDir: dir, instanceId: 'bench', prepareWorkers: workers });
    await p.start();
    const bodies = Array.from({ length: requests }, () => freshRequest(serial++));
    // Warm-up (JIT, worker modules).
    await Promise.all(
      Array.from({ length: 4 }, () =>
        p.consumeEncoded(
          { body: freshRequest(serial++), format: 'protobuf', encoding: 'identity', maxBytes: 64 << 20 },
          { transport: 'http' },
        ),
      ),
    );
    const elu0 = performance.eventLoopUtilization();
    const main0 = threadCpu();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    let accepted = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          const r = await p.consumeEncoded({ body, format: 'protobuf', encoding: 'identity', maxBytes: 64 << 20 }, { transport: 'http' });
          if (r.decoded && r.result.status === 'success') accepted += r.result.accepted;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const elu = performance.eventLoopUtilization(elu0);
    const mainMicros = threadCpu() - main0;
    const cpu = process.cpuUsage(cpu0);
    await p.shutdown();
    await rm(dir, { recursive: true, force: true });
    out.push({
      workers,
      events: accepted,
      eventsPerSecond: Math.round(accepted / seconds),
      mainThreadCpuMicrosPerEvent: Math.round((mainMicros / accepted) * 10) / 10,
      mainThreadUtilization: Math.round(elu.utilization * 100) / 100,
      processCpuMicrosPerEvent: Math.round(((cpu.user + cpu.system) / accepted) * 10) / 10,
      loadAverage1m: Math.round(loadavg()[0]! * 10) / 10,
    });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run(process.argv[2] ? (JSON.parse(process.argv[2]) as Options) : {}), null, 2));
}
