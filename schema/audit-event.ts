/**
 * The audit event schema, version 1.1: one zod schema shared by the SDK (producer side) and the
 * receiver (ingest side). TypeScript types are inferred from it and `docs/audit-event.schema.json`
 * is generated from it (`npm run gen:schema`), so the three can never disagree.
 *
 * Versioning rules (docs/schema.md): a minor version only adds optional fields; the receiver
 * upgrades older versions to the current one; a major version is a new schema URL.
 */

import { AuditError } from '@otel-audit/core';
import { z } from 'zod';
import { fastValidateAuditEvent } from './fast-validate.ts';

/** The newest schema version this build knows (1.1 added `message`, `bodyValue` and `eventIdDerived`). */
export const CURRENT_SCHEMA_VERSION = '1.1';
/**
 * The version a producer writes when it does not choose one. Normalization raises it to the lowest
 * minor that has every field the event uses (see {@link normalizeAuditEvent}), so an event that
 * needs nothing newer stays `1.0` and hashes exactly as it did before 1.1 existed.
 */
export const BASELINE_SCHEMA_VERSION = '1.0';
/** Stable URL identifying major version 1 of the audit event schema (OTLP `schema_url` of the scope). */
export const AUDIT_SCHEMA_URL = 'https://otel-audit.dev/schemas/audit-event/1';

/**
 * Limits that protect the pipeline. Lengths are what zod 4 measures: Unicode code points (a surrogate
 * pair counts once, a lone surrogate counts once); sizes are bytes of UTF-8 JSON.
 */
export const AUDIT_EVENT_LIMITS = {
  /** Max length of any id (event, actor, tenant, target, session, request). */
  maxIdLength: 256,
  /** Max length of short strings (names, types, auth method, method, path). */
  maxStringLength: 1024,
  /** Max length of `action`. */
  maxActionLength: 128,
  /** Max length of `reason` and `request.userAgent`. */
  maxTextLength: 4096,
  /** Max number of `targets`. */
  maxTargets: 64,
  /** Max serialized size of `details`, and separately of `changes` and of `bodyValue`. 64 KiB. */
  maxJsonBytes: 64 * 1024,
  /** Max length of `message` (the log record's text body). */
  maxMessageLength: 64 * 1024,
} as const;

const L = AUDIT_EVENT_LIMITS;

const id = () => z.string().min(1).max(L.maxIdLength);
const shortString = () => z.string().min(1).max(L.maxStringLength);

// The patterns below are shared with the hand-written validator (fast-validate.ts), so the two
// cannot drift apart on the rules this project defines; zod's own formats (datetime, IP) are
// copied there and pinned by a test against zod's regexes.

/** RFC 9562 UUID version 7 (time-ordered), lower or upper case hex: what the SDK generates. */
export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
/**
 * Any RFC 9562 UUID a producer may assign (§4.1 variant `10xx`, §4.2 versions 1–8: time-based,
 * DCE, MD5, random v4, SHA-1, v6, v7, custom v8), lower or upper case hex. The Nil and Max UUIDs
 * (§5.9, §5.10) are not event ids.
 */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
/** `action`: dotted words, e.g. `grant.issue`. */
export const ACTION_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** `trace.traceId`: 32 lower-case hex digits (all zeros is refused separately). */
export const TRACE_ID_PATTERN = /^[0-9a-f]{32}$/;
/** `trace.spanId`: 16 lower-case hex digits (all zeros is refused separately). */
export const SPAN_ID_PATTERN = /^[0-9a-f]{16}$/;
/** The invalid all-zero trace and span ids. */
export const ALL_ZEROS = /^0+$/;
/** `schemaVersion`: `1.<minor>`. */
export const SCHEMA_VERSION_PATTERN = /^1\.\d{1,3}$/;

/** JSON value (what `details` and `changes` may hold). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);

function utf8JsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

const boundedJson = <T extends z.ZodType>(schema: T, what: string) =>
  schema.superRefine((value, ctx) => {
    const bytes = utf8JsonBytes(value);
    if (bytes > L.maxJsonBytes) {
      ctx.addIssue({ code: 'custom', message: `${what} is ${bytes} bytes serialized; the limit is ${L.maxJsonBytes}` });
    }
  });

/** Who did it. */
export const ActorSchema = z.strictObject({
  id: id().describe('Stable identifier of the actor (user id, service name, token id).'),
  type: z.enum(['user', 'service', 'api_token', 'system', 'anonymous']),
  name: shortString().optional().describe('Display name.'),
  authMethod: shortString().optional().describe('How the actor authenticated, e.g. password, oidc, mtls, api_key.'),
  impersonatorId: id().optional().describe('Id of the actor acting on behalf of `id`, if any.'),
});

