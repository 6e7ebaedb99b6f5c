/**
 * Benchmark: webhook delivery (SIEM leg) beside ingest.
 *
 * A loopback endpoint (node:http in this process: it verifies every `Otel-Audit-Signature` over the
 * raw body, as a real endpoint would, and counts the events) receives what a receiver child process
 * (`otel-audit start`, ClickHouse and cold storage off so the webhook is the only exporter) sends.
 *
 * Drain, per format (`otel-audit`, `ocsf`, `splunk-hec`): the endpoint answers 503 while the load
 * generator (its own process, closed loop, HTTP/protobuf, 4 connections) puts `events` in the WAL;
 * then it answers 200 and the bench times the cursor until the lag is zero — the delivery rate of
 * one webhook with a backlog, with the receiver's CPU over the drain.
 *
 * Beside ingest: the endpoint answers 200 from the start; the generator runs `seconds` closed loop;
 * ingest (acked events/s) and delivery (events the endpoint got per second, over the same window)
 * are reported side by side, with the lag left at the end.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifySignature } from '../exporters/webhook/index.ts';
import { type LoadRun, measureLoad } from './lib/measure.ts';
import { type ReceiverProcess, receiverStatus, sampleProc, startReceiver } from './lib/processes.ts';

/** Options of {@link run}. */
export interface WebhookBenchOptions {
  quick?: boolean;
  tiny?: boolean;
  /** Events backlogged per format for the drain (default 100,000; quick 30,000; tiny 2,048). */
  events?: number;
  /** Measured seconds of the beside-ingest run (default 10; quick 5; tiny 1). */
  seconds?: number;
  /** Formats to drain (default all three). */
  formats?: Array<'otel-audit' | 'ocsf' | 'splunk-hec'>;
  workDir?: string;
}

/** One drain. */
export interface WebhookDrain {
  format: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  requests: number;
  /** Mean request body (KiB). */
  meanBodyKiB: number;
  bytesPerEvent: number;
  receiverCpuPercent: number;
  /** Events delivered per second of receiver CPU. */
  eventsPerReceiverCpuSecond: number | null;
  complete: boolean;
  badSignatures: number;
}

/** Result of {@link run}. */
export interface WebhookBenchResult {
  scenario: 'webhook';
  maxBatchEvents: number;
  drains: WebhookDrain[];
  besideIngest: {
    ingest: LoadRun;
    ingestEventsPerSecond: number;
    /** Events the endpoint got per second inside the generator's measured window. */
    deliveredEventsPerSecond: number;
    /** Events delivered ÷ events accepted, counted when the load ended (1 = delivery kept up). */
    deliveryToIngestRatio: number;
    deliveredDuringLoad: number;
    acceptedDuringLoad: number;
    lagAtEnd: number;
    /** Seconds after the load until the lag was zero, and whether it got there. */
    catchUpSeconds: number;
    caughtUp: boolean;
    /** Events the receiver accepted in the run, and events the endpoint got (at least as many). */
    acceptedEvents: number;
    deliveredEvents: number;
    badSignatures: number;
  };
  loadAverage: number[];
}

const SECRET = 'bench-webhook-secret-0123456789';
const MAX_BATCH_EVENTS = 1000;

interface Endpoint {
  url: string;
  accepting: boolean;
  events: number;
  requests: number;
  bytes: number;
  badSignatures: number;
  close(): Promise<void>;
}

