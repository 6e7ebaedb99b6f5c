/**
 * HTTP middleware that audits requests: an Express-style `(req, res, next)` function and a Fastify
 * plugin. One audit event per matching request, recorded after the response has been sent, so
 * audit delivery never delays or fails a response; problems go to `onError`. The handler runs
 * inside an audit context (request metadata, lazily resolved actor/tenant), so events it records
 * itself are filled too.
 *
 * Neither framework is imported: the request/response types below are structural.
 */
import { AsyncResource } from 'node:async_hooks';
import { isIP } from 'node:net';
import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import {
  AUDIT_EVENT_LIMITS,
  type AuditActor,
  type AuditOutcome,
  type AuditRequest,
  type AuditTarget,
  type AuditTenant,
} from '@otel-audit/schema';
import type { AuditLogger } from './audit-logger.ts';
import { type AuditContext, createFrame, type Frame, frameContext, runInFrame } from './context.ts';

/** Header map as Node's `IncomingMessage.headers`. */
type Headers = Record<string, string | string[] | undefined>;

/** What the middleware knows about a finished request, passed to the callbacks. */
export interface HttpRequestInfo {
  /** Upper-case method, e.g. `POST`. */
  method: string;
  /** Route pattern when the framework matched one (e.g. `/users/:id`), otherwise undefined. */
  route: string | undefined;
  /** URL path without the query string (queries often carry secrets). */
  path: string;
  /** Response status code; 0 when the client went away before a response was sent. */
  statusCode: number;
  /** Milliseconds from the middleware seeing the request to the response being sent. */
  durationMillis: number;
  /** True when the connection closed before the response finished. */
  aborted: boolean;
}

/** Options shared by the Express middleware and the Fastify plugin. `Req` is the framework's request. */
export interface HttpAuditOptions<Req> {
  /** The audit logger (only `record` is used). */
  audit: Pick<AuditLogger, 'record'>;
  /** Which requests produce an event. Default: all. */
  match?: (req: Req) => boolean;
  /**
   * The event's action. Default {@link defaultHttpAction}: `http.<method>` followed by the static
   * segments of the route (`POST /grants/:id/revoke` → `http.post.grants.revoke`), or
   * `http.<method>.unmatched` when no route matched.
   */
  action?: (info: HttpRequestInfo, req: Req) => string;
  /** Outcome from the status. Default: 2xx success, 401/403 denied, anything else failure. */
  outcome?: (info: HttpRequestInfo) => AuditOutcome;
  /** The acting principal (called after the handler ran, so authentication has happened). Default: anonymous. */
  resolveActor?: (req: Req) => AuditActor | undefined;
  /** The tenant. Required by the schema: without it (here or in the context) the event is reported to `onError`. */
  resolveTenant?: (req: Req) => AuditTenant | undefined;
  /** Session id, if any. */
  resolveSession?: (req: Req) => { id: string } | undefined;
  /** Targets of the event. */
  targets?: (info: HttpRequestInfo, req: Req) => AuditTarget[] | undefined;
  /** Header carrying the request id. Default `x-request-id` (Fastify: `request.id` otherwise). */
  requestIdHeader?: string;
  /** Called with any error of building or recording the event. Default: ignore. */
  onError?: (error: unknown) => void;
}

/** The subset of an Express (or Node http) request the middleware reads. */
export interface ExpressLikeRequest {
  method?: string;
  url?: string;
  originalUrl?: string;
  baseUrl?: string;
  route?: { path?: unknown };
  headers: Headers;
  ip?: string;
  socket?: { remoteAddress?: string | undefined };
}

/** The subset of an Express (or Node http) response the middleware uses. */
export interface ExpressLikeResponse {
  statusCode: number;
  writableFinished?: boolean;
  once(event: 'finish' | 'close', listener: () => void): unknown;
}

/**
 * Express-style middleware: `app.use(expressAuditMiddleware({ audit, resolveTenant, resolveActor }))`.
 * Register it before the routes whose handlers should see the audit context.
 */
export function expressAuditMiddleware<Req extends ExpressLikeRequest = ExpressLikeRequest>(
  options: HttpAuditOptions<Req>,
): (req: Req, res: ExpressLikeResponse, next: (err?: unknown) => void) => void {
  return function otelAuditMiddleware(req, res, next) {
    const start = performance.now();
    const matched = safeMatch(options, req);
    const frame = createFrame({ request: requestOf(req, headerId(req.headers, options.requestIdHeader)) }, lazyResolver(options, req));
    const traceContext = activeTrace();
    let done = false;
    const finish = (aborted: boolean): void => {
      if (done) return;
      done = true;
      if (!matched) return;
      const route = typeof req.route?.path === 'string' ? `${req.baseUrl ?? ''}${req.route.path}` : undefined;
      recordRequest(options, req, frame, traceContext, {
        method: (req.method ?? 'GET').toUpperCase(),
        route,
        path: pathOf(req.originalUrl ?? req.url),
        statusCode: aborted ? 0 : res.statusCode,
        durationMillis: performance.now() - start,
        aborted,
      });
    };
    res.once('finish', () => finish(false));
    res.once('close', () => finish(res.writableFinished !== true));
    runInFrame(frame, () => next());
  };
}

