/**
 * Cold storage (issue 5): the exporter that archives audit rows as Parquet (or NDJSON.gz) objects
 * in event-time partitions on S3 or a local directory, reading them back, replaying them into
 * ClickHouse and local-archive retention. See docs/coldstore.md.
 */
export { createColdStoreExporter, createColdStore } from './exporter.ts';
export type { ColdStoreExporter, ColdStoreExporterOptions, ColdStoreStatus } from './exporter.ts';
export { parseColdStoreConfig, ColdStoreConfigSchema, localArchiveDir } from './config.ts';
export type { ColdStoreConfig, ColdStoreConfigInput, S3BackendConfig, LocalBackendConfig } from './config.ts';
export { LocalDirectoryStore, S3ObjectStore, classifyS3Error, sha256Hex } from './store.ts';
export type { ObjectStore, StoredObjectInfo } from './store.ts';
export { escapeKeySegment, unescapeKeySegment, objectKey, manifestKey, parseObjectKey, partitionPrefix } from './keys.ts';
export type { ObjectKeyParts } from './keys.ts';
export { assembleColdObject, buildColdObject, COLD_FORMAT_VERSION, ROW_SCHEMA_VERSION } from './object-format.ts';
export { chdbParquetEngine } from './sealed-build.ts';
export type { ParquetEngine } from './sealed-build.ts';
export { appendKeyValueMetadata } from './parquet-footer.ts';
export type { ColdObjectManifest, ColdObjectMetadata, BuiltColdObject } from './object-format.ts';
export { encodeParquet, decodeParquet, decodeParquetIntegrity, AUDIT_PARQUET_SCHEMA } from './parquet-codec.ts';
export type { EncodeParquetOptions, IntegrityRow } from './parquet-codec.ts';
export { listColdObjects, readColdObject, coldObjectRows } from './reader.ts';
export type { ColdObjectFilter, ColdObjectRef, ColdObjectListing, ColdObjectRead, ColdObjectProblem, SkippedColdFile, ReadColdObjectOptions } from './reader.ts';
export { replayColdStorage, createClickHouseReplaySink, replayTableDdl } from './replay.ts';
export type { ReplaySink, ReplayOptions, ReplayProgress, ReplayReport, ReplayObject, ClickHouseReplaySinkOptions } from './replay.ts';
export { applyRetention } from './retention.ts';
export type { RetentionReport } from './retention.ts';
export { CHECKPOINTS_DIR, checkpointKeyPrefix, checkpointKeys, isCheckpointKey, listArchivedCheckpoints, parseCheckpointKey } from './checkpoints.ts';
export type { ArchivedCheckpoint } from './checkpoints.ts';
