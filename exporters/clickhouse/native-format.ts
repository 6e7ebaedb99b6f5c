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

import { AUDIT_ROW_CHAIN_COLUMNS, type AuditRow } from '@otel-audit/schema/audit-row';
import { ClickHouseBinaryBuffer as NativeBuffer, readVarUInt } from '@otel-audit/schema/binary-buffer';
import { AUDIT_EVENTS_COLUMNS } from './ddl.ts';

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
  /** Add a value; `slot` (a position inside an array or map) lets a column remember values per position. */
  add(value: unknown, slot?: number): void;
  /**
   * Add the value encoded in RowBinary at `src[pos..)` (the same value {@link add} would take in
   * JS form; @otel-audit/schema/audit-row-binary). Returns the position after it.
   */
  addBinary(src: Buffer, pos: number, slot?: number): number;
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
  /** Bytes of one value in RowBinary, which for these types is also its Native encoding; -1 = a String. */
  private readonly width: number;
  constructor(write: (buf: NativeBuffer, value: unknown) => void, width: number) {
    this.write = write;
    this.width = width;
  }
  add(value: unknown): void {
    this.write(this.buf, value);
    this.count++;
  }
  addBinary(src: Buffer, pos: number): number {
    // A value of these types has the same bytes in RowBinary and in a Native column: copied as is.
    const end = this.width < 0 ? stringEnd(src, pos) : pos + this.width;
    if (end > src.length) throw new Error('RowBinary row ends inside a value');
    this.buf.copyFrom(src, pos, end);
    this.count++;
    return end;
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
    }, 8);
  }
}

/** Where the last {@link readVarUInt} of this module ended. */
const cursor = { end: 0 };

/** Position after the RowBinary String (VarUInt length, then bytes) at `src[pos..)`. */
function stringEnd(src: Buffer, pos: number): number {
  const len = readVarUInt(src, pos, cursor);
  return cursor.end + len;
}

