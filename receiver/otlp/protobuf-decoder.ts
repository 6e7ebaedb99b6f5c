/**
 * Hand-rolled decoder for OTLP `ExportLogsServiceRequest` protobuf (proto/opentelemetry/proto/...,
 * OTLP spec "OTLP/gRPC" and "Binary Protobuf Encoding"). It decodes straight into
 * {@link DecodedLogs} in one pass, without an intermediate message object graph, which is why it is
 * faster than protobufjs + conversion on 512-record batches (numbers in docs/decisions.md).
 *
 * Wire-format rules followed (protobuf encoding spec):
 * - Unknown fields are skipped (forward compatibility: newer OTLP versions add fields).
 * - A known field with the wrong wire type is an error (the message is malformed).
 * - For singular fields the last occurrence wins; for the `AnyValue.value` oneof the last member wins.
 * - Strings must be valid UTF-8 (proto3 `string`); ids must be 16 (trace) / 8 (span) bytes or empty
 *   (OTLP spec: an all-empty id means "not set").
 * - Groups (wire types 3/4) are not used by OTLP and are rejected.
 */
import { isUtf8 } from 'node:buffer';
import type { LogRecordView } from '@otel-audit/schema';
import type { DecodedLogs, ScopeView } from '../contracts.ts';
import { DecodeFailure, type DecodeResult, decodeFailureResult } from './decode-result.ts';

/** Maximum nesting of AnyValue arrays/kvlists; deeper input is rejected instead of overflowing the stack. */
export const MAX_ANY_VALUE_DEPTH = 64;

const TWO_32 = 4294967296;

/** Number of attribute positions whose last key and value are remembered by {@link Reader.key} / {@link Reader.value}. */
const KEY_CACHE_SLOTS = 64;
/** Longest string (bytes) the per-position caches hold. */
const CACHED_STRING_MAX_BYTES = 64;

type StringCache = Array<{ bytes: Uint8Array; len: number; text: string; misses: number; bypass: number }>;

/** Consecutive misses after which a slot stops being compared and refilled for {@link CACHE_BYPASS_RECORDS} strings. */
const CACHE_MAX_MISSES = 4;
/** Strings a slot that keeps missing (a unique value: event id, path) is decoded directly before it is tried again. */
const CACHE_BYPASS_RECORDS = 64;

function newStringCache(): StringCache {
  return Array.from({ length: KEY_CACHE_SLOTS }, () => ({
    bytes: new Uint8Array(CACHED_STRING_MAX_BYTES),
    len: -1,
    text: '',
    misses: 0,
    bypass: 0,
  }));
}

/** Last key bytes and string per attribute position (module-level: decoding is synchronous). */
const keyCache = newStringCache();
/** Same for short string attribute values. */
const valueCache = newStringCache();

/**
 * Buffer's undocumented fast slice methods (latin1Slice, utf8Slice, hexSlice): present on every Node
 * Buffer (toString() dispatches to them) and they skip toString()'s argument normalisation.
 */
interface SliceBuffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  hexSlice(start: number, end: number): string;
}

/** Cursor over one protobuf buffer. Methods throw {@link DecodeFailure} on malformed input. */
class Reader {
  readonly buf: SliceBuffer;
  pos: number;

  constructor(buf: Buffer) {
    this.buf = buf as SliceBuffer;
    this.pos = 0;
  }

