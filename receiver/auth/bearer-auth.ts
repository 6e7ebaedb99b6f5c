/**
 * Bearer-token authentication for both ingest transports (RFC 6750 `Authorization: Bearer <token>`,
 * as an HTTP header or gRPC metadata, the way OTel exporters send it via `headers`/`metadata`).
 *
 * Tokens are configured as SHA-256 hashes, never in plaintext: a leaked config file does not leak
 * credentials, and tokens are high-entropy random strings, so an unsalted fast hash is sufficient (the
 * same reasoning as GitHub's and Stripe's token storage). Presented tokens are hashed and compared
 * against every configured hash with `crypto.timingSafeEqual`, without an early exit, so the
 * comparison time does not depend on which hash (if any) matched.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuditError, parseConfig } from '@otel-audit/core';
import { z } from 'zod';

/** One accepted token. */
export const BearerTokenSchema = z.strictObject({
  /** Name for logs and metrics (`IngestContext.principal`); never the secret. */
  name: z.string().min(1),
  /** Lower- or upper-case hex SHA-256 of the token (see {@link hashToken}, `otel-audit token hash`). */
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters (the SHA-256 of the token, not the token)'),
  /** When set, the token may only send records of this tenant (`IngestContext.boundTenantId`). */
  tenantId: z.string().min(1).optional(),
});

/**
 * Auth configuration of a transport. Present ⇒ every request must carry one of the tokens;
 * absent ⇒ no authentication (loopback default).
 */
export const AuthConfigSchema = z
  .strictObject({
    tokens: z.array(BearerTokenSchema).min(1),
  })
  .refine((c) => new Set(c.tokens.map((t) => t.name)).size === c.tokens.length, { message: 'token names must be unique', path: ['tokens'] })
  .refine((c) => new Set(c.tokens.map((t) => t.sha256.toLowerCase())).size === c.tokens.length, {
    message: 'the same token hash appears twice',
    path: ['tokens'],
  });

/** Validated auth configuration. */
export type AuthConfig = z.output<typeof AuthConfigSchema>;
/** Auth configuration as written by users. */
export type AuthConfigInput = z.input<typeof AuthConfigSchema>;

/**
 * Parse and validate an auth section.
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming the key (e.g. `receiver.auth.tokens.0.sha256`).
 */
export function parseAuthConfig(input: unknown, prefix = 'auth'): AuthConfig {
  return parseConfig(AuthConfigSchema, input, prefix);
}

/**
 * SHA-256 of a token as lower-case hex: the value to put in `auth.tokens[].sha256`.
 * @param token the secret token exactly as clients send it after `Bearer `.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new random token (32 bytes, base64url, 43 characters) for operators who need one. */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Who the request is from, when authentication succeeded (or is disabled: both fields absent). */
export interface AuthIdentity {
  /** Name of the matched token; absent when auth is disabled. */
  principal?: string;
  /** Tenant the token is bound to, if any. */
  boundTenantId?: string;
}

/**
 * Outcome of authenticating one request. `ok: false` carries `AUDIT_ERR_UNAUTHENTICATED`; transports
 * answer it with HTTP 401 (+ `WWW-Authenticate: Bearer`) / gRPC UNAUTHENTICATED.
 */
export type AuthResult = { ok: true; identity: AuthIdentity } | { ok: false; error: AuditError };

/** Checks `authorization` values against the configured token hashes. */
export interface BearerAuthenticator {
  /** True when tokens are configured (requests without one are refused). */
  readonly enabled: boolean;
  /**
   * Authenticate one request.
   * @param authorization the raw `authorization` header / metadata value(s); `undefined` when absent.
   */
  authenticate(authorization: string | readonly string[] | undefined): AuthResult;
}

const BEARER = /^bearer[ \t]+([^ \t].*?)[ \t]*$/is;
const BASIC = /^basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i;

/**
 * The password of `Authorization: Basic base64(user:password)` (RFC 7617), which ClickHouse clients
 * (DBeaver, Grafana's plugin, `curl -u`) send for the query endpoint and the Collector's basicauth
 * extension sends for OTLP. The password is the token; the user name is ignored.
 */
function basicPassword(value: string): string | undefined {
  const m = BASIC.exec(value);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 && colon < decoded.length - 1 ? decoded.slice(colon + 1) : undefined;
}

/**
 * Create an authenticator. With `config` undefined, authentication is disabled and every request is
 * accepted with an empty identity.
 * @param config a validated {@link AuthConfig} (use {@link parseAuthConfig}).
 */
export function createBearerAuthenticator(config: AuthConfig | undefined): BearerAuthenticator {
  if (config === undefined) {
    return { enabled: false, authenticate: () => ({ ok: true, identity: {} }) };
  }
  const entries = config.tokens.map((t) => ({ name: t.name, tenantId: t.tenantId, hash: Buffer.from(t.sha256, 'hex') }));
  return {
    enabled: true,
    authenticate(authorization) {
      const values = authorization === undefined ? [] : typeof authorization === 'string' ? [authorization] : authorization;
      if (values.length === 0)
        return { ok: false, error: new AuditError('AUDIT_ERR_UNAUTHENTICATED', 'missing bearer token (authorization: Bearer <token>)') };
      if (values.length > 1) return { ok: false, error: new AuditError('AUDIT_ERR_UNAUTHENTICATED', 'more than one authorization value') };
      const token = BEARER.exec(values[0]!)?.[1] ?? basicPassword(values[0]!);
      if (token === undefined) {
        return {
          ok: false,
          error: new AuditError(
            'AUDIT_ERR_UNAUTHENTICATED',
            'authorization is not a bearer token (expected "Bearer <token>", or Basic with the token as password)',
          ),
        };
      }
      const presented = createHash('sha256').update(token, 'utf8').digest();
      let match: (typeof entries)[number] | undefined;
      for (const e of entries) {
        // No early exit: every configured hash is compared.
        if (timingSafeEqual(presented, e.hash) && match === undefined) match = e;
      }
      if (match === undefined) return { ok: false, error: new AuditError('AUDIT_ERR_UNAUTHENTICATED', 'invalid bearer token') };
      const identity: AuthIdentity = { principal: match.name };
      if (match.tenantId !== undefined) identity.boundTenantId = match.tenantId;
      return { ok: true, identity };
    },
  };
}
