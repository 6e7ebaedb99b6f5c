/**
 * OTLP load generator, run as its own process so its CPU is never billed to the receiver (and its
 * limits are never mistaken for the receiver's): `node bench/loadgen.ts '<json LoadgenOptions>'`,
 * normally spawned by {@link runLoadgen} in bench/lib/loadgen-client.ts, which receives the
 * {@link LoadgenReport} over IPC.
 *
 * Batches are realistic audit records (the shape of test/receiver/helpers/otlp-fixtures.ts), 512
 * per request by default, encoded once per tenant as protobuf or OTLP/JSON. Every request gets
 * fresh UUIDv7 event ids by overwriting the last 12 hex digits of each id in place in a copy of the
 * encoded bytes (ids have a fixed length, so the encoding stays valid): an unbounded pool of
 * distinct pre-encoded batches, so the receiver never sees a duplicate and the generator spends no
 * CPU on encoding.
 *
 * Closed loop (no `ratePerSecond`): every connection sends its next batch as soon as the previous
 * one is answered. Open loop: batches are scheduled at the target rate on a fixed timetable; a
 * connection takes the oldest scheduled batch and the latency is measured from its *scheduled*
 * time (so a slow receiver cannot hide queueing, i.e. no coordinated omission). When more than
 * one second of batches waits for a free connection, the oldest are counted as `notSent`.
 */
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { LOGS_EXPORT_METHOD_PATH } from '../receiver/grpc/index.ts';
import { auditRequestObject, encodeRequest, encodeRequestJson } from '../test/receiver/helpers/otlp-fixtures.ts';

/** Wire protocols the generator speaks. */
export type LoadgenProtocol = 'http-protobuf' | 'http-json' | 'grpc';

/** What the generator is asked to do (JSON on its command line). */
export interface LoadgenOptions {
  protocol: LoadgenProtocol;
  /** `http://host:port/v1/logs` for HTTP, `host:port` for gRPC. */
  target: string;
  /** Concurrent connections (HTTP keep-alive sockets or gRPC channels). */
  connections: number;
  /** Measured seconds (after warm-up). */
  durationSeconds: number;
  /** Seconds of load before measuring starts (JIT, WAL segment creation). Default 1. */
  warmupSeconds?: number;
  /** Offered load in events/s (open loop); absent = closed loop, as fast as acks come back. */
  ratePerSecond?: number;
  /** Records per request. Default 512. */
  batchSize?: number;
  /** Stop after this many events have been sent (acked or not), e.g. to build a known backlog. */
  maxEvents?: number;
  /** Tenants to rotate over, one per batch. Default four. */
  tenants?: string[];
  /** Send an `ack-sample` IPC message (first event id + ack time) at most this often (ms). */
  sampleEveryMillis?: number;
}

/** Latency summary in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  /** Counts per upper bound (ms), log-spaced; the last bucket is +Infinity (as `null` in JSON). */
  histogram: Array<{ leMillis: number | null; count: number }>;
}

/** What the generator measured (sent over IPC). */
export interface LoadgenReport {
  protocol: LoadgenProtocol;
  connections: number;
  batchSize: number;
  mode: 'closed-loop' | 'open-loop';
  /** Offered load (events/s), open loop only. */
  offeredEventsPerSecond: number | null;
  /** Measured window (s). */
  seconds: number;
  /** Requests and events answered with success in the window. */
  ackedBatches: number;
  ackedEvents: number;
  ackedEventsPerSecond: number;
  /** Requests answered with a retryable status (HTTP 429/502/503/504, gRPC UNAVAILABLE/RESOURCE_EXHAUSTED). */
  retryableBatches: number;
  /** Requests answered with any other error status, or a transport error. */
  errorBatches: number;
  /** Scheduled batches the generator dropped because no connection was free for a second (open loop). */
  notSentBatches: number;
  /** Events sent in total, including warm-up and outside the window. */
  totalSentEvents: number;
  totalAckedEvents: number;
  /** Ack latency of successful requests in the window (open loop: from the scheduled time). */
  latencyMillis: LatencySummary;
  /** The first few error messages, to tell a broken setup from an overloaded receiver. */
  errorSamples: string[];
  /** The generator's own CPU use over the window (% of one core). */
  generatorCpuPercent: number;
}

