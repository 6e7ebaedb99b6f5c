/**
 * Completing and validating an event the way the SDK's `record()` does: fill `eventId` (UUIDv7),
 * `schemaVersion`, `occurredAt` (now) and `trace` (the active span), then validate with the shared
 * schema, redacting secrets in `details` and `changes` first. The SDK's logger does the same inside `createAuditLogger` (plus its audit context and
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
import { DEFAULT_REDACT_KEYS, createRedactor } from '../redact.ts';
import { uuidv7 } from '../uuid-v7.ts';

const defaultRedact = createRedactor(DEFAULT_REDACT_KEYS);

/** Options of {@link completeAuditEvent}. */
export interface CompleteEventOptions {
  /** Redacts `details` and `changes` (the SDK's default keys: password, token, secret, …). */
  redact?: (value: unknown) => unknown;
  /** "Now" for `occurredAt`. */
  now?: Date;
}

/**
 * Fill the producer-assigned fields of `input` and validate it.
 * `actor` and `tenant` are required here: a transaction has no request context to take them from.
 * @throws AuditError `AUDIT_ERR_INVALID_EVENT` naming every failing field path.
 */
export function completeAuditEvent(input: AuditEventInput, options: CompleteEventOptions = {}): AuditEvent {
  const now = options.now ?? new Date();
  const redact = options.redact ?? defaultRedact;
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
  if (input.details !== undefined) candidate.details = redact(input.details);
  if (input.changes !== null && typeof input.changes === 'object') {
    const changes: Record<string, unknown> = { ...input.changes };
    if (changes.before !== undefined) changes.before = redact(changes.before);
    if (changes.after !== undefined) changes.after = redact(changes.after);
    candidate.changes = changes;
  }
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
