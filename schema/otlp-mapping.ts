/**
 * The mapping between an audit event and an OTLP LogRecord, used in both directions: the SDK turns
 * events into log records, the receiver turns log records back into events. docs/schema.md is the
 * human-readable form of this file; keep them in step.
 *
 * Attributes are flat keys with primitive values or homogeneous primitive arrays (the OTel common
 * attribute rules, so every collector processor and every backend keeps them intact). `details` and
 * `changes.*` travel as JSON text, which round-trips exactly (OTLP AnyValue has no JSON null).
 *
 * On ingest the mapping is lenient on cosmetic shape, because log shippers (Fluent Bit, the
 * Collector's filelog/json parsers) type values by how they looked in the source line: a number
 * where a string is expected becomes its decimal text, a single string where a string array is
 * expected becomes a one-element array, and `audit.changes.*` may be a structured value instead of
 * JSON text. Any record body is kept: JSON-object text and key/value lists are `details`, other text
 * is `message`, any other AnyValue is `bodyValue`. A record without `audit.event_id` gets an id
 * derived from its content (event-id.ts) and one without `audit.tenant.id` the caller's default.
 */

import { AuditError } from '@otel-audit/core';
import {
  type AuditEvent,
  invalidEventError,
  isoToUnixNanos,
  type JsonValue,
  unixNanosToIso,
  type ValidationResult,
  validateAuditEventWithZod,
} from './audit-event.ts';
import { canonicalJson, deriveEventIdFromCanonical, PLACEHOLDER_EVENT_ID, withoutEventId } from './event-id.ts';
import { fastValidateOwnedAuditEvent } from './fast-validate.ts';

/** Attribute keys of the mapping. `audit.schema_version` marks a record as an audit event. */
export const AUDIT_ATTR = {
  schemaVersion: 'audit.schema_version',
  eventId: 'audit.event_id',
  action: 'audit.action',
  outcome: 'audit.outcome',
  actorId: 'audit.actor.id',
  actorType: 'audit.actor.type',
  actorName: 'audit.actor.name',
  actorAuthMethod: 'audit.actor.auth_method',
  actorImpersonatorId: 'audit.actor.impersonator_id',
  tenantId: 'audit.tenant.id',
  tenantName: 'audit.tenant.name',
  targetTypes: 'audit.target.types',
  targetIds: 'audit.target.ids',
  targetNames: 'audit.target.names',
  reason: 'audit.reason',
  sessionId: 'session.id',
  requestId: 'audit.request.id',
  clientAddress: 'client.address',
  userAgent: 'user_agent.original',
  httpMethod: 'http.request.method',
  urlPath: 'url.path',
  changesBefore: 'audit.changes.before',
  changesAfter: 'audit.changes.after',
  /** `message` when the body cannot carry it (the body holds `details`, or the message is JSON-object text). Since 1.1. */
  message: 'audit.message',
  /** `bodyValue` as JSON text. Since 1.1. */
  bodyValue: 'audit.body_value',
  /** `true` when the receiver derived the event id. Since 1.1. */
  eventIdDerived: 'audit.event_id_derived',
} as const;

/** OTel severity numbers used per outcome (logs data model, SeverityNumber). */
export const OUTCOME_SEVERITY = {
  success: { number: 9, text: 'INFO' },
  failure: { number: 13, text: 'WARN' },
  denied: { number: 13, text: 'WARN' },
} as const;

/** A primitive attribute value or homogeneous array, as OTel attributes allow. */
export type AttributeValue = string | number | boolean | bigint | Array<string | number | boolean | null>;

/**
 * A transport-neutral view of one OTLP LogRecord, which the receiver's decoders produce from
 * protobuf or OTLP/JSON. Ids are lower-case hex ('' when absent); times are Unix nanoseconds.
 */
export interface LogRecordView {
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  eventName: string;
  /** Body converted to plain JS: string, number, boolean, null, array, object, Uint8Array, or undefined. */
  body: unknown;
  /** Attributes converted to plain JS values (kvlists become objects, int64 becomes number or bigint). */
  attributes: Record<string, unknown>;
  traceId: string;
  spanId: string;
  flags: number;
}