/** Which tenant (organisation, account, workspace) the event belongs to. One hash chain per tenant. */
export const TenantSchema = z.strictObject({
  id: id(),
  name: shortString().optional(),
});

/** What it was done to. */
export const TargetSchema = z.strictObject({
  type: shortString().describe('Kind of resource, e.g. grant, user, document.'),
  id: id(),
  name: shortString().optional(),
});

/** The request that caused the event. */
export const RequestSchema = z.strictObject({
  id: id().optional(),
  ip: z.union([z.ipv4(), z.ipv6()]).optional().describe('Client IP address (semconv client.address).'),
  userAgent: z.string().min(1).max(L.maxTextLength).optional(),
  method: z.string().min(1).max(32).optional(),
  path: shortString().optional(),
});

/** W3C trace context of the operation, if it ran in a trace. */
export const TraceContextSchema = z.strictObject({
  traceId: z
    .string()
    .regex(TRACE_ID_PATTERN, 'traceId must be 32 lower-case hex digits')
    .refine((v) => !ALL_ZEROS.test(v), 'traceId must not be all zeros'),
  spanId: z
    .string()
    .regex(SPAN_ID_PATTERN, 'spanId must be 16 lower-case hex digits')
    .refine((v) => !ALL_ZEROS.test(v), 'spanId must not be all zeros'),
  traceFlags: z.number().int().min(0).max(255).optional(),
});

/** State before and after the change, as JSON. Max 64 KiB serialized. */
export const ChangesSchema = boundedJson(z.strictObject({ before: jsonValue.optional(), after: jsonValue.optional() }), 'changes');

/** Free-form JSON object with event-specific detail. Max 64 KiB serialized. */
export const DetailsSchema = boundedJson(z.record(z.string(), jsonValue), 'details');

/**
 * A log body that is neither text nor a key/value list (an int, double, bool, bytes or array
 * AnyValue), kept as its OTLP/JSON encoding, e.g. `{"intValue":"42"}`. Max 64 KiB serialized.
 */
export const BodyValueSchema = boundedJson(z.record(z.string(), jsonValue), 'bodyValue');

/** A schema version string `major.minor`; only major 1 is understood by this build. */
const SchemaVersion = z.string().regex(SCHEMA_VERSION_PATTERN, 'schemaVersion must be "1.<minor>"');

const eventShape = {
  eventId: z
    .string()
    .regex(UUID_PATTERN, 'eventId must be an RFC 9562 UUID (version 1-8)')
    .describe('Producer-assigned RFC 9562 UUID (the SDK uses v7), or derived from the content by the receiver (v8); the dedupe key.'),
  eventIdDerived: z
    .literal(true)
    .optional()
    .describe('Since 1.1. Present (true) when the receiver derived eventId from the content because the record carried none.'),
  schemaVersion: SchemaVersion,
  occurredAt: z.iso.datetime({ offset: true }).describe('RFC 3339 time the action happened, e.g. 2026-11-22T10:00:00.123Z.'),
  action: z
    .string()
    .max(L.maxActionLength)
    .regex(ACTION_PATTERN, 'action must be dotted words, e.g. grant.issue')
    .describe('What was done, dotted: <resource>.<verb>, e.g. grant.issue.'),
  outcome: z.enum(['success', 'failure', 'denied']),
  actor: ActorSchema,
  tenant: TenantSchema,
  targets: z.array(TargetSchema).max(L.maxTargets).optional(),
  reason: z.string().min(1).max(L.maxTextLength).optional(),
  session: z.strictObject({ id: id() }).optional(),
  request: RequestSchema.optional(),
  changes: ChangesSchema.optional(),
  details: DetailsSchema.optional(),
  message: z
    .string()
    .min(1)
    .max(L.maxMessageLength)
    .optional()
    .describe("Since 1.1. Human-readable text of the event: a log record's text body, kept verbatim."),
  bodyValue: BodyValueSchema.optional().describe(
    'Since 1.1. A log body that is neither text nor a key/value list, in its OTLP/JSON AnyValue encoding, e.g. {"intValue":"42"}.',
  ),
  trace: TraceContextSchema.optional(),
};

