/**
 * ClickHouse Native format encoder for `audit_events` rows (the columnar binary format ClickHouse
 * reads with `FORMAT Native` over HTTP and with `file('…', Native)`), so the engine does no text
 * parsing on insert.
 *
 * Layout, per the ClickHouse "Native format" specification (docs: interfaces/specs/NativeFormat),
 * for a plain HTTP/file stream (no client protocol revision, so no BlockInfo and no per-column
 * custom-serialization byte):
 *
 *   block   := VarUInt(columns) VarUInt(rows) column*
 *   column  := String(name) String(type) prefix(type) data(type)       (data only when rows > 0)
 *   String  := VarUInt(byte length) bytes                               (VarUInt = LEB128)
 *
 * Per type (all integers little-endian):
 * - `UInt8`: 1 byte per row; `UInt64`: 8 bytes; `DateTime`: UInt32 seconds;
 *   `DateTime64(9)`: Int64 ticks of 10⁻⁹ s.
 * - `Array(T)`: UInt64 cumulative end offsets (one per row), then all elements as one column of T.
 * - `Map(K, V)` is `Array(Tuple(K, V))`: offsets, then the keys column, then the values column.
 * - `LowCardinality(String)`: a state prefix `UInt64 1` (KeysSerializationVersion
 *   SharedDictionariesWithAdditionalKeys) written once before the column's data — for a nested LC
 *   column (map keys, array elements) it precedes the enclosing offsets — then, when the column has
 *   rows: `UInt64 (index width | HasAdditionalKeysBit 1<<9 | NeedUpdateDictionary 1<<10)`,
 *   `UInt64 dictionary size`, the dictionary as a String column, `UInt64 row count`, the indexes
 *   (UInt8/16/32/64 by dictionary size). An LC column with no rows (only empty arrays in the block)
 *   writes nothing after its prefix. Index 0 holds the default value '' as ClickHouse's own writer
 *   does for a non-Nullable dictionary.
 *
 * Nothing here is Nullable: the row model has no nulls ('' stands for absent).
 */

import type { AuditRow } from '@otel-audit/schema/audit-row';
import { AUDIT_EVENTS_COLUMNS } from './ddl.ts';

/** Strings up to this many UTF-16 units are copied byte by byte when they are ASCII. */
const SHORT_STRING = 64;

/** A growable byte buffer with the Native primitives. */
export class NativeBuffer {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** LEB128 unsigned integer (VarUInt). */
  varUInt(value: number): void {
    this.ensure(10);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  /** A String: VarUInt byte length, then the UTF-8 bytes. */
  string(value: string): void {
    // Short ASCII-ish strings: at most 3 bytes per UTF-16 unit, so reserving that avoids a second pass.
    const len = value.length;
    const max = len * 3;
    this.ensure(max + 10);
    if (len < 0x80 && len <= SHORT_STRING) {
      // Most values are short ASCII (ids, enums, names): copying them in JS is several times
      // cheaper than a call into Buffer#write. The first non-ASCII unit hands over to it.
      const buf = this.buf;
      const start = this.pos;
      let i = 0;
      for (; i < len; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + 1 + i] = c;
      }
      if (i === len) {
        buf[start] = len;
        this.pos = start + 1 + len;
        return;
      }
    }
    if (max < 0x80) {
      const start = this.pos++;
      const n = this.buf.write(value, this.pos, 'utf8');
      this.buf[start] = n;
      this.pos += n;
      return;
    }
    const n = Buffer.byteLength(value, 'utf8');
    this.varUInt(n);
    this.pos += this.buf.write(value, this.pos, 'utf8');
  }

  uint8(value: number): void {
    this.ensure(1);
    this.buf[this.pos++] = value;
  }

  uint16(value: number): void {
    this.ensure(2);
    this.buf.writeUInt16LE(value, this.pos);
    this.pos += 2;
  }

