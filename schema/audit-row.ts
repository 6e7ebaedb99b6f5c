/**
 * The storage row of an accepted audit event: the columns of ClickHouse `audit_events` and of the
 * cold-storage Parquet/NDJSON files, in one place so both stores hold the same columns.
 *
 * The row is a superset of the OTel Collector ClickHouse exporter's `otel_logs` columns (Timestamp,
 * TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, Resource*, Scope*,
 * LogAttributes, EventName) plus typed audit columns in the same PascalCase style.
 *
 * The mapping is lossless: {@link auditRowToEvent} rebuilds exactly the normalized event that was
 * hashed, so a verifier recomputes every hash from the stored columns and any edited column is
 * detected. That works because every optional string of the schema has `min(1)`: the empty string
 * stands for "absent" without ambiguity. JSON fields (`ChangesBefore`, `ChangesAfter`) are JSON
 * text, '' when absent. `Body` is the log record's body as the OTLP mapping writes it: the
 * `details` JSON text, else the `message` verbatim; what the body cannot hold (a message beside
 * details, `bodyValue`, `eventIdDerived`, all 1.1) is in `LogAttributes` under its `audit.*`
 * attribute key, exactly as on the wire. A 1.0 row is read as before 1.1 existed (Body = details).
 */
import type { WalEventEntry } from '@otel-audit/core';
import { type AuditEvent, isoToUnixNanos, type JsonValue, unixNanosToIso } from './audit-event.ts';
import { AUDIT_ATTR, auditEventToLogRecord, parseJsonObjectText } from './otlp-mapping.ts';

/** One row of `audit_events` (JSONEachRow-ready: DateTime64 values as 'YYYY-MM-DD hh:mm:ss.nnnnnnnnn' UTC). */
export interface AuditRow {
  Timestamp: string;
  TimestampTime: string;
  TraceId: string;
  SpanId: string;
  TraceFlags: number;
  SeverityText: string;
  SeverityNumber: number;
  ServiceName: string;
  Body: string;
  ResourceSchemaUrl: string;
  ResourceAttributes: Record<string, string>;
  ScopeSchemaUrl: string;
  ScopeName: string;
  ScopeVersion: string;
  ScopeAttributes: Record<string, string>;
  LogAttributes: Record<string, string>;
  EventName: string;
  EventId: string;
  SchemaVersion: string;
  TenantId: string;
  TenantName: string;
  Action: string;
  Outcome: string;
  ActorId: string;
  ActorType: string;
  ActorName: string;
  ActorAuthMethod: string;
  ActorImpersonatorId: string;
  /** Type of the first target ('' when none); all targets are in TargetTypes/TargetIds/TargetNames. */
  TargetType: string;
  /** Id of the first target ('' when none). */
  TargetId: string;
  TargetTypes: string[];
  TargetIds: string[];
  TargetNames: string[];
  Reason: string;
  SessionId: string;
  RequestId: string;
  SourceIp: string;
  UserAgent: string;
  HttpMethod: string;
  UrlPath: string;
  ChangesBefore: string;
  ChangesAfter: string;
  ChainId: string;
  Seq: number;
  PrevHash: string;
  Hash: string;
  ReceivedAt: string;
  /**
   * Chain format that produced `Hash` (integrity/chain-hash.ts): 1 = SHA-256(PrevHash ‖ JCS(event)),
   * 2 = SHA-256(PrevHash ‖ SHA-256(JCS(event))). Rows stored before the column existed read as 1.
   */
  ChainVersion: number;
}

/** Column names in table order (the order of {@link AuditRow}). */
export const AUDIT_ROW_COLUMNS = [
  'Timestamp',
  'TimestampTime',
  'TraceId',
  'SpanId',
  'TraceFlags',
  'SeverityText',
  'SeverityNumber',
  'ServiceName',
  'Body',
  'ResourceSchemaUrl',
  'ResourceAttributes',
  'ScopeSchemaUrl',
  'ScopeName',
  'ScopeVersion',
  'ScopeAttributes',
  'LogAttributes',
  'EventName',
  'EventId',
  'SchemaVersion',
  'TenantId',
  'TenantName',
  'Action',
  'Outcome',
  'ActorId',
  'ActorType',
  'ActorName',
  'ActorAuthMethod',
  'ActorImpersonatorId',
  'TargetType',
  'TargetId',
  'TargetTypes',
  'TargetIds',
  'TargetNames',
  'Reason',
  'SessionId',
  'RequestId',
  'SourceIp',
  'UserAgent',
  'HttpMethod',
  'UrlPath',
  'ChangesBefore',
  'ChangesAfter',
  'ChainId',
  'Seq',
  'PrevHash',
  'Hash',
  'ReceivedAt',
  'ChainVersion',
] as const satisfies ReadonlyArray<keyof AuditRow>;