/** What the SDK hands to the OTel logs API's `logger.emit()` (a subset of api LogRecord). */
export interface AuditLogRecordFields {
  eventName: string;
  /** HrTime [seconds, nanoseconds] of `occurredAt`, so nanosecond precision survives. */
  timestamp: [number, number];
  severityNumber: number;
  severityText: string;
  body: string | undefined;
  attributes: Record<string, string | string[] | boolean>;
}

/** Options of {@link logRecordToAuditEvent}. */
export interface LogRecordMappingOptions {
  /** Tenant of a record without `audit.tenant.id` (the token's bound tenant, else the configured default). */
  defaultTenantId?: string;
  /**
   * RFC 8785 canonical JSON used to derive the id of a record without `audit.event_id`; default the
   * `canonicalize` package. The receiver passes its byte-identical faster serializer.
   */
  canonicalJson?: (event: Omit<AuditEvent, 'eventId'>) => string;
  /**
   * Derives the id of a record without `audit.event_id` from its validated, normalized event (whose
   * `eventId` is still {@link PLACEHOLDER_EVENT_ID} and must be ignored); must return what
   * `deriveEventIdFromCanonical(canonicalJson(withoutEventId(event)))` returns (event-id.ts) and
   * throw an AuditError where that throws. Takes precedence over `canonicalJson`. The receiver
   * passes one that writes the canonical bytes once and keeps them for the event's own canonical JSON.
   */
  deriveEventId?: (event: AuditEvent) => string;
}

/**
 * The JSON object a string holds, or undefined when the string is not JSON-object text (then, as
 * a body, it is a `message`). One function for both directions so they cannot disagree.
 */
export function parseJsonObjectText(text: string): Record<string, JsonValue> | undefined {
  let i = 0;
  // JSON whitespace (RFC 8259 §2): space, tab, LF, CR.
  while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  if (text[i] !== '{') return undefined;
  try {
    // Text starting with '{' parses to an object or not at all.
    return JSON.parse(text) as Record<string, JsonValue>;
  } catch {
    return undefined;
  }
}

/**
 * The OTLP/JSON encoding (proto3 JSON mapping as OTLP uses it) of a decoded AnyValue, for
 * `bodyValue`: `{"stringValue":…}`, `{"boolValue":…}`, `{"intValue":"<decimal>"}`,
 * `{"doubleValue":…}` (`"NaN"`, `"Infinity"`, `"-Infinity"` for the non-finite ones),
 * `{"bytesValue":"<base64>"}`, `{"arrayValue":{"values":[…]}}`, `{"kvlistValue":{"values":[{"key","value"}]}}`,
 * `{}` for the empty AnyValue. The decoders give numbers, not wire types, so a safe-integer number
 * is written as `intValue` (a double such as 2.0 therefore reads back as `{"intValue":"2"}`).
 */
