/**
 * Webhook delivery through the whole receiver: events go in over OTLP/HTTP, through the WAL and the
 * exporter runner, and out to a real HTTP endpoint that checks the HMAC signature and records the
 * idempotency keys. The endpoint answers 200, 503 then 200, 429 with Retry-After, 400, or hangs;
 * every acknowledged event arrives at least once, a redelivered request carries the same key and
 * the same body, and a 400 shows the exporter failing in `/v1/audit/status` and `/metrics` without
 * losing anything, until the endpoint is fixed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { WebhookConfigInput } from '../../../exporters/webhook/index.ts';
import { createReceiver, type Receiver } from '../../../receiver/index.ts';
import { eventually } from '../../e2e/helpers/receiver-process.ts';
import { parseNdjson, type ReceivedRequest, startEndpoint, type TestEndpoint } from './helpers/endpoint.ts';
import { manyEvents, sendEvents } from './helpers/events.ts';

const SECRET = 'test-secret-0123456789abcdef';
const dirs: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function receiverWith(webhook: Partial<WebhookConfigInput> & { url: string }): Promise<{ receiver: Receiver; http: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-webhook-'));
  dirs.push(dataDir);
  const receiver = createReceiver({
    dataDir,
    http: { port: 0 },
    grpc: { enabled: false },
    exporters: {
      clickhouse: { enabled: false },
      coldstore: { enabled: false },
      webhooks: [{ name: 'siem', secret: SECRET, retry: { initialBackoffMillis: 20, maxBackoffMillis: 200 }, ...webhook }],
    },
    pipeline: { exporters: { maxBatchDelayMillis: 20 } },
  });
  const { http } = await receiver.start();
  cleanups.push(() => receiver.shutdown());
  return { receiver, http: http! };
}

async function endpoint(): Promise<TestEndpoint> {
  const e = await startEndpoint({ secret: SECRET });
  cleanups.push(() => e.close());
  return e;
}

/** Event ids delivered in 2xx-answered requests (otel-audit format). */
function deliveredIds(reqs: ReceivedRequest[]): Set<string> {
  const ids = new Set<string>();
  for (const r of reqs) for (const o of parseNdjson(r.body)) ids.add((o.event as { eventId: string }).eventId);
  return ids;
}

/** Every key that was sent more than once was sent with the same body each time. */
function expectStableKeys(reqs: ReceivedRequest[]): void {
  const bodies = new Map<string, string>();
  for (const r of reqs) {
    expect(r.key).toBeDefined();
    const prev = bodies.get(r.key!);
    if (prev !== undefined) expect(r.body).toBe(prev);
    bodies.set(r.key!, r.body);
  }
}

async function status(http: string): Promise<{
  exporters: Array<{
    name: string;
    failing: boolean;
    lastBackoffMillis: number;
    lastError?: { code: string; message: string };
    cursorLsn: number;
    lagEntries: number;
  }>;
  failingExporters: string[];
}> {
  return (await (await fetch(`${http}/v1/audit/status`)).json()) as never;
}

