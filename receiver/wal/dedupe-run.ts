/**
 * Immutable on-disk runs of the dedupe index: the event ids accepted in one receive-time slice
 * (and, for UUIDv7 ids, one id-time slice), sorted, in checksummed fixed-size pages, with the
 * page fences (first key of each page) and, for ids without a usable time, a Bloom filter in a
 * checksummed footer. Lookups are synchronous (`fs.readSync` of one page into a small page cache)
 * so they can run in the pipeline's synchronous sequencer block.
 *
 * Ids are stored exactly, never as truncated fingerprints, so a lookup can only answer "duplicate"
 * for an id that really was accepted: fences and Bloom filters only decide whether a page is read.
 * UUIDv7 ids (RFC 9562 §5.7: 48-bit Unix ms, version 7, 12 bits rand_a, variant 0b10, 62 bits
 * rand_b) cost 10 bytes each: 6 bits of millisecond delta from the previous id of the page (ids
 * are sorted, so the delta is small; 63 escapes to a u32 that follows the entry) and the 74 random
 * bits. Any other id (v4, content-derived v8, other versions and variants) costs its 16 bytes.
 *
 * File layout (little-endian unless noted):
 *
 *   header   16 bytes: magic "OTAUDRUN", u16 version 1, u16 kind (1 = UUIDv7, 2 = full 128-bit),
 *            u32 page size in bytes
 *   pages    page i at 16 + i × pageBytes: u32 CRC-32 of the rest of the page, u16 entry count,
 *            u16 reserved, entries (kind 1: 10 bytes [+ 4 escape]; kind 2: 16 bytes, big-endian),
 *            zero padding
 *   footer   meta (see {@link RunMeta}), first and last id (4 × u32 each), fences (2 × u32 per
 *            page), Bloom words (u32)
 *   trailer  u32 footer length, u32 CRC-32 of the footer, magic "OTAUDRNE"
 */
import * as fs from 'node:fs';
import { crc32 } from 'node:zlib';
import { AuditError } from '@otel-audit/core';

/** Run kind: time-ordered UUIDv7 ids (10 bytes each). */
export const RUN_KIND_V7 = 1;
/** Run kind: any other id, stored as its 16 bytes. */
export const RUN_KIND_FULL = 2;

const MAGIC = Buffer.from('OTAUDRUN', 'latin1');
const END_MAGIC = Buffer.from('OTAUDRNE', 'latin1');
const HEADER_BYTES = 16;
const TRAILER_BYTES = 16;
const PAGE_HEADER_BYTES = 8;
const META_BYTES = 72;
/** Default page size: one read per lookup per run; ~800 v7 ids per page. */
export const DEFAULT_RUN_PAGE_BYTES = 8192;

/** What a run holds (stored in its footer). */
export interface RunMeta {
  kind: typeof RUN_KIND_V7 | typeof RUN_KIND_FULL;
  /** Slice length in ms the run was cut with. */
  sliceMillis: number;
  /** Receive-time slice: floor(acceptedAtMillis / sliceMillis). */
  receiveSlice: number;
  /** Id-time slice of a kind-1 run (floor(uuidMillis / sliceMillis)); kind 2: -1, or -2 for UUIDv7 ids whose time was implausible. */
  idSlice: number;
  /** Earliest and latest accept time (Unix seconds) of the ids in it: expiry. */
  minSeenAtSec: number;
  maxSeenAtSec: number;
  /** Every id with a WAL LSN ≤ this is in some run (the spill watermark when it was written). */
  coveredLsn: number;
  /** Ids in the run. */
  count: number;
}

/** True when the id words are an RFC 9562 UUIDv7 (version 7, variant 0b10): it carries its ms time. */
export function isUuidV7(b: number, c: number): boolean {
  return (b & 0xf000) === 0x7000 && c >>> 30 === 2;
}

/** The Unix millisecond timestamp of a UUIDv7 given as words. */
export function uuidV7Millis(a: number, b: number): number {
  return a * 65536 + (b >>> 16);
}

/** 32-bit finalizer of MurmurHash3: spreads structured ids (sequential test ids, v8 layouts). */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function bloomHashes(a: number, b: number, c: number, d: number, out: Uint32Array): void {
  const h1 = fmix(a ^ fmix(b ^ fmix(c ^ fmix(d ^ 0x9e3779b9))));
  out[0] = h1;
  out[1] = fmix(h1 ^ d ^ 0x7f4a7c15) | 1;
}