export function anyValueToOtlpJson(value: unknown): Record<string, JsonValue> {
  switch (typeof value) {
    case 'string':
      return { stringValue: value };
    case 'boolean':
      return { boolValue: value };
    case 'bigint':
      return { intValue: value.toString() };
    case 'number':
      if (Number.isSafeInteger(value)) return { intValue: String(value) };
      if (Number.isFinite(value)) return { doubleValue: value };
      return { doubleValue: Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity' };
    default:
      break;
  }
  if (value === null || value === undefined) return {};
  if (value instanceof Uint8Array) return { bytesValue: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return { arrayValue: { values: Array.from(value, (v) => anyValueToOtlpJson(v)) } };
  if (typeof value === 'object') {
    return { kvlistValue: { values: Object.entries(value).map(([key, v]) => ({ key, value: anyValueToOtlpJson(v) })) } };
  }
  return { stringValue: String(value) };
}

/** Map a validated event to LogRecord fields (trace context is carried by the OTel Context). */
export function auditEventToLogRecord(event: AuditEvent): AuditLogRecordFields {
  const a: Record<string, string | string[] | boolean> = {};
  const set = (key: string, value: string | undefined) => {
    if (value !== undefined) a[key] = value;
  };
  set(AUDIT_ATTR.schemaVersion, event.schemaVersion);
  set(AUDIT_ATTR.eventId, event.eventId);
  if (event.eventIdDerived === true) a[AUDIT_ATTR.eventIdDerived] = true;
  set(AUDIT_ATTR.action, event.action);
  set(AUDIT_ATTR.outcome, event.outcome);
  set(AUDIT_ATTR.actorId, event.actor.id);
  set(AUDIT_ATTR.actorType, event.actor.type);
  set(AUDIT_ATTR.actorName, event.actor.name);
  set(AUDIT_ATTR.actorAuthMethod, event.actor.authMethod);
  set(AUDIT_ATTR.actorImpersonatorId, event.actor.impersonatorId);
  set(AUDIT_ATTR.tenantId, event.tenant.id);
  set(AUDIT_ATTR.tenantName, event.tenant.name);
  if (event.targets && event.targets.length > 0) {
    a[AUDIT_ATTR.targetTypes] = event.targets.map((t) => t.type);
    a[AUDIT_ATTR.targetIds] = event.targets.map((t) => t.id);
    a[AUDIT_ATTR.targetNames] = event.targets.map((t) => t.name ?? '');
  }
  set(AUDIT_ATTR.reason, event.reason);
  set(AUDIT_ATTR.sessionId, event.session?.id);
  set(AUDIT_ATTR.requestId, event.request?.id);
  set(AUDIT_ATTR.clientAddress, event.request?.ip);
  set(AUDIT_ATTR.userAgent, event.request?.userAgent);
  set(AUDIT_ATTR.httpMethod, event.request?.method);
  set(AUDIT_ATTR.urlPath, event.request?.path);
  if (event.changes?.before !== undefined) a[AUDIT_ATTR.changesBefore] = JSON.stringify(event.changes.before);
  if (event.changes?.after !== undefined) a[AUDIT_ATTR.changesAfter] = JSON.stringify(event.changes.after);
  // The body holds details (as in 1.0), else the message when it cannot be mistaken for details on
  // ingest; whatever the body cannot hold travels as an attribute.
  let body = event.details === undefined ? undefined : JSON.stringify(event.details);
  if (event.message !== undefined) {
    if (body === undefined && parseJsonObjectText(event.message) === undefined) body = event.message;
    else a[AUDIT_ATTR.message] = event.message;
  }
  if (event.bodyValue !== undefined) a[AUDIT_ATTR.bodyValue] = JSON.stringify(event.bodyValue);
  const nanos = isoToUnixNanos(event.occurredAt);
  const severity = OUTCOME_SEVERITY[event.outcome];
  return {
    eventName: event.action,
    timestamp: [Number(nanos / 1_000_000_000n), Number(nanos % 1_000_000_000n)],
    severityNumber: severity.number,
    severityText: severity.text,
    body,
    attributes: a,
  };
}

/** True when the record carries `audit.schema_version` (the classification rule). */
export function isAuditRecord(record: Pick<LogRecordView, 'attributes'>): boolean {
  return record.attributes[AUDIT_ATTR.schemaVersion] !== undefined;
}

/**
 * Rebuild and validate the audit event a LogRecord carries. The result names the failing field
 * path (event field names, e.g. `actor.id`) or the attribute that could not be read.
 * The action comes from `event_name` (falling back to `audit.action` for pre-1.5 OTLP hops that drop
 * field 12); when both are present they must agree, since a disagreement means one was altered.
 * Without `audit.tenant.id` the tenant is `options.defaultTenantId`; without `audit.event_id` the
 * id is derived from the validated content (event-id.ts) and the event says so (`eventIdDerived`).
 *
 * This runs once per ingested event, so it builds the candidate event directly (fields in schema
 * order, absent ones omitted, no intermediate objects) and hands it to the fast validator as an
 * owned object, which normalizes it in place. Attribute problems are reported in the order the
 * attributes are read below; keep that order, it decides which problem an error names first.
 */
export function logRecordToAuditEvent(record: LogRecordView, options: LogRecordMappingOptions = {}): ValidationResult {
  const attrs = record.attributes;
  const problems: Problem[] = [];

  const attrAction = readString(attrs[AUDIT_ATTR.action], AUDIT_ATTR.action, problems);
  const eventName = record.eventName;
  const action = eventName !== '' ? eventName : attrAction;
  if (attrAction !== undefined && eventName !== '' && attrAction !== eventName) {
    problems.push({ path: ['action'], message: `event_name "${eventName}" and ${AUDIT_ATTR.action} "${attrAction}" disagree` });
  }

  const types = readStringArray(attrs[AUDIT_ATTR.targetTypes], AUDIT_ATTR.targetTypes, problems);
  const ids = readStringArray(attrs[AUDIT_ATTR.targetIds], AUDIT_ATTR.targetIds, problems);
  const names = readStringArray(attrs[AUDIT_ATTR.targetNames], AUDIT_ATTR.targetNames, problems);
  let targets: unknown[] | undefined;
  if (types !== undefined || ids !== undefined) {
    if (!types || !ids || types.length !== ids.length || (names && names.length !== types.length)) {
      problems.push({
        path: ['targets'],
        message: `${AUDIT_ATTR.targetTypes}, ${AUDIT_ATTR.targetIds} and ${AUDIT_ATTR.targetNames} must be arrays of the same length`,
      });
    } else {
      targets = buildTargets(types, ids, names);
    }
  }

  // The body is always kept: JSON-object text or a kvlist is `details`, other text `message`,
  // any other AnyValue `bodyValue`.
  let details: JsonValue | undefined;
  let message: string | undefined;
  let bodyValue: JsonValue | undefined;
  const body = record.body;
  if (body !== undefined && body !== null && body !== '') {
    if (typeof body === 'string') {
      details = parseJsonObjectText(body);
      if (details === undefined) message = body;
    } else if (typeof body === 'object' && !(body instanceof Uint8Array) && !Array.isArray(body)) {
      details = toJson(body) as JsonValue;
    } else {
      bodyValue = anyValueToOtlpJson(body);
    }
  }
  const attrMessage = readString(attrs[AUDIT_ATTR.message], AUDIT_ATTR.message, problems);
  if (attrMessage !== undefined) {
    if (message !== undefined)
      problems.push({ path: ['message'], message: `the body is text and ${AUDIT_ATTR.message} is set too; a record carries one message` });
    else message = attrMessage;
  }
  const attrBodyValue = readJson(attrs[AUDIT_ATTR.bodyValue], AUDIT_ATTR.bodyValue, problems);
  if (attrBodyValue !== undefined) {
    if (bodyValue !== undefined)
      problems.push({ path: ['bodyValue'], message: `the body is neither text nor a kvlist and ${AUDIT_ATTR.bodyValue} is set too` });
    else bodyValue = attrBodyValue;
  }

  const before = readJson(attrs[AUDIT_ATTR.changesBefore], AUDIT_ATTR.changesBefore, problems);
  const after = readJson(attrs[AUDIT_ATTR.changesAfter], AUDIT_ATTR.changesAfter, problems);
  const sessionId = readString(attrs[AUDIT_ATTR.sessionId], AUDIT_ATTR.sessionId, problems);
  const requestId = readString(attrs[AUDIT_ATTR.requestId], AUDIT_ATTR.requestId, problems);
  const ip = readString(attrs[AUDIT_ATTR.clientAddress], AUDIT_ATTR.clientAddress, problems);
  const userAgent = readString(attrs[AUDIT_ATTR.userAgent], AUDIT_ATTR.userAgent, problems);
  const method = readString(attrs[AUDIT_ATTR.httpMethod], AUDIT_ATTR.httpMethod, problems);
  const path = readString(attrs[AUDIT_ATTR.urlPath], AUDIT_ATTR.urlPath, problems);
  const eventId = readString(attrs[AUDIT_ATTR.eventId], AUDIT_ATTR.eventId, problems);
  const derivedFlag = readTrue(attrs[AUDIT_ATTR.eventIdDerived], AUDIT_ATTR.eventIdDerived, problems);
  const schemaVersion = readVersion(attrs[AUDIT_ATTR.schemaVersion], problems);
  const outcome = readString(attrs[AUDIT_ATTR.outcome], AUDIT_ATTR.outcome, problems);
  const actorId = readString(attrs[AUDIT_ATTR.actorId], AUDIT_ATTR.actorId, problems);
  const actorType = readString(attrs[AUDIT_ATTR.actorType], AUDIT_ATTR.actorType, problems);
  const actorName = readString(attrs[AUDIT_ATTR.actorName], AUDIT_ATTR.actorName, problems);
  const authMethod = readString(attrs[AUDIT_ATTR.actorAuthMethod], AUDIT_ATTR.actorAuthMethod, problems);
  const impersonatorId = readString(attrs[AUDIT_ATTR.actorImpersonatorId], AUDIT_ATTR.actorImpersonatorId, problems);
  const tenantId = readString(attrs[AUDIT_ATTR.tenantId], AUDIT_ATTR.tenantId, problems) ?? options.defaultTenantId;
  const tenantName = readString(attrs[AUDIT_ATTR.tenantName], AUDIT_ATTR.tenantName, problems);
  const reason = readString(attrs[AUDIT_ATTR.reason], AUDIT_ATTR.reason, problems);
  // Before the problem check, as always: a time outside Date's range throws RangeError either way.
  const time = record.timeUnixNano !== 0n ? record.timeUnixNano : record.observedTimeUnixNano;
  const occurredAt = time !== 0n ? unixNanosToIso(time) : undefined;

  if (problems.length > 0) {
    const { error, issues } = invalidEventError(problems);
    return { ok: false, error, issues };
  }

  // The candidate, in AuditEventSchema's field order with absent fields left out (what zod's
  // output order and the owned fast path rely on).
  const derive = eventId === undefined;
  const candidate: Record<string, unknown> = {};
  candidate.eventId = derive ? PLACEHOLDER_EVENT_ID : eventId;
  if (derive || derivedFlag) candidate.eventIdDerived = true;
  if (schemaVersion !== undefined) candidate.schemaVersion = schemaVersion;
  if (occurredAt !== undefined) candidate.occurredAt = occurredAt;
  if (action !== undefined) candidate.action = action;
  if (outcome !== undefined) candidate.outcome = outcome;
  const actor: Record<string, unknown> = {};
  if (actorId !== undefined) actor.id = actorId;
  if (actorType !== undefined) actor.type = actorType;
  if (actorName !== undefined) actor.name = actorName;
  if (authMethod !== undefined) actor.authMethod = authMethod;
  if (impersonatorId !== undefined) actor.impersonatorId = impersonatorId;
  candidate.actor = actor;
  const tenant: Record<string, unknown> = {};
  if (tenantId !== undefined) tenant.id = tenantId;
  if (tenantName !== undefined) tenant.name = tenantName;
  candidate.tenant = tenant;
  if (targets !== undefined) candidate.targets = targets;
  if (reason !== undefined) candidate.reason = reason;
  if (sessionId !== undefined) candidate.session = { id: sessionId };
  if (requestId !== undefined || ip !== undefined || userAgent !== undefined || method !== undefined || path !== undefined) {
    const request: Record<string, unknown> = {};
    if (requestId !== undefined) request.id = requestId;
    if (ip !== undefined) request.ip = ip;
    if (userAgent !== undefined) request.userAgent = userAgent;
    if (method !== undefined) request.method = method;
    if (path !== undefined) request.path = path;
    candidate.request = request;
  }
  if (before !== undefined || after !== undefined) {
    const changes: Record<string, unknown> = {};
    if (before !== undefined) changes.before = before;
    if (after !== undefined) changes.after = after;
    candidate.changes = changes;
  }
  if (details !== undefined) candidate.details = details;
  if (message !== undefined) candidate.message = message;
  if (bodyValue !== undefined) candidate.bodyValue = bodyValue;
  if (record.traceId !== '' && record.spanId !== '') {
    candidate.trace = { traceId: record.traceId, spanId: record.spanId, traceFlags: record.flags & 0xff };
  }

  // Everything in the candidate was made here (strings are immutable; JSON values come from
  // JSON.parse, toJson or anyValueToOtlpJson), so the fast validator may normalize it in place
  // instead of copying.
  const fast = fastValidateOwnedAuditEvent(candidate);
  const result: ValidationResult = fast !== undefined ? { ok: true, event: fast } : validateAuditEventWithZod(candidate);
  if (!derive || !result.ok) return result;
  // The id is derived from the validated, normalized event (placeholder removed), so it is the
  // same for every copy of the record and recomputable from what is stored.
  try {
    result.event.eventId =
      options.deriveEventId !== undefined
        ? options.deriveEventId(result.event)
        : deriveEventIdFromCanonical((options.canonicalJson ?? canonicalJson)(withoutEventId(result.event)));
  } catch (err) {
    if (!(err instanceof AuditError)) throw err;
    const { error, issues } = invalidEventError([{ path: [], message: err.message }]);
    return { ok: false, error, issues };
  }
  return result;
}

/** Schema version attribute value of a record, if any (for upgrade and classification). */
export function recordSchemaVersion(record: Pick<LogRecordView, 'attributes'>): string | undefined {
  const v = record.attributes[AUDIT_ATTR.schemaVersion];
  return typeof v === 'string' ? v : undefined;
}

/** A problem found while reading attributes, before schema validation. */
interface Problem {
  path: string[];
  message: string;
}

// The readers take the attribute's value rather than (attributes, key): the property load then
// happens at each call site, where it always sees the same key and stays a monomorphic lookup,
// instead of one load site seeing every key.

/**
 * A string attribute `v` (of `key`); absent or null is undefined. A number (finite) or an int64
 * bigint is taken as its decimal text: shippers type values by how they looked in the source line.
 * Any other type is a problem.
 */
function readString(v: unknown, key: string, problems: Problem[]): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'bigint') return String(v);
  problems.push({ path: [`attribute ${key}`], message: `must be a string, got ${describe(v)}` });
  return undefined;
}

