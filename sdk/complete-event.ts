/**
 * Completing an event the way every producer path does (`record()`, `recordInTransaction`): fill
 * `eventId` (UUIDv7), `schemaVersion`, `occurredAt` (now), the audit context's `actor`, `tenant`,
 * `request` and `session`, and `trace` from the active span, then redact `details` and `changes`.
 * Validation is the caller's next step (`validateAuditEvent`), so an invalid input stays invalid.
 */
import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import { type AuditEventInput, BASELINE_SCHEMA_VERSION } from '@otel-audit/schema';
import { getAuditContext } from './context.ts';
import { uuidv7 } from './uuid-v7.ts';

/**
 * The event with producer-filled fields and redaction applied, not yet validated. Non-objects are
 * returned unchanged (validation names them). `redact` is applied to `details`, `changes.before`
 * and `changes.after`.
 */
export function completeEventInput(input: AuditEventInput, redact: (value: unknown) => unknown): unknown {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return input;
  const ev: Record<string, unknown> = { ...input };
  if (ev.eventId === undefined) ev.eventId = uuidv7();
  if (ev.schemaVersion === undefined) ev.schemaVersion = BASELINE_SCHEMA_VERSION; // raised to 1.1 by validation when `message` is used
  if (ev.occurredAt === undefined) ev.occurredAt = new Date().toISOString();
  else if (ev.occurredAt instanceof Date)
    ev.occurredAt = Number.isNaN(ev.occurredAt.getTime()) ? 'Invalid Date' : ev.occurredAt.toISOString();
  if (ev.actor === undefined || ev.tenant === undefined || ev.request === undefined || ev.session === undefined) {
    const ctx = getAuditContext();
    if (ctx) {
      if (ev.actor === undefined && ctx.actor) ev.actor = ctx.actor;
      if (ev.tenant === undefined && ctx.tenant) ev.tenant = ctx.tenant;
      if (ev.request === undefined && ctx.request) ev.request = ctx.request;
      if (ev.session === undefined && ctx.session) ev.session = ctx.session;
    }
  }
  if (ev.trace === undefined) {
    const sc = trace.getSpanContext(context.active());
    if (sc && isSpanContextValid(sc)) ev.trace = { traceId: sc.traceId, spanId: sc.spanId, traceFlags: sc.traceFlags };
  }
  if (ev.details !== undefined) ev.details = redact(ev.details);
  if (ev.changes !== null && typeof ev.changes === 'object' && !Array.isArray(ev.changes)) {
    const ch = { ...(ev.changes as Record<string, unknown>) };
    if (ch.before !== undefined) ch.before = redact(ch.before);
    if (ch.after !== undefined) ch.after = redact(ch.after);
    ev.changes = ch;
  }
  return ev;
}