  /** Varint that must fit in 32 bits unsigned (tags, lengths, uint32 fields); higher bits are dropped like protobuf does for uint32. */
  uint32(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos < end) {
      const first = buf[pos]!;
      if (first < 0x80) {
        this.pos = pos + 1;
        return first;
      }
    }
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new DecodeFailure('truncated varint');
      const b = buf[pos++]!;
      if (shift < 32) result += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) {
        this.pos = pos;
        return result % TWO_32;
      }
    }
    throw new DecodeFailure('varint longer than 10 bytes');
  }

  /** A field tag; field number 0 is invalid in protobuf and means the bytes are not a message. */
  tag(end: number): number {
    const tag = this.uint32(end);
    if (tag < 8) throw new DecodeFailure(`invalid field number 0 at byte ${this.pos}`);
    return tag;
  }

  /** Varint as a signed 64-bit integer: a number when safe, otherwise a bigint. */
  int64(end: number): number | bigint {
    const buf = this.buf;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let i = 0;
    let b = 0;
    for (; i < 4; i++) {
      if (pos >= end) throw new DecodeFailure('truncated varint');
      b = buf[pos++]!;
      lo = (lo | ((b & 0x7f) << (i * 7))) >>> 0;
      if (b < 0x80) {
        this.pos = pos;
        return lo;
      }
    }
    if (pos >= end) throw new DecodeFailure('truncated varint');
    b = buf[pos++]!;
    lo = (lo | ((b & 0x7f) << 28)) >>> 0;
    hi = (b & 0x7f) >> 4;
    if (b >= 0x80) {
      for (i = 0; i < 5; i++) {
        if (pos >= end) throw new DecodeFailure('truncated varint');
        b = buf[pos++]!;
        hi = (hi | ((b & 0x7f) << (i * 7 + 3))) >>> 0;
        if (b < 0x80) break;
      }
      if (b >= 0x80) throw new DecodeFailure('varint longer than 10 bytes');
    }
    this.pos = pos;
    if (hi < 0x200000) return hi * TWO_32 + lo; // < 2^53: exact as a number
    const big = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }

  /** Length prefix of a length-delimited field; returns the end offset of its payload. */
  lengthEnd(end: number): number {
    const len = this.uint32(end);
    const stop = this.pos + len;
    if (stop > end) throw new DecodeFailure(`truncated: length ${len} runs past the end of the enclosing message`);
    return stop;
  }

  fixed64(end: number): bigint {
    if (this.pos + 8 > end) throw new DecodeFailure('truncated fixed64');
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  fixed32(end: number): number {
    if (this.pos + 4 > end) throw new DecodeFailure('truncated fixed32');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  double(end: number): number {
    if (this.pos + 8 > end) throw new DecodeFailure('truncated double');
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  string(end: number): string {
    const stop = this.lengthEnd(end);
    const start = this.pos;
    this.pos = stop;
    return this.stringAt(start, stop);
  }

  stringAt(start: number, stop: number): string {
    if (stop === start) return '';
    const buf = this.buf;
    // Short ASCII strings (attribute keys, enum-like values) are the common case; decoding them in JS
    // avoids a native call per string, as protobufjs does.
    if (stop - start <= 32) {
      let ascii = true;
      for (let p = start; p < stop; p++) {
        if (buf[p]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) return buf.latin1Slice(start, stop);
    }
    const slice = buf.subarray(start, stop);
    if (!isUtf8(slice)) throw new DecodeFailure('string is not valid UTF-8');
    return buf.utf8Slice(start, stop);
  }

  /**
   * An attribute key, reusing the string decoded last time at the same attribute position when the
   * bytes are equal. Records of one producer carry the same keys in the same order, so this skips
   * most string decoding, and handing V8 the same string instance makes the property store that
   * follows a cache hit instead of a fresh string lookup (measured: docs/decisions.md).
   */
  key(end: number, slot: number): string {
    return this.cachedString(end, slot, keyCache);
  }

  /** A string attribute value, with the same per-position reuse as {@link Reader.key} (values repeat too: tenant, outcome, schema version). */
  value(end: number, slot: number): string {
    return this.cachedString(end, slot, valueCache);
  }

  private cachedString(end: number, slot: number, cache: StringCache): string {
    const stop = this.lengthEnd(end);
    const start = this.pos;
    const len = stop - start;
    this.pos = stop;
    if (slot >= KEY_CACHE_SLOTS || len > CACHED_STRING_MAX_BYTES) return this.stringAt(start, stop);
    const buf = this.buf;
    const entry = cache[slot]!;
    // A position whose values never repeat (ids) would pay the compare and the copy for nothing.
    if (entry.bypass > 0) {
      entry.bypass--;
      return this.stringAt(start, stop);
    }
    if (entry.len === len) {
      const bytes = entry.bytes;
      let i = 0;
      while (i < len && bytes[i] === buf[start + i]) i++;
      if (i === len) {
        entry.misses = 0;
        return entry.text;
      }
    }
    if (++entry.misses >= CACHE_MAX_MISSES) {
      entry.misses = 0;
      entry.bypass = CACHE_BYPASS_RECORDS;
    }
    const text = this.stringAt(start, stop);
    // Copy into the slot's preallocated bytes: no allocation per miss (unique values miss every time).
    const bytes = entry.bytes;
    for (let i = 0; i < len; i++) bytes[i] = buf[start + i]!;
    entry.len = len;
    entry.text = text;
    return text;
  }

  bytes(end: number): Uint8Array {
    const stop = this.lengthEnd(end);
    // Copy so the decoded request does not pin the whole network buffer.
    const out = new Uint8Array(this.buf.subarray(this.pos, stop));
    this.pos = stop;
    return out;
  }

  hexId(end: number, size: number, what: string): string {
    const stop = this.lengthEnd(end);
    const len = stop - this.pos;
    if (len !== 0 && len !== size) throw new DecodeFailure(`expected ${size} bytes or none, got ${len}`, what);
    const hex = len === 0 ? '' : this.buf.hexSlice(this.pos, stop);
    this.pos = stop;
    return hex;
  }

  skip(wireType: number, end: number): void {
    switch (wireType) {
      case 0:
        this.uint32(end);
        return;
      case 1:
        if (this.pos + 8 > end) throw new DecodeFailure('truncated fixed64');
        this.pos += 8;
        return;
      case 2:
        this.pos = this.lengthEnd(end);
        return;
      case 5:
        if (this.pos + 4 > end) throw new DecodeFailure('truncated fixed32');
        this.pos += 4;
        return;
      default:
        throw new DecodeFailure(`unsupported wire type ${wireType}`);
    }
  }
}

function wrongWireType(field: string, wireType: number): DecodeFailure {
  return new DecodeFailure(`wrong wire type ${wireType}`, field);
}

/** Set a property even when the key is `__proto__` (attribute keys are arbitrary strings). */
function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function anyValue(r: Reader, end: number, depth: number, slot: number = KEY_CACHE_SLOTS): unknown {
  if (depth > MAX_ANY_VALUE_DEPTH) throw new DecodeFailure(`AnyValue nested deeper than ${MAX_ANY_VALUE_DEPTH}`);
  let value: unknown = null; // an AnyValue with no member set is the empty value (logs data model)
  while (r.pos < end) {
    const tag = r.tag(end);
    const field = tag >>> 3;
    const wt = tag & 7;
    switch (field) {
      case 1:
        if (wt !== 2) throw wrongWireType('stringValue', wt);
        value = r.value(end, slot);
        break;
      case 2:
        if (wt !== 0) throw wrongWireType('boolValue', wt);
        value = r.uint32(end) !== 0;
        break;
      case 3:
        if (wt !== 0) throw wrongWireType('intValue', wt);
        value = r.int64(end);
        break;
      case 4:
        if (wt !== 1) throw wrongWireType('doubleValue', wt);
        value = r.double(end);
        break;
      case 5: {
        if (wt !== 2) throw wrongWireType('arrayValue', wt);
        try {
          const stop = r.lengthEnd(end);
          value = arrayValue(r, stop, depth + 1);
        } catch (e) {
          throw e instanceof DecodeFailure ? e.at('arrayValue') : e;
        }
        break;
      }
      case 6: {
        if (wt !== 2) throw wrongWireType('kvlistValue', wt);
        const obj: Record<string, unknown> = {};
        try {
          const stop = r.lengthEnd(end);
          keyValues(r, stop, obj, depth + 1, 'values');
        } catch (e) {
          throw e instanceof DecodeFailure ? e.at('kvlistValue') : e;
        }
        value = obj;
        break;
      }
      case 7:
        if (wt !== 2) throw wrongWireType('bytesValue', wt);
        value = r.bytes(end);
        break;
      default:
        r.skip(wt, end);
    }
  }
  return value;
}

function arrayValue(r: Reader, end: number, depth: number): unknown[] {
  const out: unknown[] = [];
  while (r.pos < end) {
    const tag = r.tag(end);
    const wt = tag & 7;
    if (tag >>> 3 === 1) {
      if (wt !== 2) throw wrongWireType(`values[${out.length}]`, wt);
      try {
        const stop = r.lengthEnd(end);
        out.push(anyValue(r, stop, depth));
      } catch (e) {
        throw e instanceof DecodeFailure ? e.at(`values[${out.length}]`) : e;
      }
    } else r.skip(wt, end);
  }
  return out;
}

/** Decode the repeated KeyValue field `fieldNo` = 1 of a KeyValueList (or the caller's field) into `target`. */
function keyValue(r: Reader, end: number, target: Record<string, unknown>, depth: number, slot: number): void {
  let key = '';
  let value: unknown = null;
  while (r.pos < end) {
    const tag = r.tag(end);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1) {
      if (wt !== 2) throw wrongWireType('key', wt);
      key = r.key(end, slot);
    } else if (field === 2) {
      if (wt !== 2) throw wrongWireType('value', wt);
      try {
        const stop = r.lengthEnd(end);
        value = anyValue(r, stop, depth, slot);
      } catch (e) {
        throw e instanceof DecodeFailure ? e.at('value') : e;
      }
    } else r.skip(wt, end);
  }
  // Duplicate keys: the last one wins (the data model forbids duplicates; collectors keep one).
  setKey(target, key, value);
}

/** Decode every field-1 KeyValue in [pos, end) (KeyValueList.values) into `target`. */
function keyValues(r: Reader, end: number, target: Record<string, unknown>, depth: number, name: string): void {
  let i = 0;
  while (r.pos < end) {
    const tag = r.tag(end);
    const wt = tag & 7;
    if (tag >>> 3 === 1) {
      if (wt !== 2) throw wrongWireType(`${name}[${i}]`, wt);
      try {
        const stop = r.lengthEnd(end);
        keyValue(r, stop, target, depth, KEY_CACHE_SLOTS);
      } catch (e) {
        throw e instanceof DecodeFailure ? e.at(`${name}[${i}]`) : e;
      }
      i++;
    } else r.skip(wt, end);
  }
}

/** One attribute (a KeyValue message at the reader's position, length-delimited) into `target`. */
function attribute(r: Reader, end: number, target: Record<string, unknown>, index: number): void {
  try {
    const stop = r.lengthEnd(end);
    keyValue(r, stop, target, 1, index);
  } catch (e) {
    throw e instanceof DecodeFailure ? e.at(`attributes[${index}]`) : e;
  }
}

function logRecord(r: Reader, end: number): LogRecordView {
  let timeUnixNano = 0n;
  let observedTimeUnixNano = 0n;
  let severityNumber = 0;
  let severityText = '';
  let eventName = '';
  let body: unknown;
  const attributes: Record<string, unknown> = {};
  let attrIndex = 0;
  let traceId = '';
  let spanId = '';
  let flags = 0;
  while (r.pos < end) {
    const tag = r.tag(end);
    const field = tag >>> 3;
    const wt = tag & 7;
    switch (field) {
      case 1:
        if (wt !== 1) throw wrongWireType('timeUnixNano', wt);
        timeUnixNano = r.fixed64(end);
        break;
      case 11:
        if (wt !== 1) throw wrongWireType('observedTimeUnixNano', wt);
        observedTimeUnixNano = r.fixed64(end);
        break;
      case 2:
        if (wt !== 0) throw wrongWireType('severityNumber', wt);
        severityNumber = r.uint32(end) | 0; // enum = int32
        break;
      case 3:
        if (wt !== 2) throw wrongWireType('severityText', wt);
        severityText = r.string(end);
        break;
      case 5: {
        if (wt !== 2) throw wrongWireType('body', wt);
        try {
          const stop = r.lengthEnd(end);
          body = anyValue(r, stop, 1);
        } catch (e) {
          throw e instanceof DecodeFailure ? e.at('body') : e;
        }
        break;
      }
      case 6:
        if (wt !== 2) throw wrongWireType(`attributes[${attrIndex}]`, wt);
        attribute(r, end, attributes, attrIndex++);
        break;
      case 8:
        if (wt !== 5) throw wrongWireType('flags', wt);
        flags = r.fixed32(end);
        break;
      case 9:
        if (wt !== 2) throw wrongWireType('traceId', wt);
        traceId = r.hexId(end, 16, 'traceId');
        break;
      case 10:
        if (wt !== 2) throw wrongWireType('spanId', wt);
        spanId = r.hexId(end, 8, 'spanId');
        break;
      case 12:
        if (wt !== 2) throw wrongWireType('eventName', wt);
        eventName = r.string(end);
        break;
      default:
        r.skip(wt, end); // incl. 7 dropped_attributes_count
    }
  }
  return { timeUnixNano, observedTimeUnixNano, severityNumber, severityText, eventName, body, attributes, traceId, spanId, flags };
}

function scope(r: Reader, end: number): ScopeView {
  const out: ScopeView = { name: '', version: '', attributes: {} };
  let attrIndex = 0;
  while (r.pos < end) {
    const tag = r.tag(end);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1) {
      if (wt !== 2) throw wrongWireType('name', wt);
      out.name = r.string(end);
    } else if (field === 2) {
      if (wt !== 2) throw wrongWireType('version', wt);
      out.version = r.string(end);
    } else if (field === 3) {
      if (wt !== 2) throw wrongWireType(`attributes[${attrIndex}]`, wt);
      attribute(r, end, out.attributes, attrIndex++);
    } else r.skip(wt, end);
  }
  return out;
}

type ScopeLogsView = DecodedLogs['resourceLogs'][number]['scopeLogs'][number];
type ResourceLogsView = DecodedLogs['resourceLogs'][number];

function scopeLogs(r: Reader, end: number, counter: { n: number }): ScopeLogsView {
  const out: ScopeLogsView = { scope: { name: '', version: '', attributes: {} }, schemaUrl: '', logRecords: [] };
  while (r.pos < end) {
    const tag = r.tag(end);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 2) {
      if (wt !== 2) throw wrongWireType(`logRecords[${out.logRecords.length}]`, wt);
      try {
        const stop = r.lengthEnd(end);
        out.logRecords.push(logRecord(r, stop));
      } catch (e) {
        throw e instanceof DecodeFailure ? e.at(`logRecords[${out.logRecords.length}]`) : e;
      }
      counter.n++;
    } else if (field === 1) {
      if (wt !== 2) throw wrongWireType('scope', wt);
      try {
        const stop = r.lengthEnd(end);
        out.scope = scope(r, stop);
      } catch (e) {
        throw e instanceof DecodeFailure ? e.at('scope') : e;
      }
    } else if (field === 3) {
      if (wt !== 2) throw wrongWireType('schemaUrl', wt);
      out.schemaUrl = r.string(end);
    } else r.skip(wt, end);
  }
  return out;
}

