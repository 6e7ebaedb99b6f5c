/** The write-ahead log, its on-disk format and the dedupe index. */

export type { DedupeChunkStore, DedupeId, DedupeIndexOptions } from './dedupe-index.ts';
export { DedupeIndex, decodeDedupeChunk, encodeDedupeChunk } from './dedupe-index.ts';
export type { RunMeta, RunSummary } from './dedupe-run.ts';
export { RUN_KIND_FULL, RUN_KIND_V7, RunPageCache, RunWriter, readRunSummary, runContains } from './dedupe-run.ts';
export type { DedupeWindowOptions, DedupeWindowStatus } from './dedupe-window.ts';
export { DedupeWindow } from './dedupe-window.ts';
export type { ParseRecordResult, RawRecord, SegmentHeaderResult } from './format.ts';
export {
  decodeSegmentHeader,
  encodeSegmentHeader,
  parseRecord,
  parseSegmentFileName,
  RECORD_HEADER_BYTES,
  RECORD_TYPE_EVENT,
  SEGMENT_HEADER_BYTES,
  SEGMENT_MAGIC,
  SEGMENT_VERSION,
  sealRecord,
  segmentFileName,
  uuidToWords,
  wordsToUuid,
} from './format.ts';
export { FrameReader } from './frame-reader.ts';
export type { PackedPayloads } from './packed-payloads.ts';
export { PayloadPacker, packPayloads, payloadBuffer, payloadCount, payloadStart, payloadText, payloadTexts } from './packed-payloads.ts';
export { readWalEntries } from './read-entries.ts';
export type { RecoveryVisitor, WalOptions, WalPosition, WalReadResult, WalRecoveryReport } from './wal.ts';
export { Wal, WalReader } from './wal.ts';
