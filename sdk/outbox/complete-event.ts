/**
 * Completing and validating an event the way the SDK's `record()` does: fill `eventId` (UUIDv7),
 * `schemaVersion`, `occurredAt` (now) and `trace` (the active span), then validate with the shared
 * schema. Lives here until the SDK's own completion helper exists; the two should be unified then.
 */
import { randomFillSync } from 'node:crypto';
import { context, trace } from '@opentelemetry/api';
import {
  type AuditEvent,
  type AuditEventInput,
  CURRENT_SCHEMA_VERSION,
  invalidEventError,
  validateAuditEvent,
} from '../../schema/index.ts';

const randomPool = Buffer.alloc(10 * 256);
let randomOffset = randomPool.length;

/** 10 random bytes from a pooled buffer: one getrandom call per 256 ids keeps this off the profile. */
function randomBytes10(): Buffer {
  if (randomOffset >= randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  const out = randomPool.subarray(randomOffset, randomOffset + 10);
  randomOffset += 10;
  return out;
}

/**
 * A new RFC 9562 UUID version 7: 48 bits of Unix milliseconds, then random bits. Ids made in the
 * same millisecond are not ordered among themselves; nothing relies on that (ordering comes from the
 * receiver's sequence numbers).
 */
export function uuidv7(now: number = Date.now()): string {
  const b = Buffer.alloc(16);
  b.writeUIntBE(now, 0, 6);
  randomBytes10().copy(b, 6);
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

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
    eventId: input.eventId ?? uuidv7(now.getTime()),
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
