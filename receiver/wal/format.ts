/**
 * The WAL's on-disk format (docs/wal.md, "File format"): a segment header followed by framed
 * records. Everything is little-endian. The checksum is CRC-32 (IEEE, zlib's `crc32`), computed
 * natively by node:zlib so framing costs no per-byte JavaScript.
 *
 * Segment header (32 bytes):
 *   0  8  magic "OTAUDWAL"
 *   8  2  format version (2; version 1 segments, written before record type 3 existed, are read
 *         the same way — a reader of version 1 refuses a version 2 segment instead of mistaking a
 *         type 3 record for damage)
 *  10  2  header length (32)
 *  12  8  first LSN of the segment (u64)
 *  20  8  creation time, Unix milliseconds (u64)
 *  28  4  CRC-32 of bytes 0..27
 *
 * Record (40-byte header + payload):
 *   0  4  payload length in bytes (u32)
 *   4  4  CRC-32 of bytes 8..(40 + payload length) of the record
 *   8  1  record type (1 = event, 2 = checkpoint, 3 = event with its storage row)
 *   9  3  reserved, zero
 *  12  8  LSN (u64)
 *  20 16  event id, the 16 bytes of the UUID (big-endian, as in its text form); zero for a checkpoint
 *  36  4  received time, Unix seconds (u32) — the dedupe window's clock
 *  40  n  payload: UTF-8 JSON of the `WalEntry`; for type 3, that JSON, then the event columns of
 *         the entry's storage row in ClickHouse RowBinary (@otel-audit/schema/audit-row-binary),
 *         then the row's byte length (u32) — so the exporters insert and archive the row without
 *         parsing the JSON again (docs/wal.md, "Storage rows")
 *
 * The event id and received time sit in the binary header so recovery and segment compaction can
 * rebuild the dedupe index without parsing any JSON.
 */
import { crc32 } from 'node:zlib';

/** Segment file magic. */
export const SEGMENT_MAGIC = Buffer.from('OTAUDWAL', 'latin1');
/** Current segment format version (written); {@link decodeSegmentHeader} also reads version 1. */
export const SEGMENT_VERSION = 2;
/** Size of the segment header in bytes. */
export const SEGMENT_HEADER_BYTES = 32;
/** Size of a record header in bytes. */
export const RECORD_HEADER_BYTES = 40;
/** Record type of an event entry. */
export const RECORD_TYPE_EVENT = 1;
/** Record type of a checkpoint entry (a signed Merkle root of a chain, integrity/checkpointer.ts). */
export const RECORD_TYPE_CHECKPOINT = 2;
/**
 * Record type of an event entry followed by its storage row's event columns (see the module
 * comment). {@link parseRecord} reports it as {@link RECORD_TYPE_EVENT} with the row apart.
 */
export const RECORD_TYPE_EVENT_WITH_ROW = 3;
/** Bytes of the row-length trailer of a {@link RECORD_TYPE_EVENT_WITH_ROW} payload. */
export const ROW_TRAILER_BYTES = 4;
/** Largest payload accepted when reading (guards against a corrupt length field allocating GiBs). */
export const MAX_RECORD_PAYLOAD_BYTES = 64 * 1024 * 1024;

/** Encode a segment header. */
export function encodeSegmentHeader(firstLsn: number, createdAtMillis: number): Buffer {
  const b = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(b, 0);
  b.writeUInt16LE(SEGMENT_VERSION, 8);
  b.writeUInt16LE(SEGMENT_HEADER_BYTES, 10);
  b.writeBigUInt64LE(BigInt(firstLsn), 12);
  b.writeBigUInt64LE(BigInt(createdAtMillis), 20);
  b.writeUInt32LE(crc32(b.subarray(0, 28)), 28);
  return b;
}

/** A decoded segment header, or why it is not one. */
export type SegmentHeaderResult = { ok: true; firstLsn: number; createdAtMillis: number; version: number } | { ok: false; reason: string };

/** Decode and check a segment header. */
export function decodeSegmentHeader(b: Buffer): SegmentHeaderResult {
  if (b.length < SEGMENT_HEADER_BYTES) return { ok: false, reason: `header is ${b.length} bytes, expected ${SEGMENT_HEADER_BYTES}` };
  if (!b.subarray(0, 8).equals(SEGMENT_MAGIC)) return { ok: false, reason: 'bad magic' };
  if (b.readUInt32LE(28) !== crc32(b.subarray(0, 28))) return { ok: false, reason: 'header checksum mismatch' };
  const version = b.readUInt16LE(8);
  if (version !== SEGMENT_VERSION && version !== 1) return { ok: false, reason: `unsupported segment version ${version}` };
  return { ok: true, version, firstLsn: Number(b.readBigUInt64LE(12)), createdAtMillis: Number(b.readBigUInt64LE(20)) };
}

/**
 * Write a record header for a payload already placed at `off + RECORD_HEADER_BYTES` in `buf`, and
 * its checksum. `idWords` are the event id as four big-endian u32 words (see {@link uuidToWords}).
 */
export function sealRecord(
  buf: Buffer,
  off: number,
  payloadBytes: number,
  type: number,
  lsn: number,
  idWords: Uint32Array | readonly number[],
  receivedAtSeconds: number,
): void {
  buf.writeUInt32LE(payloadBytes, off);
  buf[off + 8] = type;
  buf[off + 9] = 0;
  buf[off + 10] = 0;
  buf[off + 11] = 0;
  // u64 LSN written as two u32 halves: cheaper than a BigInt per record.
  buf.writeUInt32LE(lsn % 0x1_0000_0000, off + 12);
  buf.writeUInt32LE(Math.floor(lsn / 0x1_0000_0000), off + 16);
  buf.writeUInt32BE(idWords[0]!, off + 20);
  buf.writeUInt32BE(idWords[1]!, off + 24);
  buf.writeUInt32BE(idWords[2]!, off + 28);
  buf.writeUInt32BE(idWords[3]!, off + 32);
  buf.writeUInt32LE(receivedAtSeconds >>> 0, off + 36);
  buf.writeUInt32LE(crc32(buf.subarray(off + 8, off + RECORD_HEADER_BYTES + payloadBytes)), off + 4);
}

