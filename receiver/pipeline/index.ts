/** The receiver's processing pipeline: `createAuditPipeline(config)` → a LogsConsumer with WAL and exporters. */

export type { ExporterRunnerConfig, PipelineConfig, PipelineConfigInput } from './config.ts';
export { ExporterRunnerConfigSchema, PipelineConfigSchema, parsePipelineConfig } from './config.ts';
export { fastCanonicalEventJson } from './fast-jcs.ts';
export { renderPrometheusMetrics } from './metrics.ts';
export type { AddExporterOptions, AuditPipeline, ChainHead, PipelineHooks, PipelineStatus } from './pipeline.ts';
export { createAuditPipeline, FSYNC_BUCKETS_MILLIS } from './pipeline.ts';
export type { Rejection } from './prepare-stage.ts';
export { attrReplacer, extraAttributesJson } from './prepare-stage.ts';
