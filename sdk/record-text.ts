/**
 * The spool payload of an audit event, built straight from the validated event (the record
 * worker's path): no `LogRecordImpl`, no intermediate Buffer. Kept apart from record-codec.ts so
 * that the export worker, which only decodes, does not load the schema package.
 */
import { isSpanContextValid } from '@opentelemetry/api';
import { timeInputToHrTime } from '@opentelemetry/core';
import { type AuditEvent, auditEventToLogRecord } from '@otel-audit/schema';

/**
 * The encoded record (the text `encodeRecord` (record-codec.ts) would UTF-8 encode) of a validated audit event
 * emitted through the SDK's own LoggerProvider at `observedMillis` (ms since the epoch), computed
 * without building the `LogRecordImpl`. Used by the record worker for every `record()`, where the
 * provider's per-record work (attribute checks and copies, getters) cost ~3 µs of the ~25 µs per
 * event (docs/performance.md).
 *
 * Equal to `encodeRecord(record)` for the record that provider builds because, for that provider
 * (no `logRecordLimits`, so 128 attributes and no length limit; no LoggerConfigurator; the context
 * carries only the event's span context): the mapping yields at most 26 attributes, all strings,
 * string arrays or booleans (never dropped, truncated or reordered); the time is already an
 * HrTime; the observed time goes through the same `timeInputToHrTime`; and the span context is
 * kept only when valid, as `LogRecordImpl` does. test/sdk/record-codec.test.ts compares both for
 * varied events, and the record worker re-checks one at start (falling back to the provider).
 * Throws what the mapping throws (an unparseable `occurredAt`, which validation already refuses).
 */
export function encodeAuditEventRecordText(event: AuditEvent, observedMillis: number): string {
  const r = auditEventToLogRecord(event);
  const observed = timeInputToHrTime(observedMillis);
  const tc = event.trace;
  const sc = tc ? { traceId: tc.traceId, spanId: tc.spanId, traceFlags: tc.traceFlags ?? 0 } : undefined;
  const valid = sc !== undefined && isSpanContextValid(sc);
  // The field order and null conventions of encodeRecord, which the decoder reads.
  return JSON.stringify([
    r.timestamp[0],
    r.timestamp[1],
    observed[0],
    observed[1],
    r.severityNumber ?? null,
    r.severityText ?? null,
    r.eventName ?? null,
    r.body === undefined ? null : [r.body],
    r.attributes,
    valid ? sc.traceId : null,
    valid ? sc.spanId : null,
    valid ? sc.traceFlags : null,
    0,
  ]);
}
