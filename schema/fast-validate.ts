/**
 * A hand-written validator for complete audit events: exactly the rules of `AuditEventSchema`
 * (audit-event.ts), several times cheaper than zod and without zod's per-field allocations. It is
 * the receiver's hot path (every ingested event) and the SDK's (every recorded event); profiles put
 * zod at a quarter of the ingest CPU plus much of the GC (docs/decisions.md, "Fast validation").
 *
 * The contract is one-sided on purpose: when the fast path says "valid", zod would have said valid
 * and produced the same normalized event; otherwise the caller asks zod, which keeps every error
 * message and issue path exactly as before (errors are rare, so their cost does not matter).
 * Inputs the fast path does not model (class instances and other non-plain objects, `__proto__`
 * keys, symbol keys, JSON nested deeper than {@link MAX_JSON_DEPTH}, an `Object.prototype` with
 * enumerable properties) are "unsure" and also go to zod, so their behaviour is zod's by
 * construction. test/schema/fast-validate.test.ts checks the equivalence on generated inputs.
 *
 * zod semantics reproduced here (zod 4.6; re-check on a zod upgrade, the test pins the regexes):
 *   - strict objects: any `typeof 'object'` non-array; unknown keys are those `for…in` yields;
 *     optional fields accept `undefined`; a present-but-undefined optional key stays in the output.
 *   - string min/max lengths count Unicode code points (a surrogate pair is one, a lone surrogate one).
 *   - `z.number()` refuses NaN and ±Infinity; `.int()` is `Number.isInteger`.
 *   - records (`details`, nested JSON objects) need a plain object, read own enumerable keys and
 *     drop (without checking) a `__proto__` key; arrays are read by index, so holes are `undefined`.
 *   - `z.iso.datetime({ offset: true })`, `z.ipv4()`: zod's regexes, copied below.
 *   - `z.ipv6()`: zod ignores its regex and asks the WHATWG URL parser (`URL.canParse('http://[…]')`)
 *     after an alphabet check; so do we.
 *   - the 64 KiB limits are measured on zod's output, `Buffer.byteLength(JSON.stringify(value))`;
 *     for the plain inputs accepted here that is the input's serialization.
 */
import {
  ACTION_PATTERN,
  ALL_ZEROS,
  AUDIT_EVENT_LIMITS,
  type AuditEvent,
  normalizedSchemaVersion,
  SCHEMA_VERSION_PATTERN,
  SPAN_ID_PATTERN,
  TRACE_ID_PATTERN,
  toUtcIso,
  UUID_PATTERN,
} from './audit-event.ts';

// Module-level bindings of audit-event.ts are read inside functions only: the two modules import
// each other, and at evaluation time the other's constants may not be initialized yet.

/** zod 4.6 `z.iso.datetime({ offset: true })` (regexes.datetime): leap-year-aware date, seconds required, any number of fraction digits, `Z` or `±hh:mm`. */
export const ZOD_DATETIME_OFFSET =
  /^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d)))$/;
/** zod 4.6 `z.ipv4()` (regexes.ipv4): dotted quad, no leading zeros. */
export const ZOD_IPV4 =
  /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$/;
/** zod 4.6 `z.ipv6()`: the characters an IPv6 literal may use, checked before the URL parser. */
const IPV6_ALPHABET = /^[0-9a-fA-F:.]+$/;

/**
 * JSON nesting the fast path walks (recursively). Deeper values go to zod, which is what decides
 * them today, including its own behaviour at extreme depth.
 */
export const MAX_JSON_DEPTH = 64;

/** Verdict of {@link checkAuditEvent}. */
export type FastVerdict = 'valid' | 'invalid' | 'unsure';

const VALID = 0;
const INVALID = 1;
const UNSURE = 2;
type Code = typeof VALID | typeof INVALID | typeof UNSURE;