function resourceLogs(r: Reader, end: number, counter: { n: number }): ResourceLogsView {
  const out: ResourceLogsView = { resource: { attributes: {} }, schemaUrl: '', scopeLogs: [] };
  while (r.pos < end) {
    const tag = r.tag(end);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 2) {
      if (wt !== 2) throw wrongWireType(`scopeLogs[${out.scopeLogs.length}]`, wt);
      try {
        const stop = r.lengthEnd(end);
        out.scopeLogs.push(scopeLogs(r, stop, counter));
      } catch (e) {
        throw e instanceof DecodeFailure ? e.at(`scopeLogs[${out.scopeLogs.length}]`) : e;
      }
    } else if (field === 1) {
      if (wt !== 2) throw wrongWireType('resource', wt);
      const stop = r.lengthEnd(end);
      const attributes: Record<string, unknown> = {};
      let attrIndex = 0;
      try {
        while (r.pos < stop) {
          const t = r.tag(stop);
          const w = t & 7;
          if (t >>> 3 === 1) {
            if (w !== 2) throw wrongWireType(`attributes[${attrIndex}]`, w);
            attribute(r, stop, attributes, attrIndex++);
          } else r.skip(w, stop);
        }
      } catch (e) {
        throw e instanceof DecodeFailure ? e.at('resource') : e;
      }
      out.resource = { attributes };
    } else if (field === 3) {
      if (wt !== 2) throw wrongWireType('schemaUrl', wt);
      out.schemaUrl = r.string(end);
    } else r.skip(wt, end);
  }
  return out;
}

