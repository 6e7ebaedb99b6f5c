/**
 * Writing an audit event into the outbox inside the caller's transaction, so the event exists if
 * and only if the change it describes committed.
 */
import { AuditError } from '@otel-audit/core';
import type { AuditEvent, AuditEventInput } from '@otel-audit/schema';
import { completeAuditEvent } from './complete-event.ts';
import { type OutboxLocation, outboxNames } from './identifiers.ts';

/** Anything that runs a parameterized query: a `pg` Client or PoolClient (inside a transaction). */
export interface OutboxQueryable {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

/** Options of {@link recordInTransaction}. */
export interface RecordInTransactionOptions extends OutboxLocation {
  /** `service.name` the relay puts on the OTLP resource of this event. Default: the relay's own. */
  serviceName?: string;
}

/** An outbox bound to one table; see {@link createOutbox}. */
export interface Outbox {
  /** Schema of the outbox table. */
  readonly schema: string;
  /** Name of the outbox table. */
  readonly table: string;
  /**
   * Validate and complete `event`, then insert it with `client` (which must be inside the caller's
   * transaction). Resolves with the event id once the row is written (not yet committed).
   * @throws AuditError `AUDIT_ERR_INVALID_EVENT` (field path in `path`) or `AUDIT_ERR_OUTBOX`.
   */
  recordInTransaction(client: OutboxQueryable, event: AuditEventInput): Promise<string>;
  /**
   * Insert an event that is already complete and validated (the output of `validateAuditEvent`,
   * e.g. from the SDK's logger, which fills it from its audit context), without completing or
   * validating it again. Resolves with the event id.
   * @throws AuditError `AUDIT_ERR_OUTBOX`.
   */
  insertValidated(client: OutboxQueryable, event: AuditEvent): Promise<string>;
}

/** Options of {@link createOutbox}. */
export interface OutboxOptions extends OutboxLocation {
  /** `service.name` for the events of this outbox; see {@link RecordInTransactionOptions.serviceName}. */
  serviceName?: string;
}

interface PgErrorLike {
  code?: string;
  constraint?: string;
  message?: string;
}

/**
 * Create an outbox bound to `{ schema, table }` (validated once here; the INSERT text is built once).
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` for a schema or table name that is not allowed.
 */
export function createOutbox(options: OutboxOptions = {}): Outbox {
  const n = outboxNames(options);
  const insertSql = `INSERT INTO ${n.qTable} (event_id, tenant_id, service_name, payload) VALUES ($1, $2, $3, $4)`;
  const serviceName = options.serviceName ?? null;
  return {
    schema: n.schema,
    table: n.table,
    // async: an invalid event must reject the promise, not throw synchronously.
    async recordInTransaction(client, input) {
      return insert(client, completeAuditEvent(input));
    },
    insertValidated: (client, event) => insert(client, event),
  };

  async function insert(client: OutboxQueryable, event: AuditEvent): Promise<string> {
    try {
      await client.query(insertSql, [event.eventId, event.tenant.id, serviceName, JSON.stringify(event)]);
    } catch (err) {
      // Thrown, not returned: the caller's transaction is aborted by now and must not commit
      // the state change without its event.
      const pgErr = err as PgErrorLike;
      if (pgErr.code === '23505') {
        throw new AuditError('AUDIT_ERR_OUTBOX', `event ${event.eventId} is already in ${n.schema}.${n.table} (event ids must be unique)`, {
          cause: err,
          path: 'eventId',
        });
      }
      const hint = pgErr.code === '42P01' ? ' (run applyOutboxMigrations or `otel-audit postgres-ddl` first)' : '';
      throw new AuditError(
        'AUDIT_ERR_OUTBOX',
        `inserting event ${event.eventId} into ${n.schema}.${n.table}: ${pgErr.message ?? String(err)}${hint}`,
        {
          cause: err,
          retryable: pgErr.code !== undefined && (pgErr.code.startsWith('40') || pgErr.code.startsWith('08')),
        },
      );
    }
    return event.eventId;
  }
}

const defaultOutboxes = new Map<string, Outbox>();

/**
 * Validate and complete `event` like the SDK's `record()` (eventId UUIDv7, occurredAt, schemaVersion,
 * trace from the active span) and INSERT it into the outbox with one parameterized statement through
 * `client`, which must be inside the caller's transaction: the event commits or rolls back with the
 * state change. Resolves with the event id.
 * @throws AuditError `AUDIT_ERR_INVALID_EVENT` (field path in `path`; nothing was written, the
 * transaction is intact) or `AUDIT_ERR_OUTBOX` (the INSERT failed; the transaction is aborted).
 */
export async function recordInTransaction(
  client: OutboxQueryable,
  event: AuditEventInput,
  options: RecordInTransactionOptions = {},
): Promise<string> {
  const key = `${options.schema ?? ''}\0${options.table ?? ''}\0${options.serviceName ?? ''}`;
  let outbox = defaultOutboxes.get(key);
  if (!outbox) {
    outbox = createOutbox(options);
    // Bounded in practice (one entry per distinct location an application uses); cap it anyway.
    if (defaultOutboxes.size < 64) defaultOutboxes.set(key, outbox);
  }
  return outbox.recordInTransaction(client, event);
}