// JSON walk results: a non-negative number is an upper bound of the value's serialized UTF-8
// size, these two are verdicts.
const J_INVALID = -1;
const J_UNSURE = -2;
// Upper bounds used by the walk: JSON.stringify writes at most 6 bytes per UTF-16 unit of a string
// (`\u001f`, a lone surrogate's `\udc00`; a pair is 4 bytes for 2 units, BMP text ≤ 3), at most
// 25 characters for a finite number (`-0.0000012345678901234567`), `false` is the longest literal.
const BYTES_PER_UNIT = 6;
const NUMBER_BYTES = 32;

const EMPTY: object = {};

/**
 * Check an event against the schema's rules: `valid` means zod accepts it; `invalid` means zod
 * refuses it; `unsure` means the input is outside what this validator models and zod must decide.
 * For the equivalence test and diagnostics; the hot path uses {@link fastValidateAuditEvent}.
 */
export function checkAuditEvent(input: unknown): FastVerdict {
  const c = checkEvent(input, true);
  return c === VALID ? 'valid' : c === INVALID ? 'invalid' : 'unsure';
}

/**
 * The normalized event (as `normalizeAuditEvent(AuditEventSchema.parse(input))` would return it:
 * a fresh copy, fields in schema order) when `input` is valid; `undefined` when it is invalid or
 * when zod must decide (see the module comment). Never throws.
 */
export function fastValidateAuditEvent(input: unknown): AuditEvent | undefined {
  if (checkEvent(input, true) !== VALID) return undefined;
  return buildNormalized(input as Record<string, unknown>);
}

/**
 * {@link fastValidateAuditEvent} for an event object the caller built and owns (the OTLP mapping):
 * on success the candidate itself is normalized in place and returned, sharing its nested objects,
 * instead of being copied. The candidate must be a plain object with its fields in schema order, no
 * keys whose value is `undefined`, nested objects (actor, targets, …) in schema order likewise, and
 * nothing else may hold references to it: then the result equals zod's output exactly.
 * JSON values from `JSON.parse` qualify (no symbol keys; `__proto__` keys are detected).
 */
export function fastValidateOwnedAuditEvent(candidate: Record<string, unknown>): AuditEvent | undefined {
  if (checkEvent(candidate, false) !== VALID) return undefined;
  candidate.eventId = (candidate.eventId as string).toLowerCase();
  candidate.schemaVersion = normalizedSchemaVersion(candidate.schemaVersion as string, candidate);
  candidate.occurredAt = utcIso(candidate.occurredAt as string);
  const trace = candidate.trace as Record<string, unknown> | undefined;
  // normalizeAuditEvent rebuilds trace as { ...trace, traceFlags: traceFlags ?? 0 }: the same
  // object when traceFlags is already there (it is last in schema order).
  if (trace !== undefined && trace.traceFlags === undefined)
    candidate.trace = { traceId: trace.traceId, spanId: trace.spanId, traceFlags: 0 };
  return candidate as unknown as AuditEvent;
}

// ---------------------------------------------------------------------------------------------
// Checking