/** Format Unix nanoseconds as a ClickHouse DateTime64(9) literal in UTC: `2026-11-22 10:00:00.123456789`. */
export function nanosToDateTime64(nanos: bigint): string {
  const iso = unixNanosToIso(nanos); // 2026-11-22T10:00:00.123[456[789]]Z
  const [date, rest] = iso.slice(0, -1).split('T') as [string, string];
  const [hms, frac = ''] = rest.split('.');
  return `${date} ${hms}.${frac.padEnd(9, '0')}`;
}

/** Parse a DateTime64(9) UTC literal (as written by {@link nanosToDateTime64}) back to Unix nanoseconds. */
export function dateTime64ToNanos(value: string): bigint {
  return isoToUnixNanos(`${value.replace(' ', 'T')}${value.includes('.') ? '' : '.0'}Z`);
}

function stringifyAttr(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) ?? '';
}

function stringMap(attrs: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) out[k] = stringifyAttr(v);
  return out;
}

/** Build the storage row of a WAL event entry. */
export function walEntryToAuditRow(entry: WalEventEntry<AuditEvent>): AuditRow {
  const e = entry.event;
  const record = auditEventToLogRecord(e);
  const nanos = isoToUnixNanos(e.occurredAt);
  const timestamp = nanosToDateTime64(nanos);
  const logAttributes = { ...stringMap(entry.extraAttributes), ...stringMap(record.attributes) };
  const targets = e.targets ?? [];
  const serviceName = entry.resource.attributes['service.name'];
  return {
    Timestamp: timestamp,
    TimestampTime: timestamp.slice(0, 19),
    TraceId: e.trace?.traceId ?? '',
    SpanId: e.trace?.spanId ?? '',
    TraceFlags: e.trace?.traceFlags ?? 0,
    SeverityText: record.severityText,
    SeverityNumber: record.severityNumber,
    ServiceName: typeof serviceName === 'string' ? serviceName : '',
    Body: record.body ?? '',
    ResourceSchemaUrl: entry.resource.schemaUrl,
    ResourceAttributes: stringMap(entry.resource.attributes),
    ScopeSchemaUrl: '',
    ScopeName: entry.scope.name,
    ScopeVersion: entry.scope.version,
    ScopeAttributes: {},
    LogAttributes: logAttributes,
    EventName: e.action,
    EventId: e.eventId,
    SchemaVersion: e.schemaVersion,
    TenantId: e.tenant.id,
    TenantName: e.tenant.name ?? '',
    Action: e.action,
    Outcome: e.outcome,
    ActorId: e.actor.id,
    ActorType: e.actor.type,
    ActorName: e.actor.name ?? '',
    ActorAuthMethod: e.actor.authMethod ?? '',
    ActorImpersonatorId: e.actor.impersonatorId ?? '',
    TargetType: targets[0]?.type ?? '',
    TargetId: targets[0]?.id ?? '',
    TargetTypes: targets.map((t) => t.type),
    TargetIds: targets.map((t) => t.id),
    TargetNames: targets.map((t) => t.name ?? ''),
    Reason: e.reason ?? '',
    SessionId: e.session?.id ?? '',
    RequestId: e.request?.id ?? '',
    SourceIp: e.request?.ip ?? '',
    UserAgent: e.request?.userAgent ?? '',
    HttpMethod: e.request?.method ?? '',
    UrlPath: e.request?.path ?? '',
    ChangesBefore: e.changes?.before === undefined ? '' : JSON.stringify(e.changes.before),
    ChangesAfter: e.changes?.after === undefined ? '' : JSON.stringify(e.changes.after),
    ChainId: entry.chainId,
    Seq: entry.seq,
    PrevHash: entry.prevHash,
    Hash: entry.hash,
    ReceivedAt: nanosToDateTime64(BigInt(entry.receivedAtNanos)),
    ChainVersion: entry.chainVersion ?? 1,
  };
}

