/**
 * Spool segment format. A segment file starts with an 8-byte magic, then frames:
 *
 *   u32le length of payload │ u32le CRC-32 of (type ‖ payload) │ u8 type │ payload
 *
 * type 1 = context (u32le index ‖ JSON of resource + scope), type 2 = record (u32le context index
 * ‖ encoded record). A frame whose length is implausible or whose checksum does not match ends
 * the readable part of a segment: at the tail of the newest segment that is a write torn by a
 * crash (never acknowledged to a producer); anywhere else it is corruption and is reported.
 */
import { crc32 } from 'node:zlib';

/** File magic and format version of a spool segment. */
export const SEGMENT_MAGIC = Buffer.from('OTAUDSP1', 'latin1');
/** Bytes before the first frame. */
export const SEGMENT_HEADER_BYTES = SEGMENT_MAGIC.length;
/** Bytes of a frame header (length, checksum, type). */
export const FRAME_HEADER_BYTES = 9;
/** Upper bound of a payload; larger lengths are treated as corruption. Events are far smaller (64 KiB limits). */
export const MAX_FRAME_PAYLOAD_BYTES = 16 * 1024 * 1024;

/** Frame type of a context (resource + scope JSON), referenced by index from record frames. */
export const FRAME_CONTEXT = 1;
/** Frame type of a log record. */
export const FRAME_RECORD = 2;

/** Encode one frame: header + `u32le index` + body. */
export function encodeFrame(type: number, index: number, body: Buffer): Buffer {
  const payloadLength = 4 + body.length;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadLength);
  frame.writeUInt32LE(payloadLength, 0);
  frame.writeUInt8(type, 8);
  frame.writeUInt32LE(index, 9);
  body.copy(frame, 13);
  frame.writeUInt32LE(crc32(frame.subarray(8)), 4);
  return frame;
}

/** A decoded frame and where it ends in the buffer. */
export interface DecodedFrame {
  type: number;
  index: number;
  body: Buffer;
  /** Offset just past the frame, relative to the buffer passed in. */
  end: number;
}

/**
 * Decode the frame at `offset` of `buf`. Returns `incomplete` when `buf` ends inside the frame
 * (read more, or a torn tail) and `corrupt` when the length or checksum is wrong.
 */
export function decodeFrame(buf: Buffer, offset: number): DecodedFrame | 'incomplete' | 'corrupt' {
  if (buf.length - offset < FRAME_HEADER_BYTES) return 'incomplete';
  const length = buf.readUInt32LE(offset);
  if (length < 4 || length > MAX_FRAME_PAYLOAD_BYTES) return 'corrupt';
  const end = offset + FRAME_HEADER_BYTES + length;
  if (end > buf.length) return 'incomplete';
  const expected = buf.readUInt32LE(offset + 4);
  if (crc32(buf.subarray(offset + 8, end)) !== expected) return 'corrupt';
  const type = buf.readUInt8(offset + 8);
  if (type !== FRAME_CONTEXT && type !== FRAME_RECORD) return 'corrupt';
  return { type, index: buf.readUInt32LE(offset + 9), body: buf.subarray(offset + 13, end), end };
}
