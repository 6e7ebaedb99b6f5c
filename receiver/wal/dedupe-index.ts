/**
 * The in-memory table of the dedupe index: which event ids were accepted recently.
 *
 * An open-addressing hash table (linear probing) in one `Uint32Array`: a slot is five u32 words —
 * the 128-bit UUID and the second it was first accepted (0 = empty slot). That is 20 bytes per
 * slot; the table grows by doubling at 75 % load, so it costs 27–53 bytes per id (measured in
 * test/receiver/wal/dedupe-index.test.ts and docs/wal.md), against ~150 bytes for a
 * `Map<string, number>`. Memory is bounded by `maxIds`. {@link DedupeWindow} (dedupe-window.ts)
 * spills a full table to on-disk runs, so the window is set by time; the table evicts its oldest
 * quarter (the effective window shrinks, reported in status) only when spills cannot keep up.
 *
 * Chunk files (`dedupe/ids-<firstLsn>-<lastLsn>.bin`) are the previous persistence format, read once
 * at start and converted to runs: magic "OTAUDDDP" (8 bytes), id count (u32 LE), CRC-32 of the body
 * (u32 LE), then per id the 16 UUID bytes and the accepted-at second (u32 LE).
 */
import { crc32 } from 'node:zlib';
import { AuditError } from '@otel-audit/core';

const SLOT_WORDS = 5;
const MAX_LOAD = 0.75;
const CHUNK_MAGIC = Buffer.from('OTAUDDDP', 'latin1');
const CHUNK_HEADER_BYTES = 16;
const CHUNK_ID_BYTES = 20;

/** Options of {@link DedupeIndex}. */
export interface DedupeIndexOptions {
  /** Window in milliseconds: an id accepted longer ago than this is no longer a duplicate. */
  windowMillis: number;
  /** Most ids kept in memory; beyond it the oldest are evicted (the effective window shrinks). */
  maxIds: number;
  /** Initial table capacity in slots (a power of two). Default 1024. */
  initialCapacity?: number;
}

function nextPow2(n: number): number {
  let c = 1;
  while (c < n) c *= 2;
  return c;
}

/** In-memory set of recently accepted event ids with bounded memory (see the module comment). */
export class DedupeIndex {
  private table: Uint32Array;
  private mask: number;
  private count = 0;
  private readonly windowSeconds: number;
  private readonly maxIds: number;
  private readonly maxCapacity: number;
  /** Ids first seen before this second were evicted for space (0 = none evicted). */
  private evictedBeforeSec = 0;

  constructor(options: DedupeIndexOptions) {
    this.windowSeconds = Math.ceil(options.windowMillis / 1000);
    this.maxIds = Math.max(16, options.maxIds);
    this.maxCapacity = nextPow2(Math.ceil(this.maxIds / MAX_LOAD) + 1);
    const cap = Math.min(this.maxCapacity, nextPow2(options.initialCapacity ?? 1024));
    this.table = new Uint32Array(cap * SLOT_WORDS);
    this.mask = cap - 1;
  }

  /** Number of ids held. */
  get size(): number {
    return this.count;
  }

  /** Slots of the table (a power of two; it doubles at 75 % load up to what `maxIds` needs). */
  get capacity(): number {
    return this.mask + 1;
  }

  /** Bytes of the table (the index's memory, excluding a fixed few hundred bytes of object). */
  get bytes(): number {
    return this.table.byteLength;
  }

  /** Effective window in milliseconds: the configured one, or less after evictions for space. */
  effectiveWindowMillis(nowSec: number): number {
    if (this.evictedBeforeSec === 0) return this.windowSeconds * 1000;
    return Math.min(this.windowSeconds, Math.max(0, nowSec - this.evictedBeforeSec)) * 1000;
  }

  private slotOf(a: number, b: number, c: number, d: number): number {
    // The UUIDv7's leading words are a timestamp; the trailing ones are random, so hash those.
    let h = Math.imul(d ^ Math.imul(c, 0x9e3779b1), 0x85ebca6b) ^ Math.imul(b, 0xc2b2ae35) ^ a;
    h ^= h >>> 15;
    return (h >>> 0) & this.mask;
  }

  /** Ids first seen before this second were evicted for space (0 = none). */
  get evictedBeforeSeconds(): number {
    return this.evictedBeforeSec;
  }

  /** True when the id is present and within the window at `nowSec` (no change to the table). */
  has(a: number, b: number, c: number, d: number, nowSec: number): boolean {
    const t = this.table;
    let i = this.slotOf(a, b, c, d);
    for (;;) {
      const base = i * SLOT_WORDS;
      const seen = t[base + 4]!;
      if (seen === 0) return false;
      if (t[base] === a && t[base + 1] === b && t[base + 2] === c && t[base + 3] === d) return seen + this.windowSeconds >= nowSec;
      i = (i + 1) & this.mask;
    }
  }