function checkEvent(input: unknown, foreign: boolean): Code {
  if (!isObject(input)) return INVALID;
  if (!isPlainProto(input)) return UNSURE;
  // An enumerable property on Object.prototype would show up in every `for…in` below, where zod's
  // record walk (own keys) would not see it. Never the case in practice; then zod decides.
  for (const _ in EMPTY) return UNSURE;
  const o = input as Record<string, unknown>;
  for (const k in o) if (!isEventKey(k)) return INVALID;

  const L = AUDIT_EVENT_LIMITS;
  let v = o.eventId;
  if (typeof v !== 'string' || !UUID_PATTERN.test(v)) return INVALID;
  v = o.eventIdDerived;
  if (v !== undefined && v !== true) return INVALID;
  v = o.schemaVersion;
  if (typeof v !== 'string' || !SCHEMA_VERSION_PATTERN.test(v)) return INVALID;
  v = o.occurredAt;
  if (typeof v !== 'string' || !ZOD_DATETIME_OFFSET.test(v)) return INVALID;
  v = o.action;
  // The pattern admits ASCII only, so code points = UTF-16 units here.
  if (typeof v !== 'string' || v.length > L.maxActionLength || !ACTION_PATTERN.test(v)) return INVALID;
  v = o.outcome;
  if (v !== 'success' && v !== 'failure' && v !== 'denied') return INVALID;

  let unsure = false;
  let c = checkActor(o.actor);
  if (c === INVALID) return INVALID;
  if (c === UNSURE) unsure = true;
  c = checkTenant(o.tenant);
  if (c === INVALID) return INVALID;
  if (c === UNSURE) unsure = true;
  v = o.targets;
  if (v !== undefined) {
    if (!Array.isArray(v) || v.length > L.maxTargets) return INVALID;
    for (let i = 0; i < v.length; i++) {
      c = checkTarget(v[i]);
      if (c === INVALID) return INVALID;
      if (c === UNSURE) unsure = true;
    }
  }
  v = o.reason;
  if (v !== undefined && !isText(v, L.maxTextLength)) return INVALID;
  v = o.session;
  if (v !== undefined) {
    c = checkSession(v);
    if (c === INVALID) return INVALID;
    if (c === UNSURE) unsure = true;
  }
  v = o.request;
  if (v !== undefined) {
    c = checkRequest(v);
    if (c === INVALID) return INVALID;
    if (c === UNSURE) unsure = true;
  }
  v = o.changes;
  if (v !== undefined) {
    c = checkChanges(v, foreign);
    if (c === INVALID) return INVALID;
    if (c === UNSURE) unsure = true;
  }
  v = o.details;
  if (v !== undefined) {
    // DetailsSchema is a record: a plain object (not an array, not null).
    if (!isObject(v)) return INVALID;
    const b = recordBound(v, 0, foreign);
    if (b === J_INVALID) return INVALID;
    if (b === J_UNSURE) unsure = true;
    else if (b > L.maxJsonBytes && utf8JsonBytes(v) > L.maxJsonBytes) return INVALID;
  }
  v = o.message;
  if (v !== undefined && !isText(v, L.maxMessageLength)) return INVALID;
  v = o.bodyValue;
  if (v !== undefined) {
    // BodyValueSchema is a record like DetailsSchema.
    if (!isObject(v)) return INVALID;
    const b = recordBound(v, 0, foreign);
    if (b === J_INVALID) return INVALID;
    if (b === J_UNSURE) unsure = true;
    else if (b > L.maxJsonBytes && utf8JsonBytes(v) > L.maxJsonBytes) return INVALID;
  }
  v = o.trace;
  if (v !== undefined) {
    c = checkTrace(v);
    if (c === INVALID) return INVALID;
    if (c === UNSURE) unsure = true;
  }
  return unsure ? UNSURE : VALID;
}

function isEventKey(k: string): boolean {
  switch (k) {
    case 'eventId':
    case 'eventIdDerived':
    case 'schemaVersion':
    case 'occurredAt':
    case 'action':
    case 'outcome':
    case 'actor':
    case 'tenant':
    case 'targets':
    case 'reason':
    case 'session':
    case 'request':
    case 'changes':
    case 'details':
    case 'message':
    case 'bodyValue':
    case 'trace':
      return true;
    default:
      return false;
  }
}

function checkActor(v: unknown): Code {
  if (!isObject(v)) return INVALID;
  if (!isPlainProto(v)) return UNSURE;
  const a = v as Record<string, unknown>;
  for (const k in a) {
    if (k !== 'id' && k !== 'type' && k !== 'name' && k !== 'authMethod' && k !== 'impersonatorId') return INVALID;
  }
  if (!isId(a.id)) return INVALID;
  const t = a.type;
  if (t !== 'user' && t !== 'service' && t !== 'api_token' && t !== 'system' && t !== 'anonymous') return INVALID;
  let x = a.name;
  if (x !== undefined && !isShort(x)) return INVALID;
  x = a.authMethod;
  if (x !== undefined && !isShort(x)) return INVALID;
  x = a.impersonatorId;
  if (x !== undefined && !isId(x)) return INVALID;
  return VALID;
}

function checkTenant(v: unknown): Code {
  if (!isObject(v)) return INVALID;
  if (!isPlainProto(v)) return UNSURE;
  const t = v as Record<string, unknown>;
  for (const k in t) if (k !== 'id' && k !== 'name') return INVALID;
  if (!isId(t.id)) return INVALID;
  const x = t.name;
  if (x !== undefined && !isShort(x)) return INVALID;
  return VALID;
}

