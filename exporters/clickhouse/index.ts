/**
 * The ClickHouse exporter (WAL → `audit_events`) and the read surfaces over the same store:
 * the read-only SQL service, its ClickHouse-HTTP-compatible handler and the events listing.
 */
export { createClickHouseExporter, deduplicationToken, batchToJsonEachRow } from './exporter.ts';
export type { ClickHouseExporter, ClickHouseExporterOptions } from './exporter.ts';
export { ClickHouseConfigSchema, ClickHouseTlsSchema, parseClickHouseConfig } from './config.ts';
export type { ClickHouseConfig, ClickHouseConfigInput } from './config.ts';
export { openClickHouse } from './client.ts';
export type { ClickHouseHandle } from './client.ts';
export {
  AUDIT_EVENTS_COLUMNS,
  MIGRATIONS,
  SCHEMA_VERSION,
  renderClickHouseDdl,
  renderRoleDdl,
  schemaNames,
} from './ddl.ts';
export type { ClickHouseSchemaOptions, ColumnDefinition, Migration, RenderDdlOptions, RoleNames, SchemaNames } from './ddl.ts';
export { CHECKPOINT_COLUMNS, checkpointRecordToRow, checkpointRowToRecord, checkpointsToken } from './checkpoints.ts';
export type { CheckpointRow } from './checkpoints.ts';
export { insertJsonEachRow, insertSettings } from './insert.ts';
export { applyMigrations, appliedMigrationVersions } from './migrations.ts';
export type { MigrationReport } from './migrations.ts';
export { classifyClickHouseError, isPermanentClickHouseError } from './errors.ts';
export type { ClassifiedError } from './errors.ts';
export { checkReadOnlyQuery, createQueryService, tokenizeSql } from './read-only-query.ts';
export type { QueryOptions, QueryOutput, QueryService, QueryServiceOptions, QuerySummary, ReadOnlyCheck, SqlToken } from './read-only-query.ts';
export { handleClickHouseHttpQuery } from './http-query.ts';
export type { ClickHouseHttpOptions } from './http-query.ts';
export { EVENTS_PAGE, buildEventsQuery, listAuditEvents } from './events-query.ts';
export type { AuditEventFilters, AuditEventPage, AuditEventRecord, EventsTable } from './events-query.ts';