describe('webhook exporter delivery', () => {
  it('delivers every event signed, in order of the WAL, with one key per request and the chain position', async () => {
    const ep = await endpoint();
    const { http } = await receiverWith({ url: ep.url, maxBatchEvents: 7 });
    const events = manyEvents(40, 'acme');
    await sendEvents(http, events.slice(0, 20));
    await sendEvents(http, events.slice(20));
    await eventually(async () => (deliveredIds(ep.accepted()).size === 40 ? true : undefined));
    for (const r of ep.requests) {
      expect(r.signatureOk).toBe(true);
      expect(r.contentType).toBe('application/x-ndjson');
      expect(r.signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(r.key).toMatch(/^siem:\d+-\d+:[0-9a-f]{16}$/);
    }
    // maxBatchEvents bounds every request.
    for (const r of ep.requests) expect(parseNdjson(r.body).length).toBeLessThanOrEqual(7);
    // No redelivery on the happy path: every key once.
    expect(new Set(ep.requests.map((r) => r.key)).size).toBe(ep.requests.length);
    const lines = ep.requests.flatMap((r) => parseNdjson(r.body));
    expect(lines.map((l) => (l.event as { eventId: string }).eventId)).toEqual(events.map((e) => e.eventId));
    // The otel-audit format: the stored event with its chain position, seq contiguous, links intact.
    lines.forEach((l, i) => {
      expect(Object.keys(l)).toEqual(['chainId', 'seq', 'prevHash', 'hash', 'lsn', 'receivedAt', 'event']);
      expect(l.seq).toBe(i + 1);
      expect(l.chainId).toMatch(/^acme\//);
      if (i > 0) expect(l.prevHash).toBe(lines[i - 1]!.hash);
      expect(l.receivedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/);
    });
    // The key names the LSN range of its request.
    for (const r of ep.requests) {
      const ls = parseNdjson(r.body).map((l) => l.lsn as number);
      expect(r.key!.split(':')[1]).toBe(`${ls[0]}-${ls[ls.length - 1]}`);
    }
  });

  it('503 then 200: the batch is redelivered with the same key and the same body', async () => {
    const ep = await endpoint();
    let failures = 0;
    ep.respond(() => (failures++ < 3 ? { status: 503, body: 'maintenance' } : { status: 200 }));
    const { http } = await receiverWith({ url: ep.url });
    const events = manyEvents(10, 'beta');
    await sendEvents(http, events);
    await eventually(async () => (deliveredIds(ep.accepted()).size === 10 ? true : undefined));
    expect(ep.requests.filter((r) => r.status === 503)).toHaveLength(3);
    expectStableKeys(ep.requests);
    const first = ep.requests[0]!;
    const ok = ep.accepted()[0]!;
    expect(ok.key).toBe(first.key);
    expect(ok.body).toBe(first.body);
    // A fresh timestamp and signature per attempt, both valid.
    expect(ep.requests.every((r) => r.signatureOk)).toBe(true);
    const s = await status(http);
    expect(s.exporters.find((e) => e.name === 'siem')!.failing).toBe(false);
  });

  it('429 with Retry-After (seconds, then an HTTP-date): the runner waits what the endpoint asked', async () => {
    const ep = await endpoint();
    let n = 0;
    let receiver: Receiver | undefined;
    const delays: number[] = [];
    const siemDelay = () => receiver!.status().exporters.find((e) => e.name === 'siem')!.lastBackoffMillis;
    ep.respond(() => {
      n++;
      if (n > 1) delays.push(siemDelay()); // the delay the runner slept before this attempt
      if (n === 1) return { status: 429, headers: { 'retry-after': '1' } };
      if (n === 2) return { status: 429, headers: { 'retry-after': new Date(Date.now() + 3000).toUTCString() } };
      return { status: 200 };
    });
    const started = await receiverWith({ url: ep.url });
    receiver = started.receiver;
    await sendEvents(started.http, manyEvents(5, 'gamma'));
    await eventually(async () => (deliveredIds(ep.accepted()).size === 5 ? true : undefined));
    expect(ep.requests.map((r) => r.status)).toEqual([429, 429, 200]);
    expectStableKeys(ep.requests);
    // Delay-seconds taken as given; the HTTP-date (1 s resolution) as the time left until it.
    expect(delays[0]).toBe(1000);
    expect(delays[1]).toBeGreaterThan(1000);
    expect(delays[1]).toBeLessThanOrEqual(3000);
    const s = await status(started.http);
    expect(s.exporters.find((e) => e.name === 'siem')!.lastError?.message).toContain('HTTP 429');
  });

  it('400 stops the exporter visibly (status and metrics), keeps the batch, and resumes when the endpoint is fixed', async () => {
    const ep = await endpoint();
    let broken = true;
    ep.respond(() => (broken ? { status: 400, body: 'schema mismatch: field x' } : { status: 200 }));
    const { http } = await receiverWith({ url: ep.url });
    const events = manyEvents(12, 'delta');
    await sendEvents(http, events);
    const failing = await eventually(async () => {
      const s = await status(http);
      const siem = s.exporters.find((e) => e.name === 'siem')!;
      return siem.failing && ep.requests.length >= 2 ? s : undefined;
    });
    const siem = failing.exporters.find((e) => e.name === 'siem')!;
    expect(failing.failingExporters).toContain('siem');
    expect(siem.lastError?.code).toBe('AUDIT_ERR_WEBHOOK_REJECTED');
    expect(siem.lastError?.message).toContain('HTTP 400: schema mismatch: field x');
    expect(siem.cursorLsn).toBe(0);
    expect(siem.lagEntries).toBe(12);
    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics).toContain('otel_audit_exporter_failing{exporter="siem"} 1');
    expect(metrics).toContain('otel_audit_exporter_lag_entries{exporter="siem"} 12');
    // Retried slowly with the same key, never skipped.
    expectStableKeys(ep.requests);
    expect(new Set(ep.requests.map((r) => r.key)).size).toBe(1);

    broken = false;
    await eventually(async () => (deliveredIds(ep.accepted()).size === 12 ? true : undefined));
    const after = await eventually(async () => {
      const s = await status(http);
      const e = s.exporters.find((x) => x.name === 'siem')!;
      return !e.failing && e.lagEntries === 0 ? s : undefined;
    });
    expect(after.failingExporters).not.toContain('siem');
    expect(await (await fetch(`${http}/metrics`)).text()).toContain('otel_audit_exporter_failing{exporter="siem"} 0');
    expectStableKeys(ep.requests);
  });

  it('an endpoint that hangs: the request times out and is retried with the same key', async () => {
    const ep = await endpoint();
    let n = 0;
    ep.respond(() => (n++ === 0 ? { hang: true } : { status: 200 }));
    const { http } = await receiverWith({ url: ep.url, timeoutMillis: 300 });
    await sendEvents(http, manyEvents(4, 'epsilon'));
    await eventually(async () => (deliveredIds(ep.accepted()).size === 4 ? true : undefined));
    expect(ep.requests[0]!.status).toBe(0);
    expect(ep.accepted()[0]!.key).toBe(ep.requests[0]!.key);
    expectStableKeys(ep.requests);
    const s = await status(http);
    expect(s.exporters.find((e) => e.name === 'siem')!.lastError?.message).toMatch(/timed out/);
  });

  it('static headers are sent; json-array encoding is a JSON array', async () => {
    const ep = await endpoint();
    const { http } = await receiverWith({
      url: ep.url,
      encoding: 'json-array',
      headers: { authorization: 'Bearer abc', 'x-tenant': 'blue' },
    });
    await sendEvents(http, manyEvents(3, 'zeta'));
    await eventually(async () => (ep.accepted().length > 0 ? true : undefined));
    const r = ep.accepted()[0]!;
    expect(r.headers.authorization).toBe('Bearer abc');
    expect(r.headers['x-tenant']).toBe('blue');
    expect(r.contentType).toBe('application/json');
    const arr = JSON.parse(r.body) as unknown[];
    expect(Array.isArray(arr)).toBe(true);
    expect(arr).toHaveLength(3);
  });
});
