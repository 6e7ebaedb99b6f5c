/**
 * SQL identifiers taken from configuration (schema and table names, role names). They cannot be
 * bound as query parameters, so they are checked against a strict pattern and always double-quoted:
 * a name that passes can neither break out of its quotes nor collide with Postgres' case folding.
 */
import { AuditError } from '@otel-audit/core';

/**
 * Allowed identifiers: lower-case letters, digits and `_`, starting with a letter or `_`, at most
 * 40 characters, so derived names (`<table>_pending_idx`, `<table>_migrations`) stay under
 * Postgres' 63-byte limit.
 */
export const IDENTIFIER_PATTERN = /^[a-z_][a-z0-9_]{0,39}$/;

/**
 * Validate `name` against {@link IDENTIFIER_PATTERN} and return it double-quoted.
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming `what` when the name is not allowed.
 */
export function quoteIdentifier(name: string, what: string): string {
  if (!IDENTIFIER_PATTERN.test(name)) {
    throw new AuditError('AUDIT_ERR_INVALID_CONFIG', `${what}: "${name}" is not an allowed SQL identifier (${IDENTIFIER_PATTERN.source})`, {
      path: what,
    });
  }
  return `"${name}"`;
}

/** Where the outbox lives: schema and table name. */
export interface OutboxLocation {
  /** Postgres schema of the outbox table. Default `public`. */
  schema?: string;
  /** Outbox table name. Default `audit_outbox`. */
  table?: string;
}

/** Default schema of the outbox. */
export const DEFAULT_OUTBOX_SCHEMA = 'public';
/** Default table name of the outbox. */
export const DEFAULT_OUTBOX_TABLE = 'audit_outbox';

/** Validated, quoted names of the outbox table and everything derived from it. */
export interface OutboxNames {
  /** Unquoted schema name. */
  schema: string;
  /** Unquoted table name. */
  table: string;
  /** Quoted schema. */
  qSchema: string;
  /** `"schema"."table"`. */
  qTable: string;
  /** `"schema"."<table>_migrations"`: applied migration versions. */
  qMigrations: string;
  /** Quote a name derived from the table (`<table>_<suffix>`), schema-qualified. */
  derived(suffix: string): string;
  /** Quote a name derived from the table, unqualified (for index and trigger names). */
  derivedLocal(suffix: string): string;
  /** `schema.table`: the NOTIFY payload that identifies this outbox on the shared channel. */
  notifyPayload: string;
}

/** Resolve and validate the outbox location. @throws AuditError `AUDIT_ERR_INVALID_CONFIG`. */
export function outboxNames(location: OutboxLocation = {}): OutboxNames {
  const schema = location.schema ?? DEFAULT_OUTBOX_SCHEMA;
  const table = location.table ?? DEFAULT_OUTBOX_TABLE;
  const qSchema = quoteIdentifier(schema, 'schema');
  const qTableLocal = quoteIdentifier(table, 'table');
  const derivedLocal = (suffix: string) => `"${table}_${suffix}"`;
  return {
    schema,
    table,
    qSchema,
    qTable: `${qSchema}.${qTableLocal}`,
    qMigrations: `${qSchema}.${derivedLocal('migrations')}`,
    derived: (suffix) => `${qSchema}.${derivedLocal(suffix)}`,
    derivedLocal,
    notifyPayload: `${schema}.${table}`,
  };
}

/** The LISTEN/NOTIFY channel every outbox notifies; the payload names the table (`schema.table`). */
export const OUTBOX_NOTIFY_CHANNEL = 'otel_audit_outbox';