/** The subset of row columns that {@link auditRowToEvent} reads. */
export type AuditRowEventColumns = Pick<
  AuditRow,
  | 'Timestamp'
  | 'TraceId'
  | 'SpanId'
  | 'TraceFlags'
  | 'Body'
  | 'EventId'
  | 'SchemaVersion'
  | 'TenantId'
  | 'TenantName'
  | 'Action'
  | 'Outcome'
  | 'ActorId'
  | 'ActorType'
  | 'ActorName'
  | 'ActorAuthMethod'
  | 'ActorImpersonatorId'
  | 'TargetTypes'
  | 'TargetIds'
  | 'TargetNames'
  | 'Reason'
  | 'SessionId'
  | 'RequestId'
  | 'SourceIp'
  | 'UserAgent'
  | 'HttpMethod'
  | 'UrlPath'
  | 'ChangesBefore'
  | 'ChangesAfter'
  | 'LogAttributes'
>;

/**
 * Rebuild the normalized event from a stored row (the inverse of {@link walEntryToAuditRow} for the
 * hashed part). The result is not validated: a verifier hashes it as it is, so an edited column
 * shows up as a hash mismatch. Malformed JSON text is kept as a string, which also mismatches.
 */
export function auditRowToEvent(row: AuditRowEventColumns): AuditEvent {
  const opt = (v: string): string | undefined => (v === '' ? undefined : v);
  const json = (v: string): JsonValue | undefined => {
    if (v === '') return undefined;
    try {
      return JSON.parse(v) as JsonValue;
    } catch {
      return v;
    }
  };
  const event: Record<string, unknown> = {
    eventId: row.EventId,
    schemaVersion: row.SchemaVersion,
    occurredAt: unixNanosToIso(dateTime64ToNanos(row.Timestamp)),
    action: row.Action,
    outcome: row.Outcome,
    actor: prune({
      id: row.ActorId,
      type: row.ActorType,
      name: opt(row.ActorName),
      authMethod: opt(row.ActorAuthMethod),
      impersonatorId: opt(row.ActorImpersonatorId),
    }),
    tenant: prune({ id: row.TenantId, name: opt(row.TenantName) }),
  };
  if (row.TargetIds.length > 0 || row.TargetTypes.length > 0) {
    event.targets = row.TargetTypes.map((type, i) => prune({ type, id: row.TargetIds[i] ?? '', name: opt(row.TargetNames[i] ?? '') }));
  }
  if (row.Reason !== '') event.reason = row.Reason;
  if (row.SessionId !== '') event.session = { id: row.SessionId };
  const request = prune({
    id: opt(row.RequestId),
    ip: opt(row.SourceIp),
    userAgent: opt(row.UserAgent),
    method: opt(row.HttpMethod),
    path: opt(row.UrlPath),
  });
  if (Object.keys(request).length > 0) event.request = request;
  const before = json(row.ChangesBefore);
  const after = json(row.ChangesAfter);
  if (before !== undefined || after !== undefined) event.changes = prune({ before, after });
  if (row.SchemaVersion === '1.0') {
    // A 1.0 event has no message: Body is its details, and malformed text stays a (mismatching) string.
    const details = json(row.Body);
    if (details !== undefined) event.details = details;
  } else {
    // The ingest rule for a text body (otlp-mapping.ts): JSON-object text is details, other text the message.
    const attrs = row.LogAttributes ?? {};
    if (attrs[AUDIT_ATTR.eventIdDerived] === 'true') event.eventIdDerived = true;
    if (row.Body !== '') {
      const details = parseJsonObjectText(row.Body);
      if (details !== undefined) event.details = details;
      else event.message = row.Body;
    }
    const message = attrs[AUDIT_ATTR.message];
    if (message !== undefined && message !== '') event.message = message;
    const bodyValue = json(attrs[AUDIT_ATTR.bodyValue] ?? '');
    if (bodyValue !== undefined) event.bodyValue = bodyValue;
  }
  if (row.TraceId !== '') event.trace = { traceId: row.TraceId, spanId: row.SpanId, traceFlags: Number(row.TraceFlags) };
  return event as AuditEvent;
}

function prune<T extends Record<string, unknown>>(obj: T): T {
  for (const k of Object.keys(obj)) if (obj[k] === undefined) delete obj[k];
  return obj;
}