  /** Every id with its first-seen second, compacted: five u32 words per id (a, b, c, d, second). */
  snapshot(): Uint32Array {
    const t = this.table;
    const out = new Uint32Array(this.count * SLOT_WORDS);
    let o = 0;
    for (let base = 0; base < t.length; base += SLOT_WORDS) {
      if (t[base + 4] === 0) continue;
      // Word by word: a subarray per slot made this copy of a 1M-id table take ~80 ms.
      out[o] = t[base]!;
      out[o + 1] = t[base + 1]!;
      out[o + 2] = t[base + 2]!;
      out[o + 3] = t[base + 3]!;
      out[o + 4] = t[base + 4]!;
      o += SLOT_WORDS;
    }
    return out;
  }

  /**
   * If the id is present and within the window, return true (a duplicate). Otherwise record it as
   * seen at `seenAtSec` (Unix seconds, > 0) and return false.
   */
  checkAndInsert(a: number, b: number, c: number, d: number, seenAtSec: number, nowSec: number): boolean {
    const t = this.table;
    let i = this.slotOf(a, b, c, d);
    for (;;) {
      const base = i * SLOT_WORDS;
      const seen = t[base + 4]!;
      if (seen === 0) break;
      if (t[base] === a && t[base + 1] === b && t[base + 2] === c && t[base + 3] === d) {
        if (seen + this.windowSeconds >= nowSec) return true;
        t[base + 4] = seenAtSec; // expired: accepted again, the window restarts
        return false;
      }
      i = (i + 1) & this.mask;
    }
    this.insertNew(a, b, c, d, seenAtSec, nowSec);
    return false;
  }

  /**
   * Remove an id (the WAL discarded the record that inserted it: a failed write). Linear probing
   * with backward-shift deletion: later members of the probe run move up, so lookups stay exact
   * without tombstones. Returns whether the id was present.
   */
  remove(a: number, b: number, c: number, d: number): boolean {
    const t = this.table;
    const mask = this.mask;
    let i = this.slotOf(a, b, c, d);
    for (;;) {
      const base = i * SLOT_WORDS;
      if (t[base + 4] === 0) return false;
      if (t[base] === a && t[base + 1] === b && t[base + 2] === c && t[base + 3] === d) break;
      i = (i + 1) & mask;
    }
    // Empty slot i, then pull back every later member whose home slot is not in (i, j].
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const jb = j * SLOT_WORDS;
      if (t[jb + 4] === 0) break;
      const home = this.slotOf(t[jb]!, t[jb + 1]!, t[jb + 2]!, t[jb + 3]!);
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (inRange) continue;
      t.copyWithin(i * SLOT_WORDS, jb, jb + SLOT_WORDS);
      i = j;
    }
    t.fill(0, i * SLOT_WORDS, i * SLOT_WORDS + SLOT_WORDS);
    this.count--;
    return true;
  }

  /** Add an id read back from disk (recovery), keeping the earliest seen time. Expired ids are skipped. */
  addRecovered(a: number, b: number, c: number, d: number, seenAtSec: number, nowSec: number): void {
    if (seenAtSec + this.windowSeconds < nowSec || seenAtSec === 0) return;
    const t = this.table;
    let i = this.slotOf(a, b, c, d);
    for (;;) {
      const base = i * SLOT_WORDS;
      const seen = t[base + 4]!;
      if (seen === 0) break;
      if (t[base] === a && t[base + 1] === b && t[base + 2] === c && t[base + 3] === d) {
        if (seenAtSec < seen) t[base + 4] = seenAtSec;
        return;
      }
      i = (i + 1) & this.mask;
    }
    this.insertNew(a, b, c, d, seenAtSec, nowSec);
  }

  private insertNew(a: number, b: number, c: number, d: number, seenAtSec: number, nowSec: number): void {
    if (this.count + 1 > (this.mask + 1) * MAX_LOAD) {
      if ((this.mask + 1) * 2 <= this.maxCapacity) this.rebuild((this.mask + 1) * 2, nowSec, 0);
      else this.rebuild(this.mask + 1, nowSec, 0);
    }
    if (this.count >= this.maxIds || this.count + 1 > (this.mask + 1) * MAX_LOAD) this.evictOldest(nowSec);
    this.place(a, b, c, d, seenAtSec);
  }

  /** Put an id known to be absent into the first free slot of its probe sequence (linear probing). */
  private place(a: number, b: number, c: number, d: number, seenAtSec: number): void {
    const t = this.table;
    let i = this.slotOf(a, b, c, d);
    while (t[i * SLOT_WORDS + 4] !== 0) i = (i + 1) & this.mask;
    const base = i * SLOT_WORDS;
    t[base] = a;
    t[base + 1] = b;
    t[base + 2] = c;
    t[base + 3] = d;
    t[base + 4] = seenAtSec;
    this.count++;
  }

  /**
   * Drop the oldest ~25 % (by first-seen second, found from a sample of the table). When time does
   * not discriminate (a burst within one second fills the table), drop a pseudo-random quarter
   * instead, so an insert always finds room.
   */
  private evictOldest(nowSec: number): void {
    const t = this.table;
    const cap = this.mask + 1;
    const step = Math.max(1, Math.floor(cap / 4096));
    const sample: number[] = [];
    for (let i = 0; i < cap; i += step) {
      const s = t[i * SLOT_WORDS + 4]!;
      if (s !== 0) sample.push(s);
    }
    sample.sort((x, y) => x - y);
    const cutoff = sample[Math.floor(sample.length / 4)] ?? nowSec;
    this.evictedBeforeSec = Math.max(this.evictedBeforeSec, cutoff);
    this.rebuild(cap, nowSec, cutoff);
    if (this.count > this.maxIds * 0.9) {
      this.evictedBeforeSec = Math.max(this.evictedBeforeSec, cutoff + 1);
      this.rebuild(cap, nowSec, 0, 4);
    }
  }

  /** Drop ids older than the window (call periodically; cost is one pass over the table). */
  expire(nowSec: number): void {
    this.rebuild(this.mask + 1, nowSec, 0);
  }

  /** Re-insert live ids into a table of `capacity` slots; `dropEvery` > 0 also drops every n-th id. */
  private rebuild(capacity: number, nowSec: number, dropBeforeSec: number, dropEvery = 0): void {
    const old = this.table;
    const oldCap = this.mask + 1;
    this.table = new Uint32Array(capacity * SLOT_WORDS);
    this.mask = capacity - 1;
    this.count = 0;
    const minSeen = Math.max(nowSec - this.windowSeconds, dropBeforeSec);
    let n = 0;
    for (let j = 0; j < oldCap; j++) {
      const ob = j * SLOT_WORDS;
      const seen = old[ob + 4]!;
      if (seen === 0 || seen < minSeen) continue;
      if (dropEvery > 0 && ++n % dropEvery === 0) continue;
      this.place(old[ob]!, old[ob + 1]!, old[ob + 2]!, old[ob + 3]!, seen);
    }
  }
}

