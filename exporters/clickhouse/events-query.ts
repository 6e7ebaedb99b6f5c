/**
 * The query behind `GET /v1/audit/events`: one tenant's events, newest first, filtered, with an
 * opaque cursor for stable paging over (Timestamp, EventId) — the table's sort order within a
 * tenant, so every page is a range read. Every value is a `{name:Type}` query parameter; the only
 * text spliced into the SQL is the validated database and table names.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { AuditError, type OperationResult } from '@otel-audit/core';
import { type AuditEvent, isoToUnixNanos } from '@otel-audit/schema';
import { AUDIT_ROW_COLUMNS, type AuditRow, auditRowToEvent } from '@otel-audit/schema/audit-row';
import { IDENTIFIER } from './config.ts';
import { quoteIdentifier } from './ddl.ts';
import { classifyClickHouseError } from './errors.ts';

/** Default and maximum page size. */
export const EVENTS_PAGE = { defaultLimit: 50, maxLimit: 1000 } as const;

/** Filters of {@link listAuditEvents}. `tenantId` is required: a caller only ever sees one tenant. */
export interface AuditEventFilters {
  tenantId: string;
  actorId?: string;
  action?: string;
  outcome?: string;
  /** Matches any of the event's targets (with `targetType`: a target with both). */
  targetId?: string;
  /** Matches any of the event's targets (with `targetId`: a target with both). */
  targetType?: string;
  /** Case-insensitive substring of the details (`Body`, JSON text) or the reason. */
  text?: string;
  /** RFC 3339, inclusive. */
  since?: string;
  /** RFC 3339, exclusive. */
  until?: string;
  /** Page size, default 50, at most 1000. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** URL query parameters of the events API and the console's export, and the filter each sets. */
export const EVENT_FILTER_PARAMS = {
  tenant: 'tenantId',
  actor: 'actorId',
  action: 'action',
  outcome: 'outcome',
  target: 'targetId',
  targetType: 'targetType',
  text: 'text',
  since: 'since',
  until: 'until',
  cursor: 'cursor',
} as const satisfies Record<string, keyof AuditEventFilters>;

/**
 * Read {@link EVENT_FILTER_PARAMS} from a URL query (empty values ignored). `other` lists the
 * parameters the caller reads itself (e.g. `limit`, `format`); `withCursor: false` refuses `cursor`.
 * Any other parameter is returned in `unknown`, so the caller answers 400 naming it.
 */
export function readEventFilterParams(
  params: URLSearchParams,
  options: { other: readonly string[]; withCursor: boolean },
): { filters: Partial<Record<keyof AuditEventFilters, string>>; unknown: string[] } {
  const filters: Partial<Record<keyof AuditEventFilters, string>> = {};
  const known = (k: string): boolean => k in EVENT_FILTER_PARAMS && (options.withCursor || k !== 'cursor');
  for (const [param, key] of Object.entries(EVENT_FILTER_PARAMS)) {
    if (!known(param)) continue;
    const value = params.get(param);
    if (value !== null && value !== '') filters[key] = value;
  }
  const unknown = [...params.keys()].filter((k) => !known(k) && !options.other.includes(k));
  return { filters, unknown };
}

/** Where the events live. */
export interface EventsTable {
  database: string;
  table: string;
}

/** One event of a page, with its place in the hash chain. */
export interface AuditEventRecord {
  event: AuditEvent;
  chainId: string;
  seq: number;
  prevHash: string;
  hash: string;
  /** Chain format of `hash` (1 or 2, docs/integrity.md). */
  chainVersion: number;
  /** Receiver clock when accepted, `YYYY-MM-DD hh:mm:ss.nnnnnnnnn` UTC. */
  receivedAt: string;
}

/** A page of events. `nextCursor` is absent on the last page. */
export interface AuditEventPage {
  events: AuditEventRecord[];
  nextCursor?: string;
}

interface CursorState {
  v: 1;
  tenant: string;
  /** Timestamp of the last row, Unix nanoseconds as a decimal string. */
  ts: string;
  id: string;
}

function encodeCursor(c: CursorState): string {
  return Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
}

function decodeCursor(text: string, tenantId: string): CursorState {
  let c: Partial<CursorState>;
  try {
    c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<CursorState>;
  } catch {
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'cursor is not valid', { path: 'cursor' });
  }
  if (c.v !== 1 || typeof c.ts !== 'string' || !/^\d{1,20}$/.test(c.ts) || typeof c.id !== 'string' || typeof c.tenant !== 'string') {
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'cursor is not valid', { path: 'cursor' });
  }
  // A cursor is bound to its tenant, so it cannot be replayed against another tenant's listing.
  if (c.tenant !== tenantId) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'cursor belongs to another tenant', { path: 'cursor' });
  return c as CursorState;
}

function nanosParam(value: string, path: string): string {
  try {
    return isoToUnixNanos(value).toString();
  } catch {
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `${path} must be an RFC 3339 timestamp, got "${value.slice(0, 64)}"`, { path });
  }
}

