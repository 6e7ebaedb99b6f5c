import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { isAuditError } from '@otel-audit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { hashToken } from '../../../receiver/auth/index.ts';
import {
  createHttpServer,
  type HttpServer,
  type HttpServerConfigInput,
  parseHttpServerConfig,
  sendJson,
} from '../../../receiver/http/index.ts';
import type { IngestObserver, IngestRequestEvent } from '../../../receiver/otlp/index.ts';
import { curl, decodeExportResponse, decodeStatus, decodeStatusDetail, post } from '../helpers/http-client.ts';
import { InMemoryLogsConsumer } from '../helpers/in-memory-consumer.ts';
import { auditRequestObject, encodeRequest, otlpJsonRequest, TRACE_ID } from '../helpers/otlp-fixtures.ts';

const servers: HttpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.shutdown()));
});

async function startServer(config: HttpServerConfigInput = {}, consumer = new InMemoryLogsConsumer(), onRequest?: IngestObserver) {
  const server = createHttpServer({ config: { port: 0, ...config }, consumer, onRequest });
  servers.push(server);
  const address = await server.start();
  return { server, consumer, url: `${address.url}/v1/logs`, base: address.url };
}

const PB = { 'content-type': 'application/x-protobuf' };
const JSON_CT = { 'content-type': 'application/json' };
const tmp = mkdtempSync(path.join(tmpdir(), 'otel-audit-http-'));

