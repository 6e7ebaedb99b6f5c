/**
 * The OTLP/HTTP server component: node:http with a small router, `POST /v1/logs` mounted, and room
 * for the receiver's other endpoints on the same port.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuditError, type Logger, silentLogger } from '@otel-audit/core';
import { type BearerAuthenticator, createBearerAuthenticator } from '../auth/bearer-auth.ts';
import type { LogsConsumer } from '../contracts.ts';
import { type IngestObserver, notifyObserver } from '../otlp/ingest-events.ts';
import { type HttpServerConfig, type HttpServerConfigInput, parseHttpServerConfig } from './config.ts';
import { createOtlpLogsHandler, parseOtlpContentType } from './otlp-logs-handler.ts';
import { type OtlpBodyFormat, sendStatus } from './respond.ts';
import { type RouteHandler, type RouteOptions, Router } from './router.ts';

/** Where a server listens once started. */
export interface BoundAddress {
  host: string;
  /** The actual port (useful with `port: 0`). */
  port: number;
  /** `http://host:port` (IPv6 hosts in brackets). */
  url: string;
}

/** Dependencies of {@link createHttpServer}. */
export interface HttpServerOptions {
  /** Configuration; validated with {@link parseHttpServerConfig} (defaults applied). */
  config?: HttpServerConfigInput;
  /** Receives every decoded OTLP logs request. */
  consumer: LogsConsumer;
  /**
   * Called for errors of the listening socket after `start()` (e.g. EMFILE on accept), which
   * would otherwise crash the process as an unhandled 'error' event. Default: logged through
   * `logger` when one is given, else `process.emitWarning`.
   */
  onError?: (error: AuditError) => void;
  /** Where socket errors and failing route handlers (answered 500) are logged. Default: silent. */
  logger?: Logger;
  /** Told about every finished OTLP export request (outcome, records, bytes, latency) for self-metrics. */
  onRequest?: IngestObserver;
}

/**
 * The OTLP/HTTP server: a component in the sense of `Component` (start/shutdown), except that
 * `start()` resolves with the bound address.
 */
export interface HttpServer {
  /** The validated configuration in effect. */
  readonly config: HttpServerConfig;
  /**
   * Listen. Resolves with the bound address.
   * @throws AuditError `AUDIT_ERR_INTERNAL` when the address cannot be bound (e.g. port in use), or
   *   `AUDIT_ERR_SHUTDOWN` after `shutdown()`.
   */
  start(): Promise<BoundAddress>;
  /**
   * Stop accepting connections, let in-flight requests finish (up to `shutdownTimeoutMillis`, then
   * their connections are closed), and close. Idempotent; resolves when the socket is closed.
   */
  shutdown(): Promise<void>;
  /**
   * Mount a route on this port (any time, also after `start()`); e.g. `/healthz`, `/metrics`.
   * @throws AuditError `AUDIT_ERR_INVALID_ARGUMENT` when the method+path is already mounted.
   */
  addRoute(method: string, path: string, handler: RouteHandler, options?: RouteOptions): void;
  /** The bound address while started, otherwise undefined. */
  address(): BoundAddress | undefined;
}

function formatUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Create the OTLP/HTTP server (not yet listening).
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming the bad key.
 */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const config = parseHttpServerConfig(options.config ?? {});
  const log = options.logger ?? silentLogger;
  const auth: BearerAuthenticator = createBearerAuthenticator(config.auth);
  const router = new Router();
  const logsHandler = createOtlpLogsHandler({
    consumer: options.consumer,
    maxMessageBytes: config.maxMessageBytes,
    onRequest: options.onRequest,
  });
  router.add('POST', config.logsPath, logsHandler, {
    authenticate: true,
    handlesContinue: true,
  });
  /** Requests whose client waits for `100 Continue` before sending the body. */
  const awaitingContinue = new WeakSet<http.IncomingMessage>();

  const active = new Set<http.ServerResponse>();
  let closing = false;
  let bound: BoundAddress | undefined;
  let shutdownPromise: Promise<void> | undefined;
  let startPromise: Promise<BoundAddress> | undefined;
  let drained: (() => void) | undefined;

  const server = http.createServer({
    requestTimeout: config.requestTimeoutMillis,
    keepAliveTimeout: config.keepAliveTimeoutMillis,
    // Node's default headersTimeout must stay <= requestTimeout.
    headersTimeout: Math.min(60_000, config.requestTimeoutMillis || 60_000),
  });

  // With a 'checkContinue' listener Node no longer answers `Expect: 100-continue` by itself: we send
  // 100 only once the headers have passed routing, auth and the size checks (RFC 9110 §10.1.1).
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    awaitingContinue.add(req);
    server.emit('request', req, res);
  });

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    active.add(res);
    res.once('close', () => {
      active.delete(res);
      // Let the socket become idle first, then close it (keep-alive must not outlive shutdown).
      if (drained) setImmediate(drained);
    });
    if (closing) {
      // A request on a kept-alive connection during shutdown: retryable, and close the connection.
      res.setHeader('connection', 'close');
      sendStatus(req, res, 503, new AuditError('AUDIT_ERR_SHUTDOWN', 'the receiver is shutting down').message, errorFormat(req), {
        'retry-after': '1',
      });
      return;
    }
    void dispatch(req, res);
  });

  /** Error bodies follow the request's OTLP content type when it has one (OTLP/HTTP: answer in kind), else JSON. */
  function errorFormat(req: http.IncomingMessage): OtlpBodyFormat {
    return parseOtlpContentType(req.headers['content-type'])?.format ?? 'json';
  }

  async function dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const format = errorFormat(req);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://receiver.invalid');
    } catch {
      sendStatus(req, res, 400, 'invalid request target', format);
      return;
    }
    const found = router.match(req.method ?? 'GET', url.pathname);
    if (found.kind === 'not-found') {
      sendStatus(req, res, 404, `no such endpoint: ${url.pathname}`, format);
      return;
    }
    if (found.kind === 'method-not-allowed') {
      sendStatus(req, res, 405, `method ${req.method} not allowed on ${url.pathname} (allowed: ${found.allow.join(', ')})`, format, {
        allow: found.allow.join(', '),
      });
      return;
    }
    let identity = {};
    if (found.route.authenticate) {
      const result = auth.authenticate(req.headers.authorization);
      if (!result.ok) {
        sendStatus(req, res, 401, result.error.message, format, { 'www-authenticate': 'Bearer' });
        if (found.route.handler === logsHandler) {
          notifyObserver(options.onRequest, {
            transport: 'http',
            outcome: 'unauthenticated',
            records: 0,
            rejected: 0,
            bytes: 0,
            durationSeconds: 0,
          });
        }
        return;
      }
      identity = result.identity;
    }
    const sendContinue = () => {
      if (awaitingContinue.delete(req) && !res.headersSent) res.writeContinue();
    };
    if (!found.route.handlesContinue) sendContinue();
    try {
      await found.route.handler(req, res, { url, identity, sendContinue });
    } catch (err) {
      log.error({ err, method: req.method, path: url.pathname }, 'HTTP handler failed');
      if (res.headersSent) res.destroy(err instanceof Error ? err : undefined);
      else sendStatus(req, res, 500, new AuditError('AUDIT_ERR_INTERNAL', `handler for ${url.pathname} failed`).message, format);
    }
  }

  return {
    config,
    addRoute(method, path, handler, routeOptions) {
      router.add(method, path, handler, routeOptions);
    },
    address() {
      return bound;
    },
    start() {
      if (shutdownPromise) return Promise.reject(new AuditError('AUDIT_ERR_SHUTDOWN', 'the HTTP server was shut down'));
      if (startPromise) return startPromise; // idempotent, also while binding
      startPromise = new Promise<BoundAddress>((resolve, reject) => {
        const onError = (err: Error) => {
          startPromise = undefined;
          reject(
            new AuditError('AUDIT_ERR_INTERNAL', `cannot listen on ${formatUrl(config.host, config.port)}: ${err.message}`, { cause: err }),
          );
        };
        server.once('error', onError);
        server.listen(config.port, config.host, () => {
          server.off('error', onError);
          server.on('error', (err: Error) => {
            const error = new AuditError('AUDIT_ERR_INTERNAL', `HTTP server on ${bound?.url ?? config.host}: ${err.message}`, {
              cause: err,
            });
            if (options.onError) options.onError(error);
            else if (options.logger) options.logger.error({ err: error }, 'HTTP server socket error');
            else process.emitWarning(error);
          });
          const addr = server.address() as AddressInfo;
          bound = { host: config.host, port: addr.port, url: formatUrl(config.host, addr.port) };
          resolve(bound);
        });
      });
      return startPromise;
    },
    shutdown() {
      if (shutdownPromise) return shutdownPromise;
      closing = true;
      shutdownPromise = new Promise<void>((resolve) => {
        if (!server.listening) {
          bound = undefined;
          resolve();
          return;
        }
        const timer = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMillis);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          bound = undefined;
          resolve();
        });
        // Idle keep-alive connections would hold close() open; busy ones close after their response
        // (closing ⇒ `connection: close`).
        for (const res of active) if (!res.headersSent) res.setHeader('connection', 'close');
        drained = () => server.closeIdleConnections();
        server.closeIdleConnections();
      });
      return shutdownPromise;
    },
  };
}
