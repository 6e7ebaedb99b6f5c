/**
 * The grants service: a small Express 5 API that issues and revokes access grants in Postgres and
 * writes each grant's audit event into the outbox **in the same transaction** (commit → both,
 * rollback → neither). The relay ships the outbox to the receiver.
 *
 * - `POST /grants` `{ subject, role }` → 201 `{ grant, auditEventId }`
 * - `DELETE /grants/:id` → 200 `{ grant, auditEventId }`
 *
 * Who is acting comes from the request: `Authorization: Bearer <token>` → an `api_token` actor
 * (token looked up by its SHA-256, bound to a tenant, scope `grants:write` needed), else
 * `x-user-id` + `x-tenant-id` (+ `x-session-id`) as set by an authenticating proxy or session layer →
 * a `user` actor, else `anonymous`. The SDK middleware puts the request (id, client IP, user agent,
 * method, path) into the audit context; the auth step adds actor, tenant and session with
 * `updateAuditContext`; every event the handlers write is built from that context.
 *
 * Refusals and failures are audited too, each in a transaction of its own: a denied attempt
 * (`outcome: denied`) commits no state change, and a failed one (`outcome: failure`, with the
 * reason) is recorded after the failed transaction rolled back, so its success event never exists.
 */
import { randomUUID } from 'node:crypto';
import type { AuditEventInput } from '@otel-audit/schema';
import { type AuditLogger, expressAuditMiddleware, getAuditContext, updateAuditContext } from '@otel-audit/sdk';
import { createOutbox, type Outbox, quoteIdentifier } from '@otel-audit/sdk/outbox';
import express from 'express';
import type pg from 'pg';
import { GRANT_ROLES, hashApiToken } from './grants-db.ts';

/** Options of {@link createGrantsApp}. */
export interface GrantsServiceOptions {
  /** Pool of the database holding the grants and the outbox. */
  pool: pg.Pool;
  /** Schema of the grants tables and the outbox (see `migrateGrantsDb`). */
  schema: string;
  /** `service.name` of the relayed events. Default `grants-service`. */
  serviceName?: string;
  /**
   * Optional audit logger for one `http.*` access event per request, recorded by the SDK middleware
   * after the response (durable spool, sent straight to the receiver). Without it the middleware
   * only provides the audit context: the grant events themselves always go through the outbox.
   */
  httpAudit?: Pick<AuditLogger, 'record'>;
  /**
   * Honour `x-inject-failure: after-audit` (fail after the audit row was written, before COMMIT).
   * For demonstrations and tests only; never enable it in production.
   */
  allowFailureInjection?: boolean;
  /** Express `trust proxy` (which `x-forwarded-for` hops to believe for the client IP). Default `loopback`. */
  trustProxy?: boolean | string;
  /** Where errors that are not the client's go (failed audit of a failure, unexpected errors). Default: stderr. */
  onError?: (error: unknown) => void;
}

/** A grant as the API returns it. */
export interface Grant {
  id: string;
  tenantId: string;
  subject: string;
  role: string;
  issuedBy: string;
  issuedAt: string;
  revokedBy: string | null;
  revokedAt: string | null;
}

interface GrantRow {
  id: string;
  tenant_id: string;
  subject: string;
  role: string;
  issued_by: string;
  issued_at: Date;
  revoked_by: string | null;
  revoked_at: Date | null;
}

interface Principal {
  kind: 'api_token' | 'user' | 'anonymous';
  actorId: string;
  tenantId: string | undefined;
  scopes: string[];
}

