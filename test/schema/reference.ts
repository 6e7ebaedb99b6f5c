/**
 * The validation and OTLP mapping exactly as they were before the fast path (commit 28e2c01):
 * zod for every event, and the original `logRecordToAuditEvent` with its `compact` helper and
 * closures. The equivalence test (fast-validate.test.ts) compares the production code against
 * these on thousands of generated inputs, and bench/validate.ts measures both in the same run.
 * Do not "improve" this file: its value is that it is the old behaviour, verbatim — extended only by
 * the schema 1.1 rules (any RFC 9562 id, `message` / `bodyValue` / `eventIdDerived`, the version
 * label, lenient attribute types, derived ids and default tenant), written the obvious way.
 */
import { AuditError } from '@otel-audit/core';
import {
  AUDIT_ATTR,
  type AuditEvent,
  AuditEventSchema,
  deriveEventId,
  invalidEventError,
  type JsonValue,
  type LogRecordView,
  type ValidationResult,
} from '@otel-audit/schema';

/** Render Unix nanoseconds as RFC 3339 UTC with 3, 6 or 9 fraction digits (the original code). */
export function referenceUnixNanosToIso(nanos: bigint): string {
  const NS = 1_000_000_000n;
  let seconds = nanos / NS;
  let sub = nanos % NS;
  if (sub < 0n) {
    sub += NS;
    seconds -= 1n;
  }
  const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  let frac = sub.toString().padStart(9, '0');
  if (frac.endsWith('000000')) frac = frac.slice(0, 3);
  else if (frac.endsWith('000')) frac = frac.slice(0, 6);
  return `${base}.${frac}Z`;
}

/** The original `normalizeAuditEvent`, with the 1.1 version-label rule. */
export function referenceNormalizeAuditEvent(event: AuditEvent): AuditEvent {
  const minor = Number(event.schemaVersion.split('.')[1]);
  const uses11 = event.message !== undefined || event.bodyValue !== undefined || event.eventIdDerived !== undefined;
  const schemaVersion = minor > 1 ? event.schemaVersion : minor === 1 || uses11 ? '1.1' : '1.0';
  return {
    ...event,
    eventId: event.eventId.toLowerCase(),
    schemaVersion,
    occurredAt: referenceUnixNanosToIso(referenceIsoToUnixNanos(event.occurredAt)),
    ...(event.trace ? { trace: { ...event.trace, traceFlags: event.trace.traceFlags ?? 0 } } : {}),
  };
}