function checkTarget(v: unknown): Code {
  if (!isObject(v)) return INVALID;
  if (!isPlainProto(v)) return UNSURE;
  const t = v as Record<string, unknown>;
  for (const k in t) if (k !== 'type' && k !== 'id' && k !== 'name') return INVALID;
  if (!isShort(t.type) || !isId(t.id)) return INVALID;
  const x = t.name;
  if (x !== undefined && !isShort(x)) return INVALID;
  return VALID;
}

function checkSession(v: unknown): Code {
  if (!isObject(v)) return INVALID;
  if (!isPlainProto(v)) return UNSURE;
  const s = v as Record<string, unknown>;
  for (const k in s) if (k !== 'id') return INVALID;
  return isId(s.id) ? VALID : INVALID;
}

function checkRequest(v: unknown): Code {
  if (!isObject(v)) return INVALID;
  if (!isPlainProto(v)) return UNSURE;
  const r = v as Record<string, unknown>;
  for (const k in r) {
    if (k !== 'id' && k !== 'ip' && k !== 'userAgent' && k !== 'method' && k !== 'path') return INVALID;
  }
  let x = r.id;
  if (x !== undefined && !isId(x)) return INVALID;
  x = r.ip;
  if (x !== undefined && (typeof x !== 'string' || !(ZOD_IPV4.test(x) || isZodIpv6(x)))) return INVALID;
  x = r.userAgent;
  if (x !== undefined && !isText(x, AUDIT_EVENT_LIMITS.maxTextLength)) return INVALID;
  x = r.method;
  if (x !== undefined && !isText(x, 32)) return INVALID;
  x = r.path;
  if (x !== undefined && !isShort(x)) return INVALID;
  return VALID;
}

function checkTrace(v: unknown): Code {
  if (!isObject(v)) return INVALID;
  if (!isPlainProto(v)) return UNSURE;
  const t = v as Record<string, unknown>;
  for (const k in t) if (k !== 'traceId' && k !== 'spanId' && k !== 'traceFlags') return INVALID;
  let x = t.traceId;
  if (typeof x !== 'string' || !TRACE_ID_PATTERN.test(x) || ALL_ZEROS.test(x)) return INVALID;
  x = t.spanId;
  if (typeof x !== 'string' || !SPAN_ID_PATTERN.test(x) || ALL_ZEROS.test(x)) return INVALID;
  x = t.traceFlags;
  if (x !== undefined && (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 255)) return INVALID;
  return VALID;
}

function checkChanges(v: unknown, foreign: boolean): Code {
  if (!isObject(v)) return INVALID;
  if (!isPlainProto(v)) return UNSURE;
  const ch = v as Record<string, unknown>;
  for (const k in ch) if (k !== 'before' && k !== 'after') return INVALID;
  // Bound of `{"before":…,"after":…}`; 32 covers the braces, keys, colon and comma.
  let total = 32;
  let unsure = false;
  let x = ch.before;
  if (x !== undefined) {
    const b = jsonBound(x, 0, foreign);
    if (b === J_INVALID) return INVALID;
    if (b === J_UNSURE) unsure = true;
    else total += b;
  }
  x = ch.after;
  if (x !== undefined) {
    const b = jsonBound(x, 0, foreign);
    if (b === J_INVALID) return INVALID;
    if (b === J_UNSURE) unsure = true;
    else total += b;
  }
  if (unsure) return UNSURE;
  const max = AUDIT_EVENT_LIMITS.maxJsonBytes;
  if (total > max && utf8JsonBytes(ch) > max) return INVALID;
  return VALID;
}

/**
 * Walk a JSON value the way zod's `jsonValue` union does. Returns an upper bound of its
 * serialized size (so the exact `JSON.stringify` is needed only for values near the limit), or
 * J_INVALID / J_UNSURE. `foreign`: the value may hold symbol keys (anything but JSON.parse output).
 */
