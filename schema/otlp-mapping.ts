/**
 * The mapping between an audit event and an OTLP LogRecord, used in both directions: the SDK turns
 * events into log records, the receiver turns log records back into events. docs/schema.md is the
 * human-readable form of this file; keep them in step.
 *
 * Attributes are flat keys with primitive values or homogeneous primitive arrays (the OTel common
 * attribute rules, so every collector processor and every backend keeps them intact). `details` and
 * `changes.*` travel as JSON text, which round-trips exactly (OTLP AnyValue has no JSON null).
 */
import {
  type AuditEvent,
  type JsonValue,
  type ValidationResult,
  invalidEventError,
  isoToUnixNanos,
  unixNanosToIso,
  validateAuditEvent,
} from './audit-event.ts';

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
  attributes: Record<string, string | string[]>;
}

/** Map a validated event to LogRecord fields (trace context is carried by the OTel Context). */
export function auditEventToLogRecord(event: AuditEvent): AuditLogRecordFields {
  const a: Record<string, string | string[]> = {};
  const set = (key: string, value: string | undefined) => {
    if (value !== undefined) a[key] = value;
  };
  set(AUDIT_ATTR.schemaVersion, event.schemaVersion);
  set(AUDIT_ATTR.eventId, event.eventId);
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
  const nanos = isoToUnixNanos(event.occurredAt);
  const severity = OUTCOME_SEVERITY[event.outcome];
  return {
    eventName: event.action,
    timestamp: [Number(nanos / 1_000_000_000n), Number(nanos % 1_000_000_000n)],
    severityNumber: severity.number,
    severityText: severity.text,
    body: event.details === undefined ? undefined : JSON.stringify(event.details),
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
 */
export function logRecordToAuditEvent(record: LogRecordView): ValidationResult {
  const attrs = record.attributes;
  const problems: Array<{ path: string[]; message: string }> = [];
  const str = (key: string): string | undefined => {
    const v = attrs[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    problems.push({ path: [`attribute ${key}`], message: `must be a string, got ${describe(v)}` });
    return undefined;
  };
  const strArray = (key: string): string[] | undefined => {
    const v = attrs[key];
    if (v === undefined || v === null) return undefined;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    problems.push({ path: [`attribute ${key}`], message: `must be an array of strings, got ${describe(v)}` });
    return undefined;
  };
  const json = (key: string): JsonValue | undefined => {
    const text = str(key);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as JsonValue;
    } catch {
      problems.push({ path: [`attribute ${key}`], message: 'must be JSON text' });
      return undefined;
    }
  };

  const attrAction = str(AUDIT_ATTR.action);
  const action = record.eventName !== '' ? record.eventName : attrAction;
  if (attrAction !== undefined && record.eventName !== '' && attrAction !== record.eventName) {
    problems.push({ path: ['action'], message: `event_name "${record.eventName}" and ${AUDIT_ATTR.action} "${attrAction}" disagree` });
  }

  const types = strArray(AUDIT_ATTR.targetTypes);
  const ids = strArray(AUDIT_ATTR.targetIds);
  const names = strArray(AUDIT_ATTR.targetNames);
  let targets: AuditEvent['targets'];
  if (types !== undefined || ids !== undefined) {
    if (!types || !ids || types.length !== ids.length || (names && names.length !== types.length)) {
      problems.push({ path: ['targets'], message: `${AUDIT_ATTR.targetTypes}, ${AUDIT_ATTR.targetIds} and ${AUDIT_ATTR.targetNames} must be arrays of the same length` });
    } else {
      targets = types.map((type, i) => {
        const name = names?.[i];
        return name ? { type, id: ids[i]!, name } : { type, id: ids[i]! };
      });
    }
  }

  let details: JsonValue | undefined;
  if (record.body !== undefined && record.body !== null && record.body !== '') {
    if (typeof record.body === 'string') {
      try {
        details = JSON.parse(record.body) as JsonValue;
      } catch {
        problems.push({ path: ['details'], message: 'body must be JSON text (or a kvlist) holding the details object' });
      }
    } else if (typeof record.body === 'object' && !(record.body instanceof Uint8Array) && !Array.isArray(record.body)) {
      details = toJson(record.body) as JsonValue;
    } else {
      problems.push({ path: ['details'], message: `body must be JSON text or a kvlist, got ${describe(record.body)}` });
    }
  }

  const before = json(AUDIT_ATTR.changesBefore);
  const after = json(AUDIT_ATTR.changesAfter);
  const sessionId = str(AUDIT_ATTR.sessionId);
  const request = compact({
    id: str(AUDIT_ATTR.requestId),
    ip: str(AUDIT_ATTR.clientAddress),
    userAgent: str(AUDIT_ATTR.userAgent),
    method: str(AUDIT_ATTR.httpMethod),
    path: str(AUDIT_ATTR.urlPath),
  });
  const trace =
    record.traceId !== '' && record.spanId !== ''
      ? compact({ traceId: record.traceId, spanId: record.spanId, traceFlags: record.flags & 0xff })
      : undefined;
  const time = record.timeUnixNano !== 0n ? record.timeUnixNano : record.observedTimeUnixNano;

  const candidate = compact({
    eventId: str(AUDIT_ATTR.eventId),
    schemaVersion: str(AUDIT_ATTR.schemaVersion),
    occurredAt: time !== 0n ? unixNanosToIso(time) : undefined,
    action,
    outcome: str(AUDIT_ATTR.outcome),
    actor: compact({
      id: str(AUDIT_ATTR.actorId),
      type: str(AUDIT_ATTR.actorType),
      name: str(AUDIT_ATTR.actorName),
      authMethod: str(AUDIT_ATTR.actorAuthMethod),
      impersonatorId: str(AUDIT_ATTR.actorImpersonatorId),
    }) ?? {},
    tenant: compact({ id: str(AUDIT_ATTR.tenantId), name: str(AUDIT_ATTR.tenantName) }) ?? {},
    targets,
    reason: str(AUDIT_ATTR.reason),
    session: sessionId === undefined ? undefined : { id: sessionId },
    request,
    changes: before === undefined && after === undefined ? undefined : compact({ before, after }),
    details,
    trace,
  });

  if (problems.length > 0) {
    const { error, issues } = invalidEventError(problems);
    return { ok: false, error, issues };
  }
  return validateAuditEvent(candidate);
}

/** Schema version attribute value of a record, if any (for upgrade and classification). */
export function recordSchemaVersion(record: Pick<LogRecordView, 'attributes'>): string | undefined {
  const v = record.attributes[AUDIT_ATTR.schemaVersion];
  return typeof v === 'string' ? v : undefined;
}

function compact<T extends Record<string, unknown>>(obj: T): T | undefined {
  const out: Record<string, unknown> = {};
  let any = false;
  for (const [k, v] of Object.entries(obj)) {
    if (v !== undefined) {
      out[k] = v;
      any = true;
    }
  }
  return any ? (out as T) : undefined;
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
