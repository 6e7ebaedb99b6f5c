/**
 * Exact-path router for the receiver's HTTP port. Other components (health, metrics, status, query)
 * mount their routes here instead of opening ports of their own (DESIGN: everything on the OTLP/HTTP
 * port).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuditError } from '@otel-audit/core';
import type { AuthIdentity } from '../auth/bearer-auth.ts';

/** What a route handler gets besides the request and response. */
export interface RouteContext {
  /** The parsed request URL (path + query; the host is a placeholder). */
  url: URL;
  /** Who is calling: empty unless the route was mounted with `authenticate: true` and auth is configured. */
  identity: AuthIdentity;
  /**
   * Send `100 Continue` if the client sent `Expect: 100-continue` and it was not sent yet (no-op
   * otherwise). Only routes mounted with `handlesContinue: true` need to call it, before reading
   * the body; for the others the server sends it before calling the handler.
   */
  sendContinue(): void;
}

/**
 * Handles one request: must send a complete response (see `sendResponse`/`sendStatus`/`sendJson`).
 * A thrown error or rejected promise is answered with 500 (or the connection is destroyed when
 * headers were already sent).
 */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, ctx: RouteContext) => void | Promise<void>;

/** Options of a route. */
export interface RouteOptions {
  /** Require a configured bearer token (401 otherwise). Default false (health probes need no token). */
  authenticate?: boolean;
  /**
   * The handler decides itself when to send `100 Continue` (via `ctx.sendContinue()`), so it can
   * refuse a request from its headers before the client sends the body. Default false: the server
   * sends it right after routing and authentication.
   */
  handlesContinue?: boolean;
  /**
   * Match every path that starts with `path` (which must then end with `/`), e.g. `/ui/` for a
   * single-page app's deep links. Exact routes win over prefix routes; the longest prefix wins.
   * Default false.
   */
  prefix?: boolean;
}

/** A mounted route. */
export interface Route {
  handler: RouteHandler;
  authenticate: boolean;
  handlesContinue: boolean;
}

/** Result of looking up a request. */
export type RouteMatch = { kind: 'found'; route: Route } | { kind: 'method-not-allowed'; allow: string[] } | { kind: 'not-found' };

/** Routes by exact path, then method (upper-case). */
export class Router {
  private readonly routes = new Map<string, Map<string, Route>>();
  /** Prefix routes (`RouteOptions.prefix`), longest prefix first. */
  private readonly prefixes: Array<{ prefix: string; byMethod: Map<string, Route> }> = [];

  /**
   * Mount `handler` for `method` (e.g. `GET`, case-insensitive) on the exact `path` (no query).
   * `GET` routes also answer `HEAD` (Node drops the body).
   * @throws AuditError `AUDIT_ERR_INVALID_ARGUMENT` when the path is not absolute or already mounted for the method.
   */
  add(method: string, path: string, handler: RouteHandler, options: RouteOptions = {}): void {
    if (!path.startsWith('/') || path.includes('?'))
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `route path must be absolute without query: "${path}"`);
    const m = method.toUpperCase();
    let byMethod: Map<string, Route> | undefined;
    if (options.prefix) {
      if (!path.endsWith('/')) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `prefix route path must end with "/": "${path}"`);
      byMethod = this.prefixes.find((p) => p.prefix === path)?.byMethod;
      if (!byMethod) {
        byMethod = new Map();
        this.prefixes.push({ prefix: path, byMethod });
        this.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
      }
    } else {
      byMethod = this.routes.get(path);
      if (!byMethod) {
        byMethod = new Map();
        this.routes.set(path, byMethod);
      }
    }
    if (byMethod.has(m)) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `route ${m} ${path} is already mounted`);
    byMethod.set(m, { handler, authenticate: options.authenticate ?? false, handlesContinue: options.handlesContinue ?? false });
  }

  /** Find the route for a request. */
  match(method: string, path: string): RouteMatch {
    const byMethod = this.routes.get(path) ?? this.prefixes.find((p) => path.startsWith(p.prefix))?.byMethod;
    if (!byMethod) return { kind: 'not-found' };
    const route = byMethod.get(method) ?? (method === 'HEAD' ? byMethod.get('GET') : undefined);
    if (route) return { kind: 'found', route };
    const allow = [...byMethod.keys()];
    if (byMethod.has('GET')) allow.push('HEAD');
    return { kind: 'method-not-allowed', allow };
  }
}
