/**
 * OTLP/protobuf `ExportLogsServiceRequest` bytes straight from spooled records (record-codec.ts's
 * text), without building a `ReadableLogRecord` per record and without the OTel serializer's two
 * passes (a size estimate, then the write). The export worker uses it for `http/protobuf` and
 * `grpc`, where those steps were most of its CPU per event (docs/performance.md).
 *
 * The bytes are those `ProtobufLogsSerializer.serializeRequest` (@opentelemetry/otlp-transformer)
 * writes for the records `RecordDecoder` decodes from the same spool records: the same fields in
 * the same order, the same omissions (severity 0, empty strings), the same AnyValue choices (an
 * integer in the int64 range is `int_value`, any other number `double_value`) and one
 * ResourceLogs with one ScopeLogs per spool context, in order of first appearance.
 * test/sdk/spooled-logs-encoder.test.ts compares the two byte for byte. Field numbers: OTLP
 * `opentelemetry/proto/logs/v1/logs.proto` and `common/v1/common.proto`.
 */
import { parseSpoolContext, parseSpoolRecord } from './record-codec.ts';

/** Records as they cross to the export worker (see `PackedSpoolRecords` in spool/packed-records.ts). */
export interface SpooledRecordsView {
  contexts: readonly string[];
  /** Context index per record. */
  contextOf: Uint32Array;
  /** Record `i` is `data[offsets[i] .. offsets[i + 1])`. */
  offsets: Uint32Array;
  data: Uint8Array;
}

/** Wire types (protobuf encoding spec). */
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

const TWO_32 = 4294967296;
const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;

