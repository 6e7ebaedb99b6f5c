/**
 * otel-audit producer SDK: `createAuditLogger`, audit context, HTTP middleware, redaction.
 * Public names are exported one by one; anything not listed here is internal.
 */

export type { AuditErrorCode } from '@otel-audit/core';
export { AuditError, isAuditError } from '@otel-audit/core';
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
} from '@otel-audit/schema';
export { AUDIT_EVENT_LIMITS, AUDIT_SCHEMA_URL, CURRENT_SCHEMA_VERSION } from '@otel-audit/schema';
export type { AuditLogger, AuditLoggerStats, FlushResult } from './audit-logger.ts';
export { AUDIT_SCOPE_NAME, createAuditLogger, SDK_VERSION } from './audit-logger.ts';
export type { AuditContext } from './context.ts';
export { getAuditContext, runWithAuditContext, updateAuditContext } from './context.ts';
export type {
  ExpressLikeRequest,
  ExpressLikeResponse,
  FastifyAuditPlugin,
  FastifyLikeInstance,
  FastifyLikeReply,
  FastifyLikeRequest,
  HttpAuditOptions,
  HttpRequestInfo,
} from './middleware.ts';
export { defaultHttpAction, defaultHttpOutcome, expressAuditMiddleware, fastifyAuditPlugin } from './middleware.ts';
export type { AuditLoggerOptions, ResolvedAuditLoggerOptions } from './options.ts';
export { AuditLoggerOptionsSchema, parseAuditLoggerOptions } from './options.ts';
export type { OtelEnvExporterSettings, OtelEnvSettings } from './otel-env.ts';
export { applyOtelEnvironment, readOtelEnvironment } from './otel-env.ts';
export type { OtlpProtocol } from './otlp-exporter.ts';
export { createRedactor, DEFAULT_REDACT_KEYS, REDACTED } from './redact.ts';
export type { RejectedReport } from './sender.ts';
export { uuidv7 } from './uuid-v7.ts';
