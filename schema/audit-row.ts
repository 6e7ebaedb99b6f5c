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
import { AUDIT_ATTR, OUTCOME_SEVERITY, parseJsonObjectText } from './otlp-mapping.ts';

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

/** A normalized UTC event time whose DateTime64 text can be read off it: `YYYY-MM-DDThh:mm:ss[.f{1,9}]Z`. */
const UTC_ISO = /^(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3])(:[0-5]\d:[0-5]\d)(?:\.(\d{1,9}))?Z$/;
const NINE_ZEROS = '000000000';

/** {@link nanosToDateTime64} of an RFC 3339 time: sliced from a UTC time, else computed. */
function isoToDateTime64(iso: string): string {
  const m = UTC_ISO.exec(iso);
  // Days past the 28th go the long way, which is where a day the month lacks is caught.
  if (m === null || m[1]!.charCodeAt(8) > 0x32 || (m[1]!.charCodeAt(8) === 0x32 && m[1]!.charCodeAt(9) > 0x38)) {
    return nanosToDateTime64(isoToUnixNanos(iso));
  }
  const frac = m[4] ?? '';
  return `${m[1]} ${m[2]}${m[3]}.${frac}${NINE_ZEROS.slice(frac.length)}`;
}

/** {@link nanosToDateTime64} of a decimal Unix-nanoseconds string (the WAL's `receivedAtNanos`). */
function nanosTextToDateTime64(nanos: string): string {
  // Up to 16 digits of milliseconds are exact in a double (until the year 2255 and beyond).
  if (!/^\d{7,22}$/.test(nanos)) return nanosToDateTime64(BigInt(nanos));
  const ms = Number(nanos.slice(0, -6));
  if (!Number.isSafeInteger(ms) || ms > 8.64e15) return nanosToDateTime64(BigInt(nanos));
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDThh:mm:ss.mmmZ
  if (iso.length !== 24) return nanosToDateTime64(BigInt(nanos));
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${nanos.slice(-6)}`;
}

/**
 * Build the storage row of a WAL event entry.
 *
 * This runs once per event in every exporter that writes rows (ClickHouse, the cold archive), so
 * it builds the row in one pass: `LogAttributes` holds exactly what {@link auditEventToLogRecord}
 * puts in a LogRecord's attributes (each value as its attribute string: arrays and booleans as
 * JSON), after the entry's extra attributes, without building the LogRecord; times are sliced from
 * their normalized text instead of going through BigInt nanoseconds.
 */
export function walEntryToAuditRow(entry: WalEventEntry<AuditEvent>): AuditRow {
  const row = walEntryEventColumns(entry) as AuditRow;
  row.ChainId = entry.chainId;
  row.Seq = entry.seq;
  row.PrevHash = entry.prevHash;
  row.Hash = entry.hash;
  row.ReceivedAt = nanosTextToDateTime64(entry.receivedAtNanos);
  row.ChainVersion = entry.chainVersion ?? 1;
  return row;
}

/** The columns of a row that only the ordered sequencer knows; they close the row, in this order. */
export const AUDIT_ROW_CHAIN_COLUMNS = ['ChainId', 'Seq', 'PrevHash', 'Hash', 'ReceivedAt', 'ChainVersion'] as const;

// Code that splits a row into its event and chain columns relies on the chain columns closing it.
if (AUDIT_ROW_COLUMNS.slice(-AUDIT_ROW_CHAIN_COLUMNS.length).join() !== AUDIT_ROW_CHAIN_COLUMNS.join()) {
  throw new Error('audit row columns must end with the chain columns');
}

/** One of {@link AUDIT_ROW_CHAIN_COLUMNS}. */
export type AuditRowChainColumn = (typeof AUDIT_ROW_CHAIN_COLUMNS)[number];

/** A row without its chain columns: what an event and its context alone determine. */
export type AuditRowEventPart = Omit<AuditRow, AuditRowChainColumn>;

/**
 * The event columns of a WAL event entry's row (every column but the chain columns): the part of
 * {@link walEntryToAuditRow} that needs no sequencing, which the receiver's prepare workers compute
 * before the entry has a seq or hash.
 */
export function walEntryEventColumns(
  entry: Pick<WalEventEntry<AuditEvent>, 'event' | 'resource' | 'scope' | 'extraAttributes'>,
): AuditRowEventPart {
  const e = entry.event;
  const timestamp = isoToDateTime64(e.occurredAt);
  const targets = e.targets ?? [];
  const targetTypes = targets.map((t) => t.type);
  const targetIds = targets.map((t) => t.id);
  const targetNames = targets.map((t) => t.name ?? '');
  const changesBefore = e.changes?.before === undefined ? undefined : JSON.stringify(e.changes.before);
  const changesAfter = e.changes?.after === undefined ? undefined : JSON.stringify(e.changes.after);

  // The attributes of auditEventToLogRecord, in its order, over the extra attributes.
  const a = stringMap(entry.extraAttributes);
  const set = (key: string, value: string | undefined) => {
    if (value !== undefined) a[key] = value;
  };
  a[AUDIT_ATTR.schemaVersion] = e.schemaVersion;
  a[AUDIT_ATTR.eventId] = e.eventId;
  if (e.eventIdDerived === true) a[AUDIT_ATTR.eventIdDerived] = 'true';
  a[AUDIT_ATTR.action] = e.action;
  a[AUDIT_ATTR.outcome] = e.outcome;
  a[AUDIT_ATTR.actorId] = e.actor.id;
  a[AUDIT_ATTR.actorType] = e.actor.type;
  set(AUDIT_ATTR.actorName, e.actor.name);
  set(AUDIT_ATTR.actorAuthMethod, e.actor.authMethod);
  set(AUDIT_ATTR.actorImpersonatorId, e.actor.impersonatorId);
  a[AUDIT_ATTR.tenantId] = e.tenant.id;
  set(AUDIT_ATTR.tenantName, e.tenant.name);
  if (targets.length > 0) {
    a[AUDIT_ATTR.targetTypes] = JSON.stringify(targetTypes);
    a[AUDIT_ATTR.targetIds] = JSON.stringify(targetIds);
    a[AUDIT_ATTR.targetNames] = JSON.stringify(targetNames);
  }
  set(AUDIT_ATTR.reason, e.reason);
  set(AUDIT_ATTR.sessionId, e.session?.id);
  set(AUDIT_ATTR.requestId, e.request?.id);
  set(AUDIT_ATTR.clientAddress, e.request?.ip);
  set(AUDIT_ATTR.userAgent, e.request?.userAgent);
  set(AUDIT_ATTR.httpMethod, e.request?.method);
  set(AUDIT_ATTR.urlPath, e.request?.path);
  set(AUDIT_ATTR.changesBefore, changesBefore);
  set(AUDIT_ATTR.changesAfter, changesAfter);
  // The body holds details, else a message that cannot be mistaken for details on ingest; what
  // the body cannot hold travels as an attribute (the rule of auditEventToLogRecord).
  let body = e.details === undefined ? undefined : JSON.stringify(e.details);
  if (e.message !== undefined) {
    if (body === undefined && parseJsonObjectText(e.message) === undefined) body = e.message;
    else a[AUDIT_ATTR.message] = e.message;
  }
  if (e.bodyValue !== undefined) a[AUDIT_ATTR.bodyValue] = JSON.stringify(e.bodyValue);

  const severity = OUTCOME_SEVERITY[e.outcome];
  const serviceName = entry.resource.attributes['service.name'];
  return {
    Timestamp: timestamp,
    TimestampTime: timestamp.slice(0, 19),
    TraceId: e.trace?.traceId ?? '',
    SpanId: e.trace?.spanId ?? '',
    TraceFlags: e.trace?.traceFlags ?? 0,
    SeverityText: severity.text,
    SeverityNumber: severity.number,
    ServiceName: typeof serviceName === 'string' ? serviceName : '',
    Body: body ?? '',
    ResourceSchemaUrl: entry.resource.schemaUrl,
    ResourceAttributes: stringMap(entry.resource.attributes),
    ScopeSchemaUrl: '',
    ScopeName: entry.scope.name,
    ScopeVersion: entry.scope.version,
    ScopeAttributes: {},
    LogAttributes: a,
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
    TargetTypes: targetTypes,
    TargetIds: targetIds,
    TargetNames: targetNames,
    Reason: e.reason ?? '',
    SessionId: e.session?.id ?? '',
    RequestId: e.request?.id ?? '',
    SourceIp: e.request?.ip ?? '',
    UserAgent: e.request?.userAgent ?? '',
    HttpMethod: e.request?.method ?? '',
    UrlPath: e.request?.path ?? '',
    ChangesBefore: changesBefore ?? '',
    ChangesAfter: changesAfter ?? '',
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