/** A growable protobuf writer whose length prefixes are reserved and patched (no size pass). */
class Writer {
  buf: Buffer;
  pos = 0;
  private view: DataView;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(1024, capacity));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** A field key; every field written here is ≤ 15, so the key is one byte. */
  tag(field: number, wire: number): void {
    this.ensure(1);
    this.buf[this.pos++] = (field << 3) | wire;
  }

  varint32(value: number): void {
    this.ensure(5);
    let v = value >>> 0;
    while (v > 127) {
      this.buf[this.pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  /** A JS number as a protobuf varint: two's complement over 64 bits for negatives (int64). */
  varint(value: number): void {
    if (value >= 0 && value <= 0xffffffff) {
      this.varint32(value);
      return;
    }
    this.ensure(10);
    let low: number;
    let high: number;
    const abs = Math.abs(value);
    low = abs >>> 0;
    high = (abs / TWO_32) >>> 0;
    if (value < 0) {
      low = ~low >>> 0;
      high = ~high >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    while (high > 0 || low > 127) {
      this.buf[this.pos++] = (low & 127) | 128;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    this.buf[this.pos++] = low & 127;
  }

  fixed32(value: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  /** An HrTime `[seconds, nanos]` as fixed64 nanoseconds, exact beyond 2^53 (otlp-transformer's arithmetic). */
  hrTime(seconds: number, nanos: number): void {
    const fromLow16 = (seconds & 0xffff) * 1e9;
    const fromHigh = ((seconds / 65536) >>> 0) * 1e9;
    const lowWithCarry = (fromLow16 >>> 0) + (((fromHigh & 0xffff) * 65536) >>> 0) + nanos;
    const high = (Math.floor(fromLow16 / TWO_32) + ((fromHigh / 65536) >>> 0) + Math.floor(lowWithCarry / TWO_32)) >>> 0;
    this.ensure(8);
    this.buf.writeUInt32LE(lowWithCarry >>> 0, this.pos);
    this.buf.writeUInt32LE(high, this.pos + 4);
    this.pos += 8;
  }

  double(value: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  /** Reserve one byte for the length of what follows; {@link end} patches it. */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Write the length of everything since `at` (from {@link begin}), moving it if the varint needs more bytes. */
  end(at: number): void {
    const len = this.pos - at - 1;
    if (len < 128) {
      this.buf[at] = len;
      return;
    }
    const size = len < 1 << 14 ? 2 : len < 1 << 21 ? 3 : len < 1 << 28 ? 4 : 5;
    this.ensure(size - 1);
    this.buf.copyWithin(at + size, at + 1, this.pos);
    this.pos += size - 1;
    let v = len;
    let p = at;
    while (v > 127) {
      this.buf[p++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buf[p] = v;
  }

  string(s: string): void {
    const n = s.length;
    // UTF-8 is at most 3 bytes per UTF-16 unit; the prefix at most 5 bytes.
    this.ensure(n * 3 + 5);
    const buf = this.buf;
    if (n < 128) {
      // Short ASCII (keys, ids, most values): copied in JS, cheaper than a call into the runtime.
      const start = this.pos;
      let p = start + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 127) break;
        buf[p++] = c;
      }
      if (i === n) {
        buf[start] = n;
        this.pos = p;
        return;
      }
    }
    const at = this.begin();
    this.pos += buf.write(s, this.pos, 'utf8');
    this.end(at);
  }

  bytes(b: Uint8Array): void {
    this.varint32(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A hex id (trace or span id) as bytes. */
  hexBytes(hex: string): void {
    const n = hex.length >>> 1;
    this.varint32(n);
    this.ensure(n);
    for (let i = 0; i < n; i++) this.buf[this.pos++] = (hexDigit(hex.charCodeAt(2 * i)) << 4) | hexDigit(hex.charCodeAt(2 * i + 1));
  }
}

/** The value of one hex digit, as otlp-transformer's `hexToBinary` reads it (no validation). */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return c - 55;
}

/** common.proto `AnyValue` (the message body, without its own tag and length). */
function anyValue(w: Writer, value: unknown): void {
  switch (typeof value) {
    case 'string':
      w.tag(1, LEN);
      w.string(value);
      return;
    case 'boolean':
      w.tag(2, VARINT);
      w.varint32(value ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(value) && value >= MIN_INT64 && value < MAX_INT64) {
        w.tag(3, VARINT);
        w.varint(value);
      } else {
        w.tag(4, I64);
        w.double(value);
      }
      return;
    case 'object': {
      if (value === null) return;
      if (value instanceof Uint8Array) {
        w.tag(7, LEN);
        w.bytes(value);
      } else if (Array.isArray(value)) {
        w.tag(5, LEN);
        const arr = w.begin();
        for (const item of value) {
          w.tag(1, LEN);
          const v = w.begin();
          anyValue(w, item);
          w.end(v);
        }
        w.end(arr);
      } else {
        w.tag(6, LEN);
        const list = w.begin();
        keyValues(w, value as Record<string, unknown>, 1);
        w.end(list);
      }
      return;
    }
    default:
      // undefined, functions, symbols, bigints: nothing (an empty AnyValue), as the OTel serializer.
      return;
  }
}

/** Repeated `KeyValue` under `field`, in the object's own key order. */
function keyValues(w: Writer, attributes: Record<string, unknown>, field: number): void {
  for (const key in attributes) {
    if (!Object.hasOwn(attributes, key)) continue;
    w.tag(field, LEN);
    const kv = w.begin();
    w.tag(1, LEN);
    w.string(key);
    w.tag(2, LEN);
    const v = w.begin();
    anyValue(w, attributes[key]);
    w.end(v);
    w.end(kv);
  }
}

interface EncodedContext {
  /** `Resource` (field 1 of ResourceLogs) with its tag and length. */
  resource: Buffer;
  /** `InstrumentationScope` (field 1 of ScopeLogs) with its tag and length. */
  scope: Buffer;
  resourceSchemaUrl: string;
  scopeSchemaUrl: string;
}

/** The resource and scope of a spool context, encoded once (contexts repeat for every record). */
function encodeContext(contextJson: string): EncodedContext {
  const parsed = parseSpoolContext(contextJson);
  const w = new Writer(256);
  w.tag(1, LEN);
  const r = w.begin();
  keyValues(w, parsed.resource.attributes, 1);
  // dropped_attributes_count: the OTel serializer always writes 0.
  w.tag(2, VARINT);
  w.varint32(0);
  w.end(r);
  const resource = Buffer.from(w.buf.subarray(0, w.pos));
  w.pos = 0;
  w.tag(1, LEN);
  const s = w.begin();
  w.tag(1, LEN);
  w.string(parsed.scope.name);
  if (parsed.scope.version) {
    w.tag(2, LEN);
    w.string(parsed.scope.version);
  }
  if (parsed.scope.attributes) keyValues(w, parsed.scope.attributes, 3);
  w.end(s);
  const scope = Buffer.from(w.buf.subarray(0, w.pos));
  return { resource, scope, resourceSchemaUrl: parsed.resource.schemaUrl ?? '', scopeSchemaUrl: parsed.scope.schemaUrl ?? '' };
}

/** One spooled record as a `LogRecord` (logs.proto), with its tag (field 2 of ScopeLogs). */
function logRecord(w: Writer, text: string): void {
  const f = parseSpoolRecord(text);
  w.tag(2, LEN);
  const at = w.begin();
  w.tag(1, I64);
  w.hrTime(f[0], f[1]);
  if (f[4] !== null && f[4] !== 0) {
    w.tag(2, VARINT);
    w.varint(f[4]);
  }
  if (f[5]) {
    w.tag(3, LEN);
    w.string(f[5]);
  }
  if (f[7] !== null) {
    w.tag(5, LEN);
    const b = w.begin();
    anyValue(w, f[7][0]);
    w.end(b);
  }
  if (f[8]) keyValues(w, f[8], 6);
  w.tag(7, VARINT);
  w.varint(f[12]);
  // The span context exists only with both ids (RecordDecoder); flags 0 are not written.
  const traced = f[9] !== null && f[10] !== null;
  if (traced && f[11]) {
    w.tag(8, I32);
    w.fixed32(f[11]);
  }
  if (traced && f[9]) {
    w.tag(9, LEN);
    w.hexBytes(f[9]);
  }
  if (traced && f[10]) {
    w.tag(10, LEN);
    w.hexBytes(f[10]);
  }
  w.tag(11, I64);
  w.hrTime(f[2], f[3]);
  if (f[6]) {
    w.tag(12, LEN);
    w.string(f[6]);
  }
  w.end(at);
}

/**
 * Encodes spooled records as OTLP requests. Keeps the encoded contexts (a spool has a handful; the
 * cache is cleared past 1024 so a pathological spool cannot grow it without bound).
 */
export class SpooledLogsEncoder {
  private readonly contexts = new Map<string, EncodedContext>();

  /**
   * The `ExportLogsServiceRequest` of `records`, or an error naming the record that is not valid
   * spool text (it would not decode through `RecordDecoder` either). The bytes are a view into a
   * buffer of their own (transferable).
   */
  encode(records: SpooledRecordsView): { ok: true; bytes: Uint8Array } | { ok: false; message: string } {
    const n = records.contextOf.length;
    // Records grouped by context, contexts in order of first appearance (as the OTel serializer
    // groups by Resource and scope object).
    const order: number[] = [];
    const members: number[][] = [];
    const slot = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const c = records.contextOf[i]!;
      let s = slot.get(c);
      if (s === undefined) {
        s = order.length;
        slot.set(c, s);
        order.push(c);
        members.push([]);
      }
      members[s]!.push(i);
    }
    const data = Buffer.from(records.data.buffer, records.data.byteOffset, records.data.byteLength);
    // The request is a little larger than the JSON text for typical records; grown on demand.
    const w = new Writer(data.length + 1024);
    for (let s = 0; s < order.length; s++) {
      const contextJson = records.contexts[order[s]!]!;
      let ctx = this.contexts.get(contextJson);
      if (!ctx) {
        try {
          ctx = encodeContext(contextJson);
        } catch (err) {
          return { ok: false, message: `spool context ${s}: ${(err as Error).message}` };
        }
        if (this.contexts.size > 1024) this.contexts.clear();
        this.contexts.set(contextJson, ctx);
      }
      w.tag(1, LEN);
      const rl = w.begin();
      w.ensure(ctx.resource.length + ctx.scope.length + 8);
      w.pos += ctx.resource.copy(w.buf, w.pos);
      w.tag(2, LEN);
      const sl = w.begin();
      w.pos += ctx.scope.copy(w.buf, w.pos);
      for (const i of members[s]!) {
        try {
          logRecord(w, data.toString('utf8', records.offsets[i]!, records.offsets[i + 1]!));
        } catch (err) {
          return { ok: false, message: `spool record ${i}: ${(err as Error).message}` };
        }
      }
      if (ctx.scopeSchemaUrl) {
        w.tag(3, LEN);
        w.string(ctx.scopeSchemaUrl);
      }
      w.end(sl);
      if (ctx.resourceSchemaUrl) {
        w.tag(3, LEN);
        w.string(ctx.resourceSchemaUrl);
      }
      w.end(rl);
    }
    return { ok: true, bytes: new Uint8Array(w.buf.buffer, w.buf.byteOffset, w.pos) };
  }
}
