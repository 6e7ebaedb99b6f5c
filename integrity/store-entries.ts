/**
 * Adapters from what the stores hold to the {@link ChainEntryInput} that `verifyChainEntries`
 * checks. WAL entries (`WalEventEntry`) already have the shape; stored rows (ClickHouse
 * `audit_events`, cold-storage objects) go through {@link auditRowToChainEntry}, which rebuilds the
 * hashed event with `auditRowToEvent` so any edited column shows up as a hash mismatch.
 */

import { type AuditRow, type AuditRowEventColumns, auditRowToEvent } from '@otel-audit/schema/audit-row';
import type { WalEventEntry } from '../receiver/contracts.ts';
import type { ChainEntryInput } from './verify-chain.ts';

/** The chain entry of a stored row (`ChainId`, `Seq`, `PrevHash`, `Hash` + the rebuilt event). */
export function auditRowToChainEntry(
  row: AuditRowEventColumns & Pick<AuditRow, 'ChainId' | 'Seq' | 'PrevHash' | 'Hash'> & Partial<Pick<AuditRow, 'ChainVersion'>>,
): ChainEntryInput {
  // ChainVersion is absent from rows stored before it existed: chain format 1.
  return {
    chainId: row.ChainId,
    seq: Number(row.Seq),
    prevHash: row.PrevHash,
    hash: row.Hash,
    chainVersion: row.ChainVersion === undefined ? 1 : Number(row.ChainVersion),
    event: auditRowToEvent(row),
  };
}

/** The chain entry of a WAL event entry (only the fields the verifier reads). */
export function walEntryToChainEntry(entry: WalEventEntry): ChainEntryInput {
  return {
    chainId: entry.chainId,
    seq: entry.seq,
    prevHash: entry.prevHash,
    hash: entry.hash,
    chainVersion: entry.chainVersion ?? 1,
    event: entry.event,
  };
}
