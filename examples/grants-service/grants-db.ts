/**
 * The grants service's own tables, next to the audit outbox in the same schema (so one transaction
 * covers the grant and its audit event). Applied at start-up after the outbox migrations.
 */
import { createHash } from 'node:crypto';
import { applyOutboxMigrations, quoteIdentifier } from '@otel-audit/sdk/outbox';
import type pg from 'pg';

/** Roles a grant can carry; anything else violates the `grants_role_check` constraint. */
export const GRANT_ROLES = ['viewer', 'editor', 'admin'] as const;

/** SHA-256 hex of an API token: tokens are stored hashed, never in clear. */
export function hashApiToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Create the outbox (versioned SDK migrations) and the service's tables in `schema`. Idempotent.
 * The constraints are deliberate: a violation is how a real request fails half-way through its
 * transaction, and the test relies on it to show that the audit event rolls back too.
 */
export async function migrateGrantsDb(pool: pg.Pool, schema: string): Promise<void> {
  await applyOutboxMigrations(pool, { schema });
  const s = quoteIdentifier(schema, 'schema');
  const roles = GRANT_ROLES.map((r) => `'${r}'`).join(', ');
  await pool.query(`
    CREATE TABLE IF NOT EXISTS ${s}.grants (
      id          uuid PRIMARY KEY,
      tenant_id   text        NOT NULL,
      subject     text        NOT NULL,
      role        text        NOT NULL CONSTRAINT grants_role_check CHECK (role IN (${roles})),
      issued_by   text        NOT NULL,
      issued_at   timestamptz NOT NULL DEFAULT now(),
      revoked_by  text,
      revoked_at  timestamptz
    );
    -- One active grant per subject and role in a tenant: issuing it twice is a constraint violation.
    CREATE UNIQUE INDEX IF NOT EXISTS grants_active_uniq ON ${s}.grants (tenant_id, subject, role) WHERE revoked_at IS NULL;
    CREATE TABLE IF NOT EXISTS ${s}.api_tokens (
      token_sha256 text PRIMARY KEY,
      id           text   NOT NULL UNIQUE,
      tenant_id    text   NOT NULL,
      name         text   NOT NULL,
      scopes       text[] NOT NULL DEFAULT '{}'
    );
  `);
}

/** An API token to register with {@link addApiToken}. */
export interface ApiTokenSpec {
  /** The secret the client sends as `Authorization: Bearer <token>`. */
  token: string;
  /** Stable id, used as the audit actor id (never the secret). */
  id: string;
  tenantId: string;
  name: string;
  /** `grants:write` allows issuing and revoking. */
  scopes: string[];
}

/** Register an API token (stored as its SHA-256). */
export async function addApiToken(pool: pg.Pool, schema: string, spec: ApiTokenSpec): Promise<void> {
  await pool.query(
    `INSERT INTO ${quoteIdentifier(schema, 'schema')}.api_tokens (token_sha256, id, tenant_id, name, scopes) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (token_sha256) DO UPDATE SET scopes = EXCLUDED.scopes, name = EXCLUDED.name`,
    [hashApiToken(spec.token), spec.id, spec.tenantId, spec.name, spec.scopes],
  );
}