  uint32(value: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(value, this.pos);
    this.pos += 4;
  }

  /** UInt64 from a non-negative safe integer. */
  uint64(value: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE(value % 0x1_0000_0000, this.pos);
    this.buf.writeUInt32LE(Math.floor(value / 0x1_0000_0000), this.pos + 4);
    this.pos += 8;
  }

  int64(value: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64LE(value, this.pos);
    this.pos += 8;
  }

  /** The bytes written (a view, valid until the next write). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Encodes one column's values (`prefix` once, then `data` when the block has rows). */
interface ColumnCodec {
  prefix(out: NativeBuffer): void;
  data(out: NativeBuffer, values: ReadonlyArray<unknown>): void;
}

const HAS_ADDITIONAL_KEYS = 1 << 9;
const NEED_UPDATE_DICTIONARY = 1 << 10;

/** Parse `YYYY-MM-DD hh:mm:ss[.fffffffff]` (UTC, as the row holds it) into Unix nanoseconds. */
export function dateTime64TextToNanos(v: string): bigint {
  const ms = Date.parse(`${v.slice(0, 10)}T${v.slice(11, 19)}Z`);
  if (Number.isNaN(ms) || (v.length > 19 && v[19] !== '.')) throw new Error(`not a DateTime64 value: ${JSON.stringify(v)}`);
  const frac = v.length > 20 ? Number(v.slice(20).padEnd(9, '0').slice(0, 9)) : 0;
  return BigInt(ms / 1000) * 1_000_000_000n + BigInt(frac);
}

/** Split `A, B` at the top-level comma of a two-argument type. */
function splitArgs(inner: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(inner.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(inner.slice(start).trim());
  return out;
}

/** The codec of a ClickHouse type (the subset `audit_events` uses). */
export function codecFor(type: string): ColumnCodec {
  const noPrefix = () => {};
  if (type === 'String') {
    return {
      prefix: noPrefix,
      data(out, values) {
        for (let i = 0; i < values.length; i++) out.string(values[i] as string);
      },
    };
  }
  if (type === 'UInt8') {
    return {
      prefix: noPrefix,
      data(out, values) {
        for (let i = 0; i < values.length; i++) out.uint8(values[i] as number);
      },
    };
  }
  if (type === 'UInt64') {
    return {
      prefix: noPrefix,
      data(out, values) {
        for (let i = 0; i < values.length; i++) out.uint64(values[i] as number);
      },
    };
  }
  if (/^DateTime\('UTC'\)$/.test(type)) {
    return {
      prefix: noPrefix,
      data(out, values) {
        for (let i = 0; i < values.length; i++) {
          const v = values[i] as string;
          const ms = Date.parse(`${v.slice(0, 10)}T${v.slice(11, 19)}Z`);
          if (Number.isNaN(ms)) throw new Error(`not a DateTime value: ${JSON.stringify(v)}`);
          out.uint32(ms / 1000);
        }
      },
    };
  }
  if (/^DateTime64\(9, 'UTC'\)$/.test(type)) {
    return {
      prefix: noPrefix,
      data(out, values) {
        // Rows of a batch share seconds: cache the seconds prefix's parse.
        let lastHead = '';
        let lastSeconds = 0n;
        for (let i = 0; i < values.length; i++) {
          const v = values[i] as string;
          const head = v.slice(0, 19);
          if (head !== lastHead) {
            const ms = Date.parse(`${head.slice(0, 10)}T${head.slice(11)}Z`);
            if (Number.isNaN(ms) || (v.length > 19 && v[19] !== '.')) throw new Error(`not a DateTime64 value: ${JSON.stringify(v)}`);
            lastHead = head;
            lastSeconds = BigInt(ms / 1000) * 1_000_000_000n;
          }
          const frac = v.length > 20 ? Number(v.slice(20).padEnd(9, '0').slice(0, 9)) : 0;
          out.int64(lastSeconds + BigInt(frac));
        }
      },
    };
  }
  if (type === 'LowCardinality(String)') {
    return {
      prefix(out) {
        out.uint64(1); // KeysSerializationVersion::SharedDictionariesWithAdditionalKeys
      },
      data(out, values) {
        if (values.length === 0) return; // ClickHouse writes nothing for an empty LC column
        const index = new Map<string, number>([['', 0]]);
        const dict: string[] = [''];
        const keys = new Uint32Array(values.length);
        for (let i = 0; i < values.length; i++) {
          const v = values[i] as string;
          let k = index.get(v);
          if (k === undefined) {
            k = dict.length;
            dict.push(v);
            index.set(v, k);
          }
          keys[i] = k;
        }
        const width = dict.length <= 0x100 ? 0 : dict.length <= 0x1_0000 ? 1 : 2;
        out.uint64(width | HAS_ADDITIONAL_KEYS | NEED_UPDATE_DICTIONARY);
        out.uint64(dict.length);
        for (const s of dict) out.string(s);
        out.uint64(keys.length);
        if (width === 0) for (let i = 0; i < keys.length; i++) out.uint8(keys[i]!);
        else if (width === 1) for (let i = 0; i < keys.length; i++) out.uint16(keys[i]!);
        else for (let i = 0; i < keys.length; i++) out.uint32(keys[i]!);
      },
    };
  }
  const array = /^Array\((.*)\)$/.exec(type);
  if (array) {
    const element = codecFor(array[1]!);
    return {
      prefix: (out) => element.prefix(out),
      data(out, values) {
        let end = 0;
        const all: unknown[] = [];
        for (let i = 0; i < values.length; i++) {
          const arr = values[i] as ReadonlyArray<unknown>;
          end += arr.length;
          out.uint64(end);
          for (let j = 0; j < arr.length; j++) all.push(arr[j]);
        }
        element.data(out, all);
      },
    };
  }
  const map = /^Map\((.*)\)$/.exec(type);
  if (map) {
    const [k, v] = splitArgs(map[1]!);
    const keyCodec = codecFor(k!);
    const valueCodec = codecFor(v!);
    return {
      // Map(K, V) = Array(Tuple(K, V)): the tuple's prefix is its elements' prefixes in order.
      prefix(out) {
        keyCodec.prefix(out);
        valueCodec.prefix(out);
      },
      data(out, values) {
        let end = 0;
        const keys: string[] = [];
        const vals: string[] = [];
        for (let i = 0; i < values.length; i++) {
          const m = values[i] as Record<string, string>;
          for (const key in m) {
            keys.push(key);
            vals.push(m[key]!);
          }
          end = keys.length;
          out.uint64(end);
        }
        keyCodec.data(out, keys);
        valueCodec.data(out, vals);
      },
    };
  }
  throw new Error(`no Native codec for ClickHouse type ${type}`);
}

const AUDIT_CODECS = AUDIT_EVENTS_COLUMNS.map((c) => ({ name: c.name, type: c.type, codec: codecFor(c.type) }));

/**
 * Encode rows as one Native block of every `audit_events` column (names and types exactly as the
 * table declares them, so the engine converts nothing). Returns a fresh Buffer.
 */
export function encodeAuditRowsNative(rows: ReadonlyArray<AuditRow>): Buffer {
  const out = new NativeBuffer(Math.max(1 << 16, rows.length * 1200));
  out.varUInt(AUDIT_CODECS.length);
  out.varUInt(rows.length);
  const values = new Array<unknown>(rows.length);
  for (const col of AUDIT_CODECS) {
    out.string(col.name);
    out.string(col.type);
    if (rows.length === 0) continue;
    const name = col.name as keyof AuditRow;
    for (let i = 0; i < rows.length; i++) values[i] = rows[i]![name];
    col.codec.prefix(out);
    col.codec.data(out, values);
  }
  return Buffer.from(out.bytes());
}
