import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuditEvent } from '@otel-audit/schema';
import { type AuditLogger, createAuditLogger, expressAuditMiddleware, fastifyAuditPlugin } from '@otel-audit/sdk';
import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type OtlpEndpoint, startOtlpEndpoint } from './helpers/otlp-endpoint.ts';
import { tempDir } from './helpers/util.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function auditSetup(): Promise<{ audit: AuditLogger; endpoint: OtlpEndpoint }> {
  const endpoint = await startOtlpEndpoint();
  cleanups.push(() => endpoint.close());
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const audit = createAuditLogger({ spoolDir: dir, exporter: { endpoint: endpoint.httpUrl } });
  cleanups.push(async () => void (await audit.shutdown({ timeoutMillis: 100 })));
  return { audit, endpoint };
}

const common = {
  resolveTenant: (req: { headers: Record<string, string | string[] | undefined> }) => ({ id: String(req.headers['x-tenant'] ?? 'acme') }),
  resolveActor: (req: { headers: Record<string, string | string[] | undefined> }) =>
    req.headers['x-user'] ? { id: String(req.headers['x-user']), type: 'user' as const } : undefined,
};

async function call(base: string, method: string, path: string, body?: unknown): Promise<number> {
  const res = await fetch(base + path, {
    method,
    headers: {
      'x-user': 'u-42',
      'x-request-id': `req-${path.split('?')[0]}`,
      'user-agent': 'audit-test/1',
      'content-type': 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

async function eventsFor(audit: AuditLogger, endpoint: OtlpEndpoint, n: number): Promise<AuditEvent[]> {
  await endpoint.waitFor(() => audit.stats().recorded >= n);
  await audit.flush();
  return endpoint.events();
}

function check(events: AuditEvent[]): void {
  const byAction = (a: string) => events.filter((e) => e.action === a);
  expect(byAction('http.get.ok')[0]).toMatchObject({
    outcome: 'success',
    actor: { id: 'u-42', type: 'user' },
    tenant: { id: 'acme' },
    request: { id: 'req-/ok', ip: '127.0.0.1', userAgent: 'audit-test/1', method: 'GET', path: '/ok' },
    details: { statusCode: 200, route: '/ok' },
  });
  expect(typeof byAction('http.get.ok')[0]!.details!.durationMillis).toBe('number');
  expect(byAction('http.get.forbidden')[0]).toMatchObject({ outcome: 'denied', details: { statusCode: 403 } });
  expect(byAction('http.get.fails')[0]).toMatchObject({ outcome: 'failure', details: { statusCode: 500 } });
  expect(byAction('http.get.throws')[0]).toMatchObject({ outcome: 'failure', details: { statusCode: 500 } });
  // The request event of POST /grants/:id, and the event the handler recorded deep inside.
  expect(byAction('http.post.grants')[0]).toMatchObject({
    outcome: 'success',
    request: { path: '/grants/g-1' },
    details: { route: '/grants/:id' },
  });
  expect(byAction('grant.issue')[0]).toMatchObject({
    actor: { id: 'u-42', type: 'user' },
    tenant: { id: 'acme' },
    request: { id: 'req-/grants/g-1', method: 'POST', path: '/grants/g-1' },
    targets: [{ type: 'grant', id: 'g-1' }],
    details: { role: 'admin' },
  });
}

async function exercise(base: string): Promise<void> {
  expect(await call(base, 'GET', '/ok?token=secret')).toBe(200);
  expect(await call(base, 'GET', '/forbidden')).toBe(403);
  expect(await call(base, 'GET', '/fails')).toBe(500);
  expect(await call(base, 'GET', '/throws')).toBe(500);
  expect(await call(base, 'POST', '/grants/g-1', { role: 'admin' })).toBe(201);
}

describe('Express middleware', () => {
  it('records one event per request with outcome from the status; handlers inherit the audit context', async () => {
    const { audit, endpoint } = await auditSetup();
    const errors: unknown[] = [];
    const app = express();
    app.use(expressAuditMiddleware({ audit, ...common, onError: (e) => errors.push(e) }));
    app.use(express.json());
    app.get('/ok', (_req, res) => void res.send('ok'));
    app.get('/forbidden', (_req, res) => void res.status(403).send('no'));
    app.get('/fails', (_req, res) => void res.status(500).send('bad'));
    app.get('/throws', () => {
      throw new Error('handler bug');
    });
    app.post('/grants/:id', async (req, res) => {
      await new Promise((r) => setTimeout(r, 1));
      await audit.record({ action: 'grant.issue', outcome: 'success', targets: [{ type: 'grant', id: req.params.id }], details: req.body });
      res.status(201).send('created');
    });
    // Express logs errors of its default handler to stderr; keep the output clean.
    app.use(
      (_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(500).send('error'),
    );
    const server: Server = await new Promise((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await exercise(base);
    check(await eventsFor(audit, endpoint, 6));
    expect(JSON.stringify(endpoint.events())).not.toContain('token=secret');
    expect(errors).toEqual([]);
  });

  it('never fails or delays the response when audit delivery fails', async () => {
    const errors: unknown[] = [];
    const failing = {
      record: () => Promise.reject(new Error('spool is on fire')),
    };
    const throwing = {
      record: () => {
        throw new Error('sync failure');
      },
    };
    for (const audit of [failing, throwing]) {
      const app = express();
      app.use(expressAuditMiddleware({ audit, ...common, onError: (e) => errors.push(e) }));
      app.get('/ok', (_req, res) => void res.send('ok'));
      const server: Server = await new Promise((r) => {
        const s = app.listen(0, '127.0.0.1', () => r(s));
      });
      cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
      expect(await call(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'GET', '/ok')).toBe(200);
    }
    await new Promise((r) => setTimeout(r, 20));
    expect(errors.map((e) => (e as Error).message)).toEqual(['spool is on fire', 'sync failure']);
  });
});

describe('Fastify plugin', () => {
  it('records one event per request with outcome from the status; handlers inherit the audit context', async () => {
    const { audit, endpoint } = await auditSetup();
    const errors: unknown[] = [];
    const app = Fastify();
    await app.register(fastifyAuditPlugin({ audit, ...common, onError: (e) => errors.push(e) }));
    app.get('/ok', async () => 'ok');
    app.get('/forbidden', async (_req, reply) => reply.code(403).send('no'));
    app.get('/fails', async (_req, reply) => reply.code(500).send('bad'));
    app.get('/throws', async () => {
      throw new Error('handler bug');
    });
    app.post<{ Params: { id: string }; Body: Record<string, string> }>('/grants/:id', async (req, reply) => {
      await new Promise((r) => setTimeout(r, 1));
      await audit.record({ action: 'grant.issue', outcome: 'success', targets: [{ type: 'grant', id: req.params.id }], details: req.body });
      return reply.code(201).send('created');
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.close());
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    await exercise(base);
    check(await eventsFor(audit, endpoint, 6));
    expect(errors).toEqual([]);
  });
});
