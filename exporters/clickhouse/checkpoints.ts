/**
 * Signed checkpoints (integrity/checkpointer.ts `CheckpointRecord`) in ClickHouse
 * `audit_checkpoints`: the queryable columns plus the whole record as JSON (`Record`), so a
 * verifier can rebuild every record — consistency proof, tree state, tiles — from ClickHouse alone.
 */
import { createHash } from 'node:crypto';
import { isoToUnixNanos } from '@otel-audit/schema';
import { nanosToDateTime64 } from '@otel-audit/schema/audit-row';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';

/** One row of `audit_checkpoints`. */
export interface CheckpointRow {
  ChainId: string;
  TreeSize: number;
  RootHash: string;
  FirstSeq: number;
  LastSeq: number;
  Note: string;
  KeyId: string;
  CreatedAt: string;
  Origin: string;
  KeyName: string;
  /** The whole {@link CheckpointRecord} as JSON. */
  Record: string;
}

/** Column names of {@link CheckpointRow}, in table order. */
export const CHECKPOINT_COLUMNS = [
  'ChainId',
  'TreeSize',
  'RootHash',
  'FirstSeq',
  'LastSeq',
  'Note',
  'KeyId',
  'CreatedAt',
  'Origin',
  'KeyName',
  'Record',
] as const satisfies ReadonlyArray<keyof CheckpointRow>;

/** The row of a checkpoint record. `FirstSeq` is 0 when the checkpoint covers nothing new. */
export function checkpointRecordToRow(record: CheckpointRecord): CheckpointRow {
  return {
    ChainId: record.chainId,
    TreeSize: record.treeSize,
    RootHash: record.rootHash,
    FirstSeq: record.firstSeq ?? 0,
    LastSeq: record.lastSeq,
    Note: record.note,
    KeyId: record.keyId,
    CreatedAt: nanosToDateTime64(isoToUnixNanos(record.createdAt)),
    Origin: record.origin,
    KeyName: record.keyName,
    Record: JSON.stringify(record),
  };
}

/** The record stored in a row (what a verifier reads back). */
export function checkpointRowToRecord(row: Pick<CheckpointRow, 'Record'>): CheckpointRecord {
  return JSON.parse(row.Record) as CheckpointRecord;
}

/** Deduplication token of a set of checkpoints: the same records always give the same token. */
export function checkpointsToken(records: ReadonlyArray<CheckpointRecord>): string {
  const h = createHash('sha256');
  for (const r of records) h.update(`${r.chainId}\n${r.treeSize}\n${r.rootHash}\n`);
  return `otel-audit-checkpoints:${records.length}:${h.digest('hex').slice(0, 32)}`;
}
