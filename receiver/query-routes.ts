/**
 * The query surfaces mounted on the receiver's HTTP port:
 * - `<path>` (default `/clickhouse`): a read-only ClickHouse-HTTP-compatible endpoint, so
 *   `@clickhouse/client` (`createClient({ url: 'http://127.0.0.1:4318/clickhouse' })`) and curl can
 *   run SELECTs against the embedded engine.
 * - `GET /v1/audit/events`: filtered, cursor-paged events of one tenant.
 *
 * Both require a token when auth is configured; without auth they answer loopback clients only unless
 * `query.allowRemoteWithoutAuth` (http/loopback.ts). A token bound to a tenant sees only its tenant: on
 * the REST API the tenant filter is forced to the bound tenant; the SQL endpoint, which cannot be
 * confined to a tenant by this receiver, is refused to tenant-bound tokens (403).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AuditEventFilters,
  type ClickHouseHandle,
  createQueryService,
  handleClickHouseHttpQuery,
  listAuditEvents,
  readEventFilterParams,
} from '../exporters/clickhouse/index.ts';
import type { HttpServer, RouteContext, RouteHandler } from './http/index.ts';
import { isLoopbackAddress, sendJson } from './http/index.ts';

/** What the query routes need. */
export interface QueryRoutesOptions {
  /** The shared ClickHouse handle (embedded chDB or a server). */
  handle: ClickHouseHandle;
  database: string;
  table: string;
  /** Path of the ClickHouse-HTTP endpoint, without a trailing slash. */
  path: string;
  /** Whether auth tokens are configured (the router then authenticates every request). */
  authEnabled: boolean;
  /** Without auth: answer non-loopback clients too (`query.allowRemoteWithoutAuth`). */
  allowRemoteWithoutAuth: boolean;
}

/** Mount the ClickHouse-HTTP endpoint and `GET /v1/audit/events`. */
export function mountQueryRoutes(http: HttpServer, options: QueryRoutesOptions): void {
  // Unqualified table names resolve against the audit database (a `database` parameter picks another).
  const service = createQueryService({ client: options.handle.client, database: options.database, embedded: options.handle.embedded });

  /** The loopback rule while no tokens are configured (http/loopback.ts). */
  const guarded =
    (handler: RouteHandler): RouteHandler =>
    (req, res, ctx) => {
      if (!options.authEnabled && !options.allowRemoteWithoutAuth && !isLoopbackAddress(req.socket.remoteAddress)) {
        sendJson(
          req,
          res,
          {
            error: 'AUDIT_ERR_FORBIDDEN',
            message:
              'the query endpoints answer only loopback clients while no auth tokens are configured (set auth.tokens, or query.allowRemoteWithoutAuth)',
          },
          403,
        );
        return;
      }
      return handler(req, res, ctx);
    };

  const sql = async (req: IncomingMessage, res: ServerResponse, ctx: RouteContext) => {
    if (ctx.identity.boundTenantId !== undefined) {
      sendJson(
        req,
        res,
        { error: 'AUDIT_ERR_FORBIDDEN', message: 'a tenant-bound token cannot use the SQL endpoint; use GET /v1/audit/events' },
        403,
      );
      return;
    }
    await handleClickHouseHttpQuery(req, res, service);
  };
  for (const suffix of ['', '/', '/ping']) {
    for (const method of ['GET', 'POST']) {
      if (suffix === '/ping' && method === 'POST') continue;
      http.addRoute(method, `${options.path}${suffix}`, guarded(sql), { authenticate: true });
    }
  }

  http.addRoute(
    'GET',
    '/v1/audit/events',
    guarded(async (req, res, ctx) => {
      const read = readEventFilterParams(ctx.url.searchParams, { other: ['limit'], withCursor: true });
      const filters: Partial<Record<keyof AuditEventFilters, string | number>> = read.filters;
      const unknown = read.unknown;
      if (unknown.length > 0) {
        sendJson(req, res, { error: 'AUDIT_ERR_INVALID_ARGUMENT', message: `unknown query parameter(s): ${unknown.join(', ')}` }, 400);
        return;
      }
      const limit = ctx.url.searchParams.get('limit');
      if (limit !== null) {
        const n = Number(limit);
        if (!Number.isInteger(n) || n < 1 || n > 1000) {
          sendJson(req, res, { error: 'AUDIT_ERR_INVALID_ARGUMENT', message: 'limit must be an integer from 1 to 1000' }, 400);
          return;
        }
        filters.limit = n;
      }
      const bound = ctx.identity.boundTenantId;
      if (bound !== undefined) {
        if (filters.tenantId !== undefined && filters.tenantId !== bound) {
          sendJson(req, res, { error: 'AUDIT_ERR_FORBIDDEN', message: `this token may only read tenant "${bound}"` }, 403);
          return;
        }
        filters.tenantId = bound;
      }
      if (filters.tenantId === undefined) {
        sendJson(req, res, { error: 'AUDIT_ERR_INVALID_ARGUMENT', message: 'the tenant query parameter is required' }, 400);
        return;
      }
      const result = await listAuditEvents(options.handle.client, filters as AuditEventFilters, {
        database: options.database,
        table: options.table,
      });
      if (result.status === 'success') {
        sendJson(req, res, result.value);
        return;
      }
      const status = result.status === 'retryable' ? 503 : result.error.code === 'AUDIT_ERR_INVALID_ARGUMENT' ? 400 : 500;
      sendJson(req, res, { error: result.error.code, message: result.error.message }, status);
    }),
    { authenticate: true },
  );
}
