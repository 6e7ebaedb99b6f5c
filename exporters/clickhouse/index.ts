/**
 * The ClickHouse exporter (WAL → `audit_events`) and the read surfaces over the same store:
 * the read-only SQL service, its ClickHouse-HTTP-compatible handler and the events listing.
 */

export type { CheckpointRow } from './checkpoints.ts';
export { CHECKPOINT_COLUMNS, checkpointRecordToRow, checkpointRowToRecord, checkpointsToken } from './checkpoints.ts';
export type { ClickHouseHandle } from './client.ts';
export { openClickHouse } from './client.ts';
export type { ClickHouseConfig, ClickHouseConfigInput } from './config.ts';
export { ClickHouseConfigSchema, ClickHouseTlsSchema, parseClickHouseConfig } from './config.ts';
export type { ClickHouseSchemaOptions, ColumnDefinition, Migration, RenderDdlOptions, RoleNames, SchemaNames } from './ddl.ts';
export {
  AUDIT_EVENTS_COLUMNS,
  MIGRATIONS,
  renderClickHouseDdl,
  renderRoleDdl,
  SCHEMA_VERSION,
  schemaNames,
} from './ddl.ts';
export type { ClassifiedError } from './errors.ts';
export { classifyClickHouseError, isPermanentClickHouseError } from './errors.ts';
export type { AuditEventFilters, AuditEventPage, AuditEventRecord, EventsTable } from './events-query.ts';
export { buildEventsQuery, EVENT_FILTER_PARAMS, EVENTS_PAGE, listAuditEvents, readEventFilterParams } from './events-query.ts';
export type { ClickHouseExporter, ClickHouseExporterOptions } from './exporter.ts';
export { batchToJsonEachRow, createClickHouseExporter, deduplicationToken } from './exporter.ts';
export type { ClickHouseHttpOptions } from './http-query.ts';
export { handleClickHouseHttpQuery } from './http-query.ts';
export { insertJsonEachRow, insertSettings } from './insert.ts';
export type { MigrationReport } from './migrations.ts';
export { appliedMigrationVersions, applyMigrations } from './migrations.ts';
export type {
  QueryOptions,
  QueryOutput,
  QueryService,
  QueryServiceOptions,
  QuerySummary,
  ReadOnlyCheck,
  SqlToken,
} from './read-only-query.ts';
export { checkReadOnlyQuery, createQueryService, tokenizeSql } from './read-only-query.ts';