/** The fields a producer sets: `eventIdDerived` and `bodyValue` are the receiver's (OTLP ingest). */
const { eventIdDerived: _eventIdDerived, bodyValue: _bodyValue, ...producerShape } = eventShape;

/** A complete, validated audit event (what is hashed, stored and exported). */
export const AuditEventSchema = z.strictObject(eventShape).describe('otel-audit audit event, schema 1.x');

/** A complete audit event. */
export type AuditEvent = z.infer<typeof AuditEventSchema>;
/** The actor of an event. */
export type AuditActor = z.infer<typeof ActorSchema>;
/** The tenant of an event. */
export type AuditTenant = z.infer<typeof TenantSchema>;
/** One target of an event. */
export type AuditTarget = z.infer<typeof TargetSchema>;
/** Request metadata of an event. */
export type AuditRequest = z.infer<typeof RequestSchema>;
/** Trace context of an event. */
export type AuditTraceContext = z.infer<typeof TraceContextSchema>;
/** The outcome of an action. */
export type AuditOutcome = AuditEvent['outcome'];

/**
 * What a producer passes to `record()` (`message` included): the SDK fills `eventId` (UUIDv7), `schemaVersion`,
 * `occurredAt` (now), `trace` (active span) and, from the audit context, `actor`, `tenant`,
 * `request` and `session` when they are omitted.
 */
export const AuditEventInputSchema = z.strictObject({
  ...producerShape,
  eventId: eventShape.eventId.optional(),
  schemaVersion: SchemaVersion.optional(),
  occurredAt: z.union([eventShape.occurredAt, z.date()]).optional(),
  actor: ActorSchema.optional(),
  tenant: TenantSchema.optional(),
});

/** Input of `record()`; see {@link AuditEventInputSchema}. */
export type AuditEventInput = z.input<typeof AuditEventInputSchema>;

/** Result of {@link validateAuditEvent}: the normalized event, or the issues with their field paths. */
export type ValidationResult =
  | { ok: true; event: AuditEvent }
  | { ok: false; error: AuditError; issues: Array<{ path: string; message: string }> };

/** Format a zod path as `targets[2].type`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

/** Convert zod issues into an `AUDIT_ERR_INVALID_EVENT` error that names every failing field path. */
export function invalidEventError(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): {
  error: AuditError;
  issues: Array<{ path: string; message: string }>;
} {
  const named = issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
  const text = named.map((i) => `${i.path}: ${i.message}`).join('; ');
  return {
    error: new AuditError('AUDIT_ERR_INVALID_EVENT', text, { path: named[0]?.path, details: { issues: named } }),
    issues: named,
  };
}

/**
 * Validate a complete event (any 1.x version) and normalize it to {@link CURRENT_SCHEMA_VERSION}:
 * `occurredAt` becomes UTC with the producer's sub-second precision kept, `eventId` lower case,
 * older minor versions are upgraded. Never throws.
 *
 * Valid events take the hand-written validator (fast-validate.ts), which implements exactly the
 * rules of {@link AuditEventSchema} at a fraction of zod's cost; anything it does not accept goes
 * to zod, so errors (rare) keep zod's issues and messages, and inputs the fast path does not cover
 * (class instances, `__proto__` keys, very deep JSON) get zod's verdict.
 */
export function validateAuditEvent(input: unknown): ValidationResult {
  const event = fastValidateAuditEvent(input);
  if (event !== undefined) return { ok: true, event };
  return validateAuditEventWithZod(input);
}

/**
 * {@link validateAuditEvent} by the zod schema alone: the source of every error message, and the
 * reference the fast validator is tested against.
 */
export function validateAuditEventWithZod(input: unknown): ValidationResult {
  const parsed = AuditEventSchema.safeParse(input);
  if (!parsed.success) {
    const { error, issues } = invalidEventError(parsed.error.issues);
    return { ok: false, error, issues };
  }
  return { ok: true, event: normalizeAuditEvent(parsed.data) };
}

