/**
 * OTLP/JSON decoder (OTLP spec, "JSON Protobuf Encoding"): the proto3 JSON mapping with the OTLP
 * deviations —
 * - `traceId` / `spanId` are hex strings (not base64 as in plain proto3 JSON);
 * - field names are lowerCamelCase; like any proto3 JSON parser we also accept the original proto
 *   field names (`time_unix_nano`), which the proto3 JSON mapping requires parsers to accept;
 * - enum values (`severityNumber`) are integers; we also accept the enum value names
 *   (`"SEVERITY_NUMBER_INFO"`), again per the proto3 mapping;
 * - 64-bit integers are decimal strings, and we accept JSON numbers as well;
 * - unknown fields are ignored (the spec: receivers MUST ignore unknown fields), `null` means
 *   "field not set".
 *
 * Wrong types produce an `AUDIT_ERR_DECODE` error whose path names the field, e.g.
 * `resourceLogs[0].scopeLogs[1].logRecords[3].timeUnixNano: expected a string or number`.
 *
 * JSON numbers beyond 2^53 lose precision in `JSON.parse`; when the fast parse meets one in an int64
 * position, the body is parsed again with a reviver that reads the number's source text (ES2025
 * JSON.parse source text access), so such values stay exact without slowing down the common case.
 */

import { isUtf8 } from 'node:buffer';
import type { LogRecordView } from '@otel-audit/schema';
import type { DecodedLogs, ScopeView } from '../contracts.ts';
import { DecodeFailure, type DecodeResult, decodeFailureResult } from './decode-result.ts';
import { MAX_ANY_VALUE_DEPTH } from './protobuf-decoder.ts';

/** SeverityNumber enum value names (logs.proto) → numbers. */
const SEVERITY_NAMES: ReadonlyMap<string, number> = new Map(
  [
    'UNSPECIFIED',
    'TRACE',
    'TRACE2',
    'TRACE3',
    'TRACE4',
    'DEBUG',
    'DEBUG2',
    'DEBUG3',
    'DEBUG4',
    'INFO',
    'INFO2',
    'INFO3',
    'INFO4',
    'WARN',
    'WARN2',
    'WARN3',
    'WARN4',
    'ERROR',
    'ERROR2',
    'ERROR3',
    'ERROR4',
    'FATAL',
    'FATAL2',
    'FATAL3',
    'FATAL4',
  ].map((name, i) => [`SEVERITY_NUMBER_${name}`, i]),
);

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const INTEGER_TEXT = /^-?\d+$/;
const HEX = /^[0-9a-fA-F]*$/;
const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

/** Thrown when the fast parse saw an int64 number beyond 2^53: parse again, exactly. */
class NeedExactParse extends Error {}

/**
 * Set during the second, exact parse: an unsafe integer that is still a number there was written in
 * exponent form (`1.7e18`), so its source text is not an integer literal; take its value as is.
 */
let exactPass = false;

function unsafeInteger(v: number): bigint {
  if (!exactPass) throw new NeedExactParse();
  return BigInt(v);
}

type Json = unknown;
type JsonObject = Record<string, Json>;

/** Read a field by its lowerCamelCase name or its proto name; `null` counts as absent. */
function get(obj: JsonObject, camel: string, snake?: string): Json {
  let v = obj[camel];
  if ((v === undefined || v === null) && snake !== undefined) v = obj[snake];
  return v === null ? undefined : v;
}

function typeName(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'bigint') return 'a number';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

function expectObject(v: Json, what: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DecodeFailure(`expected an object, got ${typeName(v)}`, what);
  return v as JsonObject;
}

function optObject(obj: JsonObject, camel: string, snake?: string): JsonObject | undefined {
  const v = get(obj, camel, snake);
  return v === undefined ? undefined : expectObject(v, camel);
}

function optArray(obj: JsonObject, camel: string, snake?: string): Json[] {
  const v = get(obj, camel, snake);
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new DecodeFailure(`expected an array, got ${typeName(v)}`, camel);
  return v;
}

function optString(obj: JsonObject, camel: string, snake?: string): string {
  const v = get(obj, camel, snake);
  if (v === undefined) return '';
  if (typeof v !== 'string') throw new DecodeFailure(`expected a string, got ${typeName(v)}`, camel);
  return v;
}