/** The subset of a Fastify request the plugin reads. */
export interface FastifyLikeRequest {
  id?: unknown;
  method: string;
  url: string;
  ip?: string;
  headers: Headers;
  routeOptions?: { url?: string | undefined };
}

/** The subset of a Fastify reply the plugin reads. */
export interface FastifyLikeReply {
  statusCode: number;
}

type HookDone = (err?: Error) => void;
/** The subset of a Fastify instance the plugin uses. */
export interface FastifyLikeInstance {
  addHook(
    name: 'onRequest' | 'preValidation' | 'preHandler' | 'onResponse',
    hook: (req: FastifyLikeRequest, reply: FastifyLikeReply, done: HookDone) => void,
  ): unknown;
  addHook(name: 'onRequestAbort', hook: (req: FastifyLikeRequest, done: HookDone) => void): unknown;
}

/** A Fastify plugin function (callback style), marked to apply to the whole instance. */
export type FastifyAuditPlugin = ((instance: FastifyLikeInstance, opts: unknown, done: (err?: Error) => void) => void) &
  Record<symbol, unknown>;

/**
 * Fastify plugin: `app.register(fastifyAuditPlugin({ audit, resolveTenant, resolveActor }))`.
 * It applies to every route of the instance it is registered on (like `fastify-plugin`).
 */
export function fastifyAuditPlugin<Req extends FastifyLikeRequest = FastifyLikeRequest>(
  options: HttpAuditOptions<Req>,
): FastifyAuditPlugin {
  interface State {
    start: number;
    frame: Frame;
    scope: AsyncResource;
    traceContext: ReturnType<typeof activeTrace>;
    matched: boolean;
    done: boolean;
  }
  const states = new WeakMap<object, State>();
  const finish = (req: Req, statusCode: number, aborted: boolean): void => {
    const s = states.get(req);
    if (!s || s.done) return;
    s.done = true;
    if (!s.matched) return;
    recordRequest(options, req, s.frame, s.traceContext, {
      method: req.method.toUpperCase(),
      route: req.routeOptions?.url,
      path: pathOf(req.url),
      statusCode: aborted ? 0 : statusCode,
      durationMillis: performance.now() - s.start,
      aborted,
    });
  };
  const plugin = ((instance: FastifyLikeInstance, _opts: unknown, done: (err?: Error) => void) => {
    instance.addHook('onRequest', (req, _reply, next) => {
      const r = req as Req;
      const id = headerId(r.headers, options.requestIdHeader) ?? (typeof r.id === 'string' && r.id !== '' ? r.id : undefined);
      const frame = createFrame({ request: requestOf(r, id) }, lazyResolver(options, r));
      runInFrame(frame, () => {
        // Body parsing resumes from stream events outside this context; the later hooks re-enter
        // it through this resource (the approach of @fastify/request-context).
        const scope = new AsyncResource('otel-audit-request');
        states.set(req, {
          start: performance.now(),
          frame,
          scope,
          traceContext: activeTrace(),
          matched: safeMatch(options, r),
          done: false,
        });
        scope.runInAsyncScope(next);
      });
    });
    const reenter = (req: FastifyLikeRequest, _reply: FastifyLikeReply, next: HookDone): void => {
      const s = states.get(req);
      if (s) s.scope.runInAsyncScope(next);
      else next();
    };
    instance.addHook('preValidation', reenter);
    instance.addHook('preHandler', reenter);
    instance.addHook('onResponse', (req, reply, next) => {
      finish(req as Req, reply.statusCode, false);
      next();
    });
    instance.addHook('onRequestAbort', (req, next) => {
      finish(req as Req, 0, true);
      next();
    });
    done();
  }) as FastifyAuditPlugin;
  plugin[Symbol.for('skip-override')] = true;
  plugin[Symbol.for('fastify.display-name')] = 'otel-audit';
  return plugin;
}

