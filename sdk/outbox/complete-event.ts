/**
 * Completing and validating an event the way the SDK's `record()` does: fill `eventId` (UUIDv7),
 * `schemaVersion`, `occurredAt` (now) and `trace` (the active span), then validate with the shared
 * schema. The SDK's logger does the same inside `createAuditLogger` (plus its audit context and
 * redaction) without exporting it; the two should become one helper.
 */
import { context, trace } from '@opentelemetry/api';
import {
  type AuditEvent,
  type AuditEventInput,
  CURRENT_SCHEMA_VERSION,
  invalidEventError,
  validateAuditEvent,
} from '../../schema/index.ts';
import { uuidv7 } from '../uuid-v7.ts';

/**
 * Fill the producer-assigned fields of `input` and validate it.
 * `actor` and `tenant` are required here: a transaction has no request context to take them from.
 * @throws AuditError `AUDIT_ERR_INVALID_EVENT` naming every failing field path.
 */
export function completeAuditEvent(input: AuditEventInput, now: Date = new Date()): AuditEvent {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw invalidEventError([{ path: [], message: 'an audit event must be an object' }]).error;
  }
  const occurredAt = input.occurredAt instanceof Date ? dateToIso(input.occurredAt) : (input.occurredAt ?? now.toISOString());
  const candidate: Record<string, unknown> = {
    ...input,
    eventId: input.eventId ?? uuidv7(),
    schemaVersion: input.schemaVersion ?? CURRENT_SCHEMA_VERSION,
    occurredAt,
  };
  if (input.trace === undefined) {
    const span = trace.getSpanContext(context.active());
    if (span && trace.isSpanContextValid(span)) {
      candidate.trace = { traceId: span.traceId, spanId: span.spanId, traceFlags: span.traceFlags };
    }
  }
  const result = validateAuditEvent(candidate);
  if (!result.ok) throw result.error;
  return result.event;
}

function dateToIso(date: Date): string {
  if (Number.isNaN(date.getTime())) {
    throw invalidEventError([{ path: ['occurredAt'], message: 'occurredAt is an invalid Date' }]).error;
  }
  return date.toISOString();
}