async function startEndpoint(): Promise<Endpoint> {
  const state = { accepting: false, events: 0, requests: 0, bytes: 0, badSignatures: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!state.accepting) {
        res.writeHead(503).end();
        return;
      }
      const body = Buffer.concat(chunks);
      if (!verifySignature(SECRET, req.headers['otel-audit-signature'] as string | undefined, body).ok) {
        state.badSignatures++;
        res.writeHead(401).end();
        return;
      }
      let lines = 0;
      for (let i = body.indexOf(10); i !== -1; i = body.indexOf(10, i + 1)) lines++;
      state.events += lines;
      state.requests++;
      state.bytes += body.length;
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/ingest`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}

function receiverConfig(url: string, format: string): Record<string, unknown> {
  return {
    exporters: {
      clickhouse: { enabled: false },
      coldstore: { enabled: false },
      webhooks: [
        {
          name: 'siem',
          url,
          secret: SECRET,
          format,
          maxBatchEvents: MAX_BATCH_EVENTS,
          maxBatchBytes: 8 * 1024 * 1024,
          retry: { initialBackoffMillis: 50, maxBackoffMillis: 200 },
        },
      ],
    },
  };
}

async function lagOf(r: ReceiverProcess): Promise<number> {
  return (await receiverStatus(r.http)).exporters.find((e) => e.name === 'siem')?.lagEntries ?? 0;
}

/** Run the benchmark (see the module comment). */
export async function run(options: WebhookBenchOptions = {}): Promise<WebhookBenchResult> {
  const tiny = options.tiny ?? false;
  const events = options.events ?? (tiny ? 2048 : options.quick ? 30_000 : 100_000);
  const seconds = options.seconds ?? (tiny ? 1 : options.quick ? 5 : 10);
  const formats = options.formats ?? ['otel-audit', 'ocsf', 'splunk-hec'];
  const base = await mkdtemp(join(options.workDir ?? tmpdir(), 'otel-audit-bench-webhook-'));
  const endpoint = await startEndpoint();
  let receiver: ReceiverProcess | undefined;
  try {
    const drains: WebhookDrain[] = [];
    for (const format of formats) {
      endpoint.accepting = false;
      receiver = await startReceiver({ dataDir: join(base, `drain-${format}`), config: receiverConfig(endpoint.url, format) });
      await measureLoad(receiver, {
        protocol: 'http-protobuf',
        connections: 4,
        durationSeconds: 3600,
        warmupSeconds: 0,
        maxEvents: events,
      });
      const backlog = await lagOf(receiver);
      const before = { events: endpoint.events, requests: endpoint.requests, bytes: endpoint.bytes, bad: endpoint.badSignatures };
      const c0 = sampleProc(receiver.pid);
      const t0 = performance.now();
      endpoint.accepting = true;
      const limit = tiny ? 60_000 : 300_000;
      let lag = backlog;
      while (lag > 0 && performance.now() - t0 < limit) {
        await new Promise((r) => setTimeout(r, 100));
        lag = await lagOf(receiver);
      }
      const secs = (performance.now() - t0) / 1000;
      const c1 = sampleProc(receiver.pid);
      const cpu = c0 && c1 ? ((c1.cpuSeconds - c0.cpuSeconds) / secs) * 100 : 0;
      const delivered = endpoint.events - before.events;
      const requests = endpoint.requests - before.requests;
      const bytes = endpoint.bytes - before.bytes;
      drains.push({
        format,
        events: delivered,
        seconds: Math.round(secs * 100) / 100,
        eventsPerSecond: Math.round(delivered / secs),
        requests,
        meanBodyKiB: requests ? Math.round((bytes / requests / 1024) * 10) / 10 : 0,
        bytesPerEvent: delivered ? Math.round(bytes / delivered) : 0,
        receiverCpuPercent: Math.round(cpu),
        eventsPerReceiverCpuSecond: cpu > 1 ? Math.round(delivered / secs / (cpu / 100)) : null,
        complete: lag === 0,
        badSignatures: endpoint.badSignatures - before.bad,
      });
      await receiver.stop();
      receiver = undefined;
    }

    endpoint.accepting = true;
    receiver = await startReceiver({ dataDir: join(base, 'beside-ingest'), config: receiverConfig(endpoint.url, 'otel-audit') });
    const r = receiver;
    const e0 = endpoint.events;
    const bad0 = endpoint.badSignatures;
    let w0 = 0;
    let w1 = 0;
    let tw0 = 0;
    let tw1 = 0;
    // The generator's window starts after its warm-up (+~300 ms start-up); sample the endpoint then.
    const warmup = 1;
    const a = setTimeout(() => ((w0 = endpoint.events), (tw0 = performance.now())), warmup * 1000 + 300);
    const b = setTimeout(() => ((w1 = endpoint.events), (tw1 = performance.now())), warmup * 1000 + 300 + seconds * 1000);
    const ingest = await measureLoad(r, { protocol: 'http-protobuf', connections: 4, durationSeconds: seconds, warmupSeconds: warmup });
    clearTimeout(a);
    clearTimeout(b);
    if (tw1 === 0) {
      w1 = endpoint.events;
      tw1 = performance.now();
    }
    if (tw0 === 0) {
      w0 = e0;
      tw0 = tw1 - seconds * 1000;
    }
    const delivered = (w1 - w0) / ((tw1 - tw0) / 1000);
    // Over the whole load (warm-up included): robust when a loaded machine delays the generator's
    // start past the window samples above.
    const deliveredDuringLoad = endpoint.events - e0;
    const acceptedDuringLoad = (await receiverStatus(r.http)).counters.accepted;
    const lagAtEnd = await lagOf(r);
    // Then let the webhook catch up: every accepted event must reach the endpoint.
    const c0 = performance.now();
    let lag = lagAtEnd;
    while (lag > 0 && performance.now() - c0 < (tiny ? 60_000 : 300_000)) {
      await new Promise((res) => setTimeout(res, 100));
      lag = await lagOf(r);
    }
    const accepted = (await receiverStatus(r.http)).counters.accepted;
    return {
      scenario: 'webhook',
      maxBatchEvents: MAX_BATCH_EVENTS,
      drains,
      besideIngest: {
        ingest,
        ingestEventsPerSecond: ingest.ackedEventsPerSecond,
        deliveredEventsPerSecond: Math.round(delivered),
        deliveryToIngestRatio: acceptedDuringLoad > 0 ? Math.round((deliveredDuringLoad / acceptedDuringLoad) * 100) / 100 : 0,
        deliveredDuringLoad,
        acceptedDuringLoad,
        lagAtEnd,
        catchUpSeconds: Math.round((performance.now() - c0) / 100) / 10,
        caughtUp: lag === 0,
        acceptedEvents: accepted,
        deliveredEvents: endpoint.events - e0,
        badSignatures: endpoint.badSignatures - bad0,
      },
      loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    };
  } finally {
    await receiver?.stop();
    await endpoint.close();
    await rm(base, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run({ quick: process.argv.includes('--quick'), tiny: process.argv.includes('--tiny') }), null, 2));
}
