/**
 * The audit event schema (1.x) and its OTLP mapping, shared by the SDK and the receiver.
 */
export {
  AUDIT_EVENT_LIMITS,
  AUDIT_SCHEMA_URL,
  ActorSchema,
  AuditEventInputSchema,
  AuditEventSchema,
  CURRENT_SCHEMA_VERSION,
  TargetSchema,
  TenantSchema,
  formatPath,
  invalidEventError,
  isoToUnixNanos,
  normalizeAuditEvent,
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
  auditEventToLogRecord,
  isAuditRecord,
  logRecordToAuditEvent,
  recordSchemaVersion,
} from './otlp-mapping.ts';
export type { AttributeValue, AuditLogRecordFields, LogRecordView } from './otlp-mapping.ts';