describe('OTLP/HTTP server', () => {
  it('accepts protobuf and answers an empty ExportLogsServiceResponse in protobuf', async () => {
    const { consumer, url } = await startServer();
    const res = await post(url, { headers: PB, body: encodeRequest(auditRequestObject(4)) });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-protobuf');
    expect(res.body.length).toBe(0);
    expect(consumer.records()).toHaveLength(4);
    expect(consumer.requests[0]!.context).toEqual({ transport: 'http' });
    expect(consumer.records()[1]!.attributes['audit.tenant.id']).toBe('acme');
  });

  it('accepts gzip JSON from curl and answers JSON', async () => {
    const { consumer, url } = await startServer();
    const file = path.join(tmp, 'req.json.gz');
    writeFileSync(file, zlib.gzipSync(JSON.stringify(otlpJsonRequest())));
    const res = await curl([
      '-X',
      'POST',
      '-H',
      'Content-Type: application/json',
      '-H',
      'Content-Encoding: gzip',
      '--data-binary',
      `@${file}`,
      url,
    ]);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body.toString())).toEqual({});
    expect(consumer.records()[0]!.traceId).toBe(TRACE_ID);
    expect(consumer.records()[0]!.timeUnixNano).toBe(1732000000123456789n);
  });

  it('accepts gzip protobuf from curl', async () => {
    const { consumer, url } = await startServer();
    const body = zlib.gzipSync(encodeRequest(auditRequestObject(512)));
    const res = await curl(
      ['-X', 'POST', '-H', 'Content-Type: application/x-protobuf', '-H', 'Content-Encoding: gzip', '--data-binary', '@-', url],
      body,
    );
    expect(res.status).toBe(200);
    expect(consumer.records()).toHaveLength(512);
  });

  it('JSON edge cases: int64 as number and string, missing fields; wrong types → 400 naming the field', async () => {
    const { consumer, url } = await startServer();
    const text = JSON.stringify(
      otlpJsonRequest({ observedTimeUnixNano: undefined, severityText: undefined, attributes: [{ key: 'n', value: { intValue: 7 } }] }),
    ).replace('"1732000000123456789"', '1732000000123456789');
    const good = await post(url, { headers: JSON_CT, body: text });
    expect(good.status).toBe(200);
    expect(consumer.records()[0]).toMatchObject({
      timeUnixNano: 1732000000123456789n,
      observedTimeUnixNano: 0n,
      severityText: '',
      attributes: { n: 7 },
    });

    const bad = await post(url, { headers: JSON_CT, body: JSON.stringify(otlpJsonRequest({ timeUnixNano: { nanos: 1 } })) });
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toBe('application/json');
    const status = JSON.parse(bad.body.toString());
    expect(status.code).toBe(3);
    expect(status.message).toContain('resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano: expected a string or number, got an object');
    // OTLP/HTTP "Bad Data": a google.rpc.BadRequest names the field.
    expect(status.details).toEqual([
      {
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        fieldViolations: [{ field: 'resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano', description: status.message }],
      },
    ]);

    const syntax = await post(url, { headers: JSON_CT, body: '{"resourceLogs": [' });
    expect(syntax.status).toBe(400);
    expect(JSON.parse(syntax.body.toString()).message).toContain('invalid JSON');
  });

  it('garbage protobuf → 400 with a protobuf google.rpc.Status saying what failed', async () => {
    const { consumer, url } = await startServer();
    const res = await post(url, { headers: PB, body: Buffer.from('\x0a\xff\xff\xff\xff\x0fgarbage') });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/x-protobuf');
    const status = decodeStatus(res.body);
    expect(status.code).toBe(3);
    expect(status.message).toMatch(/^request could not be decoded: protobuf: resourceLogs\[0\]: truncated/);
    expect(status.details.map(decodeStatusDetail)).toEqual([
      {
        typeUrl: 'type.googleapis.com/google.rpc.BadRequest',
        value: { fieldViolations: [{ field: 'resourceLogs[0]', description: status.message }] },
      },
    ]);
    expect(consumer.requests).toHaveLength(0);
  });

  it('truncated gzip → 400', async () => {
    const { url } = await startServer();
    const gz = zlib.gzipSync(encodeRequest(auditRequestObject(50)));
    const res = await post(url, { headers: { ...PB, 'content-encoding': 'gzip' }, body: gz.subarray(0, gz.length - 20) });
    expect(res.status).toBe(400);
    expect(decodeStatus(res.body).message).toContain('invalid gzip body');
  });

  it('gzip bomb (1 GiB of zeros) → 413 without inflating it all', async () => {
    const { consumer, url } = await startServer({ maxMessageBytes: 8 * 1024 * 1024 });
    // 1 GiB of zeros as 64 concatenated gzip members of 16 MiB each (RFC 1952 allows members in
    // sequence; gunzip inflates them all): about 1 MiB on the wire, generated in milliseconds.
    const member = zlib.gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 64 }, () => member));
    expect(bomb.length).toBeLessThan(8 * 1024 * 1024);
    const rssBefore = process.memoryUsage().rss;
    const res = await post(url, { headers: { ...PB, 'content-encoding': 'gzip' }, body: bomb });
    expect(res.status).toBe(413);
    expect(decodeStatus(res.body).message).toContain('decompressed body exceeds the limit of 8388608 bytes');
    // Inflating 1 GiB would need 1 GiB; the limit caps it (generous margin for GC noise).
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
    expect(consumer.requests).toHaveLength(0);
  });

  it('oversize body → 413, by Content-Length and while streaming a chunked body', async () => {
    const { url } = await startServer({ maxMessageBytes: 1024 });
    const declared = await post(url, { headers: PB, body: Buffer.alloc(4096) });
    expect(declared.status).toBe(413);
    expect(declared.headers.connection).toBe('close');
    expect(decodeStatus(declared.body).message).toContain('Content-Length 4096 exceeds the limit of 1024 bytes');
    async function* chunks() {
      for (let i = 0; i < 64; i++) yield Buffer.alloc(512);
    }
    const streamed = await post(url, { headers: PB, body: chunks() });
    expect(streamed.status).toBe(413);
    expect(decodeStatus(streamed.body).message).toContain('body exceeds the limit of 1024 bytes');
  });

  it('Expect: 100-continue: an oversize or unauthenticated request is refused before its body is sent', async () => {
    const { consumer, url } = await startServer({
      maxMessageBytes: 1024 * 1024,
      auth: { tokens: [{ name: 't', sha256: hashToken('tok') }] },
    });
    const big = path.join(tmp, 'big.bin');
    writeFileSync(big, Buffer.alloc(2 * 1024 * 1024));
    const run = (args: string[]) =>
      new Promise<{ code: string; uploaded: number }>((resolve, reject) =>
        execFile(
          'curl',
          [
            '-sS',
            '-o',
            '/dev/null',
            '-w',
            '%{http_code} %{size_upload}',
            '-H',
            'Expect: 100-continue',
            '-H',
            'Content-Type: application/x-protobuf',
            ...args,
            url,
          ],
          (err, stdout) => {
            if (err) reject(err);
            else {
              const [code, uploaded] = stdout.trim().split(' ');
              resolve({ code: code!, uploaded: Number(uploaded) });
            }
          },
        ),
      );
    // Refused from the headers: curl never uploads the 2 MiB.
    expect(await run(['-H', 'Authorization: Bearer tok', '--data-binary', `@${big}`])).toEqual({ code: '413', uploaded: 0 });
    expect(await run(['--data-binary', `@${big}`])).toEqual({ code: '401', uploaded: 0 });
    // Accepted: 100 Continue is sent and the body follows.
    const valid = path.join(tmp, 'valid.bin');
    const body = encodeRequest(auditRequestObject(1000));
    expect(body.length).toBeGreaterThan(512 * 1024);
    expect(body.length).toBeLessThan(1024 * 1024);
    writeFileSync(valid, body);
    expect(await run(['-H', 'Authorization: Bearer tok', '--data-binary', `@${valid}`])).toEqual({ code: '200', uploaded: body.length });
    expect(consumer.records()).toHaveLength(1000);
  });

  it('unsupported media type or encoding → 415', async () => {
    const { url } = await startServer();
    const text = await post(url, { headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(text.status).toBe(415);
    expect(JSON.parse(text.body.toString()).message).toContain('unsupported Content-Type text/plain');
    const none = await post(url, { body: 'hello' });
    expect(none.status).toBe(415);
    const br = await post(url, { headers: { ...JSON_CT, 'content-encoding': 'br' }, body: 'x' });
    expect(br.status).toBe(415);
    expect(JSON.parse(br.body.toString()).message).toContain('unsupported Content-Encoding "br"');
    // Parameters are allowed.
    const withCharset = await post(url, { headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{}' });
    expect(withCharset.status).toBe(200);
  });

  it('auth: missing or wrong token → 401; a tenant-bound token is carried into the context', async () => {
    const { consumer, url } = await startServer({
      auth: {
        tokens: [
          { name: 'billing', sha256: hashToken('s3cret-billing'), tenantId: 'acme' },
          { name: 'ops', sha256: hashToken('s3cret-ops') },
        ],
      },
    });
    const body = encodeRequest(auditRequestObject(1));
    const missing = await post(url, { headers: PB, body });
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    expect(missing.headers['content-type']).toBe('application/x-protobuf');
    expect(decodeStatus(missing.body)).toMatchObject({
      code: 16,
      message: 'unauthenticated: missing bearer token (authorization: Bearer <token>)',
    });
    const wrong = await curl(
      ['-X', 'POST', '-H', 'Content-Type: application/x-protobuf', '-H', 'Authorization: Bearer nope', '--data-binary', '@-', url],
      body,
    );
    expect(wrong.status).toBe(401);
    expect(decodeStatus(wrong.body).message).toContain('invalid bearer token');
    const bound = await post(url, { headers: { ...PB, authorization: 'Bearer s3cret-billing' }, body });
    expect(bound.status).toBe(200);
    const ops = await post(url, { headers: { ...PB, authorization: 'bearer s3cret-ops' }, body });
    expect(ops.status).toBe(200);
    expect(consumer.requests.map((r) => r.context)).toEqual([
      { transport: 'http', principal: 'billing', boundTenantId: 'acme' },
      { transport: 'http', principal: 'ops' },
    ]);
  });

  it('retryable → 503 + Retry-After; failure → 500; a throwing consumer → 500', async () => {
    const { consumer, url } = await startServer();
    const body = encodeRequest(auditRequestObject(1));
    consumer.mode = { kind: 'retryable', retryAfterMillis: 2500, message: 'backlog of 1 GiB reached' };
    const retry = await post(url, { headers: PB, body });
    expect(retry.status).toBe(503);
    expect(retry.headers['retry-after']).toBe('3');
    expect(decodeStatus(retry.body)).toMatchObject({ code: 14, message: 'receiver is applying back-pressure: backlog of 1 GiB reached' });
    consumer.mode = { kind: 'failure' };
    const failed = await post(url, { headers: JSON_CT, body: JSON.stringify(otlpJsonRequest()) });
    expect(failed.status).toBe(500);
    expect(JSON.parse(failed.body.toString())).toEqual({ code: 13, message: 'WAL I/O failed: disk failed' });
    consumer.mode = { kind: 'throw' };
    const thrown = await post(url, { headers: PB, body });
    expect(thrown.status).toBe(500);
    expect(decodeStatus(thrown.body).message).toContain('internal error');
  });

  it('partial success is reported in the request format', async () => {
    const { consumer, url } = await startServer();
    consumer.mode = { kind: 'success', rejected: 2, message: 'records 0, 3: missing audit.actor.id' };
    const proto = await post(url, { headers: PB, body: encodeRequest(auditRequestObject(5)) });
    expect(proto.status).toBe(200);
    expect(decodeExportResponse(proto.body)).toEqual({
      partialSuccess: { rejectedLogRecords: '2', errorMessage: 'records 0, 3: missing audit.actor.id' },
    });
    const json = await post(url, { headers: JSON_CT, body: JSON.stringify(otlpJsonRequest()) });
    expect(JSON.parse(json.body.toString())).toEqual({
      partialSuccess: { rejectedLogRecords: '1', errorMessage: 'records 0, 3: missing audit.actor.id' },
    });
    consumer.mode = { kind: 'success', message: '1 non-audit record dropped' };
    const warning = await post(url, { headers: JSON_CT, body: JSON.stringify(otlpJsonRequest()) });
    expect(JSON.parse(warning.body.toString())).toEqual({ partialSuccess: { errorMessage: '1 non-audit record dropped' } });
  });

  it('unknown path → 404, wrong method → 405 with Allow', async () => {
    const { base, url } = await startServer();
    const notFound = await post(`${base}/v1/traces`, { headers: PB, body: '' });
    expect(notFound.status).toBe(404);
    const wrongMethod = await post(url, { method: 'GET' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST');
  });

  it('other components mount routes on the same port, with or without auth', async () => {
    const { server, base } = await startServer({ auth: { tokens: [{ name: 'reader', sha256: hashToken('t') }] } });
    server.addRoute('GET', '/healthz', (req, res) => sendJson(req, res, { status: 'ok' }));
    server.addRoute(
      'GET',
      '/v1/audit/status',
      (req, res, ctx) => sendJson(req, res, { principal: ctx.identity.principal, q: ctx.url.searchParams.get('q') }),
      { authenticate: true },
    );
    expect(() => server.addRoute('get', '/healthz', () => {})).toThrow(/already mounted/);
    const health = await post(`${base}/healthz`, { method: 'GET' });
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body.toString())).toEqual({ status: 'ok' });
    expect((await post(`${base}/v1/audit/status`, { method: 'GET' })).status).toBe(401);
    const status = await post(`${base}/v1/audit/status?q=1`, { method: 'GET', headers: { authorization: 'Bearer t' } });
    expect(JSON.parse(status.body.toString())).toEqual({ principal: 'reader', q: '1' });
  });

  it('shutdown lets an in-flight request finish, then refuses connections; it is idempotent', async () => {
    const { server, consumer, url } = await startServer();
    let open!: () => void;
    consumer.gate = new Promise<void>((r) => {
      open = r;
    });
    const arrived = consumer.nextArrival();
    const inFlight = post(url, { headers: PB, body: encodeRequest(auditRequestObject(1)) });
    await arrived;
    const stopped = server.shutdown();
    const again = server.shutdown();
    open();
    const res = await inFlight;
    expect(res.status).toBe(200);
    await stopped;
    await again;
    await expect(post(url, { headers: PB, body: '' })).rejects.toThrow(/ECONNREFUSED/);
    await expect(server.start()).rejects.toSatisfy((e: unknown) => isAuditError(e, 'AUDIT_ERR_SHUTDOWN'));
  });

  it('idle keep-alive connections do not hold up shutdown', async () => {
    const { server, url } = await startServer({ keepAliveTimeoutMillis: 600_000 });
    const agent = new http.Agent({ keepAlive: true });
    const res = await new Promise<number>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', headers: JSON_CT, agent }, (r) => {
        r.resume();
        r.on('end', () => resolve(r.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(JSON.stringify(otlpJsonRequest()));
    });
    expect(res).toBe(200);
    // The socket stays open in the agent's pool; shutdown must still complete (no timeout reached).
    await server.shutdown();
    agent.destroy();
  });

  it('reports every OTLP request outcome to the observer (for self-metrics)', async () => {
    const events: IngestRequestEvent[] = [];
    const consumer = new InMemoryLogsConsumer();
    const { url, base } = await startServer(
      { maxMessageBytes: 64 * 1024, auth: { tokens: [{ name: 't', sha256: hashToken('tok') }] } },
      consumer,
      (e) => events.push(e),
    );
    const auth = { authorization: 'Bearer tok' };
    const body = encodeRequest(auditRequestObject(3));
    await post(url, { headers: { ...PB, ...auth }, body });
    consumer.mode = { kind: 'success', rejected: 1, message: 'bad record' };
    await post(url, { headers: { ...PB, ...auth }, body });
    consumer.mode = { kind: 'retryable', retryAfterMillis: 100 };
    await post(url, { headers: { ...PB, ...auth }, body });
    consumer.mode = { kind: 'failure' };
    await post(url, { headers: { ...PB, ...auth }, body });
    await post(url, { headers: { ...PB, ...auth }, body: 'garbage' });
    await post(url, { headers: { ...PB, ...auth }, body: Buffer.alloc(100 * 1024) });
    await post(url, { headers: { 'content-type': 'text/plain', ...auth }, body: 'x' });
    await post(url, { headers: PB, body });
    await post(`${base}/elsewhere`, { headers: PB, body }); // not an export request: not reported
    expect(events.map((e) => [e.transport, e.outcome, e.records, e.rejected])).toEqual([
      ['http', 'success', 3, 0],
      ['http', 'success', 3, 1],
      ['http', 'retryable', 3, 0],
      ['http', 'failure', 3, 0],
      ['http', 'decode_error', 0, 0],
      ['http', 'too_large', 0, 0],
      ['http', 'unsupported_media_type', 0, 0],
      ['http', 'unauthenticated', 0, 0],
    ]);
    expect(events[0]!.bytes).toBe(body.length);
    expect(events[0]!.durationSeconds).toBeGreaterThanOrEqual(0);
  });

  it('shutdown closes requests still running after shutdownTimeoutMillis', async () => {
    const { server, consumer, url } = await startServer({ shutdownTimeoutMillis: 50 });
    consumer.gate = new Promise<void>(() => {}); // the pipeline never answers
    const arrived = consumer.nextArrival();
    const stuck = post(url, { headers: PB, body: encodeRequest(auditRequestObject(1)) });
    await arrived;
    await server.shutdown();
    await expect(stuck).rejects.toThrow(/socket hang up|ECONNRESET/);
  });

  it('a client that disconnects mid-body does not leave the request hanging', async () => {
    let done!: (e: IngestRequestEvent) => void;
    const finished = new Promise<IngestRequestEvent>((r) => {
      done = r;
    });
    const { server } = await startServer({}, new InMemoryLogsConsumer(), (e) => done(e));
    const { port } = server.address()!;
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    // Expect: 100-continue makes the server tell us when its handler is about to read the body.
    const continued = new Promise<void>((r) => socket.once('data', () => r()));
    socket.write(
      'POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n',
    );
    await continued;
    // Send part of the body, then vanish.
    await new Promise<void>((r) => socket.write(Buffer.alloc(100), () => r()));
    socket.destroy();
    expect((await finished).outcome).toBe('decode_error');
  });

  it('start is idempotent; a port in use is a clear error', async () => {
    const server = createHttpServer({ config: { port: 0 }, consumer: new InMemoryLogsConsumer() });
    servers.push(server);
    const [a, b] = await Promise.all([server.start(), server.start()]);
    expect(a).toBe(b);
    expect(server.address()).toBe(a);
    const clash = createHttpServer({ config: { port: a.port }, consumer: new InMemoryLogsConsumer() });
    servers.push(clash);
    await expect(clash.start()).rejects.toSatisfy(
      (e: unknown) => isAuditError(e, 'AUDIT_ERR_INTERNAL') && /EADDRINUSE/.test((e as Error).message),
    );
  });

  it('config is strict, has defaults and names the bad key', () => {
    const defaults = parseHttpServerConfig({});
    expect(defaults).toMatchObject({ host: '127.0.0.1', port: 4318, logsPath: '/v1/logs', maxMessageBytes: 64 * 1024 * 1024 });
    expect(() => parseHttpServerConfig({ maxMessageBytes: -1 })).toThrow(/receiver\.http\.maxMessageBytes/);
    expect(() => parseHttpServerConfig({ maxMesageBytes: 10 })).toThrow(/receiver\.http\.maxMesageBytes: unknown key/);
    expect(() => parseHttpServerConfig({ auth: { tokens: [{ name: 'a', sha256: 'plaintext-token' }] } })).toThrow(
      /receiver\.http\.auth\.tokens\.0\.sha256/,
    );
    try {
      parseHttpServerConfig({ port: 'x' });
    } catch (e) {
      expect(isAuditError(e, 'AUDIT_ERR_INVALID_CONFIG')).toBe(true);
      expect((e as { path: string }).path).toBe('receiver.http.port');
    }
  });
});
