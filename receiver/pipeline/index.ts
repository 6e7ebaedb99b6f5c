/** The receiver's processing pipeline: `createAuditPipeline(config)` → a LogsConsumer with WAL and exporters. */
export { FSYNC_BUCKETS_MILLIS, createAuditPipeline } from './pipeline.ts';
export type { AddExporterOptions, AuditPipeline, ChainHead, PipelineHooks, PipelineStatus } from './pipeline.ts';
export { ExporterRunnerConfigSchema, PipelineConfigSchema, parsePipelineConfig } from './config.ts';
export type { ExporterRunnerConfig, PipelineConfig, PipelineConfigInput } from './config.ts';
export { renderPrometheusMetrics } from './metrics.ts';
export { attrReplacer, extraAttributesJson, prepareRequest } from './prepare-stage.ts';
export type { PreparedRecord, PreparedRequest, RecordContext, Rejection } from './prepare-stage.ts';
export { fastCanonicalEventJson } from './fast-jcs.ts';