/** Compare two ids given as words (unsigned, lexicographic = UUID order). */
export function compareIds(a1: number, b1: number, c1: number, d1: number, a2: number, b2: number, c2: number, d2: number): number {
  if (a1 !== a2) return a1 < a2 ? -1 : 1;
  if (b1 !== b2) return b1 < b2 ? -1 : 1;
  if (c1 !== c2) return c1 < c2 ? -1 : 1;
  if (d1 !== d2) return d1 < d2 ? -1 : 1;
  return 0;
}

/**
 * Builds one run from ids added in ascending order (duplicates are skipped). `finish()` returns the
 * complete file in chunks; `takeChunks()` hands out full pages early (streaming merges).
 */
export class RunWriter {
  private readonly meta: RunMeta;
  private readonly pageBytes: number;
  private readonly sliceStartMs: number;
  private page: Buffer;
  private pageLen = PAGE_HEADER_BYTES;
  private pageCount = 0;
  private pageEntries = 0;
  private chunks: Buffer[] = [];
  private fences: number[] = [];
  private prevMs = 0;
  private first: number[] | undefined;
  private last = [0, 0, 0, 0];
  private readonly bloom: Uint32Array;
  private readonly bloomK: number;
  private readonly hashes = new Uint32Array(2);
  private count = 0;

  /**
   * `expectedCount` sizes the Bloom filter (kind 2, `bloomBitsPerId` > 0); an upper bound is fine.
   */
  constructor(meta: Omit<RunMeta, 'count'>, expectedCount: number, options: { pageBytes?: number; bloomBitsPerId?: number } = {}) {
    this.meta = { ...meta, count: 0 };
    this.pageBytes = options.pageBytes ?? DEFAULT_RUN_PAGE_BYTES;
    this.sliceStartMs = meta.kind === RUN_KIND_V7 ? meta.idSlice * meta.sliceMillis : 0;
    this.page = Buffer.alloc(this.pageBytes);
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt16LE(1, 8);
    header.writeUInt16LE(meta.kind, 10);
    header.writeUInt32LE(this.pageBytes, 12);
    this.chunks.push(header);
    const bits = meta.kind === RUN_KIND_FULL ? Math.ceil(Math.max(1, expectedCount) * (options.bloomBitsPerId ?? 0)) : 0;
    this.bloom = new Uint32Array(bits > 0 ? Math.ceil(bits / 32) : 0);
    // k = bits per id × ln 2 minimises the false-positive rate of a Bloom filter.
    this.bloomK = bits > 0 ? Math.max(1, Math.min(16, Math.round((options.bloomBitsPerId ?? 0) * Math.LN2))) : 0;
  }

  /** Ids added so far. */
  get size(): number {
    return this.count;
  }

  /** Widen the run's accept-time range (merges carry the ranges of their inputs). */
  widenSeen(minSec: number, maxSec: number): void {
    if (this.meta.minSeenAtSec === 0 || minSec < this.meta.minSeenAtSec) this.meta.minSeenAtSec = minSec;
    if (maxSec > this.meta.maxSeenAtSec) this.meta.maxSeenAtSec = maxSec;
  }

  /** Add the next id (ascending). Returns false when it equals the previous one (skipped). */
  add(a: number, b: number, c: number, d: number, seenAtSec: number): boolean {
    const l = this.last;
    if (this.count > 0) {
      const cmp = compareIds(a, b, c, d, l[0]!, l[1]!, l[2]!, l[3]!);
      if (cmp === 0) return false;
      if (cmp < 0) throw new AuditError('AUDIT_ERR_INTERNAL', 'dedupe run ids must be added in ascending order');
    }
    this.widenSeen(seenAtSec, seenAtSec);
    if (this.meta.kind === RUN_KIND_V7) this.addV7(a, b, c, d);
    else this.addFull(a, b, c, d);
    this.first ??= [a, b, c, d];
    l[0] = a;
    l[1] = b;
    l[2] = c;
    l[3] = d;
    this.count++;
    return true;
  }

  private startPage(f0: number, f1: number): void {
    this.fences.push(f0, f1);
    this.pageLen = PAGE_HEADER_BYTES;
    this.pageEntries = 0;
  }

