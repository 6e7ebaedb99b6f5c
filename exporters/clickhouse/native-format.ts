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

  /** Raw bytes, as they are. */
  append(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Forget what was written (the memory is kept for the next use). */
  reset(): void {
    this.pos = 0;
  }

  /** The bytes written (a view, valid until the next write). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

const HAS_ADDITIONAL_KEYS = 1 << 9;
const NEED_UPDATE_DICTIONARY = 1 << 10;

/** Split `A, B` at the top-level comma of a two-argument ClickHouse type (`Map(A, B)`'s arguments). */
export function splitTypeArgs(inner: string): string[] {
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

/**
 * A column filled row by row: values are encoded into the column's own buffer as they arrive, so a
 * block is built without keeping its rows (the rows of a large block outlived the young generation
 * and cost full garbage collections).
 */
interface ColumnWriter {
  add(value: unknown): void;
  /** Values added since the last reset. */
  readonly count: number;
  prefix(out: NativeBuffer): void;
  data(out: NativeBuffer): void;
  reset(): void;
}

class BufferedColumn implements ColumnWriter {
  count = 0;
  protected readonly buf = new NativeBuffer(1 << 12);
  private readonly write: (buf: NativeBuffer, value: unknown) => void;
  constructor(write: (buf: NativeBuffer, value: unknown) => void) {
    this.write = write;
  }
  add(value: unknown): void {
    this.write(this.buf, value);
    this.count++;
  }
  prefix(): void {}
  data(out: NativeBuffer): void {
    out.append(this.buf.bytes());
  }
  reset(): void {
    this.buf.reset();
    this.count = 0;
  }
}

class DateTime64Column extends BufferedColumn {
  // Rows of a batch share seconds: the seconds prefix's parse is cached (as the codec does).
  private lastHead = '';
  private lastSeconds = 0n;
  constructor() {
    super((buf, value) => {
      const v = value as string;
      const head = v.slice(0, 19);
      if (head !== this.lastHead) {
        const ms = Date.parse(`${head.slice(0, 10)}T${head.slice(11)}Z`);
        if (Number.isNaN(ms) || (v.length > 19 && v[19] !== '.')) throw new Error(`not a DateTime64 value: ${JSON.stringify(v)}`);
        this.lastHead = head;
        this.lastSeconds = BigInt(ms / 1000) * 1_000_000_000n;
      }
      const frac = v.length > 20 ? Number(v.slice(20).padEnd(9, '0').slice(0, 9)) : 0;
      buf.int64(this.lastSeconds + BigInt(frac));
    });
  }
}

class LowCardinalityColumn implements ColumnWriter {
  count = 0;
  private index = new Map<string, number>([['', 0]]);
  private dict: string[] = [''];
  private keys = new Uint32Array(1024);
  add(value: unknown): void {
    const v = value as string;
    let k = this.index.get(v);
    if (k === undefined) {
      k = this.dict.length;
      this.dict.push(v);
      this.index.set(v, k);
    }
    if (this.count === this.keys.length) {
      const grown = new Uint32Array(this.keys.length * 2);
      grown.set(this.keys);
      this.keys = grown;
    }
    this.keys[this.count++] = k;
  }
  prefix(out: NativeBuffer): void {
    out.uint64(1); // KeysSerializationVersion::SharedDictionariesWithAdditionalKeys
  }
  data(out: NativeBuffer): void {
    if (this.count === 0) return; // ClickHouse writes nothing for an empty LC column
    const { dict, keys } = this;
    const width = dict.length <= 0x100 ? 0 : dict.length <= 0x1_0000 ? 1 : 2;
    out.uint64(width | HAS_ADDITIONAL_KEYS | NEED_UPDATE_DICTIONARY);
    out.uint64(dict.length);
    for (const s of dict) out.string(s);
    out.uint64(this.count);
    if (width === 0) for (let i = 0; i < this.count; i++) out.uint8(keys[i]!);
    else if (width === 1) for (let i = 0; i < this.count; i++) out.uint16(keys[i]!);
    else for (let i = 0; i < this.count; i++) out.uint32(keys[i]!);
  }
  reset(): void {
    this.count = 0;
    // A new dictionary per block, as the codec builds it (the block must stand alone).
    this.index = new Map([['', 0]]);
    this.dict = [''];
  }
}

class ArrayColumn implements ColumnWriter {
  count = 0;
  private readonly offsets = new NativeBuffer(1 << 12);
  private end = 0;
  private readonly element: ColumnWriter;
  constructor(element: ColumnWriter) {
    this.element = element;
  }
  add(value: unknown): void {
    const arr = value as ReadonlyArray<unknown>;
    for (let j = 0; j < arr.length; j++) this.element.add(arr[j]);
    this.end += arr.length;
    this.offsets.uint64(this.end);
    this.count++;
  }
  prefix(out: NativeBuffer): void {
    this.element.prefix(out);
  }
  data(out: NativeBuffer): void {
    out.append(this.offsets.bytes());
    this.element.data(out);
  }
  reset(): void {
    this.count = 0;
    this.end = 0;
    this.offsets.reset();
    this.element.reset();
  }
}

class MapColumn implements ColumnWriter {
  count = 0;
  private readonly offsets = new NativeBuffer(1 << 12);
  private end = 0;
  private readonly keys: ColumnWriter;
  private readonly values: ColumnWriter;
  constructor(keys: ColumnWriter, values: ColumnWriter) {
    this.keys = keys;
    this.values = values;
  }
  add(value: unknown): void {
    const m = value as Record<string, string>;
    for (const key in m) {
      this.keys.add(key);
      this.values.add(m[key]);
      this.end++;
    }
    this.offsets.uint64(this.end);
    this.count++;
  }
  // Map(K, V) = Array(Tuple(K, V)): the tuple's prefix is its elements' prefixes in order.
  prefix(out: NativeBuffer): void {
    this.keys.prefix(out);
    this.values.prefix(out);
  }
  data(out: NativeBuffer): void {
    out.append(this.offsets.bytes());
    this.keys.data(out);
    this.values.data(out);
  }
  reset(): void {
    this.count = 0;
    this.end = 0;
    this.offsets.reset();
    this.keys.reset();
    this.values.reset();
  }
}

/** The row-by-row writer of a ClickHouse type (the subset `audit_events` uses). */
function columnWriterFor(type: string): ColumnWriter {
  if (type === 'String') return new BufferedColumn((buf, v) => buf.string(v as string));
  if (type === 'UInt8') return new BufferedColumn((buf, v) => buf.uint8(v as number));
  if (type === 'UInt64') return new BufferedColumn((buf, v) => buf.uint64(v as number));
  if (/^DateTime\('UTC'\)$/.test(type)) {
    return new BufferedColumn((buf, value) => {
      const v = value as string;
      const ms = Date.parse(`${v.slice(0, 10)}T${v.slice(11, 19)}Z`);
      if (Number.isNaN(ms)) throw new Error(`not a DateTime value: ${JSON.stringify(v)}`);
      buf.uint32(ms / 1000);
    });
  }
  if (/^DateTime64\(9, 'UTC'\)$/.test(type)) return new DateTime64Column();
  if (type === 'LowCardinality(String)') return new LowCardinalityColumn();
  const array = /^Array\((.*)\)$/.exec(type);
  if (array) return new ArrayColumn(columnWriterFor(array[1]!));
  const map = /^Map\((.*)\)$/.exec(type);
  if (map) {
    const [k, v] = splitTypeArgs(map[1]!);
    return new MapColumn(columnWriterFor(k!), columnWriterFor(v!));
  }
  throw new Error(`no Native codec for ClickHouse type ${type}`);
}

/**
 * Builds Native blocks of every `audit_events` column row by row: {@link add} encodes a row into
 * the column buffers at once (the row object can be collected right away), {@link finish} returns
 * the block and starts the next. Not reentrant. A row that fails to encode (a value its column
 * cannot hold) leaves the block half-written: discard the writer then.
 */
export class AuditNativeBlockWriter {
  private readonly columns = AUDIT_EVENTS_COLUMNS.map((c) => ({
    name: c.name as keyof AuditRow,
    type: c.type,
    writer: columnWriterFor(c.type),
  }));
  private rows = 0;

  /** Rows added to the current block. */
  get rowCount(): number {
    return this.rows;
  }

  /** Encode one row into the current block. */
  add(row: AuditRow): void {
    for (const c of this.columns) c.writer.add(row[c.name]);
    this.rows++;
  }

  /** The current block (names and types exactly as the table declares them), as a fresh Buffer; then an empty block. */
  finish(): Buffer {
    const out = new NativeBuffer(Math.max(1 << 16, this.rows * 1200));
    out.varUInt(this.columns.length);
    out.varUInt(this.rows);
    for (const c of this.columns) {
      out.string(c.name);
      out.string(c.type);
      if (this.rows === 0) continue;
      c.writer.prefix(out);
      c.writer.data(out);
    }
    for (const c of this.columns) c.writer.reset();
    this.rows = 0;
    return Buffer.from(out.bytes());
  }
}

/**
 * Encode rows as one Native block of every `audit_events` column (names and types exactly as the
 * table declares them, so the engine converts nothing). Returns a fresh Buffer.
 */
export function encodeAuditRowsNative(rows: ReadonlyArray<AuditRow>): Buffer {
  const writer = new AuditNativeBlockWriter();
  for (const row of rows) writer.add(row);
  return writer.finish();
}

/**
 * One Native block of a single column `name` of ClickHouse type `type` holding `values`, encoded by
 * the same column writers as the audit blocks (so it can be checked against the engine's own
 * writer for the same values). Throws for a type outside the `audit_events` subset.
 */
export function encodeColumnNative(name: string, type: string, values: ReadonlyArray<unknown>): Buffer {
  const writer = columnWriterFor(type);
  const out = new NativeBuffer(64);
  out.varUInt(1);
  out.varUInt(values.length);
  out.string(name);
  out.string(type);
  for (const v of values) writer.add(v);
  writer.prefix(out);
  writer.data(out);
  return Buffer.from(out.bytes());
}