function jsonBound(v: unknown, depth: number, foreign: boolean): number {
  switch (typeof v) {
    case 'string':
      return BYTES_PER_UNIT * v.length + 2;
    case 'number':
      return Number.isFinite(v) ? NUMBER_BYTES : J_INVALID;
    case 'boolean':
      return 5;
    case 'object':
      if (v === null) return 4;
      if (!Array.isArray(v)) return recordBound(v, depth, foreign);
      break;
    default:
      return J_INVALID;
  }
  if (depth >= MAX_JSON_DEPTH) return J_UNSURE;
  const a = v as unknown[];
  let total = 2;
  let unsure = false;
  for (let i = 0; i < a.length; i++) {
    const b = jsonBound(a[i], depth + 1, foreign);
    if (b < 0) {
      if (b === J_INVALID) return J_INVALID;
      unsure = true;
    } else {
      total += b + 1;
    }
  }
  return unsure ? J_UNSURE : total;
}

function recordBound(v: object, depth: number, foreign: boolean): number {
  if (depth >= MAX_JSON_DEPTH) return J_UNSURE;
  // zod's isPlainObject; other prototypes (which zod may still accept, e.g. another realm's
  // Object) go to zod.
  if (!isPlainProto(v)) return J_UNSURE;
  // zod reads keys with Reflect.ownKeys and refuses enumerable symbol keys; JSON.parse makes none.
  if (foreign && Object.getOwnPropertySymbols(v).length !== 0) return J_UNSURE;
  const o = v as Record<string, unknown>;
  let total = 2;
  let unsure = false;
  for (const k in o) {
    // zod drops an own `__proto__` key without checking it, so the output differs from the input.
    if (k === '__proto__') {
      unsure = true;
      continue;
    }
    const b = jsonBound(o[k], depth + 1, foreign);
    if (b < 0) {
      if (b === J_INVALID) return J_INVALID;
      unsure = true;
    } else {
      total += BYTES_PER_UNIT * k.length + 4 + b;
    }
  }
  return unsure ? J_UNSURE : total;
}