/** The SQL and parameters of one page (exported for tests and for EXPLAIN). */
export function buildEventsQuery(table: EventsTable, filters: AuditEventFilters): { sql: string; params: Record<string, string | number> } {
  if (!IDENTIFIER.test(table.database) || !IDENTIFIER.test(table.table)) {
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'database and table must be plain identifiers');
  }
  if (typeof filters.tenantId !== 'string' || filters.tenantId === '')
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'tenantId is required', { path: 'tenantId' });
  const limit = filters.limit ?? EVENTS_PAGE.defaultLimit;
  if (!Number.isInteger(limit) || limit < 1 || limit > EVENTS_PAGE.maxLimit) {
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `limit must be an integer from 1 to ${EVENTS_PAGE.maxLimit}`, { path: 'limit' });
  }
  const where = ['TenantId = {tenant:String}'];
  const params: Record<string, string | number> = { tenant: filters.tenantId, limit: limit + 1 };
  const eq = (column: string, name: string, value: string | undefined) => {
    if (value === undefined) return;
    where.push(`${column} = {${name}:String}`);
    params[name] = value;
  };
  eq('ActorId', 'actor', filters.actorId);
  eq('Action', 'action', filters.action);
  eq('Outcome', 'outcome', filters.outcome);
  if (filters.targetId !== undefined && filters.targetType !== undefined) {
    // Both must hold for the same target: pair the parallel arrays.
    where.push('arrayExists((t, i) -> t = {targetType:String} AND i = {target:String}, TargetTypes, TargetIds)');
    params.target = filters.targetId;
    params.targetType = filters.targetType;
  } else if (filters.targetId !== undefined) {
    where.push('has(TargetIds, {target:String})');
    params.target = filters.targetId;
  } else if (filters.targetType !== undefined) {
    where.push('has(TargetTypes, {targetType:String})');
    params.targetType = filters.targetType;
  }
  if (filters.text !== undefined) {
    if (typeof filters.text !== 'string' || filters.text.length > 1000)
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'text must be a string of at most 1000 characters', { path: 'text' });
    where.push('(positionCaseInsensitiveUTF8(Body, {text:String}) > 0 OR positionCaseInsensitiveUTF8(Reason, {text:String}) > 0)');
    params.text = filters.text;
  }
  if (filters.since !== undefined) {
    where.push("Timestamp >= fromUnixTimestamp64Nano({since:Int64}, 'UTC')");
    params.since = nanosParam(filters.since, 'since');
  }
  if (filters.until !== undefined) {
    where.push("Timestamp < fromUnixTimestamp64Nano({until:Int64}, 'UTC')");
    params.until = nanosParam(filters.until, 'until');
  }
  if (filters.cursor !== undefined) {
    const c = decodeCursor(filters.cursor, filters.tenantId);
    where.push("(Timestamp, EventId) < (fromUnixTimestamp64Nano({cursorTs:Int64}, 'UTC'), {cursorId:String})");
    params.cursorTs = c.ts;
    params.cursorId = c.id;
  }
  const sql =
    `SELECT ${AUDIT_ROW_COLUMNS.join(', ')} FROM ${quoteIdentifier(table.database)}.${quoteIdentifier(table.table)}\n` +
    `WHERE ${where.join('\n  AND ')}\n` +
    'ORDER BY Timestamp DESC, EventId DESC\n' +
    // Until ReplacingMergeTree merges a replayed copy, the same event can be stored twice.
    'LIMIT 1 BY EventId\n' +
    'LIMIT {limit:UInt32}';
  return { sql, params };
}

/** Convert a stored row into the API record. */
export function rowToEventRecord(row: AuditRow): AuditEventRecord {
  return {
    event: auditRowToEvent(row),
    chainId: row.ChainId,
    seq: Number(row.Seq),
    prevHash: row.PrevHash,
    hash: row.Hash,
    chainVersion: Number(row.ChainVersion ?? 1),
    receivedAt: row.ReceivedAt,
  };
}

/**
 * List one tenant's events, newest first. Invalid filters are `failure` with
 * `AUDIT_ERR_INVALID_ARGUMENT` naming the filter; an unreachable store is `retryable`.
 */
export async function listAuditEvents(
  client: ClickHouseClient,
  filters: AuditEventFilters,
  table: EventsTable = { database: 'otel_audit', table: 'audit_events' },
): Promise<OperationResult<AuditEventPage>> {
  let query: { sql: string; params: Record<string, string | number> };
  try {
    query = buildEventsQuery(table, filters);
  } catch (err) {
    return { status: 'failure', error: err as AuditError };
  }
  const limit = filters.limit ?? EVENTS_PAGE.defaultLimit;
  try {
    const rs = await client.query({ query: query.sql, query_params: query.params, format: 'JSONEachRow' });
    const rows = await rs.json<AuditRow>();
    const page = rows.slice(0, limit);
    const events = page.map(rowToEventRecord);
    const last = page[page.length - 1];
    if (rows.length > limit && last !== undefined) {
      const ts = isoToUnixNanos(`${last.Timestamp.replace(' ', 'T')}Z`).toString();
      return { status: 'success', value: { events, nextCursor: encodeCursor({ v: 1, tenant: filters.tenantId, ts, id: last.EventId }) } };
    }
    return { status: 'success', value: { events } };
  } catch (err) {
    const c = classifyClickHouseError(err, 'listing audit events', 'AUDIT_ERR_QUERY_FAILED');
    return c.retryable ? { status: 'retryable', error: c.error } : { status: 'failure', error: c.error };
  }
}