/** Unsigned 64-bit (fixed64 times): decimal string or JSON number. */
function optUint64(obj: JsonObject, camel: string, snake: string): bigint {
  const v = get(obj, camel, snake);
  if (v === undefined) return 0n;
  let big: bigint;
  if (typeof v === 'string') {
    if (!INTEGER_TEXT.test(v)) throw new DecodeFailure(`expected a decimal integer string, got "${v.slice(0, 40)}"`, camel);
    big = BigInt(v);
  } else if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new DecodeFailure(`expected an integer, got ${v}`, camel);
    big = Number.isSafeInteger(v) ? BigInt(v) : unsafeInteger(v);
  } else if (typeof v === 'bigint') {
    big = v;
  } else {
    throw new DecodeFailure(`expected a string or number, got ${typeName(v)}`, camel);
  }
  if (big < 0n || big > UINT64_MAX) throw new DecodeFailure(`out of range for uint64: ${big}`, camel);
  return big;
}

/** Signed 64-bit (AnyValue.intValue): number when safe, bigint otherwise. */
function int64(v: Json, what: string): number | bigint {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new DecodeFailure(`expected an integer, got ${v}`, what);
    if (Number.isSafeInteger(v)) return v;
    v = unsafeInteger(v);
  }
  let big: bigint;
  if (typeof v === 'string') {
    if (!INTEGER_TEXT.test(v)) throw new DecodeFailure(`expected a decimal integer string, got "${v.slice(0, 40)}"`, what);
    big = BigInt(v);
  } else if (typeof v === 'bigint') {
    big = v;
  } else {
    throw new DecodeFailure(`expected a string or number, got ${typeName(v)}`, what);
  }
  if (big < INT64_MIN || big > INT64_MAX) throw new DecodeFailure(`out of range for int64: ${big}`, what);
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/** 32-bit unsigned (flags, dropped counts): number or decimal string. */
function optUint32(obj: JsonObject, camel: string, snake?: string): number {
  const v = get(obj, camel, snake);
  if (v === undefined) return 0;
  const n = typeof v === 'string' && INTEGER_TEXT.test(v) ? Number(v) : typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number') throw new DecodeFailure(`expected a number, got ${typeName(v)}`, camel);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new DecodeFailure(`expected an unsigned 32-bit integer, got ${String(v)}`, camel);
  return n;
}

function severityNumber(obj: JsonObject): number {
  const v = get(obj, 'severityNumber', 'severity_number');
  if (v === undefined) return 0;
  if (typeof v === 'string') {
    const named = SEVERITY_NAMES.get(v);
    if (named !== undefined) return named;
    if (INTEGER_TEXT.test(v)) return checkInt32(Number(v));
    throw new DecodeFailure(`expected an integer or a SeverityNumber name, got "${v.slice(0, 40)}"`, 'severityNumber');
  }
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new DecodeFailure(`expected an integer, got ${v}`, 'severityNumber');
    return checkInt32(v);
  }
  throw new DecodeFailure(`expected an integer or a SeverityNumber name, got ${typeName(v)}`, 'severityNumber');

  function checkInt32(n: number): number {
    if (n < -0x80000000 || n > 0x7fffffff) throw new DecodeFailure(`out of range for an enum: ${n}`, 'severityNumber');
    return n;
  }
}

function hexId(obj: JsonObject, camel: string, snake: string, size: number): string {
  const v = get(obj, camel, snake);
  if (v === undefined || v === '') return '';
  if (typeof v !== 'string') throw new DecodeFailure(`expected a hex string, got ${typeName(v)}`, camel);
  if (v.length !== size * 2 || !HEX.test(v)) {
    throw new DecodeFailure(
      `expected ${size * 2} hex characters (OTLP/JSON encodes ids as hex, not base64), got "${v.slice(0, 64)}"`,
      camel,
    );
  }
  return v.toLowerCase();
}

function double(v: Json, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') {
    if (v === 'NaN') return Number.NaN;
    if (v === 'Infinity') return Number.POSITIVE_INFINITY;
    if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
    const n = Number(v);
    if (v.trim() !== '' && Number.isFinite(n)) return n;
  }
  throw new DecodeFailure(`expected a number, got ${typeName(v)}`, what);
}

function bytesValue(v: Json): Uint8Array {
  if (typeof v !== 'string' || !BASE64.test(v)) throw new DecodeFailure(`expected a base64 string, got ${typeName(v)}`, 'bytesValue');
  // proto3 JSON accepts standard and URL-safe base64, with or without padding.
  return new Uint8Array(Buffer.from(v, v.includes('-') || v.includes('_') ? 'base64url' : 'base64'));
}

