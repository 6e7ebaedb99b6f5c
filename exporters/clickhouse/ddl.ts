/**
 * The ClickHouse schema of otel-audit as versioned migrations, and its rendering as DDL text for
 * operators (`otel-audit clickhouse-ddl`). The reasons behind each choice are in docs/clickhouse.md.
 *
 * Every statement is idempotent (`IF NOT EXISTS`), so a migration can be re-run after a crash
 * half-way through it, and two receivers starting at once against one server cannot break each
 * other. A new release only ever appends a migration; it never edits a released one.
 */
import { AUDIT_ROW_COLUMNS, type AuditRow } from '@otel-audit/schema/audit-row';

/** What the DDL depends on (a subset of the exporter configuration). */
export interface ClickHouseSchemaOptions {
  database: string;
  /** Name users query: the table itself, or the Distributed table on a cluster. */
  table: string;
  checkpointsTable: string;
  /** Cluster name: `ON CLUSTER`, Replicated engines and Distributed tables. */
  cluster?: string | undefined;
  /** Retention in days (TTL on `audit_events` only; checkpoints are kept to verify cold storage). */
  ttlDays?: number | undefined;
  /** Insert-deduplication window (blocks) of non-replicated tables. */
  deduplicationWindow?: number | undefined;
}

/** One column of `audit_events` as declared in ClickHouse. */
export interface ColumnDefinition {
  name: string;
  type: string;
  /** `DEFAULT …` / `CODEC(…)` tail. */
  tail: string;
}

const Z = 'CODEC(ZSTD(1))';
const TIME = 'CODEC(Delta(8), ZSTD(1))';

/**
 * Columns of `audit_events` in {@link AUDIT_ROW_COLUMNS} order. The otel_logs part copies the OTel
 * Collector ClickHouse exporter's types and codecs so Grafana and otel_logs queries work; times
 * carry an explicit 'UTC' zone so a server with another default time zone stores the instants we
 * send (the row is hashed content: it must read back exactly).
 */