/**
 * Decode a binary protobuf `ExportLogsServiceRequest` into {@link DecodedLogs}.
 *
 * @param bytes the whole (already decompressed) message. Not retained: strings and byte values are copied.
 * @returns `{ ok: true, logs, recordCount }`, or `{ ok: false, error }` with an `AUDIT_ERR_DECODE`
 *   error naming the field path for malformed input (truncation, wrong wire type, bad id length,
 *   invalid UTF-8, AnyValue nesting deeper than {@link MAX_ANY_VALUE_DEPTH}). Never throws.
 */
export function decodeLogsProtobuf(bytes: Uint8Array): DecodeResult {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new Reader(buf);
  const end = buf.length;
  const counter = { n: 0 };
  const logs: DecodedLogs = { resourceLogs: [] };
  try {
    while (r.pos < end) {
      const tag = r.tag(end);
      const wt = tag & 7;
      if (tag >>> 3 === 1) {
        if (wt !== 2) throw wrongWireType(`resourceLogs[${logs.resourceLogs.length}]`, wt);
        try {
          const stop = r.lengthEnd(end);
          logs.resourceLogs.push(resourceLogs(r, stop, counter));
        } catch (e) {
          throw e instanceof DecodeFailure ? e.at(`resourceLogs[${logs.resourceLogs.length}]`) : e;
        }
      } else r.skip(wt, end);
    }
  } catch (err) {
    return decodeFailureResult(err, 'protobuf');
  }
  return { ok: true, logs, recordCount: counter.n };
}