/** Percentile of an ascending array (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Summarize latencies (ms) into percentiles and a log-bucketed histogram. */
export function summarizeLatencies(values: number[]): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const bounds = [0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000, Infinity];
  const histogram = bounds.map((b) => ({ leMillis: Number.isFinite(b) ? b : null, count: 0 }));
  let bi = 0;
  let sum = 0;
  for (const v of sorted) {
    sum += v;
    while (v > bounds[bi]!) bi++;
    histogram[bi]!.count++;
  }
  const r = (n: number) => Math.round(n * 1000) / 1000;
  return {
    count: sorted.length,
    p50: r(percentile(sorted, 50)),
    p90: r(percentile(sorted, 90)),
    p99: r(percentile(sorted, 99)),
    p999: r(percentile(sorted, 99.9)),
    max: r(sorted.at(-1) ?? 0),
    mean: r(sorted.length ? sum / sorted.length : 0),
    histogram: histogram.filter((h, i) => h.count > 0 || i === histogram.length - 1),
  };
}

interface Template {
  bytes: Buffer;
  /** Byte offsets of the last 12 hex digits of every event id. */
  idOffsets: number[];
  firstId: string;
}

const HEX = Buffer.from('0123456789abcdef');
/** A request unanswered this long counts as an error (a stuck receiver must not hang the bench). */
const REQUEST_TIMEOUT_MILLIS = 30_000;

/**
 * The generator's request: `batchSize` realistic audit records of `tenant` in one resource and scope
 * (the fixture's), with current event times and event ids `idOf(i)` (none when `idOf` is absent:
 * the receiver derives them).
 */
export function loadgenRequestObject(batchSize: number, tenant: string, idOf?: (i: number) => string): Record<string, unknown> {
  const nowNanos = BigInt(Date.now()) * 1_000_000n;
  const object = auditRequestObject(batchSize) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: unknown[] }> }> };
  for (const [i, r] of object.resourceLogs[0]!.scopeLogs[0]!.logRecords.entries()) {
    const rec = r as {
      attributes: Array<{ key: string; value: { stringValue?: string } }>;
      timeUnixNano: string;
      observedTimeUnixNano: string;
    };
    if (idOf === undefined) rec.attributes = rec.attributes.filter((a) => a.key !== 'audit.event_id');
    for (const a of rec.attributes) {
      if (a.key === 'audit.event_id') a.value = { stringValue: idOf!(i) };
      if (a.key === 'audit.tenant.id') a.value = { stringValue: tenant };
    }
    // Current event times: old ones would land in long-gone cold-storage hour partitions.
    rec.timeUnixNano = String(nowNanos + BigInt(i));
    rec.observedTimeUnixNano = String(nowNanos + 1_000_000n);
  }
  return object;
}

/** Build one encoded batch for `tenant` whose ids can be rewritten in place. */
function buildTemplate(protocol: LoadgenProtocol, tenant: string, batchSize: number, idPrefix: string): Template {
  // Placeholder ids: unique within the template, so each one can be found by a byte search.
  const ids = Array.from({ length: batchSize }, (_, i) => idPrefix + i.toString(16).padStart(12, '0'));
  const object = loadgenRequestObject(batchSize, tenant, (i) => ids[i]!);
  const bytes = protocol === 'http-json' ? encodeRequestJson(object) : encodeRequest(object);
  const idOffsets = ids.map((id) => {
    const at = bytes.indexOf(id);
    if (at < 0) throw new Error(`event id ${id} not found in the encoded batch`);
    return at + 24;
  });
  return { bytes, idOffsets, firstId: ids[0]! };
}

/** Write `n` as 12 lowercase hex digits at `offset`. */
function writeHex12(buf: Buffer, offset: number, n: number): void {
  for (let i = 11; i >= 0; i--) {
    buf[offset + i] = HEX[n % 16]!;
    n = Math.floor(n / 16);
  }
}

/** Random hex digits. */
function randomHex(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(Math.random() * 16)];
  return s;
}

type SendResult = { ok: true } | { ok: false; retryable: boolean; message: string };