/**
 * The normalized version label of a valid event: a known minor (0 or 1, in any spelling such as
 * `1.00`) becomes the lowest version that has every field the event uses — `1.1` when it has
 * `message`, `bodyValue` or `eventIdDerived`, else `1.0` unless the producer said `1.1` — so a
 * 1.0 event keeps its label and its hash byte for byte. Newer minors keep their label.
 */
export function normalizedSchemaVersion(
  version: string,
  event: { message?: unknown; bodyValue?: unknown; eventIdDerived?: unknown },
): string {
  // version matched SCHEMA_VERSION_PATTERN (`1.<1-3 digits>`), so the minor is version.slice(2).
  const minor = version === '1.0' ? 0 : Number(version.slice(2));
  if (minor > 1) return version;
  if (minor === 1 || event.message !== undefined || event.bodyValue !== undefined || event.eventIdDerived !== undefined) return '1.1';
  return '1.0';
}

/**
 * Normalize a valid 1.x event: canonicalize representation details that must not affect identity
 * (lower-case eventId, `occurredAt` in UTC (`Z`), `trace.traceFlags` present (0 when the producer
 * gave none) so every store can rebuild the event exactly) and the version label
 * ({@link normalizedSchemaVersion}). Minor versions only add optional fields, so no field changes.
 */
export function normalizeAuditEvent(event: AuditEvent): AuditEvent {
  const schemaVersion = normalizedSchemaVersion(event.schemaVersion, event);
  return {
    ...event,
    eventId: event.eventId.toLowerCase(),
    schemaVersion,
    occurredAt: toUtcIso(event.occurredAt),
    ...(event.trace ? { trace: { ...event.trace, traceFlags: event.trace.traceFlags ?? 0 } } : {}),
  };
}

/**
 * Render an RFC 3339 timestamp in UTC keeping up to nanosecond precision,
 * e.g. `2026-11-22T10:00:00.123456789Z`. Trailing zero fraction digits are trimmed to groups of 3.
 */
export function toUtcIso(value: string): string {
  const nanos = isoToUnixNanos(value);
  return unixNanosToIso(nanos);
}

/** Parse an RFC 3339 timestamp to Unix nanoseconds (bigint), keeping sub-millisecond digits. */
export function isoToUnixNanos(value: string): bigint {
  const m = /^(.*?)(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/i.exec(value);
  if (!m) throw new AuditError('AUDIT_ERR_INVALID_EVENT', `not an RFC 3339 timestamp: ${value}`);
  const [, head, frac = '', zone] = m;
  const millis = Date.parse(`${head}${zone!.toUpperCase() === 'Z' ? 'Z' : zone}`);
  if (Number.isNaN(millis)) throw new AuditError('AUDIT_ERR_INVALID_EVENT', `not an RFC 3339 timestamp: ${value}`);
  const fracNanos = BigInt((frac + '000000000').slice(0, 9));
  return BigInt(millis) * 1_000_000n + fracNanos;
}

const NS_PER_SECOND = 1_000_000_000n;
/** The last second rendered by {@link unixNanosToIso} and its `YYYY-MM-DDTHH:MM:SS`. */
const isoCache: { seconds: bigint | undefined; base: string } = { seconds: undefined, base: '' };

/** Render Unix nanoseconds as RFC 3339 UTC with 3, 6 or 9 fraction digits (as needed). */
export function unixNanosToIso(nanos: bigint): string {
  // Once per ingested event (the OTLP mapping), so: the date-time part is cached per second
  // (events arrive many per second, and `Date#toISOString` is the expensive part), and the
  // fraction is formatted from a number, not a bigint string.
  let seconds = nanos / NS_PER_SECOND;
  let sub = Number(nanos % NS_PER_SECOND);
  if (sub < 0) {
    sub += 1_000_000_000;
    seconds -= 1n;
  }
  let base: string;
  if (seconds === isoCache.seconds) {
    base = isoCache.base;
  } else {
    // Throws RangeError outside Date's range, before anything is cached.
    base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
    isoCache.seconds = seconds;
    isoCache.base = base;
  }
  let frac: string;
  if (sub % 1_000_000 === 0) frac = String(sub / 1_000_000).padStart(3, '0');
  else if (sub % 1000 === 0) frac = String(sub / 1000).padStart(6, '0');
  else frac = String(sub).padStart(9, '0');
  return `${base}.${frac}Z`;
}
