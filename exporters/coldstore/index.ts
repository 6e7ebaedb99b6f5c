/**
 * Cold storage: the exporter that archives audit rows as Parquet (or NDJSON.gz) objects
 * in event-time partitions on S3 or a local directory, reading them back, replaying them into
 * ClickHouse and local-archive retention. See docs/coldstore.md.
 */

export type { ArchivedCheckpoint } from './checkpoints.ts';
export {
  CHECKPOINTS_DIR,
  checkpointKeyPrefix,
  checkpointKeys,
  isCheckpointKey,
  listArchivedCheckpoints,
  parseCheckpointKey,
} from './checkpoints.ts';
export type { ColdStoreConfig, ColdStoreConfigInput, LocalBackendConfig, S3BackendConfig } from './config.ts';
export { ColdStoreConfigSchema, localArchiveDir, parseColdStoreConfig } from './config.ts';
export type { ColdStoreExporter, ColdStoreExporterOptions, ColdStoreStatus } from './exporter.ts';
export { createColdStore, createColdStoreExporter } from './exporter.ts';
export type { ObjectKeyParts } from './keys.ts';
export { escapeKeySegment, manifestKey, objectKey, parseObjectKey, partitionPrefix, unescapeKeySegment } from './keys.ts';
export type { BuiltColdObject, ColdObjectManifest, ColdObjectMetadata } from './object-format.ts';
export { assembleColdObject, buildColdObject, COLD_FORMAT_VERSION, ROW_SCHEMA_VERSION } from './object-format.ts';
export type { EncodeParquetOptions, IntegrityRow } from './parquet-codec.ts';
export { AUDIT_PARQUET_SCHEMA, decodeParquet, decodeParquetIntegrity, encodeParquet } from './parquet-codec.ts';
export { appendKeyValueMetadata } from './parquet-footer.ts';
export type {
  ColdObjectFilter,
  ColdObjectListing,
  ColdObjectProblem,
  ColdObjectRead,
  ColdObjectRef,
  ReadColdObjectOptions,
  SkippedColdFile,
} from './reader.ts';
export { coldObjectRows, listColdObjects, readColdObject } from './reader.ts';
export type { ClickHouseReplaySinkOptions, ReplayObject, ReplayOptions, ReplayProgress, ReplayReport, ReplaySink } from './replay.ts';
export { createClickHouseReplaySink, replayColdStorage, replayTableDdl } from './replay.ts';
export type { RetentionReport } from './retention.ts';
export { applyRetention } from './retention.ts';
export type { ParquetEngine } from './sealed-build.ts';
export { chdbParquetEngine } from './sealed-build.ts';
export type { ObjectStore, StoredObjectInfo } from './store.ts';
export { classifyS3Error, LocalDirectoryStore, S3ObjectStore, sha256Hex } from './store.ts';