  private addV7(a: number, b: number, c: number, d: number): void {
    const ms = uuidV7Millis(a, b);
    const randA = b & 0xfff;
    const c30 = c & 0x3fffffff;
    let delta = ms - this.prevMs;
    if (this.pageEntries === 0 || this.pageLen + 14 > this.pageBytes) {
      if (this.pageEntries > 0) this.sealPage();
      this.startPage(ms - this.sliceStartMs, ((randA << 20) | (c30 >>> 10)) >>> 0);
      delta = 0;
    }
    const p = this.page;
    let o = this.pageLen;
    const dd = Math.min(delta, 63);
    p[o] = (dd << 2) | (randA >>> 10);
    p[o + 1] = (randA >>> 2) & 0xff;
    p[o + 2] = ((randA & 3) << 6) | (c30 >>> 24);
    p[o + 3] = (c30 >>> 16) & 0xff;
    p[o + 4] = (c30 >>> 8) & 0xff;
    p[o + 5] = c30 & 0xff;
    p.writeUInt32BE(d >>> 0, o + 6);
    o += 10;
    if (dd === 63) {
      p.writeUInt32LE(delta, o);
      o += 4;
    }
    this.pageLen = o;
    this.pageEntries++;
    this.prevMs = ms;
  }

  private addFull(a: number, b: number, c: number, d: number): void {
    if (this.pageEntries === 0 || this.pageLen + 16 > this.pageBytes) {
      if (this.pageEntries > 0) this.sealPage();
      this.startPage(a >>> 0, b >>> 0);
    }
    const p = this.page;
    const o = this.pageLen;
    p.writeUInt32BE(a >>> 0, o);
    p.writeUInt32BE(b >>> 0, o + 4);
    p.writeUInt32BE(c >>> 0, o + 8);
    p.writeUInt32BE(d >>> 0, o + 12);
    this.pageLen = o + 16;
    this.pageEntries++;
    if (this.bloom.length > 0) {
      const h = this.hashes;
      bloomHashes(a, b, c, d, h);
      const bits = this.bloom.length * 32;
      let x = h[0]!;
      for (let i = 0; i < this.bloomK; i++) {
        const bit = x % bits;
        this.bloom[bit >>> 5]! |= 1 << (bit & 31);
        x = (x + h[1]!) >>> 0;
      }
    }
  }

  private sealPage(): void {
    const p = this.page;
    p.writeUInt16LE(this.pageEntries, 4);
    p.writeUInt16LE(0, 6);
    p.fill(0, this.pageLen);
    p.writeUInt32LE(crc32(p.subarray(4)), 0);
    this.chunks.push(p);
    this.pageCount++;
    this.page = Buffer.alloc(this.pageBytes);
    this.pageEntries = 0;
    this.pageLen = PAGE_HEADER_BYTES;
  }

  /** Full pages written so far (removed from the writer). */
  takeChunks(): Buffer[] {
    const out = this.chunks;
    this.chunks = [];
    return out;
  }

  /** Seal the last page and append the footer; returns the remaining chunks and the final meta. */
  finish(): { chunks: Buffer[]; meta: RunMeta; summary: RunSummary } {
    if (this.pageEntries > 0) this.sealPage();
    this.meta.count = this.count;
    const fences = Uint32Array.from(this.fences);
    const first = this.first ?? [0, 0, 0, 0];
    const footer = Buffer.alloc(META_BYTES + 32 + fences.byteLength + this.bloom.byteLength);
    const m = this.meta;
    footer.writeUInt32LE(m.kind, 0);
    footer.writeUInt32LE(this.pageBytes, 4);
    footer.writeDoubleLE(m.sliceMillis, 8);
    footer.writeDoubleLE(m.receiveSlice, 16);
    footer.writeDoubleLE(m.idSlice, 24);
    footer.writeUInt32LE(m.minSeenAtSec, 32);
    footer.writeUInt32LE(m.maxSeenAtSec, 36);
    footer.writeDoubleLE(m.coveredLsn, 40);
    footer.writeDoubleLE(m.count, 48);
    footer.writeUInt32LE(this.pageCount, 56);
    footer.writeUInt32LE(this.bloom.length, 60);
    footer.writeUInt32LE(this.bloomK, 64);
    for (let i = 0; i < 4; i++) footer.writeUInt32LE(first[i]! >>> 0, META_BYTES + i * 4);
    for (let i = 0; i < 4; i++) footer.writeUInt32LE(this.last[i]! >>> 0, META_BYTES + 16 + i * 4);
    Buffer.from(fences.buffer, fences.byteOffset, fences.byteLength).copy(footer, META_BYTES + 32);
    Buffer.from(this.bloom.buffer, this.bloom.byteOffset, this.bloom.byteLength).copy(footer, META_BYTES + 32 + fences.byteLength);
    const trailer = Buffer.alloc(TRAILER_BYTES);
    trailer.writeUInt32LE(footer.length, 0);
    trailer.writeUInt32LE(crc32(footer), 4);
    END_MAGIC.copy(trailer, 8);
    this.chunks.push(footer, trailer);
    const summary: RunSummary = {
      meta: { ...m },
      pageBytes: this.pageBytes,
      pageCount: this.pageCount,
      first: Uint32Array.from(first),
      last: Uint32Array.from(this.last),
      fences,
      bloom: this.bloom,
      bloomK: this.bloomK,
      verified: new Uint8Array(Math.ceil(this.pageCount / 8)).fill(0xff), // written by us
    };
    return { chunks: this.takeChunks(), meta: { ...m }, summary };
  }
}