/** The default action: see {@link HttpAuditOptions.action}. */
export function defaultHttpAction(info: Pick<HttpRequestInfo, 'method' | 'route'>): string {
  const method = info.method.toLowerCase().replace(/[^a-z0-9_-]/g, '_') || 'unknown';
  if (info.route === undefined) return `http.${method}.unmatched`;
  const words = info.route
    .split('/')
    .filter((seg) => seg !== '' && !seg.startsWith(':') && !seg.startsWith('*') && !seg.includes('{'))
    .map((seg) => seg.replace(/[^A-Za-z0-9_-]/g, '_'));
  return ['http', method, ...words].join('.').slice(0, AUDIT_EVENT_LIMITS.maxActionLength).replace(/\.$/, '');
}

/** The default outcome: 2xx success, 401/403 denied, anything else failure. */
export function defaultHttpOutcome(info: Pick<HttpRequestInfo, 'statusCode'>): AuditOutcome {
  if (info.statusCode >= 200 && info.statusCode < 300) return 'success';
  if (info.statusCode === 401 || info.statusCode === 403) return 'denied';
  return 'failure';
}

// --- internals ---------------------------------------------------------------------------------

function recordRequest<Req>(
  options: HttpAuditOptions<Req>,
  req: Req,
  frame: Frame,
  traceContext: ReturnType<typeof activeTrace>,
  info: HttpRequestInfo,
): void {
  const onError = options.onError ?? (() => undefined);
  try {
    const ctx: AuditContext = frameContext(frame);
    const event = {
      action: (options.action ?? defaultHttpAction)(info, req),
      outcome: (options.outcome ?? defaultHttpOutcome)(info),
      actor: ctx.actor ?? { id: 'anonymous', type: 'anonymous' as const },
      tenant: ctx.tenant,
      request: ctx.request,
      session: ctx.session,
      targets: options.targets?.(info, req),
      trace: traceContext,
      details: {
        statusCode: info.statusCode,
        durationMillis: Math.round(info.durationMillis * 1000) / 1000,
        ...(info.route !== undefined ? { route: info.route } : {}),
        ...(info.aborted ? { aborted: true } : {}),
      },
    };
    // Fields left undefined are filled from the context by record(); remove them so they stay absent.
    for (const k of Object.keys(event) as Array<keyof typeof event>) if (event[k] === undefined) delete event[k];
    // tenant is required by the schema; record() reports its absence as AUDIT_ERR_INVALID_EVENT.
    options.audit.record(event as Parameters<AuditLogger['record']>[0]).catch(onError);
  } catch (err) {
    onError(err);
  }
}

function lazyResolver<Req>(options: HttpAuditOptions<Req>, req: Req): () => AuditContext {
  // Resolved when an event is recorded, not when the request arrives: authentication middleware
  // registered after this one has run by then.
  return () => {
    const out: AuditContext = {};
    const actor = options.resolveActor?.(req);
    const tenant = options.resolveTenant?.(req);
    const session = options.resolveSession?.(req);
    if (actor) out.actor = actor;
    if (tenant) out.tenant = tenant;
    if (session) out.session = session;
    return out;
  };
}

function safeMatch<Req>(options: HttpAuditOptions<Req>, req: Req): boolean {
  try {
    return options.match ? options.match(req) : true;
  } catch (err) {
    options.onError?.(err);
    return false;
  }
}

function requestOf(
  req: {
    method?: string;
    url?: string;
    originalUrl?: string;
    headers: Headers;
    ip?: string;
    socket?: { remoteAddress?: string | undefined };
  },
  id: string | undefined,
): AuditRequest {
  const out: AuditRequest = {};
  if (id) out.id = id.slice(0, AUDIT_EVENT_LIMITS.maxIdLength);
  const ip = normalizeIp(req.ip ?? req.socket?.remoteAddress);
  if (ip) out.ip = ip;
  const ua = first(req.headers['user-agent']);
  if (ua) out.userAgent = ua.slice(0, AUDIT_EVENT_LIMITS.maxTextLength);
  if (req.method) out.method = req.method.toUpperCase().slice(0, 32);
  const path = pathOf(req.originalUrl ?? req.url);
  if (path) out.path = path.slice(0, AUDIT_EVENT_LIMITS.maxStringLength);
  return out;
}

function headerId(headers: Headers, name = 'x-request-id'): string | undefined {
  const v = first(headers[name.toLowerCase()]);
  return v && v.length <= AUDIT_EVENT_LIMITS.maxIdLength ? v : undefined;
}

function first(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.search(/[?#]/);
  return q === -1 ? url : url.slice(0, q) || '/';
}

function normalizeIp(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  if (isIP(v4) === 4) return v4;
  return isIP(ip) === 6 ? ip : undefined;
}

function activeTrace(): { traceId: string; spanId: string; traceFlags: number } | undefined {
  const sc = trace.getSpanContext(context.active());
  return sc && isSpanContextValid(sc) ? { traceId: sc.traceId, spanId: sc.spanId, traceFlags: sc.traceFlags } : undefined;
}
