/**
 * The audit event schema (1.x) and its OTLP mapping, shared by the SDK and the receiver.
 */

export type {
  AuditActor,
  AuditEvent,
  AuditEventInput,
  AuditOutcome,
  AuditRequest,
  AuditTarget,
  AuditTenant,
  AuditTraceContext,
  JsonValue,
  ValidationResult,
} from './audit-event.ts';
export {
  ActorSchema,
  AUDIT_EVENT_LIMITS,
  AUDIT_SCHEMA_URL,
  AuditEventInputSchema,
  AuditEventSchema,
  BASELINE_SCHEMA_VERSION,
  CURRENT_SCHEMA_VERSION,
  formatPath,
  invalidEventError,
  isoToUnixNanos,
  normalizeAuditEvent,
  normalizedSchemaVersion,
  TargetSchema,
  TenantSchema,
  UUID_PATTERN,
  unixNanosToIso,
  validateAuditEvent,
} from './audit-event.ts';
export { DERIVED_EVENT_ID_DOMAIN, deriveEventId, deriveEventIdFromCanonical } from './event-id.ts';
export type { AttributeValue, AuditLogRecordFields, LogRecordMappingOptions, LogRecordView } from './otlp-mapping.ts';
export {
  AUDIT_ATTR,
  anyValueToOtlpJson,
  auditEventToLogRecord,
  isAuditRecord,
  logRecordToAuditEvent,
  OUTCOME_SEVERITY,
  parseJsonObjectText,
  recordSchemaVersion,
} from './otlp-mapping.ts';