/** `audit.schema_version`: a string, or a number such as 1 or 1.1 written without quotes (1 → "1.0"). */
function readVersion(v: unknown, problems: Problem[]): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return Number.isInteger(v) ? `${v}.0` : String(v);
  return readString(v, AUDIT_ATTR.schemaVersion, problems);
}

/** A flag attribute: true or "true" is true; false, "false" or absent is false; anything else a problem. */
function readTrue(v: unknown, key: string, problems: Problem[]): boolean {
  if (v === undefined || v === null || v === false || v === 'false') return false;
  if (v === true || v === 'true') return true;
  problems.push({ path: [`attribute ${key}`], message: `must be true or false, got ${describe(v)}` });
  return false;
}

function isString(x: unknown): boolean {
  return typeof x === 'string';
}

function isStringLike(x: unknown): boolean {
  return typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x)) || typeof x === 'bigint';
}

/**
 * A string-array attribute (`every` skips holes, as it always has). A single string or number is
 * a one-element array; numbers in the array are taken as their decimal text.
 */
function readStringArray(v: unknown, key: string, problems: Problem[]): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) {
    if (v.every(isString)) return v as string[];
    if (v.every(isStringLike)) return v.map(String);
  } else if (isStringLike(v)) {
    return [String(v)];
  }
  problems.push({ path: [`attribute ${key}`], message: `must be an array of strings, got ${describe(v)}` });
  return undefined;
}

/**
 * A JSON-text attribute, parsed. A structured value (kvlist, array, number, bool) is taken as the
 * JSON value itself, as a shipper's JSON parser produces it.
 */
function readJson(v: unknown, key: string, problems: Problem[]): JsonValue | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return toJson(v) as JsonValue;
  try {
    return JSON.parse(v) as JsonValue;
  } catch {
    problems.push({ path: [`attribute ${key}`], message: 'must be JSON text' });
    return undefined;
  }
}

/** Targets from the parallel arrays; an empty name means none. Holes stay holes (`map` semantics). */
function buildTargets(types: string[], ids: string[], names: string[] | undefined): unknown[] {
  const n = types.length;
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    if (!(i in types)) continue;
    const type = types[i]!;
    const name = names?.[i];
    out[i] = name ? { type, id: ids[i]!, name } : { type, id: ids[i]! };
  }
  return out;
}

function toJson(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  }
  return value;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v;
}