function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPlainProto(v: object): boolean {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/** `z.string().min(1).max(max)`: zod counts code points, and only when the UTF-16 length is over the limit can they differ. */
function isText(v: unknown, max: number): boolean {
  return typeof v === 'string' && v.length !== 0 && (v.length <= max || codePointLength(v) <= max);
}

function isId(v: unknown): boolean {
  return isText(v, AUDIT_EVENT_LIMITS.maxIdLength);
}

function isShort(v: unknown): boolean {
  return isText(v, AUDIT_EVENT_LIMITS.maxStringLength);
}

/** zod's `util.codePointLength`: UTF-16 units minus one per well-formed surrogate pair. */
function codePointLength(s: string): number {
  const units = s.length;
  let count = units;
  for (let i = 0; i < units - 1; i++) {
    if ((s.charCodeAt(i) & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      count--;
      i++;
    }
  }
  return count;
}

/** zod's `isValidIPv6`. */
function isZodIpv6(v: string): boolean {
  return IPV6_ALPHABET.test(v) && URL.canParse(`http://[${v}]`);
}

function utf8JsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

// ---------------------------------------------------------------------------------------------
// Building the output: zod's parse output (fresh objects, schema key order, a present optional key
// kept even when undefined) followed by normalizeAuditEvent, in one pass.

function buildNormalized(o: Record<string, unknown>): AuditEvent {
  const out: Record<string, unknown> = { eventId: (o.eventId as string).toLowerCase() };
  let v = o.eventIdDerived;
  if (v !== undefined || 'eventIdDerived' in o) out.eventIdDerived = v;
  out.schemaVersion = normalizedSchemaVersion(o.schemaVersion as string, o);
  out.occurredAt = utcIso(o.occurredAt as string);
  out.action = o.action;
  out.outcome = o.outcome;
  out.actor = copyActor(o.actor as Record<string, unknown>);
  out.tenant = copyTenant(o.tenant as Record<string, unknown>);
  v = o.targets;
  if (v !== undefined) {
    const a = v as unknown[];
    const targets = new Array<unknown>(a.length);
    for (let i = 0; i < a.length; i++) targets[i] = copyTarget(a[i] as Record<string, unknown>);
    out.targets = targets;
  } else if ('targets' in o) out.targets = undefined;
  v = o.reason;
  if (v !== undefined || 'reason' in o) out.reason = v;
  v = o.session;
  if (v !== undefined) out.session = { id: (v as Record<string, unknown>).id };
  else if ('session' in o) out.session = undefined;
  v = o.request;
  if (v !== undefined) out.request = copyRequest(v as Record<string, unknown>);
  else if ('request' in o) out.request = undefined;
  v = o.changes;
  if (v !== undefined) out.changes = copyChanges(v as Record<string, unknown>);
  else if ('changes' in o) out.changes = undefined;
  v = o.details;
  if (v !== undefined) out.details = copyJson(v);
  else if ('details' in o) out.details = undefined;
  v = o.message;
  if (v !== undefined || 'message' in o) out.message = v;
  v = o.bodyValue;
  if (v !== undefined) out.bodyValue = copyJson(v);
  else if ('bodyValue' in o) out.bodyValue = undefined;
  v = o.trace;
  if (v !== undefined) {
    const t = v as Record<string, unknown>;
    out.trace = { traceId: t.traceId, spanId: t.spanId, traceFlags: t.traceFlags ?? 0 };
  } else if ('trace' in o) out.trace = undefined;
  return out as unknown as AuditEvent;
}

/** Copy optional field `key` of `from` as zod does: present (even as undefined) ⇒ kept. */
function copyOptional(from: Record<string, unknown>, to: Record<string, unknown>, key: string): void {
  const v = from[key];
  if (v !== undefined || key in from) to[key] = v;
}

function copyActor(a: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { id: a.id, type: a.type };
  copyOptional(a, out, 'name');
  copyOptional(a, out, 'authMethod');
  copyOptional(a, out, 'impersonatorId');
  return out;
}

function copyTenant(t: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { id: t.id };
  copyOptional(t, out, 'name');
  return out;
}

function copyTarget(t: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { type: t.type, id: t.id };
  copyOptional(t, out, 'name');
  return out;
}

function copyRequest(r: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  copyOptional(r, out, 'id');
  copyOptional(r, out, 'ip');
  copyOptional(r, out, 'userAgent');
  copyOptional(r, out, 'method');
  copyOptional(r, out, 'path');
  return out;
}

function copyChanges(c: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let v = c.before;
  if (v !== undefined) out.before = copyJson(v);
  else if ('before' in c) out.before = undefined;
  v = c.after;
  if (v !== undefined) out.after = copyJson(v);
  else if ('after' in c) out.after = undefined;
  return out;
}

/** Deep copy of a checked JSON value (no `__proto__` keys, plain objects), as zod's parse makes. */
function copyJson(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = copyJson(v[i]);
    return out;
  }
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k in o) out[k] = copyJson(o[k]);
  return out;
}

const ZEROS = '000000000';

/**
 * `toUtcIso` for a string that matched {@link ZOD_DATETIME_OFFSET}. A `Z` time keeps its date and
 * clock fields (the round trip through `Date` is the identity for the regex's years 0000–9999), so
 * only the fraction is rewritten: 9 digits (truncated or zero-padded), trimmed to 3 or 6 when the
 * rest are zeros. Already-normalized strings (what the OTLP mapping produces) are returned as is.
 * Offsets go through `toUtcIso`.
 */
function utcIso(s: string): string {
  const n = s.length;
  if (s.charCodeAt(n - 1) !== 90 /* Z */) return toUtcIso(s);
  if (n === 20) return `${s.slice(0, 19)}.000Z`;
  // s[19] is '.', at least one digit follows.
  const digits = n - 21;
  let frac = digits >= 9 ? s.slice(20, 29) : s.slice(20, n - 1) + ZEROS.slice(digits);
  if (frac.endsWith('000000')) frac = frac.slice(0, 3);
  else if (frac.endsWith('000')) frac = frac.slice(0, 6);
  if (frac.length === digits) return s;
  return `${s.slice(0, 20)}${frac}Z`;
}