/** The in-memory part of a run: what lookups consult before reading a page. */
export interface RunSummary {
  meta: RunMeta;
  pageBytes: number;
  pageCount: number;
  first: Uint32Array;
  last: Uint32Array;
  /** Two u32 per page: the page's first key prefix (kind 1: ms offset in the id slice and 32 random bits; kind 2: first two words). */
  fences: Uint32Array;
  bloom: Uint32Array;
  bloomK: number;
  /**
   * One bit per page whose checksum was verified in this process (by a lookup or the background
   * scrub): later reads of it skip the CRC, which costs more than the read itself.
   */
  verified: Uint8Array;
}

function runCorrupt(file: string, reason: string): AuditError {
  return new AuditError('AUDIT_ERR_DEDUPE_CORRUPT', `dedupe run ${file}: ${reason}`, { details: { file, reason } });
}

/** Read and check a run's trailer and footer (not its pages). Throws AUDIT_ERR_DEDUPE_CORRUPT. */
export function readRunSummary(file: string): RunSummary {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (size < HEADER_BYTES + TRAILER_BYTES) throw runCorrupt(file, `file is ${size} bytes, shorter than a header and trailer`);
    const head = Buffer.alloc(HEADER_BYTES);
    fs.readSync(fd, head, 0, HEADER_BYTES, 0);
    if (!head.subarray(0, 8).equals(MAGIC) || head.readUInt16LE(8) !== 1) throw runCorrupt(file, 'bad magic or version in the header');
    const trailer = Buffer.alloc(TRAILER_BYTES);
    fs.readSync(fd, trailer, 0, TRAILER_BYTES, size - TRAILER_BYTES);
    if (!trailer.subarray(8).equals(END_MAGIC)) throw runCorrupt(file, 'bad trailer magic (incomplete write?)');
    const footerLen = trailer.readUInt32LE(0);
    if (footerLen < META_BYTES + 32 || footerLen > size - HEADER_BYTES - TRAILER_BYTES)
      throw runCorrupt(file, `footer length ${footerLen} out of range`);
    const footer = Buffer.alloc(footerLen);
    fs.readSync(fd, footer, 0, footerLen, size - TRAILER_BYTES - footerLen);
    if (crc32(footer) !== trailer.readUInt32LE(4)) throw runCorrupt(file, 'footer checksum mismatch');
    const kind = footer.readUInt32LE(0);
    const pageBytes = footer.readUInt32LE(4);
    const pageCount = footer.readUInt32LE(56);
    const bloomWords = footer.readUInt32LE(60);
    if ((kind !== RUN_KIND_V7 && kind !== RUN_KIND_FULL) || kind !== head.readUInt16LE(10) || pageBytes !== head.readUInt32LE(12))
      throw runCorrupt(file, 'footer does not match the header');
    if (HEADER_BYTES + pageCount * pageBytes + footerLen + TRAILER_BYTES !== size)
      throw runCorrupt(file, `size ${size} does not match ${pageCount} pages of ${pageBytes} bytes`);
    if (footerLen !== META_BYTES + 32 + pageCount * 8 + bloomWords * 4)
      throw runCorrupt(file, 'footer length does not match its page and Bloom counts');
    const fences = new Uint32Array(pageCount * 2);
    for (let i = 0; i < fences.length; i++) fences[i] = footer.readUInt32LE(META_BYTES + 32 + i * 4);
    const bloom = new Uint32Array(bloomWords);
    const bo = META_BYTES + 32 + pageCount * 8;
    for (let i = 0; i < bloomWords; i++) bloom[i] = footer.readUInt32LE(bo + i * 4);
    const first = new Uint32Array(4);
    const last = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      first[i] = footer.readUInt32LE(META_BYTES + i * 4);
      last[i] = footer.readUInt32LE(META_BYTES + 16 + i * 4);
    }
    return {
      meta: {
        kind: kind as RunMeta['kind'],
        sliceMillis: footer.readDoubleLE(8),
        receiveSlice: footer.readDoubleLE(16),
        idSlice: footer.readDoubleLE(24),
        minSeenAtSec: footer.readUInt32LE(32),
        maxSeenAtSec: footer.readUInt32LE(36),
        coveredLsn: footer.readDoubleLE(40),
        count: footer.readDoubleLE(48),
      },
      pageBytes,
      pageCount,
      first,
      last,
      fences,
      bloom,
      bloomK: footer.readUInt32LE(64),
      verified: new Uint8Array(Math.ceil(pageCount / 8)),
    };
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads pages of runs with `fs.readSync`, keeping recently read pages (checked once) in an LRU. */
export class RunPageCache {
  private readonly pages = new Map<string, Buffer>();
  private readonly fds = new Map<string, number>();
  private readonly maxPages: number;
  private readonly maxFds: number;
  /** Page reads that went to the file (cache misses). */
  reads = 0;