export const AUDIT_EVENTS_COLUMNS: ReadonlyArray<ColumnDefinition> = [
  { name: 'Timestamp', type: "DateTime64(9, 'UTC')", tail: TIME },
  { name: 'TimestampTime', type: "DateTime('UTC')", tail: 'DEFAULT toDateTime(Timestamp)' },
  { name: 'TraceId', type: 'String', tail: Z },
  { name: 'SpanId', type: 'String', tail: Z },
  { name: 'TraceFlags', type: 'UInt8', tail: '' },
  { name: 'SeverityText', type: 'LowCardinality(String)', tail: Z },
  { name: 'SeverityNumber', type: 'UInt8', tail: '' },
  { name: 'ServiceName', type: 'LowCardinality(String)', tail: Z },
  { name: 'Body', type: 'String', tail: Z },
  { name: 'ResourceSchemaUrl', type: 'LowCardinality(String)', tail: Z },
  { name: 'ResourceAttributes', type: 'Map(LowCardinality(String), String)', tail: Z },
  { name: 'ScopeSchemaUrl', type: 'LowCardinality(String)', tail: Z },
  { name: 'ScopeName', type: 'String', tail: Z },
  { name: 'ScopeVersion', type: 'LowCardinality(String)', tail: Z },
  { name: 'ScopeAttributes', type: 'Map(LowCardinality(String), String)', tail: Z },
  { name: 'LogAttributes', type: 'Map(LowCardinality(String), String)', tail: Z },
  { name: 'EventName', type: 'String', tail: Z },
  { name: 'EventId', type: 'String', tail: Z },
  { name: 'SchemaVersion', type: 'LowCardinality(String)', tail: Z },
  { name: 'TenantId', type: 'LowCardinality(String)', tail: Z },
  { name: 'TenantName', type: 'LowCardinality(String)', tail: Z },
  { name: 'Action', type: 'LowCardinality(String)', tail: Z },
  { name: 'Outcome', type: 'LowCardinality(String)', tail: Z },
  { name: 'ActorId', type: 'String', tail: Z },
  { name: 'ActorType', type: 'LowCardinality(String)', tail: Z },
  { name: 'ActorName', type: 'String', tail: Z },
  { name: 'ActorAuthMethod', type: 'LowCardinality(String)', tail: Z },
  { name: 'ActorImpersonatorId', type: 'String', tail: Z },
  { name: 'TargetType', type: 'LowCardinality(String)', tail: Z },
  { name: 'TargetId', type: 'String', tail: Z },
  { name: 'TargetTypes', type: 'Array(LowCardinality(String))', tail: Z },
  { name: 'TargetIds', type: 'Array(String)', tail: Z },
  { name: 'TargetNames', type: 'Array(String)', tail: Z },
  { name: 'Reason', type: 'String', tail: Z },
  { name: 'SessionId', type: 'String', tail: Z },
  { name: 'RequestId', type: 'String', tail: Z },
  // Text, not IPv6: '' must mean "absent" for the lossless row, and the producer's spelling is hashed.
  { name: 'SourceIp', type: 'String', tail: Z },
  { name: 'UserAgent', type: 'String', tail: Z },
  { name: 'HttpMethod', type: 'LowCardinality(String)', tail: Z },
  { name: 'UrlPath', type: 'String', tail: Z },
  { name: 'ChangesBefore', type: 'String', tail: Z },
  { name: 'ChangesAfter', type: 'String', tail: Z },
  { name: 'ChainId', type: 'LowCardinality(String)', tail: Z },
  { name: 'Seq', type: 'UInt64', tail: TIME },
  { name: 'PrevHash', type: 'String', tail: Z },
  { name: 'Hash', type: 'String', tail: Z },
  { name: 'ReceivedAt', type: "DateTime64(9, 'UTC')", tail: TIME },
  // Added by migration 4 to tables created before it; a fresh table gets it here already.
  { name: 'ChainVersion', type: 'UInt8', tail: 'DEFAULT 1' },
] satisfies ReadonlyArray<ColumnDefinition & { name: keyof AuditRow }>;

/** Skip indexes of `audit_events` created with the table (migration 1). */
const V1_INDEXES = [
  // The otel_logs indexes, so otel_logs-style queries stay fast.
  'INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1',
  'INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1',
  'INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1',
  'INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1',
  'INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1',
  'INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8',
  // Audit lookups that do not follow the sort key (tenant, time).
  'INDEX idx_event_id EventId TYPE bloom_filter(0.001) GRANULARITY 1',
  'INDEX idx_actor_id ActorId TYPE bloom_filter(0.01) GRANULARITY 1',
  'INDEX idx_action Action TYPE bloom_filter(0.01) GRANULARITY 1',
  'INDEX idx_target_id TargetId TYPE bloom_filter(0.01) GRANULARITY 1',
  'INDEX idx_target_ids TargetIds TYPE bloom_filter(0.01) GRANULARITY 1',
];

/** Quote an identifier that already matched the config's identifier rule. */
export function quoteIdentifier(name: string): string {
  return `\`${name.replace(/[`\\]/g, (c) => `\\${c}`)}\``;
}

