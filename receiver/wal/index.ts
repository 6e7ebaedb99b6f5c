/** The write-ahead log, its on-disk format and the dedupe index. */
export { Wal, WalReader } from './wal.ts';
export type { RecoveryVisitor, WalOptions, WalPosition, WalReadResult, WalRecoveryReport } from './wal.ts';
export {
  RECORD_HEADER_BYTES,
  RECORD_TYPE_EVENT,
  SEGMENT_HEADER_BYTES,
  SEGMENT_MAGIC,
  SEGMENT_VERSION,
  decodeSegmentHeader,
  encodeSegmentHeader,
  parseRecord,
  parseSegmentFileName,
  sealRecord,
  segmentFileName,
  uuidToWords,
  wordsToUuid,
} from './format.ts';
export type { ParseRecordResult, RawRecord, SegmentHeaderResult } from './format.ts';
export { DedupeChunkStore, DedupeIndex, decodeDedupeChunk, encodeDedupeChunk } from './dedupe-index.ts';
export type { DedupeId, DedupeIndexOptions } from './dedupe-index.ts';
export { FrameReader } from './frame-reader.ts';
export { readWalEntries } from './read-entries.ts';