/** AnyValue member names (lowerCamelCase and proto names) → canonical name. */
const ANY_VALUE_MEMBERS: ReadonlyMap<string, string> = new Map([
  ['stringValue', 'stringValue'],
  ['string_value', 'stringValue'],
  ['boolValue', 'boolValue'],
  ['bool_value', 'boolValue'],
  ['intValue', 'intValue'],
  ['int_value', 'intValue'],
  ['doubleValue', 'doubleValue'],
  ['double_value', 'doubleValue'],
  ['arrayValue', 'arrayValue'],
  ['array_value', 'arrayValue'],
  ['kvlistValue', 'kvlistValue'],
  ['kvlist_value', 'kvlistValue'],
  ['bytesValue', 'bytesValue'],
  ['bytes_value', 'bytesValue'],
]);

function anyValue(raw: Json, depth: number): unknown {
  if (depth > MAX_ANY_VALUE_DEPTH) throw new DecodeFailure(`AnyValue nested deeper than ${MAX_ANY_VALUE_DEPTH}`);
  const obj = expectObject(raw, '');
  let found: string | undefined;
  let value: Json;
  // Walk the object's own keys (usually exactly one) instead of probing all 14 possible names.
  for (const key in obj) {
    const member = ANY_VALUE_MEMBERS.get(key);
    if (member === undefined) continue; // unknown field: ignored
    const v = obj[key];
    if (v === null || v === undefined) continue;
    if (found !== undefined) throw new DecodeFailure(`more than one value set (${found} and ${member}); AnyValue is a oneof`);
    found = member;
    value = v;
  }
  switch (found) {
    case undefined:
      return null; // the empty AnyValue
    case 'stringValue':
      if (typeof value !== 'string') throw new DecodeFailure(`expected a string, got ${typeName(value)}`, 'stringValue');
      return value;
    case 'boolValue':
      if (typeof value !== 'boolean') throw new DecodeFailure(`expected a boolean, got ${typeName(value)}`, 'boolValue');
      return value;
    case 'intValue':
      return int64(value, 'intValue');
    case 'doubleValue':
      return double(value, 'doubleValue');
    case 'bytesValue':
      return bytesValue(value);
    case 'arrayValue': {
      const arr = expectObject(value, 'arrayValue');
      const values = withPath('arrayValue', () => optArray(arr, 'values'));
      const out = new Array<unknown>(values.length);
      for (let i = 0; i < values.length; i++) {
        try {
          out[i] = anyValue(values[i], depth + 1);
        } catch (e) {
          throw atPath(e, `arrayValue.values[${i}]`);
        }
      }
      return out;
    }
    default: {
      const kv = expectObject(value, 'kvlistValue');
      const values = withPath('kvlistValue', () => optArray(kv, 'values'));
      const out: Record<string, unknown> = {};
      for (let i = 0; i < values.length; i++) {
        try {
          keyValue(values[i], out, depth + 1);
        } catch (e) {
          throw atPath(e, `kvlistValue.values[${i}]`);
        }
      }
      return out;
    }
  }
}

function withPath<T>(segment: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw e instanceof DecodeFailure ? e.at(segment) : e;
  }
}

/**
 * What {@link withPath} throws, for loops over records and attributes that catch inline: the
 * segment (with its index) is only built when something failed, not once per element.
 */
function atPath(e: unknown, segment: string): unknown {
  return e instanceof DecodeFailure ? e.at(segment) : e;
}

