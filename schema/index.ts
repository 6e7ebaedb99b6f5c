/**
 * The audit event schema (1.x) and its OTLP mapping, shared by the SDK and the receiver.
 */
export {
  AUDIT_EVENT_LIMITS,
  AUDIT_SCHEMA_URL,
  ActorSchema,
  AuditEventInputSchema,
  AuditEventSchema,
  BASELINE_SCHEMA_VERSION,
  CURRENT_SCHEMA_VERSION,
  TargetSchema,
  TenantSchema,
  formatPath,
  invalidEventError,
  isoToUnixNanos,
  normalizeAuditEvent,
  normalizedSchemaVersion,
  UUID_PATTERN,
  unixNanosToIso,
  validateAuditEvent,
} from './audit-event.ts';
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
  AUDIT_ATTR,
  OUTCOME_SEVERITY,
  anyValueToOtlpJson,
  auditEventToLogRecord,
  isAuditRecord,
  logRecordToAuditEvent,
  parseJsonObjectText,
  recordSchemaVersion,
} from './otlp-mapping.ts';
export type { AttributeValue, AuditLogRecordFields, LogRecordMappingOptions, LogRecordView } from './otlp-mapping.ts';
export { DERIVED_EVENT_ID_DOMAIN, deriveEventId, deriveEventIdFromCanonical } from './event-id.ts';
