/**
 * Rows of the console's event export: CSV (RFC 4180) and NDJSON, one event per row or line.
 */

import { csvField } from '@otel-audit/core';
import type { AuditEventRecord } from '../../exporters/clickhouse/index.ts';

/** CSV columns, in order (docs/console.md lists them). */
export const CSV_COLUMNS = [
  'occurredAt',
  'eventId',
  'tenantId',
  'action',
  'outcome',
  'actorType',
  'actorId',
  'actorName',
  'targets',
  'reason',
  'sessionId',
  'requestId',
  'sourceIp',
  'userAgent',
  'httpMethod',
  'urlPath',
  'traceId',
  'spanId',
  'details',
  'changes',
  'chainId',
  'seq',
  'prevHash',
  'hash',
  'receivedAt',
] as const;

/** The CSV header line (CRLF-terminated, RFC 4180). */
export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

/** One event as a CSV line (CRLF-terminated). */
export function csvRow(r: AuditEventRecord): string {
  const e = r.event;
  const values: Record<(typeof CSV_COLUMNS)[number], string | number | undefined> = {
    occurredAt: e.occurredAt,
    eventId: e.eventId,
    tenantId: e.tenant.id,
    action: e.action,
    outcome: e.outcome,
    actorType: e.actor.type,
    actorId: e.actor.id,
    actorName: e.actor.name,
    targets: e.targets?.map((t) => `${t.type}:${t.id}`).join(' '),
    reason: e.reason,
    sessionId: e.session?.id,
    requestId: e.request?.id,
    sourceIp: e.request?.ip,
    userAgent: e.request?.userAgent,
    httpMethod: e.request?.method,
    urlPath: e.request?.path,
    traceId: e.trace?.traceId,
    spanId: e.trace?.spanId,
    details: e.details === undefined ? undefined : JSON.stringify(e.details),
    changes: e.changes === undefined ? undefined : JSON.stringify(e.changes),
    chainId: r.chainId,
    seq: r.seq,
    prevHash: r.prevHash,
    hash: r.hash,
    receivedAt: r.receivedAt,
  };
  return `${CSV_COLUMNS.map((c) => csvField(values[c])).join(',')}\r\n`;
}

/** One event as an NDJSON line: the record exactly as `GET /v1/audit/events` returns it. */
export function ndjsonRow(r: AuditEventRecord): string {
  return `${JSON.stringify(r)}\n`;
}
