/**
 * SIEM delivery: the webhook exporter (WAL → signed HTTP(S) POSTs, at least once, in the
 * `otel-audit`, `ocsf` or `splunk-hec` format) and the OCSF mapping shared with `otel-audit export`.
 * See docs/webhook.md.
 */

export type { OcsfClassUid, OcsfOptions, OcsfOptionsInput, OcsfOverride, WebhookConfig, WebhookConfigInput } from './config.ts';
export {
  OCSF_CLASS_UIDS,
  OcsfOptionsSchema,
  OcsfOverrideSchema,
  parseOcsfOptions,
  parseWebhookConfig,
  RESERVED_EXPORTER_NAMES,
  RESERVED_HEADERS,
  WebhookConfigSchema,
  WebhooksConfigSchema,
  WebhookTlsSchema,
} from './config.ts';
export type { WebhookExporter, WebhookExporterOptions, WebhookStats } from './exporter.ts';
export { createWebhookExporter, idempotencyKey, WEBHOOK_BODY_VERSION } from './exporter.ts';
export type { BodyChunk, RecordFormatter, SplunkEnvelope, WebhookEncoding, WebhookFormat } from './formats.ts';
export { chunkBodies, createRecordFormatter, joinBody, splunkHecEvent } from './formats.ts';
export type { ClientTls, PostOutcome, WebhookHttpClient } from './http-client.ts';
export { createWebhookHttpClient, isRetryableStatus, parseRetryAfter } from './http-client.ts';
export type { OcsfClassDefinition, OcsfClassification, OcsfMapper } from './ocsf.ts';
export { createOcsfMapper, OCSF_CLASSES, OCSF_DEFAULT_PREFIXES, OCSF_SEVERITIES, OCSF_VERSION, ocsfClassList } from './ocsf.ts';
export type { AuditRecord } from './record.ts';
export { otelAuditJson, recordFromRow, recordFromWalEntry } from './record.ts';
export type { SignatureCheck } from './signature.ts';
export { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signatureHeader, signatureHex, verifySignature } from './signature.ts';