/** A string literal for DDL text (only our own constants go through here). */
export function sqlString(value: string): string {
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** Physical names derived from the options (on a cluster the data lives in `<name>_local`). */
export interface SchemaNames {
  database: string;
  /** Name to query and insert into. */
  events: string;
  /** Table holding the data (MergeTree family). */
  eventsLocal: string;
  checkpoints: string;
  checkpointsLocal: string;
  migrations: string;
}

/** Resolve the table names for the options. */
export function schemaNames(o: ClickHouseSchemaOptions): SchemaNames {
  const local = o.cluster === undefined ? '' : '_local';
  return {
    database: o.database,
    events: o.table,
    eventsLocal: `${o.table}${local}`,
    checkpoints: o.checkpointsTable,
    checkpointsLocal: `${o.checkpointsTable}${local}`,
    migrations: 'schema_migrations',
  };
}

function qualified(o: ClickHouseSchemaOptions, table: string): string {
  return `${quoteIdentifier(o.database)}.${quoteIdentifier(table)}`;
}

function onCluster(o: ClickHouseSchemaOptions): string {
  return o.cluster === undefined ? '' : ` ON CLUSTER ${quoteIdentifier(o.cluster)}`;
}

/** ReplacingMergeTree, or its Replicated form with a per-shard keeper path on a cluster. */
function replacingEngine(o: ClickHouseSchemaOptions, table: string): string {
  if (o.cluster === undefined) return 'ReplacingMergeTree';
  return `ReplicatedReplacingMergeTree(${sqlString(`/clickhouse/tables/{shard}/${o.database}/${table}`)}, '{replica}')`;
}

/** Table settings: dedup window only where ClickHouse defaults it to 0 (non-replicated tables). */
function tableSettings(o: ClickHouseSchemaOptions, extra: string[]): string {
  const settings = ['index_granularity = 8192', ...extra];
  if (o.cluster === undefined) settings.push(`non_replicated_deduplication_window = ${o.deduplicationWindow ?? 1000}`);
  return `SETTINGS ${settings.join(', ')}`;
}

/** The Distributed table in front of a local table; sharded by event id so a replay hits the same shard. */
function distributedTable(o: ClickHouseSchemaOptions, name: string, local: string, shardingKey: string): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(o, name)}${onCluster(o)} AS ${qualified(o, local)}\n` +
    `ENGINE = Distributed(${sqlString(o.cluster!)}, ${sqlString(o.database)}, ${sqlString(local)}, ${shardingKey})`
  );
}

/** `CREATE TABLE audit_events` (the data table: `audit_events_local` on a cluster). */
export function createEventsTableSql(o: ClickHouseSchemaOptions): string {
  const n = schemaNames(o);
  const columns = AUDIT_EVENTS_COLUMNS.map((c) => `    ${c.name} ${c.type}${c.tail ? ` ${c.tail}` : ''}`);
  const indexes = V1_INDEXES.map((i) => `    ${i}`);
  const ttl = o.ttlDays === undefined ? '' : `TTL toDateTime(Timestamp) + INTERVAL ${o.ttlDays} DAY\n`;
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(o, n.eventsLocal)}${onCluster(o)}\n(\n${[...columns, ...indexes].join(',\n')}\n)\n` +
    `ENGINE = ${replacingEngine(o, n.eventsLocal)}\n` +
    'PARTITION BY toDate(Timestamp)\n' +
    'PRIMARY KEY (TenantId, TimestampTime)\n' +
    'ORDER BY (TenantId, TimestampTime, Timestamp, EventId)\n' +
    ttl +
    tableSettings(o, ['ttl_only_drop_parts = 1'])
  );
}

/** `CREATE TABLE audit_checkpoints`: signed checkpoints (Merkle roots) of every chain. No TTL. */
export function createCheckpointsTableSql(o: ClickHouseSchemaOptions): string {
  const n = schemaNames(o);
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(o, n.checkpointsLocal)}${onCluster(o)}\n(\n` +
    [
      `    ChainId LowCardinality(String) ${Z}`,
      '    TreeSize UInt64',
      `    RootHash String ${Z}`,
      '    FirstSeq UInt64',
      '    LastSeq UInt64',
      `    Note String ${Z}`,
      `    KeyId LowCardinality(String) ${Z}`,
      `    CreatedAt DateTime64(9, 'UTC') ${TIME}`,
    ].join(',\n') +
    '\n)\n' +
    `ENGINE = ${replacingEngine(o, n.checkpointsLocal)}\n` +
    'ORDER BY (ChainId, TreeSize)\n' +
    tableSettings(o, [])
  );
}

/** `CREATE DATABASE IF NOT EXISTS`. */
export function createDatabaseSql(o: ClickHouseSchemaOptions): string {
  return `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(o.database)}${onCluster(o)}`;
}

/** `CREATE TABLE schema_migrations`: one row per applied migration version. */
export function createMigrationsTableSql(o: ClickHouseSchemaOptions): string {
  const n = schemaNames(o);
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(o, n.migrations)}${onCluster(o)}\n` +
    "(\n    Version UInt32,\n    Name String,\n    AppliedAt DateTime64(3, 'UTC') DEFAULT now64(3)\n)\n" +
    `ENGINE = ${replacingEngine(o, n.migrations)}\nORDER BY Version`
  );
}

