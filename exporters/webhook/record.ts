/**
 * The `otel-audit` record: one stored audit event with its place in the hash chain. It is what the
 * `otel-audit` webhook format sends, the `event` of the Splunk HEC format, the input of the OCSF
 * mapping, and the line of `otel-audit export --format ndjson`, so every output describes an event
 * the same way whether it comes from the WAL, ClickHouse or the archive.
 */

import { type AuditEvent, unixNanosToIso } from '@otel-audit/schema';
import { type AuditRow, auditRowToEvent, dateTime64ToNanos } from '@otel-audit/schema/audit-row';
import type { WalEventEntry } from '../../receiver/contracts.ts';

/** One audit event with its chain position (docs/webhook.md, "Formats"). */
export interface AuditRecord {
  /** The normalized event, exactly as hashed. */
  event: AuditEvent;
  /** `<tenantId>/<instanceId>`. */
  chainId: string;
  /** Position in the chain, from 1. */
  seq: number;
  /** Hex SHA-256 of the previous entry (64 zeros for seq 1). */
  prevHash: string;
  /** Hex SHA-256 of this entry: `SHA-256(prevHash ‖ JCS(event))`. */
  hash: string;
  /** Receiver clock when accepted, RFC 3339 UTC with nanoseconds. */
  receivedAt: string;
  /** WAL position in the receiver that accepted it (only when read from the WAL: it is receiver-local). */
  lsn?: number;
  /** `service.name` of the producer's OTel resource, when it had one (used by the OCSF mapping). */
  serviceName?: string;
}

/** The record of a WAL event entry. */
export function recordFromWalEntry(entry: WalEventEntry): AuditRecord {
  return {
    event: entry.event,
    chainId: entry.chainId,
    seq: entry.seq,
    prevHash: entry.prevHash,
    hash: entry.hash,
    receivedAt: unixNanosToIso(BigInt(entry.receivedAtNanos)),
    lsn: entry.lsn,
    ...(typeof entry.resource.attributes['service.name'] === 'string' ? { serviceName: entry.resource.attributes['service.name'] } : {}),
  };
}

/** The record of a stored row (ClickHouse `audit_events`, archive objects). */
export function recordFromRow(row: AuditRow): AuditRecord {
  return {
    event: auditRowToEvent(row),
    chainId: row.ChainId,
    seq: Number(row.Seq),
    prevHash: row.PrevHash,
    hash: row.Hash,
    receivedAt: unixNanosToIso(dateTime64ToNanos(row.ReceivedAt)),
    ...(row.ServiceName ? { serviceName: row.ServiceName } : {}),
  };
}

/**
 * The JSON object of the `otel-audit` format. Keys in a fixed order (the chain position first, then
 * the event), so the same record always serializes to the same bytes.
 */
export function otelAuditJson(record: AuditRecord): Record<string, unknown> {
  return {
    chainId: record.chainId,
    seq: record.seq,
    prevHash: record.prevHash,
    hash: record.hash,
    ...(record.lsn === undefined ? {} : { lsn: record.lsn }),
    receivedAt: record.receivedAt,
    event: record.event,
  };
}
