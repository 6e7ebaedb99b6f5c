/**
 * WAL payloads as read, back to back in one byte array: what the exporter runner hands to an
 * exporter that parses in a worker thread or stages bytes as they are.
 *
 * Why bytes and not strings: the receiver's main thread reads every exported entry once per
 * exporter. Decoding each payload to a JS string there (and, for staging, encoding it back to
 * bytes; for a worker, cloning every string) cost more main-thread CPU than the ingest path's
 * sequencing, and the strings of a 64 MiB batch sat in the main heap until the batch was done. A
 * packed batch is one buffer: the WAL reader's is shared memory that a worker reads in place,
 * staging writes slices of it.
 */

/**
 * Payloads back to back. Payload `i` is `data[i === 0 ? 0 : ends[i - 1] .. ends[i])`, the UTF-8
 * JSON of one `WalEntry` (docs/wal.md), in LSN order. `ends.length` is the number of payloads.
 */
export interface PackedPayloads {
  readonly data: Uint8Array;
  readonly ends: Uint32Array;
  /**
   * The storage rows' event columns (RowBinary, docs/wal.md "Storage rows") that the records carry,
   * packed the same way: row `i` belongs to payload `i` and is empty when its record has none
   * (checkpoints, entries written without rows). Absent when no payload of the batch has a row.
   */
  readonly rows?: { readonly data: Uint8Array; readonly ends: Uint32Array };
}

/** The RowBinary event columns of payload `i` of `p` (a view), or undefined when its record has none. */
export function payloadRow(p: PackedPayloads, i: number): Uint8Array | undefined {
  const r = p.rows;
  if (r === undefined) return undefined;
  const start = i === 0 ? 0 : r.ends[i - 1]!;
  const end = r.ends[i]!;
  return end === start ? undefined : r.data.subarray(start, end);
}

/** Number of payloads in `p`. */
export function payloadCount(p: PackedPayloads): number {
  return p.ends.length;
}

/** Byte offset in `p.data` where payload `i` starts. */
export function payloadStart(p: PackedPayloads, i: number): number {
  return i === 0 ? 0 : p.ends[i - 1]!;
}

/** A `Buffer` view of `p.data` (no copy), for slicing and decoding. */
export function payloadBuffer(p: PackedPayloads): Buffer {
  return Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength);
}

/** Payload `i` decoded as text (UTF-8). `buf` is {@link payloadBuffer} of `p`, when the caller has it. */
export function payloadText(p: PackedPayloads, i: number, buf: Buffer = payloadBuffer(p)): string {
  return buf.toString('utf8', payloadStart(p, i), p.ends[i]);
}

/** Every payload of `p` as text (tests, and exporters without a bytes path). */
export function payloadTexts(p: PackedPayloads): string[] {
  const buf = payloadBuffer(p);
  const out: string[] = new Array(p.ends.length);
  for (let i = 0; i < p.ends.length; i++) out[i] = payloadText(p, i, buf);
  return out;
}

/** Pack texts (each the UTF-8 JSON of a `WalEntry`) the way the WAL reader returns them. */
export function packPayloads(texts: readonly string[]): PackedPayloads {
  let total = 0;
  for (const t of texts) total += Buffer.byteLength(t);
  const data = Buffer.allocUnsafeSlow(total);
  const ends = new Uint32Array(texts.length);
  let at = 0;
  for (let i = 0; i < texts.length; i++) {
    at += data.write(texts[i]!, at, 'utf8');
    ends[i] = at;
  }
  return { data, ends };
}

/**
 * Accumulates payload bytes into one buffer that is reused from batch to batch (the WAL reader
 * copies each record's payload out of its read window, which is reused too).
 *
 * Reuse matters: a batch is tens of MiB, and a fresh buffer per batch is fresh pages per batch —
 * measured at ~3 µs of page faults per exported event on the main thread. The packer keeps its
 * largest buffer, so its memory is bounded by the largest batch asked of it (`maxBatchBytes`).
 */
export class PayloadPacker {
  private readonly payloads = new BytePacker();
  private readonly rows = new BytePacker();
  private withRows = 0;

  /** Payloads added since the last {@link reset}. */
  get length(): number {
    return this.payloads.count;
  }

  /**
   * Start a new batch, invalidating the views {@link finish} returned before. `expectedBytes`: the
   * capacity the batch will probably need (the buffer grows by doubling past it).
   */
  reset(expectedBytes = 1 << 16): void {
    this.payloads.reset(expectedBytes);
    this.rows.reset(this.withRows > 0 ? expectedBytes : 1024);
    this.withRows = 0;
  }

  /** Copy `payload` (and its record's storage row, when it has one) in as the next payload. */
  add(payload: Uint8Array, row?: Uint8Array): void {
    this.payloads.add(payload);
    if (row !== undefined && row.length > 0) this.withRows++;
    this.rows.add(row);
  }

  /** The batch packed so far: views of the packer's buffers, valid until the next {@link reset}. */
  finish(): PackedPayloads {
    const p = this.payloads.finish();
    return this.withRows === 0 ? p : { ...p, rows: this.rows.finish() };
  }
}

/** A `Buffer` of `bytes` bytes on a `SharedArrayBuffer` (see {@link BytePacker}). */
function sharedBytes(bytes: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(bytes));
}

/**
 * Byte runs back to back in one reused buffer (see {@link PayloadPacker}). The buffers are
 * `SharedArrayBuffer`s, so a batch reaches a worker thread without a copy (a view of shared memory
 * is posted as it is): the exporter runner reads the next batch only after the current one's export
 * returned, and an exporter returns only once its worker is done with the batch.
 */
class BytePacker {
  private data: Buffer = sharedBytes(0);
  private ends: Uint32Array = new Uint32Array(new SharedArrayBuffer(64 * 4));
  count = 0;
  private used = 0;

  reset(expectedBytes: number): void {
    this.count = 0;
    this.used = 0;
    if (this.data.length < expectedBytes) this.data = sharedBytes(Math.max(1024, expectedBytes));
  }

  /** Copy `bytes` in as the next run (none: an empty run). */
  add(bytes: Uint8Array | undefined): void {
    const need = this.used + (bytes === undefined ? 0 : bytes.length);
    if (need > this.data.length) {
      const bigger = sharedBytes(Math.max(need, this.data.length * 2, 1024));
      this.data.copy(bigger, 0, 0, this.used);
      this.data = bigger;
    }
    if (bytes !== undefined) this.data.set(bytes, this.used);
    this.used = need;
    if (this.count === this.ends.length) {
      const more = new Uint32Array(new SharedArrayBuffer(this.ends.length * 2 * 4));
      more.set(this.ends);
      this.ends = more;
    }
    this.ends[this.count++] = need;
  }

  finish(): { data: Buffer; ends: Uint32Array } {
    return { data: this.data.subarray(0, this.used), ends: this.ends.subarray(0, this.count) };
  }
}