/** A failure with its HTTP status and the audit outcome/reason it produces. */
class RequestFailure extends Error {
  readonly status: number;
  readonly outcome: 'failure' | 'denied';
  constructor(status: number, outcome: 'failure' | 'denied', message: string) {
    super(message);
    this.status = status;
    this.outcome = outcome;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Tenant of an anonymous request that named none: the schema requires one, and the attempt is still worth recording. */
export const UNKNOWN_TENANT = 'unknown';

/** Build the Express app. The caller owns the pool and listens (`app.listen(port)`). */
export function createGrantsApp(options: GrantsServiceOptions): express.Express {
  const { pool } = options;
  const s = quoteIdentifier(options.schema, 'schema');
  const outbox: Outbox = createOutbox({ schema: options.schema, serviceName: options.serviceName ?? 'grants-service' });
  const onError = options.onError ?? ((err: unknown) => process.stderr.write(`grants-service: ${(err as Error)?.stack ?? String(err)}\n`));
  const app = express();
  app.set('trust proxy', options.trustProxy ?? 'loopback');
  app.disable('x-powered-by');

  // Parse the body before the audit middleware: the parser resumes from stream events that run
  // outside any async context, and the handlers must run inside the middleware's context.
  app.use(express.json({ limit: '16kb' }));

  // Request id: the caller's `x-request-id`, or a new one, echoed back so clients can quote it.
  app.use((req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && given !== '' && given.length <= 128 ? given : randomUUID();
    req.headers['x-request-id'] = id;
    res.setHeader('x-request-id', id);
    next();
  });

  app.use(
    expressAuditMiddleware({
      // Without an access-event logger the middleware still runs every handler in an audit
      // context (request id, client IP, user agent, method, path); it just records no event itself.
      audit: options.httpAudit ?? { record: () => Promise.reject(new Error('no http audit logger')) },
      match: options.httpAudit ? undefined : () => false,
      onError,
    }),
  );

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  // Authentication: identify the actor and put it into the audit context for every later event.
  app.use(async (req, res, next) => {
    const principal = await authenticate(req);
    if (principal === 'invalid-token') {
      updateAuditContext({ actor: { id: 'anonymous', type: 'anonymous' }, tenant: { id: tenantHeader(req) ?? UNKNOWN_TENANT } });
      const auditEventId = await auditOutsideTransaction('auth.api_token', 'denied', 'invalid API token');
      res.status(401).json({ error: 'invalid API token', ...(auditEventId ? { auditEventId } : {}) });
      return;
    }
    res.locals.principal = principal;
    updateAuditContext({
      actor:
        principal.kind === 'anonymous'
          ? { id: 'anonymous', type: 'anonymous' }
          : { id: principal.actorId, type: principal.kind, authMethod: principal.kind === 'api_token' ? 'api_key' : 'session' },
      tenant: { id: principal.tenantId ?? UNKNOWN_TENANT },
      ...(sessionHeader(req) ? { session: { id: sessionHeader(req)! } } : {}),
    });
    next();
  });

  app.post('/grants', async (req, res) => {
    const principal = res.locals.principal as Principal;
    const body = (req.body ?? {}) as { subject?: unknown; role?: unknown };
    const grantId = randomUUID();
    const target = [{ type: 'grant', id: grantId }];
    try {
      authorize(principal);
      if (
        typeof body.subject !== 'string' ||
        body.subject === '' ||
        body.subject.length > 200 ||
        typeof body.role !== 'string' ||
        body.role === ''
      ) {
        throw new RequestFailure(400, 'failure', 'body must be { subject: string, role: string }');
      }
      const subject = body.subject;
      const role = body.role;
      const grant = await inTransaction(async (client) => {
        const inserted = await client.query<GrantRow>(
          `INSERT INTO ${s}.grants (id, tenant_id, subject, role, issued_by) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
          [grantId, principal.tenantId, subject, role, principal.actorId],
        );
        const after = toGrant(inserted.rows[0]!);
        const auditEventId = await outbox.recordInTransaction(
          client,
          eventFromContext({
            action: 'grant.issue',
            outcome: 'success',
            targets: [...target, { type: 'user', id: subject }],
            changes: { after: { ...after } },
            details: { role },
          }),
        );
        injectFailure(req);
        return { grant: after, auditEventId };
      });
      res.status(201).json(grant);
    } catch (err) {
      await answerFailure(
        res,
        err,
        'grant.issue',
        [...target, ...(typeof body.subject === 'string' && body.subject !== '' ? [{ type: 'user', id: body.subject.slice(0, 200) }] : [])],
        {
          role: typeof body.role === 'string' ? body.role.slice(0, 64) : null,
        },
      );
    }
  });

  app.delete('/grants/:id', async (req, res) => {
    const principal = res.locals.principal as Principal;
    const grantId = String(req.params.id);
    const target = [{ type: 'grant', id: grantId.slice(0, 128) }];
    try {
      authorize(principal);
      if (!UUID.test(grantId)) throw new RequestFailure(404, 'failure', 'no such grant');
      const result = await inTransaction(async (client) => {
        // FOR UPDATE: two concurrent revocations serialize; the second sees it revoked.
        const found = await client.query<GrantRow>(`SELECT * FROM ${s}.grants WHERE id = $1 AND tenant_id = $2 FOR UPDATE`, [
          grantId,
          principal.tenantId,
        ]);
        const row = found.rows[0];
        if (!row) throw new RequestFailure(404, 'failure', 'no such grant');
        if (row.revoked_at !== null) throw new RequestFailure(409, 'failure', 'grant already revoked');
        const updated = await client.query<GrantRow>(
          `UPDATE ${s}.grants SET revoked_at = now(), revoked_by = $2 WHERE id = $1 RETURNING *`,
          [grantId, principal.actorId],
        );
        const before = toGrant(row);
        const after = toGrant(updated.rows[0]!);
        const auditEventId = await outbox.recordInTransaction(
          client,
          eventFromContext({
            action: 'grant.revoke',
            outcome: 'success',
            targets: [...target, { type: 'user', id: row.subject }],
            changes: { before: { ...before }, after: { ...after } },
            details: { role: row.role },
          }),
        );
        injectFailure(req);
        return { grant: after, auditEventId };
      });
      res.json(result);
    } catch (err) {
      await answerFailure(res, err, 'grant.revoke', target, {});
    }
  });

  app.use((_req: express.Request, res: express.Response) => {
    res.status(404).json({ error: 'not found' });
  });
  // Errors before a handler ran (a body that is not JSON, the database down during authentication).
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      res.status(status).json({ error: (err as Error).message });
      return;
    }
    onError(err);
    res.status(500).json({ error: 'internal error' });
  });

  return app;

  async function authenticate(req: express.Request): Promise<Principal | 'invalid-token'> {
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(authorization);
      if (!m) return 'invalid-token';
      const found = await pool.query<{ id: string; tenant_id: string; scopes: string[] }>(
        `SELECT id, tenant_id, scopes FROM ${s}.api_tokens WHERE token_sha256 = $1`,
        [hashApiToken(m[1]!)],
      );
      const row = found.rows[0];
      if (!row) return 'invalid-token';
      return { kind: 'api_token', actorId: row.id, tenantId: row.tenant_id, scopes: row.scopes };
    }
    const user = req.headers['x-user-id'];
    const tenant = tenantHeader(req);
    if (typeof user === 'string' && user !== '' && user.length <= 128 && tenant) {
      // A signed-in user may manage grants of the tenant its session is in.
      return { kind: 'user', actorId: user, tenantId: tenant, scopes: ['grants:write'] };
    }
    return { kind: 'anonymous', actorId: 'anonymous', tenantId: tenant, scopes: [] };
  }

  function authorize(principal: Principal): void {
    if (principal.kind === 'anonymous') throw new RequestFailure(401, 'denied', 'authentication required');
    if (!principal.scopes.includes('grants:write')) throw new RequestFailure(403, 'denied', 'missing scope grants:write');
  }

  function injectFailure(req: express.Request): void {
    if (options.allowFailureInjection && req.headers['x-inject-failure'] === 'after-audit') {
      throw new Error('injected failure after the audit event was written');
    }
  }

  async function inTransaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // The grant and its audit row go away together. A failing ROLLBACK means the connection is gone,
      // which ends the transaction too; the error to report is the one that made us roll back.
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Answer a failed request and record its `denied`/`failure` event (own transaction). */
  async function answerFailure(
    res: express.Response,
    err: unknown,
    action: string,
    targets: Array<{ type: string; id: string }>,
    details: Record<string, string | null>,
  ): Promise<void> {
    const failure = toRequestFailure(err);
    if (failure.status === 500) onError(err);
    let auditEventId: string | undefined;
    try {
      auditEventId = await outbox.recordInTransaction(
        pool,
        eventFromContext({ action, outcome: failure.outcome, reason: failure.message, targets, details }),
      );
    } catch (auditErr) {
      onError(auditErr);
    }
    res.status(failure.status).json({ error: failure.message, ...(auditEventId ? { auditEventId } : {}) });
  }

  /** Record an event that accompanies no state change (autocommit); resolves with its id, or undefined if that failed. */
  async function auditOutsideTransaction(action: string, outcome: 'denied' | 'failure', reason: string): Promise<string | undefined> {
    try {
      return await outbox.recordInTransaction(pool, eventFromContext({ action, outcome, reason }));
    } catch (err) {
      onError(err);
      return undefined;
    }
  }
}

/** An event with actor, tenant, session and request taken from the current audit context. */
function eventFromContext(fields: Omit<AuditEventInput, 'actor' | 'tenant' | 'request' | 'session'>): AuditEventInput {
  const ctx = getAuditContext() ?? {};
  const event: AuditEventInput = {
    ...fields,
    actor: ctx.actor ?? { id: 'anonymous', type: 'anonymous' },
    tenant: ctx.tenant ?? { id: UNKNOWN_TENANT },
  };
  if (ctx.request) event.request = ctx.request;
  if (ctx.session) event.session = ctx.session;
  return event;
}

function toRequestFailure(err: unknown): RequestFailure {
  if (err instanceof RequestFailure) return err;
  const code = (err as { code?: string }).code;
  // Constraint violations are the client's: the transaction rolled back with its audit row.
  if (code === '23505') return new RequestFailure(409, 'failure', 'an active grant with this subject and role exists');
  if (code === '23514') return new RequestFailure(422, 'failure', `role must be one of ${GRANT_ROLES.join(', ')}`);
  return new RequestFailure(500, 'failure', 'internal error; the change was rolled back');
}

function toGrant(row: GrantRow): Grant {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    subject: row.subject,
    role: row.role,
    issuedBy: row.issued_by,
    issuedAt: row.issued_at.toISOString(),
    revokedBy: row.revoked_by,
    revokedAt: row.revoked_at ? row.revoked_at.toISOString() : null,
  };
}

function tenantHeader(req: express.Request): string | undefined {
  const t = req.headers['x-tenant-id'];
  return typeof t === 'string' && t !== '' && t.length <= 128 ? t : undefined;
}

function sessionHeader(req: express.Request): string | undefined {
  const t = req.headers['x-session-id'];
  return typeof t === 'string' && t !== '' && t.length <= 128 ? t : undefined;
}