/** One schema migration: idempotent statements, applied in order, recorded in `schema_migrations`. */
export interface Migration {
  version: number;
  name: string;
  statements(options: ClickHouseSchemaOptions): string[];
}

/**
 * The released migrations, in order. Append only: a released migration never changes, because a
 * deployment that already applied it will not run it again.
 */
export const MIGRATIONS: ReadonlyArray<Migration> = [
  {
    version: 1,
    name: 'create audit_events and audit_checkpoints',
    statements(o) {
      const n = schemaNames(o);
      const out = [createEventsTableSql(o), createCheckpointsTableSql(o)];
      if (o.cluster !== undefined) {
        out.push(distributedTable(o, n.events, n.eventsLocal, 'cityHash64(EventId)'));
        out.push(distributedTable(o, n.checkpoints, n.checkpointsLocal, 'cityHash64(ChainId)'));
      }
      return out;
    },
  },
  {
    version: 2,
    name: 'ExportedAt column (visibility lag) and session/request id indexes',
    statements(o) {
      const n = schemaNames(o);
      // A column added with a DEFAULT: writers of the previous release keep inserting their column
      // list unchanged, so a rolling upgrade never breaks a running deployment.
      const column = "ADD COLUMN IF NOT EXISTS ExportedAt DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta(8), ZSTD(1))";
      const out = [
        `ALTER TABLE ${qualified(o, n.eventsLocal)}${onCluster(o)} ${column}`,
        `ALTER TABLE ${qualified(o, n.eventsLocal)}${onCluster(o)} ADD INDEX IF NOT EXISTS idx_session_id SessionId TYPE bloom_filter(0.01) GRANULARITY 1`,
        `ALTER TABLE ${qualified(o, n.eventsLocal)}${onCluster(o)} ADD INDEX IF NOT EXISTS idx_request_id RequestId TYPE bloom_filter(0.01) GRANULARITY 1`,
      ];
      if (o.cluster !== undefined) out.push(`ALTER TABLE ${qualified(o, n.events)}${onCluster(o)} ${column}`);
      return out;
    },
  },
  {
    version: 3,
    name: 'audit_checkpoints: Origin, KeyName and the whole checkpoint record',
    statements(o) {
      const n = schemaNames(o);
      const columns = [
        "ADD COLUMN IF NOT EXISTS Origin LowCardinality(String) DEFAULT '' CODEC(ZSTD(1))",
        "ADD COLUMN IF NOT EXISTS KeyName LowCardinality(String) DEFAULT '' CODEC(ZSTD(1))",
        "ADD COLUMN IF NOT EXISTS Record String DEFAULT '' CODEC(ZSTD(1))",
      ].join(', ');
      const out = [`ALTER TABLE ${qualified(o, n.checkpointsLocal)}${onCluster(o)} ${columns}`];
      if (o.cluster !== undefined) out.push(`ALTER TABLE ${qualified(o, n.checkpoints)}${onCluster(o)} ${columns}`);
      return out;
    },
  },
  {
    version: 4,
    name: 'audit_events: ChainVersion (chain format of each entry hash)',
    statements(o) {
      const n = schemaNames(o);
      // DEFAULT 1: rows written before the column existed were hashed with chain format 1
      // (docs/integrity.md), and writers of the previous release keep inserting without it.
      const column = 'ADD COLUMN IF NOT EXISTS ChainVersion UInt8 DEFAULT 1';
      const out = [`ALTER TABLE ${qualified(o, n.eventsLocal)}${onCluster(o)} ${column}`];
      if (o.cluster !== undefined) out.push(`ALTER TABLE ${qualified(o, n.events)}${onCluster(o)} ${column}`);
      return out;
    },
  },
];

