/**
 * Event ids derived from content, for records that arrive without `audit.event_id` (log shippers
 * and hand-written OTLP rarely have one). The id must be a pure function of the event, so that a
 * collector resending the same batch after a timeout produces the same ids and the receiver's
 * dedupe drops the copies; and anyone holding the stored event can recompute it.
 *
 * Definition (docs/schema.md, "Derived event ids"):
 *
 *   input  = DERIVED_EVENT_ID_DOMAIN ‖ UTF-8( JCS( event without `eventId` ) )
 *   digest = SHA-256(input)
 *   id     = digest[0..16) with the version nibble (bits 48–51) set to 8 and the variant bits
 *            (64–65) set to 0b10, written as a lower-case 8-4-4-4-12 UUID
 *
 * where `event` is the normalized event (schema/audit-event.ts) that will be stored, including
 * `eventIdDerived: true` and `schemaVersion: "1.1"`, JCS is RFC 8785, and the version/variant
 * placement is RFC 9562 §5.8 (UUIDv8), the construction of its Appendix B.2 (name-based SHA-256)
 * with a fixed domain string in place of a namespace UUID.
 */
import { hash } from 'node:crypto';
import { AuditError } from '@otel-audit/core';
import canonicalize from 'canonicalize';
import type { AuditEvent } from './audit-event.ts';

/** Prefix of the hashed input: separates derived ids from every other SHA-256 of an event (the chain hash). */
export const DERIVED_EVENT_ID_DOMAIN = 'otel-audit derived event id v1\n';

/**
 * Stands in for `eventId` while an id-less record is validated, before its id can be derived from
 * the validated content; never stored (a valid UUIDv8 so validation passes).
 */
export const PLACEHOLDER_EVENT_ID = '00000000-0000-8000-8000-000000000000';

/** The UUIDv8 for the canonical JSON of an event without its `eventId`. */
export function deriveEventIdFromCanonical(canonicalWithoutId: string): string {
  const hex = hash('sha256', DERIVED_EVENT_ID_DOMAIN + canonicalWithoutId, 'hex');
  // Octet 6 high nibble = version 8; octet 8 top bits = 10 (variant), keeping its low 6 bits.
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** A copy of the event without `eventId` (what the derived id is computed over). */
export function withoutEventId(event: AuditEvent): Omit<AuditEvent, 'eventId'> {
  const copy: Partial<AuditEvent> = { ...event };
  delete copy.eventId;
  return copy as Omit<AuditEvent, 'eventId'>;
}

/** RFC 8785 canonical JSON by the `canonicalize` package (the definition; the receiver uses its faster equivalent). */
export function canonicalJson(value: unknown): string {
  try {
    const text = canonicalize(value);
    if (text === undefined) throw new Error('event is not serializable');
    return text;
  } catch (err) {
    throw new AuditError('AUDIT_ERR_INVALID_EVENT', `cannot canonicalize event (RFC 8785): ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The derived id of a normalized event (its own `eventId`, if any, is ignored). A verifier checks
 * an event with `eventIdDerived: true` by comparing this with its `eventId`.
 */
export function deriveEventId(event: AuditEvent | Omit<AuditEvent, 'eventId'>): string {
  return deriveEventIdFromCanonical(canonicalJson(withoutEventId(event as AuditEvent)));
}

const DERIVED_MARK = '"eventIdDerived":true';

/**
 * The canonical JSON of a derived-id event, from the canonical JSON it was derived from (the event
 * without `eventId`) and the id: RFC 8785 sorts `eventId` immediately before `eventIdDerived`, so
 * this inserts one member instead of serializing the event again. The last occurrence of the mark
 * is the top-level one: keys that sort after it hold strings (where quotes are escaped) or objects
 * of fixed keys, and any nested `eventIdDerived` key in `bodyValue`, `changes` or `details` sorts
 * before it.
 */
export function canonicalWithDerivedId(canonicalWithoutId: string, eventId: string): string {
  const at = canonicalWithoutId.lastIndexOf(DERIVED_MARK);
  if (at < 0) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'not the canonical JSON of a derived-id event (no eventIdDerived)');
  return `${canonicalWithoutId.slice(0, at)}"eventId":"${eventId}",${canonicalWithoutId.slice(at)}`;
}