/** One id as stored in a chunk file. */
export interface DedupeId {
  a: number;
  b: number;
  c: number;
  d: number;
  seenAtSec: number;
}

/** Encode ids as a chunk file body with header. */
export function encodeDedupeChunk(ids: readonly DedupeId[]): Buffer {
  const buf = Buffer.alloc(CHUNK_HEADER_BYTES + ids.length * CHUNK_ID_BYTES);
  CHUNK_MAGIC.copy(buf, 0);
  buf.writeUInt32LE(ids.length, 8);
  let off = CHUNK_HEADER_BYTES;
  for (const id of ids) {
    buf.writeUInt32BE(id.a, off);
    buf.writeUInt32BE(id.b, off + 4);
    buf.writeUInt32BE(id.c, off + 8);
    buf.writeUInt32BE(id.d, off + 12);
    buf.writeUInt32LE(id.seenAtSec, off + 16);
    off += CHUNK_ID_BYTES;
  }
  buf.writeUInt32LE(crc32(buf.subarray(CHUNK_HEADER_BYTES)), 12);
  return buf;
}

/** Decode a chunk file; throws AUDIT_ERR_WAL_CORRUPT naming the file when it does not check out. */
export function decodeDedupeChunk(buf: Buffer, file: string): DedupeId[] {
  if (buf.length < CHUNK_HEADER_BYTES || !buf.subarray(0, 8).equals(CHUNK_MAGIC)) {
    throw new AuditError('AUDIT_ERR_WAL_CORRUPT', `dedupe chunk ${file}: bad header`, { details: { file } });
  }
  const n = buf.readUInt32LE(8);
  if (buf.length !== CHUNK_HEADER_BYTES + n * CHUNK_ID_BYTES || crc32(buf.subarray(CHUNK_HEADER_BYTES)) !== buf.readUInt32LE(12)) {
    throw new AuditError('AUDIT_ERR_WAL_CORRUPT', `dedupe chunk ${file}: length or checksum mismatch`, { details: { file } });
  }
  const out: DedupeId[] = new Array(n);
  for (let i = 0, off = CHUNK_HEADER_BYTES; i < n; i++, off += CHUNK_ID_BYTES) {
    out[i] = {
      a: buf.readUInt32BE(off),
      b: buf.readUInt32BE(off + 4),
      c: buf.readUInt32BE(off + 8),
      d: buf.readUInt32BE(off + 12),
      seenAtSec: buf.readUInt32LE(off + 16),
    };
  }
  return out;
}

/**
 * Where the WAL puts the ids of segments it is about to delete (so the dedupe window outlives
 * them): `add` must resolve only once every id of LSNs up to `last` is durable elsewhere, and throw
 * to keep the segments. Implemented by {@link DedupeWindow} (dedupe-window.ts).
 */
export interface DedupeChunkStore {
  add(first: number, last: number, ids: readonly DedupeId[], nowSec: number): Promise<void>;
}