/** The version a fully migrated schema has. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** `INSERT` recording that a migration was applied. */
export function recordMigrationSql(o: ClickHouseSchemaOptions, m: Migration): string {
  return `INSERT INTO ${qualified(o, schemaNames(o).migrations)} (Version, Name) VALUES (${m.version}, ${sqlString(m.name)})`;
}

/** Names of the least-privilege roles printed by {@link renderClickHouseDdl}. */
export interface RoleNames {
  writer: string;
  reader: string;
}

/** Options of {@link renderClickHouseDdl}. */
export interface RenderDdlOptions extends ClickHouseSchemaOptions {
  /** Role names; default `otel_audit_writer` / `otel_audit_reader`. */
  roles?: Partial<RoleNames>;
}

/**
 * Role DDL: a write-only role for the receiver (INSERT on the two tables it writes, nothing else)
 * and a read-only role for people and dashboards (SELECT, with a readonly settings profile).
 */
export function renderRoleDdl(o: RenderDdlOptions): string[] {
  const n = schemaNames(o);
  const writer = o.roles?.writer ?? 'otel_audit_writer';
  const reader = o.roles?.reader ?? 'otel_audit_reader';
  const c = onCluster(o);
  const tables = [n.events, n.checkpoints];
  if (o.cluster !== undefined) tables.push(n.eventsLocal, n.checkpointsLocal);
  const list = (verb: string, role: string) => tables.map((t) => `GRANT${c} ${verb} ON ${qualified(o, t)} TO ${quoteIdentifier(role)}`);
  return [
    `CREATE ROLE IF NOT EXISTS ${quoteIdentifier(writer)}${c}`,
    ...list('INSERT', writer),
    `CREATE ROLE IF NOT EXISTS ${quoteIdentifier(reader)}${c}`,
    ...list('SELECT', reader),
    // readonly = 2: no writes or DDL, but clients may still set query settings (clickhouse-js does).
    `CREATE SETTINGS PROFILE IF NOT EXISTS ${quoteIdentifier(`${reader}_profile`)}${c} SETTINGS readonly = 2 TO ${quoteIdentifier(reader)}`,
  ];
}

/**
 * The complete DDL for operators who manage the schema themselves (`createSchema: false`):
 * database, migrations table, every migration in order with its bookkeeping insert, and the roles.
 * Statements are separated by `;\n\n` so the text can be piped to `clickhouse-client --multiquery`.
 */
export function renderClickHouseDdl(o: RenderDdlOptions): string {
  const parts: string[] = [
    `-- otel-audit ClickHouse schema, version ${SCHEMA_VERSION}${o.cluster === undefined ? '' : ` (cluster ${o.cluster})`}`,
  ];
  const statements = [createDatabaseSql(o), createMigrationsTableSql(o)];
  for (const m of MIGRATIONS) {
    statements.push(`-- migration ${m.version}: ${m.name}\n${m.statements(o).join(';\n\n')}`);
    statements.push(recordMigrationSql(o, m));
  }
  statements.push(`-- least-privilege roles\n${renderRoleDdl(o).join(';\n')}`);
  return `${parts.join('\n')}\n${statements.join(';\n\n')};\n`;
}

/** Column names of `audit_events` that the exporter writes (the storage row). */
export const INSERT_COLUMNS: ReadonlyArray<string> = AUDIT_ROW_COLUMNS;