  constructor(maxPages = 512, maxFds = 256) {
    this.maxPages = maxPages;
    this.maxFds = maxFds;
  }

  private fd(file: string): number {
    let fd = this.fds.get(file);
    if (fd !== undefined) {
      this.fds.delete(file);
      this.fds.set(file, fd);
      return fd;
    }
    fd = fs.openSync(file, 'r');
    this.fds.set(file, fd);
    if (this.fds.size > this.maxFds) {
      const [oldFile, oldFd] = this.fds.entries().next().value as [string, number];
      this.fds.delete(oldFile);
      fs.closeSync(oldFd);
    }
    return fd;
  }

  /**
   * Page `index` of `file`, its checksum verified unless `verified` says it already was. Throws
   * AUDIT_ERR_DEDUPE_CORRUPT on a mismatch.
   */
  page(file: string, index: number, pageBytes: number, verified?: Uint8Array): Buffer {
    const key = `${file}#${index}`;
    const hit = this.pages.get(key);
    if (hit) {
      this.pages.delete(key);
      this.pages.set(key, hit);
      return hit;
    }
    const buf = Buffer.allocUnsafe(pageBytes);
    let got: number;
    try {
      got = fs.readSync(this.fd(file), buf, 0, pageBytes, HEADER_BYTES + index * pageBytes);
    } catch (err) {
      throw new AuditError('AUDIT_ERR_DEDUPE_IO', `dedupe run ${file}: reading page ${index}: ${(err as Error).message}`, { cause: err });
    }
    this.reads++;
    if (got !== pageBytes) throw runCorrupt(file, `page ${index} is short (${got} of ${pageBytes} bytes)`);
    if (!verified || (verified[index >>> 3]! & (1 << (index & 7))) === 0) {
      if (!pageChecksumOk(buf)) throw runCorrupt(file, `page ${index} checksum mismatch`);
      if (verified) verified[index >>> 3]! |= 1 << (index & 7);
    }
    this.pages.set(key, buf);
    if (this.pages.size > this.maxPages) this.pages.delete(this.pages.keys().next().value as string);
    return buf;
  }

  /** Forget a file (deleted or replaced): its pages and descriptor. */
  forget(file: string): void {
    const fd = this.fds.get(file);
    if (fd !== undefined) {
      this.fds.delete(file);
      fs.closeSync(fd);
    }
    for (const k of [...this.pages.keys()]) if (k.startsWith(`${file}#`)) this.pages.delete(k);
  }

  /** Close every descriptor. */
  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
    this.pages.clear();
  }
}

/** True when a page's stored CRC-32 matches its content. */
export function pageChecksumOk(page: Buffer): boolean {
  return crc32(page.subarray(4)) === page.readUInt32LE(0);
}

/** Offset of page `index` in a run file. */
export function pageOffset(pageBytes: number, index: number): number {
  return HEADER_BYTES + index * pageBytes;
}