/** The original `isoToUnixNanos`. */
export function referenceIsoToUnixNanos(value: string): bigint {
  const m = /^(.*?)(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/i.exec(value);
  if (!m) throw new AuditError('AUDIT_ERR_INVALID_EVENT', `not an RFC 3339 timestamp: ${value}`);
  const [, head, frac = '', zone] = m;
  const millis = Date.parse(`${head}${zone!.toUpperCase() === 'Z' ? 'Z' : zone}`);
  if (Number.isNaN(millis)) throw new AuditError('AUDIT_ERR_INVALID_EVENT', `not an RFC 3339 timestamp: ${value}`);
  const fracNanos = BigInt((frac + '000000000').slice(0, 9));
  return BigInt(millis) * 1_000_000n + fracNanos;
}

/** The original `validateAuditEvent`: zod, then `normalizeAuditEvent`. */
export function referenceValidateAuditEvent(input: unknown): ValidationResult {
  const parsed = AuditEventSchema.safeParse(input);
  if (!parsed.success) {
    const { error, issues } = invalidEventError(parsed.error.issues);
    return { ok: false, error, issues };
  }
  return { ok: true, event: referenceNormalizeAuditEvent(parsed.data) };
}

/** The original `logRecordToAuditEvent`, verbatim apart from the names of its helpers and the 1.1 rules. */
export function referenceLogRecordToAuditEvent(record: LogRecordView, options: { defaultTenantId?: string } = {}): ValidationResult {
  const attrs = record.attributes;
  const problems: Array<{ path: string[]; message: string }> = [];
  const textLike = (x: unknown) => typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x)) || typeof x === 'bigint';
  const str = (key: string): string | undefined => {
    const v = attrs[key];
    if (v === undefined || v === null) return undefined;
    if (textLike(v)) return String(v);
    problems.push({ path: [`attribute ${key}`], message: `must be a string, got ${describe(v)}` });
    return undefined;
  };
  const strArray = (key: string): string[] | undefined => {
    const v = attrs[key];
    if (v === undefined || v === null) return undefined;
    if (Array.isArray(v) && v.every(textLike)) return v.map(String);
    if (!Array.isArray(v) && textLike(v)) return [String(v)];
    problems.push({ path: [`attribute ${key}`], message: `must be an array of strings, got ${describe(v)}` });
    return undefined;
  };
  const json = (key: string): JsonValue | undefined => {
    const v = attrs[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') return toJson(v) as JsonValue;
    const text = v;
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
      problems.push({
        path: ['targets'],
        message: `${AUDIT_ATTR.targetTypes}, ${AUDIT_ATTR.targetIds} and ${AUDIT_ATTR.targetNames} must be arrays of the same length`,
      });
    } else {
      targets = types.map((type, i) => {
        const name = names?.[i];
        return name ? { type, id: ids[i]!, name } : { type, id: ids[i]! };
      });
    }
  }

  let details: JsonValue | undefined;
  let message: string | undefined;
  let bodyValue: JsonValue | undefined;
  if (record.body !== undefined && record.body !== null && record.body !== '') {
    if (typeof record.body === 'string') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(record.body);
      } catch {
        parsed = undefined;
      }
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) details = parsed as JsonValue;
      else message = record.body;
    } else if (typeof record.body === 'object' && !(record.body instanceof Uint8Array) && !Array.isArray(record.body)) {
      details = toJson(record.body) as JsonValue;
    } else {
      bodyValue = otlpJson(record.body) as JsonValue;
    }
  }
  const attrMessage = str(AUDIT_ATTR.message);
  if (attrMessage !== undefined) {
    if (message !== undefined)
      problems.push({ path: ['message'], message: `the body is text and ${AUDIT_ATTR.message} is set too; a record carries one message` });
    else message = attrMessage;
  }
  const attrBodyValue = json(AUDIT_ATTR.bodyValue);
  if (attrBodyValue !== undefined) {
    if (bodyValue !== undefined)
      problems.push({ path: ['bodyValue'], message: `the body is neither text nor a kvlist and ${AUDIT_ATTR.bodyValue} is set too` });
    else bodyValue = attrBodyValue;
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
  const eventId = str(AUDIT_ATTR.eventId);
  const flag = attrs[AUDIT_ATTR.eventIdDerived];
  let derivedFlag = false;
  if (flag === true || flag === 'true') derivedFlag = true;
  else if (!(flag === undefined || flag === null || flag === false || flag === 'false')) {
    problems.push({ path: [`attribute ${AUDIT_ATTR.eventIdDerived}`], message: `must be true or false, got ${describe(flag)}` });
  }
  const rawVersion = attrs[AUDIT_ATTR.schemaVersion];
  const schemaVersion =
    typeof rawVersion === 'number' && Number.isFinite(rawVersion)
      ? Number.isInteger(rawVersion)
        ? `${rawVersion}.0`
        : String(rawVersion)
      : str(AUDIT_ATTR.schemaVersion);

  const candidate = compact({
    eventId: eventId ?? '00000000-0000-8000-8000-000000000000',
    eventIdDerived: eventId === undefined || derivedFlag ? true : undefined,
    schemaVersion,
    occurredAt: time !== 0n ? referenceUnixNanosToIso(time) : undefined,
    action,
    outcome: str(AUDIT_ATTR.outcome),
    actor:
      compact({
        id: str(AUDIT_ATTR.actorId),
        type: str(AUDIT_ATTR.actorType),
        name: str(AUDIT_ATTR.actorName),
        authMethod: str(AUDIT_ATTR.actorAuthMethod),
        impersonatorId: str(AUDIT_ATTR.actorImpersonatorId),
      }) ?? {},
    tenant: compact({ id: str(AUDIT_ATTR.tenantId) ?? options.defaultTenantId, name: str(AUDIT_ATTR.tenantName) }) ?? {},
    targets,
    reason: str(AUDIT_ATTR.reason),
    session: sessionId === undefined ? undefined : { id: sessionId },
    request,
    changes: before === undefined && after === undefined ? undefined : compact({ before, after }),
    details,
    message,
    bodyValue,
    trace,
  });

  if (problems.length > 0) {
    const { error, issues } = invalidEventError(problems);
    return { ok: false, error, issues };
  }
  const result = referenceValidateAuditEvent(candidate);
  if (eventId !== undefined || !result.ok) return result;
  try {
    result.event.eventId = deriveEventId(result.event);
  } catch (err) {
    if (!(err instanceof AuditError)) throw err;
    const { error, issues } = invalidEventError([{ path: [], message: err.message }]);
    return { ok: false, error, issues };
  }
  return result;
}

/** The OTLP/JSON AnyValue encoding, plainly. */
function otlpJson(v: unknown): unknown {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'bigint') return { intValue: v.toString() };
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return { intValue: String(v) };
    return { doubleValue: Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v };
  }
  if (v === null || v === undefined) return {};
  if (v instanceof Uint8Array) return { bytesValue: Buffer.from(v).toString('base64') };
  if (Array.isArray(v)) return { arrayValue: { values: [...v].map(otlpJson) } };
  return { kvlistValue: { values: Object.entries(v as object).map(([key, x]) => ({ key, value: otlpJson(x) })) } };
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