/** Whether every UTF-16 unit of `v` is ASCII (then its UTF-8 bytes read as latin1 are `v` itself). */
function isAscii(v: string): boolean {
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Slots of the last-value cache of a LowCardinality column (map keys use one per position). */
const LC_SLOTS = 64;

class LowCardinalityColumn implements ColumnWriter {
  count = 0;
  /**
   * The dictionary, keyed by each value's UTF-8 bytes read as latin1 (one char per byte, lossless):
   * an ASCII value is its own key, and a value from a RowBinary row is looked up without decoding
   * its UTF-8. Both entry points therefore build the same dictionary for the same values.
   */
  private index = new Map<string, number>([['', 0]]);
  private dict: string[] = [''];
  private keys = new Uint32Array(1024);
  /**
   * The last value per slot (a copy of its bytes) and its dictionary index: most rows repeat the
   * previous row's value (a tenant, an action, the same attribute key at the same map position),
   * which is then found by comparing bytes, with no string made at all.
   */
  private readonly slotBytes: Array<Buffer | undefined> = new Array(LC_SLOTS);
  private readonly slotKeys = new Uint32Array(LC_SLOTS);
  /** The same cache for values given as strings ({@link add}). */
  private readonly slotValues: Array<string | undefined> = new Array(LC_SLOTS);
  private readonly slotValueKeys = new Uint32Array(LC_SLOTS);
  addBinary(src: Buffer, pos: number, slot = 0): number {
    const len = readVarUInt(src, pos, cursor);
    const from = cursor.end;
    const end = from + len;
    if (end > src.length) throw new Error('RowBinary row ends inside a value');
    const s = slot < LC_SLOTS ? slot : LC_SLOTS - 1;
    const last = this.slotBytes[s];
    if (last !== undefined && last.length === len) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (last[i] !== src[from + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.push(this.slotKeys[s]!);
        return end;
      }
    }
    const k = this.lookup(src.toString('latin1', from, end));
    this.slotBytes[s] = Buffer.from(src.subarray(from, end));
    this.slotKeys[s] = k;
    this.push(k);
    return end;
  }
  add(value: unknown, slot = 0): void {
    const v = value as string;
    const s = slot < LC_SLOTS ? slot : LC_SLOTS - 1;
    if (this.slotValues[s] === v) {
      this.push(this.slotValueKeys[s]!);
      return;
    }
    const k = this.lookup(isAscii(v) ? v : Buffer.from(v, 'utf8').toString('latin1'));
    this.slotValues[s] = v;
    this.slotValueKeys[s] = k;
    this.push(k);
  }
  private lookup(key: string): number {
    let k = this.index.get(key);
    if (k === undefined) {
      k = this.dict.length;
      this.dict.push(key);
      this.index.set(key, k);
    }
    return k;
  }
  private push(k: number): void {
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
    // Each key is the value's UTF-8 bytes, one per char.
    for (const s of dict) out.latin1String(s);
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
    this.slotBytes.fill(undefined);
    this.slotValues.fill(undefined);
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
    for (let j = 0; j < arr.length; j++) this.element.add(arr[j], j);
    this.end += arr.length;
    this.offsets.uint64(this.end);
    this.count++;
  }
  addBinary(src: Buffer, pos: number): number {
    const n = readVarUInt(src, pos, cursor);
    let p = cursor.end;
    for (let j = 0; j < n; j++) p = this.element.addBinary(src, p, j);
    this.end += n;
    this.offsets.uint64(this.end);
    this.count++;
    return p;
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
    let j = 0;
    for (const key in m) {
      this.keys.add(key, j);
      this.values.add(m[key], j);
      this.end++;
      j++;
    }
    this.offsets.uint64(this.end);
    this.count++;
  }
  addBinary(src: Buffer, pos: number): number {
    const n = readVarUInt(src, pos, cursor);
    let p = cursor.end;
    for (let j = 0; j < n; j++) {
      p = this.keys.addBinary(src, p, j);
      p = this.values.addBinary(src, p, j);
    }
    this.end += n;
    this.offsets.uint64(this.end);
    this.count++;
    return p;
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
  if (type === 'String') return new BufferedColumn((buf, v) => buf.string(v as string), -1);
  if (type === 'UInt8') return new BufferedColumn((buf, v) => buf.uint8(v as number), 1);
  if (type === 'UInt64') return new BufferedColumn((buf, v) => buf.uint64(v as number), 8);
  if (/^DateTime\('UTC'\)$/.test(type)) {
    return new BufferedColumn((buf, value) => {
      const v = value as string;
      const ms = Date.parse(`${v.slice(0, 10)}T${v.slice(11, 19)}Z`);
      if (Number.isNaN(ms)) throw new Error(`not a DateTime value: ${JSON.stringify(v)}`);
      buf.uint32(ms / 1000);
    }, 4);
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

  /**
   * Add one row given in RowBinary (@otel-audit/schema/audit-row-binary) as two runs of bytes: the
   * event columns `events[from..to)` as the WAL stores them, and the chain columns `chain[0..)`.
   * The result is the block {@link add} builds from the same row, byte for byte, without any
   * value becoming a JS object but the LowCardinality strings. Throws when the runs do not hold
   * exactly one row's columns (the block is then half-written: discard the writer).
   */
  addRowBinary(events: Buffer, from: number, to: number, chain: Buffer): void {
    const cols = this.columns;
    const split = cols.length - AUDIT_ROW_CHAIN_COLUMNS.length;
    const ev = events.subarray(0, to);
    let p = from;
    for (let i = 0; i < split; i++) p = cols[i]!.writer.addBinary(ev, p);
    if (p !== to) throw new Error(`RowBinary event columns end at byte ${p - from} of ${to - from}`);
    p = 0;
    for (let i = split; i < cols.length; i++) p = cols[i]!.writer.addBinary(chain, p);
    if (p !== chain.length) throw new Error(`RowBinary chain columns end at byte ${p} of ${chain.length}`);
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
