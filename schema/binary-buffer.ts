/**
 * The byte buffer shared by the ClickHouse binary encoders: the Native block writer of the
 * ClickHouse exporter and the RowBinary row encoder (audit-row-binary.ts) that the receiver's
 * prepare workers run. Both formats use the same primitives (ClickHouse docs,
 * interfaces/formats/RowBinary and interfaces/specs/NativeFormat).
 */

/** Strings up to this many UTF-16 units are copied byte by byte when they are ASCII. */
const SHORT_STRING = 64;

/**
 * A growable byte buffer with the primitives of ClickHouse's binary formats (Native and RowBinary:
 * LEB128 VarUInt, length-prefixed UTF-8 String, little-endian integers). Not thread-safe; views
 * returned by {@link ClickHouseBinaryBuffer.bytes} are valid until the next write.
 */
export class ClickHouseBinaryBuffer {
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

  /** A String whose bytes are the chars of `value` (each < 256; e.g. UTF-8 bytes read as latin1). */
  latin1String(value: string): void {
    const n = value.length;
    this.varUInt(n);
    this.ensure(n);
    if (n <= 32) {
      const buf = this.buf;
      let at = this.pos;
      for (let i = 0; i < n; i++) buf[at++] = value.charCodeAt(i);
    } else this.buf.write(value, this.pos, 'latin1');
    this.pos += n;
  }

  /** Copy `src[from..to)` in, as it is. */
  copyFrom(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    this.ensure(n);
    const buf = this.buf;
    if (n <= 32) {
      // Most runs are short (fixed-width values, ids, enums): a loop beats a native call.
      let at = this.pos;
      for (let i = from; i < to; i++) buf[at++] = src[i]!;
    } else buf.set(src.subarray(from, to), this.pos);
    this.pos += n;
  }

  /** Forget what was written after the first `length` bytes. */
  truncate(length: number): void {
    if (length < this.pos) this.pos = length;
  }

  /**
   * The bytes written, as a view of the buffer's own ArrayBuffer (transferable to another thread);
   * the buffer must not be used afterwards.
   */
  detach(): Uint8Array {
    const b = this.buf;
    const n = this.pos;
    this.buf = Buffer.alloc(0);
    this.pos = 0;
    // A small Buffer may live in Node's shared pool: transferring that ArrayBuffer would take the
    // pool along, so such bytes are copied out.
    if (b.byteOffset !== 0 || b.buffer.byteLength !== b.length) return new Uint8Array(b.subarray(0, n));
    return new Uint8Array(b.buffer, 0, n);
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

/**
 * Read the VarUInt (LEB128) at `src[pos..)`: returns its value and leaves the position after it in
 * `out.end`. Throws when `src` ends inside it.
 */
export function readVarUInt(src: Uint8Array, pos: number, out: { end: number }): number {
  let v = 0;
  let shift = 1;
  let p = pos;
  for (;;) {
    if (p >= src.length) throw new Error('RowBinary row ends inside a length');
    const b = src[p++]!;
    v += (b & 0x7f) * shift;
    if (b < 0x80) break;
    shift *= 0x80;
  }
  out.end = p;
  return v;
}
