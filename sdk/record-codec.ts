/**
 * Encoding of an OTel log record for the spool, and decoding back into a `ReadableLogRecord` that
 * the OTLP exporters serialize exactly as they would the original. The context (resource and
 * instrumentation scope) is encoded separately and once per segment.
 */
import type { HrTime, SpanContext } from '@opentelemetry/api';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';

/** Marker key of a `Uint8Array` inside encoded bodies and attributes (JSON has no bytes). */
const BYTES_KEY = '$otel_audit_bytes';

type Scope = ReadableLogRecord['instrumentationScope'];

/** Encodes contexts once per (resource, scope) pair: they rarely change and are large. */
export class ContextEncoder {
  private readonly cache = new WeakMap<Resource, WeakMap<object, string>>();

  /** The context JSON of a record; the same string instance for the same resource and scope. */
  encode(resource: Resource, scope: Scope): string {
    let byScope = this.cache.get(resource);
    if (!byScope) {
      byScope = new WeakMap();
      this.cache.set(resource, byScope);
    }
    let json = byScope.get(scope);
    if (json === undefined) {
      json = JSON.stringify(
        {
          resource: { attributes: resource.attributes, schemaUrl: resource.schemaUrl },
          scope: { name: scope.name, version: scope.version, schemaUrl: scope.schemaUrl, attributes: scope.attributes },
        },
        bytesReplacer,
      );
      // A resource whose async attributes are still pending is not cached: its attributes change.
      if (!resource.asyncAttributesPending) byScope.set(scope, json);
    }
    return json;
  }
}

/** Encode the per-record fields of a log record (everything except resource and scope). */
export function encodeRecord(r: ReadableLogRecord): Buffer {
  const sc = r.spanContext;
  const fields = [
    r.hrTime[0],
    r.hrTime[1],
    r.hrTimeObserved[0],
    r.hrTimeObserved[1],
    r.severityNumber ?? null,
    r.severityText ?? null,
    r.eventName ?? null,
    r.body === undefined ? null : [r.body],
    r.attributes,
    sc ? sc.traceId : null,
    sc ? sc.spanId : null,
    sc ? sc.traceFlags : null,
    r.droppedAttributesCount,
  ];
  // The replacer costs a function call per value; only bodies holding bytes need it (marked 'B').
  if (typeof r.body === 'string' || r.body === undefined || !containsBytes(r.body)) return Buffer.from(JSON.stringify(fields), 'utf8');
  return Buffer.from('B' + JSON.stringify(fields, bytesReplacer), 'utf8');
}

/** A spool context as {@link ContextEncoder} wrote it (bytes revived). */
export interface SpoolContext {
  resource: { attributes: Record<string, never>; schemaUrl?: string };
  scope: { name: string; version?: string; schemaUrl?: string; attributes?: Record<string, never> };
}

/** Parse a spool context (JSON; throws a SyntaxError for text that is not). */
export function parseSpoolContext(contextJson: string): SpoolContext {
  return JSON.parse(contextJson, bytesReviver) as SpoolContext;
}

/**
 * The fields of a spooled record in {@link encodeRecord}'s order: hrTime seconds and nanos,
 * observed seconds and nanos, severity number, severity text, event name, `[body]`, attributes,
 * trace id, span id, trace flags, dropped attributes count (null where absent).
 */
export type SpoolRecordFields = [
  number,
  number,
  number,
  number,
  number | null,
  string | null,
  string | null,
  [unknown] | null,
  Record<string, never>,
  string | null,
  string | null,
  number | null,
  number,
];

/** Parse a spooled record's text (a leading `B` marks bytes inside; throws a SyntaxError for text that is not JSON). */
export function parseSpoolRecord(text: string): SpoolRecordFields {
  return (text.startsWith('B') ? JSON.parse(text.slice(1), bytesReviver) : JSON.parse(text)) as SpoolRecordFields;
}

interface DecodedContext {
  resource: Resource;
  scope: Scope;
}

/** Decodes spool records; caches contexts so that records of one context share one Resource object. */
export class RecordDecoder {
  private readonly contexts = new Map<string, DecodedContext>();

  decode(contextJson: string, payload: Buffer): ReadableLogRecord {
    let ctx = this.contexts.get(contextJson);
    if (!ctx) {
      const parsed = parseSpoolContext(contextJson);
      const resource = resourceFromAttributes(
        parsed.resource.attributes,
        parsed.resource.schemaUrl ? { schemaUrl: parsed.resource.schemaUrl } : undefined,
      );
      const scope: Scope = {
        name: parsed.scope.name,
        ...(parsed.scope.version !== undefined ? { version: parsed.scope.version } : {}),
        ...(parsed.scope.schemaUrl !== undefined ? { schemaUrl: parsed.scope.schemaUrl } : {}),
        ...(parsed.scope.attributes !== undefined ? { attributes: parsed.scope.attributes } : {}),
      };
      ctx = { resource, scope };
      // Bounded: a spool has a handful of contexts; a pathological one must not grow memory.
      if (this.contexts.size > 1024) this.contexts.clear();
      this.contexts.set(contextJson, ctx);
    }
    const f = parseSpoolRecord(payload.toString('utf8'));
    const spanContext: SpanContext | undefined =
      f[9] !== null && f[10] !== null ? { traceId: f[9], spanId: f[10], traceFlags: f[11] ?? 0 } : undefined;
    const record: { -readonly [K in keyof ReadableLogRecord]: ReadableLogRecord[K] } = {
      hrTime: [f[0], f[1]] as HrTime,
      hrTimeObserved: [f[2], f[3]] as HrTime,
      resource: ctx.resource,
      instrumentationScope: ctx.scope,
      attributes: f[8],
      droppedAttributesCount: f[12],
    };
    if (f[4] !== null) record.severityNumber = f[4];
    if (f[5] !== null) record.severityText = f[5];
    if (f[6] !== null) record.eventName = f[6];
    if (f[7] !== null) record.body = f[7][0] as ReadableLogRecord['body'];
    if (spanContext) record.spanContext = spanContext;
    return record;
  }
}

function containsBytes(value: unknown, depth = 0): boolean {
  if (value instanceof Uint8Array) return true;
  if (value === null || typeof value !== 'object' || depth > 32) return false;
  for (const v of Array.isArray(value) ? value : Object.values(value)) if (containsBytes(v, depth + 1)) return true;
  return false;
}

function bytesReplacer(this: unknown, _key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return { [BYTES_KEY]: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  return value;
}

function bytesReviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const b = (value as Record<string, unknown>)[BYTES_KEY];
    if (typeof b === 'string' && Object.keys(value).length === 1) return new Uint8Array(Buffer.from(b, 'base64'));
  }
  return value;
}
