/**
 * Completing and validating an event for the outbox exactly as the SDK's `record()` does (shared
 * `completeEventInput`: ids, time, audit context, trace, redaction), then validating it.
 */
import { type AuditEvent, type AuditEventInput, validateAuditEvent } from '@otel-audit/schema';
import { completeEventInput } from '../complete-event.ts';
import { createRedactor, DEFAULT_REDACT_KEYS } from '../redact.ts';

const defaultRedact = createRedactor(DEFAULT_REDACT_KEYS);

/** Options of {@link completeAuditEvent}. */
export interface CompleteEventOptions {
  /** Redacts `details` and `changes`. Default: the SDK's default keys (password, token, secret, …). */
  redact?: (value: unknown) => unknown;
}

/**
 * Fill the producer-assigned fields of `input` (and, inside `runWithAuditContext`, the context's
 * actor, tenant, request and session) and validate it.
 * @throws AuditError `AUDIT_ERR_INVALID_EVENT` naming every failing field path.
 */
export function completeAuditEvent(input: AuditEventInput, options: CompleteEventOptions = {}): AuditEvent {
  const result = validateAuditEvent(completeEventInput(input, options.redact ?? defaultRedact));
  if (!result.ok) throw result.error;
  return result.event;
}