function keyValue(raw: Json, target: Record<string, unknown>, depth: number): void {
  const obj = expectObject(raw, '');
  const key = optString(obj, 'key');
  const rawValue = get(obj, 'value');
  let value: unknown = null;
  if (rawValue !== undefined) {
    try {
      value = anyValue(rawValue, depth);
    } catch (e) {
      throw atPath(e, 'value');
    }
  }
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function attributes(obj: JsonObject): Record<string, unknown> {
  const list = optArray(obj, 'attributes');
  const out: Record<string, unknown> = {};
  for (let i = 0; i < list.length; i++) {
    try {
      keyValue(list[i], out, 1);
    } catch (e) {
      throw atPath(e, `attributes[${i}]`);
    }
  }
  return out;
}

function logRecord(raw: Json): LogRecordView {
  const obj = expectObject(raw, '');
  // Fields are read in this order so that, of several bad fields, the same one is reported.
  const timeUnixNano = optUint64(obj, 'timeUnixNano', 'time_unix_nano');
  const observedTimeUnixNano = optUint64(obj, 'observedTimeUnixNano', 'observed_time_unix_nano');
  const severity = severityNumber(obj);
  const severityText = optString(obj, 'severityText', 'severity_text');
  const eventName = optString(obj, 'eventName', 'event_name');
  const rawBody = get(obj, 'body');
  let body: unknown;
  if (rawBody !== undefined) {
    try {
      body = anyValue(rawBody, 1);
    } catch (e) {
      throw atPath(e, 'body');
    }
  }
  return {
    timeUnixNano,
    observedTimeUnixNano,
    severityNumber: severity,
    severityText,
    eventName,
    body,
    attributes: attributes(obj),
    traceId: hexId(obj, 'traceId', 'trace_id', 16),
    spanId: hexId(obj, 'spanId', 'span_id', 8),
    flags: optUint32(obj, 'flags'),
  };
}

function scope(raw: JsonObject | undefined): ScopeView {
  if (raw === undefined) return { name: '', version: '', attributes: {} };
  optUint32(raw, 'droppedAttributesCount', 'dropped_attributes_count');
  return { name: optString(raw, 'name'), version: optString(raw, 'version'), attributes: attributes(raw) };
}

function decodeTree(root: Json): { logs: DecodedLogs; recordCount: number } {
  const top = expectObject(root, '');
  let recordCount = 0;
  const logs: DecodedLogs = { resourceLogs: [] };
  const rls = optArray(top, 'resourceLogs', 'resource_logs');
  for (let ri = 0; ri < rls.length; ri++) {
    withPath(`resourceLogs[${ri}]`, () => {
      const rl = expectObject(rls[ri], '');
      const resource = optObject(rl, 'resource');
      const resourceAttributes = resource === undefined ? {} : withPath('resource', () => attributes(resource));
      const sls = optArray(rl, 'scopeLogs', 'scope_logs');
      const scopeLogs = sls.map((slRaw, si) =>
        withPath(`scopeLogs[${si}]`, () => {
          const sl = expectObject(slRaw, '');
          const sc = withPath('scope', () => scope(optObject(sl, 'scope')));
          const lrs = optArray(sl, 'logRecords', 'log_records');
          const logRecords = new Array<LogRecordView>(lrs.length);
          for (let li = 0; li < lrs.length; li++) {
            try {
              logRecords[li] = logRecord(lrs[li]);
            } catch (e) {
              throw atPath(e, `logRecords[${li}]`);
            }
          }
          recordCount += logRecords.length;
          return { scope: sc, schemaUrl: optString(sl, 'schemaUrl', 'schema_url'), logRecords };
        }),
      );
      logs.resourceLogs.push({
        resource: { attributes: resourceAttributes },
        schemaUrl: optString(rl, 'schemaUrl', 'schema_url'),
        scopeLogs,
      });
    });
  }
  return { logs, recordCount };
}

/** Reviver that keeps integers beyond 2^53 exact as bigint (uses the source text of the number). */
function exactReviver(this: unknown, _key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === 'number' && !Number.isSafeInteger(value) && context?.source !== undefined && INTEGER_TEXT.test(context.source)) {
    return BigInt(context.source);
  }
  return value;
}

/**
 * Decode an OTLP/JSON `ExportLogsServiceRequest` into {@link DecodedLogs}.
 *
 * @param body the UTF-8 JSON text (already decompressed), as bytes or a string.
 * @returns `{ ok: true, logs, recordCount }`, or `{ ok: false, error }` with an `AUDIT_ERR_DECODE`
 *   error: invalid UTF-8 or JSON syntax, or a field of the wrong type (the error's `path` and message
 *   name the field and the expected type). Never throws.
 */
export function decodeLogsJson(body: Uint8Array | string): DecodeResult {
  let text: string;
  if (typeof body === 'string') text = body;
  else {
    // What `new TextDecoder('utf-8', { fatal: true }).decode(body)` returns (a leading BOM is
    // dropped, ill-formed UTF-8 is an error), with the native validator and decoder: several times
    // cheaper on a 1 MB batch than a TextDecoder per request.
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    if (!isUtf8(buf)) return decodeFailureResult(new DecodeFailure('body is not valid UTF-8'), 'json');
    const bom = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf;
    text = buf.toString('utf8', bom ? 3 : 0);
  }
  let root: Json;
  try {
    root = JSON.parse(text);
  } catch (err) {
    return decodeFailureResult(new DecodeFailure(`invalid JSON: ${(err as Error).message}`), 'json');
  }
  try {
    return { ok: true, ...decodeTree(root) };
  } catch (err) {
    if (!(err instanceof NeedExactParse)) return decodeFailureResult(err, 'json');
  }
  exactPass = true;
  try {
    return { ok: true, ...decodeTree(JSON.parse(text, exactReviver as (key: string, value: unknown) => unknown)) };
  } catch (err) {
    return decodeFailureResult(err, 'json');
  } finally {
    exactPass = false;
  }
}
