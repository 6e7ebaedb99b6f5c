/**
 * `otel-audit clickhouse-ddl [--database d] [--table t] [--cluster c] [--ttl-days n]`: print the
 * ClickHouse schema (the same migrations the exporter applies with `createSchema: true`) and the
 * least-privilege roles, for operators who manage DDL themselves. Safe to run more than once.
 */
import { AuditError } from '@otel-audit/core';
import { parseClickHouseConfig } from '../../exporters/clickhouse/config.ts';
import { renderClickHouseDdl } from '../../exporters/clickhouse/ddl.ts';
import { parseCommandArgs } from '../args.ts';
import type { Command } from '../registry.ts';

const USAGE = `usage: otel-audit clickhouse-ddl [--database <name>] [--table <name>] [--cluster <name>] [--ttl-days <n>]
                                [--writer-role <name>] [--reader-role <name>]

Prints the ClickHouse DDL of otel-audit (database, schema_migrations, audit_events,
audit_checkpoints, roles) to stdout; pipe it to clickhouse-client --multiquery.
  --database     database (default otel_audit)
  --table        events table (default audit_events)
  --cluster      emit ON CLUSTER DDL, Replicated engines and Distributed tables
  --ttl-days     retention of audit_events in days (TTL, ttl_only_drop_parts)
  --writer-role  role of the receiver: INSERT only (default otel_audit_writer)
  --reader-role  role of readers: SELECT only, readonly profile (default otel_audit_reader)
Run the receiver with clickhouse.createSchema: false when the schema is managed this way.
`;

/** The `clickhouse-ddl` command. */
export const command: Command = {
  summary: 'print the ClickHouse schema and least-privilege roles',
  async run(args) {
    const parsed = parseCommandArgs(args, USAGE, {
      database: { type: 'string' },
      table: { type: 'string' },
      cluster: { type: 'string' },
      'ttl-days': { type: 'string' },
      'writer-role': { type: 'string' },
      'reader-role': { type: 'string' },
    });
    if (!parsed) return 0;
    const { values } = parsed;
    const ttl = values['ttl-days'];
    if (ttl !== undefined && !/^\d+$/.test(ttl))
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--ttl-days must be a whole number of days, got "${ttl}"`);
    for (const role of [values['writer-role'], values['reader-role']]) {
      if (role !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(role))
        throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `role names must be plain identifiers, got "${role}"`);
    }
    // The same validation as the exporter's configuration (a cluster is only valid with a server URL).
    const config = parseClickHouseConfig({
      ...(values.database === undefined ? {} : { database: values.database }),
      ...(values.table === undefined ? {} : { table: values.table }),
      ...(ttl === undefined ? {} : { ttlDays: Number(ttl) }),
      ...(values.cluster === undefined ? {} : { cluster: values.cluster, url: 'http://clickhouse:8123' }),
    });
    process.stdout.write(
      renderClickHouseDdl({
        ...config,
        roles: {
          ...(values['writer-role'] === undefined ? {} : { writer: values['writer-role'] }),
          ...(values['reader-role'] === undefined ? {} : { reader: values['reader-role'] }),
        },
      }),
    );
    return 0;
  },
};

export default command;