const scratch = new Uint32Array(2);
let scratchFor = -1;
let lookupSeq = 0;

/**
 * Bloom check (kind 2 runs with a filter): false means certainly absent. The two base hashes are
 * computed once per lookup (`seq`), not once per run.
 */
export function bloomMayContain(s: RunSummary, a: number, b: number, c: number, d: number, seq = -1): boolean {
  if (s.bloom.length === 0) return true;
  if (seq < 0 || seq !== scratchFor) {
    bloomHashes(a, b, c, d, scratch);
    scratchFor = seq;
  }
  const bits = s.bloom.length * 32;
  let x = scratch[0]!;
  for (let i = 0; i < s.bloomK; i++) {
    const bit = x % bits;
    if ((s.bloom[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    x = (x + scratch[1]!) >>> 0;
  }
  return true;
}

/** A new lookup sequence number (lets {@link bloomMayContain} reuse its hashes across runs). */
export function nextLookupSeq(): number {
  lookupSeq = (lookupSeq + 1) % 0x40000000;
  return lookupSeq;
}

/** Key prefix of an id as stored in the fences of a run (two u32). */
function fencePrefix(s: RunSummary, a: number, b: number, c: number, out: Uint32Array): boolean {
  if (s.meta.kind === RUN_KIND_V7) {
    const off = uuidV7Millis(a, b) - s.meta.idSlice * s.meta.sliceMillis;
    if (off < 0 || off > 0xffffffff) return false;
    out[0] = off;
    out[1] = (((b & 0xfff) << 20) | ((c & 0x3fffffff) >>> 10)) >>> 0;
  } else {
    out[0] = a >>> 0;
    out[1] = b >>> 0;
  }
  return true;
}

function cmpFence(f: Uint32Array, i: number, p0: number, p1: number): number {
  const x = f[2 * i]!;
  if (x !== p0) return x < p0 ? -1 : 1;
  const y = f[2 * i + 1]!;
  return y === p1 ? 0 : y < p1 ? -1 : 1;
}

const prefix = new Uint32Array(2);

/**
 * Is the id in the run? At most one page is read in the usual case (a second only when the id
 * would sit exactly on a page boundary of equal key prefixes).
 */
export function runContains(
  file: string,
  s: RunSummary,
  cache: RunPageCache,
  a: number,
  b: number,
  c: number,
  d: number,
  seq = -1,
): boolean {
  a >>>= 0;
  b >>>= 0;
  c >>>= 0;
  d >>>= 0;
  const f = s.first;
  const l = s.last;
  if (s.meta.count === 0) return false;
  if (compareIds(a, b, c, d, f[0]!, f[1]!, f[2]!, f[3]!) < 0 || compareIds(a, b, c, d, l[0]!, l[1]!, l[2]!, l[3]!) > 0) return false;
  if (s.meta.kind === RUN_KIND_FULL && !bloomMayContain(s, a, b, c, d, seq)) return false;
  if (!fencePrefix(s, a, b, c, prefix)) return false;
  const p0 = prefix[0]!;
  const p1 = prefix[1]!;
  // Last page whose first key prefix is strictly below the id's; the id is there or at the start
  // of a following page with an equal prefix.
  let lo = 0;
  let hi = s.pageCount - 1;
  let p = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (cmpFence(s.fences, mid, p0, p1) < 0) {
      p = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  for (; p < s.pageCount; p++) {
    const page = cache.page(file, p, s.pageBytes, s.verified);
    const r = s.meta.kind === RUN_KIND_V7 ? searchV7Page(page, s, p, a, b, c, d) : searchFullPage(page, a, b, c, d);
    if (r !== 0) return r > 0;
    // Ran past the end of the page: only a next page starting with the same prefix can hold it.
    if (p + 1 >= s.pageCount || cmpFence(s.fences, p + 1, p0, p1) > 0) return false;
  }
  return false;
}

/** 1 = found, -1 = certainly absent, 0 = past the end of the page. */
function searchV7Page(page: Buffer, s: RunSummary, p: number, a: number, b: number, c: number, d: number): number {
  const n = page.readUInt16LE(4);
  const tMs = uuidV7Millis(a, b);
  const tA = b & 0xfff;
  const tC = c & 0x3fffffff;
  let ms = s.meta.idSlice * s.meta.sliceMillis + s.fences[2 * p]!;
  let o = PAGE_HEADER_BYTES;
  for (let i = 0; i < n; i++) {
    const b0 = page[o]!;
    let delta = b0 >>> 2;
    let next = o + 10;
    if (delta === 63) {
      delta = page.readUInt32LE(o + 10);
      next += 4;
    }
    if (i > 0) ms += delta;
    if (ms > tMs) return -1;
    if (ms === tMs) {
      const ra = ((b0 & 3) << 10) | (page[o + 1]! << 2) | (page[o + 2]! >>> 6);
      if (ra > tA) return -1;
      if (ra === tA) {
        const rc = ((page[o + 2]! & 0x3f) << 24) | (page[o + 3]! << 16) | (page[o + 4]! << 8) | page[o + 5]!;
        if (rc > tC) return -1;
        if (rc === tC) {
          const rd = page.readUInt32BE(o + 6);
          if (rd === d) return 1;
          if (rd > d) return -1;
        }
      }
    }
    o = next;
  }
  return 0;
}

function searchFullPage(page: Buffer, a: number, b: number, c: number, d: number): number {
  const n = page.readUInt16LE(4);
  let lo = 0;
  let hi = n - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const o = PAGE_HEADER_BYTES + mid * 16;
    const cmp = compareIds(page.readUInt32BE(o), page.readUInt32BE(o + 4), page.readUInt32BE(o + 8), page.readUInt32BE(o + 12), a, b, c, d);
    if (cmp === 0) return 1;
    if (cmp < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return lo >= n ? 0 : -1;
}

/**
 * Iterates the ids of a run in order, one page at a time (streaming merges). Reads with
 * `fs.readSync`; pages are checksum-verified.
 */
export class RunIterator {
  private readonly fd: number;
  private readonly file: string;
  private readonly s: RunSummary;
  private readonly buf: Buffer;
  private pageIndex = -1;
  private n = 0;
  private i = 0;
  private o = 0;
  private ms = 0;
  /** Current id words (valid while `done` is false after `next()`). */
  readonly cur = new Uint32Array(4);

  constructor(file: string, summary: RunSummary) {
    this.file = file;
    this.s = summary;
    this.fd = fs.openSync(file, 'r');
    this.buf = Buffer.allocUnsafe(summary.pageBytes);
  }

  /** Advance; false at the end. */
  next(): boolean {
    while (this.i >= this.n) {
      this.pageIndex++;
      if (this.pageIndex >= this.s.pageCount) return false;
      const got = fs.readSync(this.fd, this.buf, 0, this.s.pageBytes, HEADER_BYTES + this.pageIndex * this.s.pageBytes);
      if (got !== this.s.pageBytes || crc32(this.buf.subarray(4)) !== this.buf.readUInt32LE(0))
        throw runCorrupt(this.file, `page ${this.pageIndex} checksum mismatch`);
      this.n = this.buf.readUInt16LE(4);
      this.i = 0;
      this.o = PAGE_HEADER_BYTES;
      this.ms = this.s.meta.idSlice * this.s.meta.sliceMillis + this.s.fences[2 * this.pageIndex]!;
    }
    const p = this.buf;
    const o = this.o;
    const cur = this.cur;
    if (this.s.meta.kind === RUN_KIND_V7) {
      const b0 = p[o]!;
      let delta = b0 >>> 2;
      let next = o + 10;
      if (delta === 63) {
        delta = p.readUInt32LE(o + 10);
        next += 4;
      }
      if (this.i > 0) this.ms += delta;
      const ra = ((b0 & 3) << 10) | (p[o + 1]! << 2) | (p[o + 2]! >>> 6);
      const rc = ((p[o + 2]! & 0x3f) << 24) | (p[o + 3]! << 16) | (p[o + 4]! << 8) | p[o + 5]!;
      cur[0] = Math.floor(this.ms / 65536);
      cur[1] = ((this.ms % 65536) << 16) | 0x7000 | ra;
      cur[2] = (0x80000000 | rc) >>> 0;
      cur[3] = p.readUInt32BE(o + 6);
      this.o = next;
    } else {
      cur[0] = p.readUInt32BE(o);
      cur[1] = p.readUInt32BE(o + 4);
      cur[2] = p.readUInt32BE(o + 8);
      cur[3] = p.readUInt32BE(o + 12);
      this.o = o + 16;
    }
    this.i++;
    return true;
  }

  /** Close the file. */
  close(): void {
    fs.closeSync(this.fd);
  }
}
