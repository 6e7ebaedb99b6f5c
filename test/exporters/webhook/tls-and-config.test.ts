/**
 * HTTPS delivery to an endpoint whose certificate is signed by a private CA generated here with
 * `openssl` (so Node's default roots do not trust it), with a client certificate the endpoint
 * requires (mutual TLS); and the configuration errors of `exporters.webhooks[]`, each naming its key.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditError } from '@otel-audit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookExporter, parseRetryAfter } from '../../../exporters/webhook/index.ts';
import { configFromEnv, mergeConfig } from '../../../receiver/config/load-config.ts';
import { createReceiver, parseReceiverConfig } from '../../../receiver/index.ts';
import { eventually } from '../../e2e/helpers/receiver-process.ts';
import { parseNdjson, startEndpoint, type TestEndpoint } from './helpers/endpoint.ts';
import { manyEvents, sendEvents } from './helpers/events.ts';

const SECRET = 'tls-secret-0123456789abcdef';
const dirs: string[] = [];
let pki: string;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: pki, stdio: 'pipe' });
}

beforeAll(() => {
  pki = mkdtempSync(join(tmpdir(), 'otel-audit-pki-'));
  dirs.push(pki);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=otel-audit test CA']);
  writeFileSync(join(pki, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  openssl([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  ]);
  writeFileSync(join(pki, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl(['req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=otel-audit-webhook-client']);
  openssl([
    'x509',
    '-req',
    '-in',
    'client.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'client.crt',
    '-days',
    '2',
    '-extfile',
    'client.ext',
  ]);
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function httpsEndpoint(): Promise<TestEndpoint> {
  return startEndpoint({
    secret: SECRET,
    tls: {
      key: readFileSync(join(pki, 'server.key')),
      cert: readFileSync(join(pki, 'server.crt')),
      ca: readFileSync(join(pki, 'ca.crt')),
      requestCert: true,
    },
  });
}

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'otel-audit-webhook-tls-'));
  dirs.push(d);
  return d;
}

describe('webhook over HTTPS with a private CA and a client certificate', () => {
  it('delivers with tls.caFile + certFile/keyFile; without the CA the exporter reports the certificate error and keeps the events', async () => {
    const ep = await httpsEndpoint();
    const secretFile = join(pki, 'siem.hmac');
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
    const base = { url: ep.url, secretFile, retry: { initialBackoffMillis: 20, maxBackoffMillis: 100 } };
    const receiver = createReceiver({
      dataDir: dataDir(),
      http: { port: 0 },
      grpc: { enabled: false },
      exporters: {
        clickhouse: { enabled: false },
        coldstore: { enabled: false },
        webhooks: [
          {
            ...base,
            name: 'trusted',
            tls: { caFile: join(pki, 'ca.crt'), certFile: join(pki, 'client.crt'), keyFile: join(pki, 'client.key') },
          },
          { ...base, name: 'untrusted' },
        ],
      },
      pipeline: { exporters: { maxBatchDelayMillis: 10 } },
    });
    try {
      const { http } = await receiver.start();
      const events = manyEvents(8, 'tls');
      await sendEvents(http!, events);
      await eventually(async () => (ep.accepted().flatMap((r) => parseNdjson(r.body)).length === 8 ? true : undefined));
      expect(ep.accepted().every((r) => r.clientCertSubject === 'otel-audit-webhook-client' && r.signatureOk)).toBe(true);
      const untrusted = await eventually(async () => {
        const e = receiver.status().exporters.find((x) => x.name === 'untrusted')!;
        return e.lastError !== undefined ? e : undefined;
      });
      expect(untrusted.lastError!.code).toBe('AUDIT_ERR_WEBHOOK_UNAVAILABLE');
      expect(untrusted.lastError!.message).toMatch(/certificate/i);
      expect(untrusted.cursorLsn).toBe(0);
      expect(untrusted.lagEntries).toBe(8);
    } finally {
      await receiver.shutdown();
      await ep.close();
    }
  });
});

describe('webhook configuration', () => {
  const valid = { name: 'siem', url: 'https://siem.example/ingest', secret: SECRET };
  const problem = (input: unknown): string => {
    try {
      parseReceiverConfig({ exporters: { webhooks: input } });
    } catch (err) {
      expect(err).toBeInstanceOf(AuditError);
      expect((err as AuditError).code).toBe('AUDIT_ERR_INVALID_CONFIG');
      return (err as AuditError).message;
    }
    throw new Error('expected a configuration error');
  };

  it('applies defaults', () => {
    const c = parseReceiverConfig({ exporters: { webhooks: [valid] } });
    expect(c.exporters.webhooks[0]).toMatchObject({
      name: 'siem',
      format: 'otel-audit',
      encoding: 'ndjson',
      timeoutMillis: 10_000,
      maxBatchEvents: 500,
      maxBatchBytes: 1024 * 1024,
      headers: {},
      enabled: true,
    });
    expect(parseReceiverConfig({}).exporters.webhooks).toEqual([]);
  });

  it('names the key of every mistake', () => {
    expect(problem([{ ...valid, secret: undefined }])).toContain('exporters.webhooks.0.secret: give exactly one of secret or secretFile');
    expect(problem([{ ...valid, secretFile: '/x' }])).toContain('exporters.webhooks.0.secret');
    expect(problem([valid, { ...valid }])).toContain('exporters.webhooks.1.name: webhook name "siem" is used twice');
    expect(problem([{ ...valid, name: 'clickhouse' }])).toContain('exporters.webhooks.0.name');
    expect(problem([{ ...valid, url: 'ftp://x/y' }])).toContain('exporters.webhooks.0.url');
    expect(problem([{ ...valid, format: 'cef' }])).toContain('exporters.webhooks.0.format');
    expect(problem([{ ...valid, format: 'splunk-hec', encoding: 'json-array' }])).toContain(
      'exporters.webhooks.0.encoding: splunk-hec needs encoding ndjson',
    );
    expect(problem([{ ...valid, timeoutMilis: 5 }])).toContain('exporters.webhooks.0.timeoutMilis: unknown key');
    expect(problem([{ ...valid, headers: { 'idempotency-key': 'x' } }])).toContain('exporters.webhooks.0.headers.idempotency-key');
    expect(problem([{ ...valid, tls: { certFile: 'a.pem' } }])).toContain('exporters.webhooks.0.tls.keyFile');
    expect(problem([{ ...valid, url: 'http://siem.example/x', tls: { caFile: 'ca.pem' } }])).toContain(
      'exporters.webhooks.0.tls: tls needs an https url',
    );
    expect(problem([{ ...valid, ocsf: { overrides: [{ prefix: 'billing.*', classUid: 3004 }] } }])).toContain(
      'exporters.webhooks.0.ocsf.overrides.0.prefix',
    );
    expect(problem([{ ...valid, ocsf: { overrides: [{ prefix: 'billing', classUid: 4001 }] } }])).toContain(
      'exporters.webhooks.0.ocsf.overrides.0.classUid',
    );
  });

  it('reports unreadable files and invalid OCSF activities when the exporter is created, naming the key', () => {
    expect(() =>
      createWebhookExporter(
        { ...valid, secret: undefined, secretFile: '/nonexistent/siem.hmac' },
        { configPrefix: 'exporters.webhooks.0' },
      ),
    ).toThrow(/exporters\.webhooks\.0\.secretFile: cannot read \/nonexistent\/siem\.hmac/);
    expect(() =>
      createWebhookExporter({ ...valid, tls: { caFile: '/nonexistent/ca.pem' } }, { configPrefix: 'exporters.webhooks.0' }),
    ).toThrow(/exporters\.webhooks\.0\.tls\.caFile/);
    expect(() =>
      createWebhookExporter(
        { ...valid, format: 'ocsf', ocsf: { overrides: [{ prefix: 'billing', classUid: 3002, activityId: 7 }] } },
        { configPrefix: 'exporters.webhooks.0' },
      ),
    ).toThrow(/exporters\.webhooks\.0\.ocsf\.overrides\.0\.activityId: 7 is not an activity of OCSF class 3002/);
    // The receiver refuses to start with such a webhook (before touching the data dir).
    expect(() =>
      createReceiver({
        dataDir: dataDir(),
        exporters: {
          clickhouse: { enabled: false },
          coldstore: { enabled: false },
          webhooks: [{ ...valid, secret: undefined, secretFile: '/nonexistent/k' }],
        },
      }),
    ).toThrow(/exporters\.webhooks\.0\.secretFile/);
  });

  it('takes the list from the environment as a JSON array (arrays are replaced whole)', () => {
    const env = { OTEL_AUDIT_EXPORTERS__WEBHOOKS: JSON.stringify([{ ...valid, format: 'ocsf' }]) };
    const merged = mergeConfig({ exporters: { webhooks: [{ ...valid, name: 'from-file' }] } }, configFromEnv(env));
    const c = parseReceiverConfig(merged);
    expect(c.exporters.webhooks.map((w) => [w.name, w.format])).toEqual([['siem', 'ocsf']]);
  });

  it('parses Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3)', () => {
    const now = Date.parse('2026-12-07T10:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Mon, 07 Dec 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Mon, 07 Dec 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