/** Read the LSN of a record header at `off`. */
export function recordLsn(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 12) + buf.readUInt32LE(off + 16) * 0x1_0000_0000;
}

/** A record parsed out of a buffer (payload is a view into that buffer). */
export interface RawRecord {
  type: number;
  lsn: number;
  /** Event id as four big-endian u32 words. */
  id0: number;
  id1: number;
  id2: number;
  id3: number;
  receivedAtSeconds: number;
  /**
   * The storage row's event columns in RowBinary (a view), when the record carries them
   * ({@link RECORD_TYPE_EVENT_WITH_ROW}); `payload` is then the JSON alone.
   */
  row: Buffer | undefined;
  /** Offset of the record header in the buffer it came from. */
  offset: number;
  /** Total bytes of the record (header + payload). */
  size: number;
  payload: Buffer;
}

/** Outcome of parsing one record at an offset. */
export type ParseRecordResult =
  | { kind: 'record'; record: RawRecord }
  /** Fewer bytes than the record needs (a torn tail, or a read that must fetch more). */
  | { kind: 'short'; needBytes: number }
  | { kind: 'bad'; reason: string };

/** Parse and verify one record at `off` of `buf[0..end)`. */
export function parseRecord(buf: Buffer, off: number, end: number): ParseRecordResult {
  if (end - off < RECORD_HEADER_BYTES) return { kind: 'short', needBytes: RECORD_HEADER_BYTES };
  const len = buf.readUInt32LE(off);
  if (len > MAX_RECORD_PAYLOAD_BYTES)
    return { kind: 'bad', reason: `record length ${len} exceeds the ${MAX_RECORD_PAYLOAD_BYTES}-byte limit` };
  const size = RECORD_HEADER_BYTES + len;
  if (end - off < size) return { kind: 'short', needBytes: size };
  const want = buf.readUInt32LE(off + 4);
  if (crc32(buf.subarray(off + 8, off + size)) !== want) return { kind: 'bad', reason: 'record checksum mismatch' };
  const type = buf[off + 8]!;
  let payloadEnd = off + size;
  let row: Buffer | undefined;
  if (type === RECORD_TYPE_EVENT_WITH_ROW) {
    const rowBytes = len >= ROW_TRAILER_BYTES ? buf.readUInt32LE(payloadEnd - ROW_TRAILER_BYTES) : -1;
    if (rowBytes < 0 || rowBytes > len - ROW_TRAILER_BYTES - 2)
      return { kind: 'bad', reason: `row length ${rowBytes} does not fit the ${len}-byte payload` };
    payloadEnd -= ROW_TRAILER_BYTES + rowBytes;
    row = buf.subarray(payloadEnd, payloadEnd + rowBytes);
  } else if (type !== RECORD_TYPE_EVENT && type !== RECORD_TYPE_CHECKPOINT) return { kind: 'bad', reason: `unknown record type ${type}` };
  return {
    kind: 'record',
    record: {
      type: row === undefined ? type : RECORD_TYPE_EVENT,
      lsn: recordLsn(buf, off),
      id0: buf.readUInt32BE(off + 20),
      id1: buf.readUInt32BE(off + 24),
      id2: buf.readUInt32BE(off + 28),
      id3: buf.readUInt32BE(off + 32),
      receivedAtSeconds: buf.readUInt32LE(off + 36),
      row,
      offset: off,
      size,
      payload: buf.subarray(off + RECORD_HEADER_BYTES, payloadEnd),
    },
  };
}

/**
 * Parse a canonical lower-case UUID (8-4-4-4-12) into four big-endian u32 words, into `out`.
 * Returns false when the text is not a UUID (the schema guarantees it is, for accepted events).
 */
export function uuidToWords(id: string, out: Uint32Array): boolean {
  if (id.length !== 36 || id[8] !== '-' || id[13] !== '-' || id[18] !== '-' || id[23] !== '-') return false;
  const a = parseInt(id.slice(0, 8), 16);
  const b = parseInt(id.slice(9, 13) + id.slice(14, 18), 16);
  const c = parseInt(id.slice(19, 23) + id.slice(24, 28), 16);
  const d = parseInt(id.slice(28, 36), 16);
  if (Number.isNaN(a) || Number.isNaN(b) || Number.isNaN(c) || Number.isNaN(d)) return false;
  out[0] = a;
  out[1] = b;
  out[2] = c;
  out[3] = d;
  return true;
}

/** Render four big-endian u32 words as a lower-case UUID string. */
export function wordsToUuid(a: number, b: number, c: number, d: number): string {
  const h = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
  const s = h(a) + h(b) + h(c) + h(d);
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/** File name of the segment whose first LSN is `firstLsn` (sortable: 20 zero-padded digits). */
export function segmentFileName(firstLsn: number): string {
  return `${String(firstLsn).padStart(20, '0')}.wal`;
}

/** First LSN encoded in a segment file name, or undefined when the name is not a segment's. */
export function parseSegmentFileName(name: string): number | undefined {
  const m = /^(\d{20})\.wal$/.exec(name);
  return m ? Number(m[1]) : undefined;
}