async function main(options: LoadgenOptions): Promise<LoadgenReport> {
  const batchSize = options.batchSize ?? 512;
  const tenants = options.tenants ?? ['acme', 'globex', 'initech', 'umbrella'];
  const warmupMillis = (options.warmupSeconds ?? 1) * 1000;
  const durationMillis = options.durationSeconds * 1000;
  // UUIDv7: 48-bit ms time, version 7, random; variant 8. The last 12 digits are the counter.
  const t = Date.now().toString(16).padStart(12, '0');
  const idPrefix = `${t.slice(0, 8)}-${t.slice(8, 12)}-7${randomHex(3)}-8${randomHex(3)}-`;
  const templates = tenants.map((tenant) => buildTemplate(options.protocol, tenant, batchSize, idPrefix));
  let counter = 0;
  let batchNo = 0;
  /** A fresh batch: the tenant's template copied, ids rewritten. */
  const nextBatch = (): { body: Buffer; firstId: string } => {
    const tpl = templates[batchNo++ % templates.length]!;
    const body = Buffer.from(tpl.bytes);
    const first = counter;
    for (const off of tpl.idOffsets) writeHex12(body, off, counter++);
    return { body, firstId: idPrefix + first.toString(16).padStart(12, '0') };
  };

  let sendOn: Array<(body: Buffer) => Promise<SendResult>>;
  let close: () => void;
  if (options.protocol === 'grpc') {
    const clients = Array.from(
      { length: options.connections },
      // A distinct channel option per client keeps grpc-js from sharing one subchannel (one TCP connection).
      (_, i) =>
        new grpc.Client(options.target, grpc.credentials.createInsecure(), {
          'grpc.bench_channel': i,
          'grpc.max_send_message_length': 64 * 1024 * 1024,
        } as grpc.ChannelOptions),
    );
    sendOn = clients.map(
      (c) => (body: Buffer) =>
        new Promise<SendResult>((resolve) => {
          c.makeUnaryRequest(
            LOGS_EXPORT_METHOD_PATH,
            (b: Buffer) => b,
            (b: Buffer) => b,
            body,
            { deadline: Date.now() + REQUEST_TIMEOUT_MILLIS },
            (err) => {
              if (!err) resolve({ ok: true });
              else
                resolve({
                  ok: false,
                  retryable: err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.RESOURCE_EXHAUSTED,
                  message: `gRPC ${err.code}: ${err.details}`,
                });
            },
          );
        }),
    );
    close = () => {
      for (const c of clients) c.close();
    };
  } else {
    const contentType = options.protocol === 'http-json' ? 'application/json' : 'application/x-protobuf';
    // One agent with one socket per connection: N connections means N TCP connections.
    const agents = Array.from({ length: options.connections }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    sendOn = agents.map(
      (agent) => (body: Buffer) =>
        new Promise<SendResult>((resolve) => {
          const req = http.request(
            options.target,
            { method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': body.length } },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => {
                const code = res.statusCode ?? 0;
                if (code === 200) resolve({ ok: true });
                else
                  resolve({
                    ok: false,
                    retryable: [429, 502, 503, 504].includes(code),
                    message: `HTTP ${code}: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`,
                  });
              });
            },
          );
          req.setTimeout(REQUEST_TIMEOUT_MILLIS, () => req.destroy(new Error('request timed out')));
          req.on('error', (err) => resolve({ ok: false, retryable: false, message: err.message }));
          req.end(body);
        }),
    );
    close = () => {
      for (const a of agents) a.destroy();
    };
  }

  const latencies: number[] = [];
  const errorSamples: string[] = [];
  let ackedBatches = 0;
  let retryableBatches = 0;
  let errorBatches = 0;
  let notSentBatches = 0;
  let totalSentEvents = 0;
  let totalAckedEvents = 0;
  let lastSampleAt = 0;
  const t0 = performance.now();
  const windowStart = t0 + warmupMillis;
  const windowEnd = windowStart + durationMillis;
  let cpuAtWindowStart: NodeJS.CpuUsage | undefined;
  let cpuWindow: NodeJS.CpuUsage | undefined;
  const cpuTimer = setTimeout(() => (cpuAtWindowStart = process.cpuUsage()), warmupMillis);
  const cpuEndTimer = setTimeout(() => (cpuWindow = process.cpuUsage(cpuAtWindowStart)), warmupMillis + durationMillis);
  const budgetLeft = () => options.maxEvents === undefined || totalSentEvents < options.maxEvents;

  const record = (scheduledAt: number, result: SendResult, firstId: string) => {
    const now = performance.now();
    if (result.ok) totalAckedEvents += batchSize;
    if (result.ok && options.sampleEveryMillis !== undefined && now - lastSampleAt >= options.sampleEveryMillis && process.send) {
      lastSampleAt = now;
      process.send({ type: 'ack-sample', eventId: firstId, ackAtMillis: performance.timeOrigin + now });
    }
    // Throughput counts acks inside the window; latency and errors count requests *scheduled*
    // inside it, however late they are answered (dropping late answers would flatter the tail).
    if (result.ok && now >= windowStart && now <= windowEnd) ackedBatches++;
    if (scheduledAt < windowStart || scheduledAt > windowEnd) return;
    if (result.ok) {
      latencies.push(now - scheduledAt);
    } else {
      if (result.retryable) retryableBatches++;
      else errorBatches++;
      if (errorSamples.length < 5) errorSamples.push(result.message);
    }
  };

  if (options.ratePerSecond === undefined) {
    await Promise.all(
      sendOn.map(async (send) => {
        while (performance.now() < windowEnd && budgetLeft()) {
          const { body, firstId } = nextBatch();
          totalSentEvents += batchSize;
          const s = performance.now();
          record(s, await send(body), firstId);
        }
      }),
    );
  } else {
    const intervalMillis = (batchSize / options.ratePerSecond) * 1000;
    const queue: number[] = [];
    const free = [...sendOn];
    let scheduled = 0;
    let inFlight = 0;
    await new Promise<void>((resolveAll) => {
      const pump = () => {
        const now = performance.now();
        // Catch up the timetable (timers are coarse; several batches may be due at once).
        while (t0 + scheduled * intervalMillis <= now && t0 + scheduled * intervalMillis < windowEnd && budgetLeft()) {
          queue.push(t0 + scheduled * intervalMillis);
          scheduled++;
        }
        while (queue.length > 0 && now - queue[0]! > 1000) {
          queue.shift();
          if (now >= windowStart && now <= windowEnd) notSentBatches++;
        }
        while (queue.length > 0 && free.length > 0) {
          const scheduledAt = queue.shift()!;
          const send = free.pop()!;
          const { body, firstId } = nextBatch();
          totalSentEvents += batchSize;
          inFlight++;
          void send(body).then((r) => {
            inFlight--;
            free.push(send);
            record(scheduledAt, r, firstId);
            pump();
          });
        }
        const done = (performance.now() >= windowEnd || !budgetLeft()) && queue.length === 0;
        if (done) {
          if (timer) clearTimeout(timer);
          timer = undefined;
          if (inFlight === 0) resolveAll();
          return;
        }
        // Wake at the next batch's scheduled time (a fixed-period poll would add up to its period
        // to every batch's latency); while batches wait for a connection, an answer wakes the pump.
        if (timer) clearTimeout(timer);
        const nextAt = t0 + scheduled * intervalMillis;
        timer = queue.length > 0 && free.length === 0 ? setTimeout(pump, 50) : setTimeout(pump, Math.max(0, nextAt - performance.now()));
      };
      let timer: NodeJS.Timeout | undefined;
      pump();
    });
  }
  const seconds = Math.min(durationMillis, Math.max(1, performance.now() - windowStart)) / 1000;
  clearTimeout(cpuTimer);
  clearTimeout(cpuEndTimer);
  cpuWindow ??= process.cpuUsage(cpuAtWindowStart);
  close();
  return {
    protocol: options.protocol,
    connections: options.connections,
    batchSize,
    mode: options.ratePerSecond === undefined ? 'closed-loop' : 'open-loop',
    offeredEventsPerSecond: options.ratePerSecond ?? null,
    seconds,
    ackedBatches,
    ackedEvents: ackedBatches * batchSize,
    ackedEventsPerSecond: Math.round((ackedBatches * batchSize) / seconds),
    retryableBatches,
    errorBatches,
    notSentBatches,
    totalSentEvents,
    totalAckedEvents,
    latencyMillis: summarizeLatencies(latencies),
    errorSamples,
    generatorCpuPercent: Math.round(((cpuWindow.user + cpuWindow.system) / 1000 / (seconds * 1000)) * 100),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const options = JSON.parse(process.argv[2] ?? '{}') as LoadgenOptions;
  const report = await main(options);
  if (process.send) process.send({ type: 'report', report }, () => process.exit(0));
  else {
    console.log(JSON.stringify(report, null, 2));
    process.exit(0);
  }
}
