/**
 * `otel-audit postgres-ddl [--schema s] [--table t] [--relay-role r] [--app-role a]`: print the SQL
 * that creates the transactional outbox (the same migrations `applyOutboxMigrations` applies), for
 * teams whose DBAs review and apply DDL themselves. Safe to run more than once.
 */
import { parseArgs } from 'node:util';
import { AuditError } from '../../common/errors.ts';
import { renderOutboxDdl } from '../../sdk/outbox/index.ts';
import type { Command } from '../registry.ts';

const USAGE = `usage: otel-audit postgres-ddl [--schema <name>] [--table <name>] [--relay-role <role>] [--app-role <role>]

Prints the outbox DDL (table, indexes, guard and notify triggers, privileges) to stdout.
  --schema      schema of the outbox table (default public)
  --table       table name (default audit_outbox)
  --relay-role  role the relay connects as: gets SELECT, UPDATE, DELETE
  --app-role    role the application connects as: gets INSERT only
`;

/** The `postgres-ddl` command. */
export const command: Command = {
  summary: 'print the SQL of the Postgres transactional outbox',
  async run(args) {
    let values;
    try {
      ({ values } = parseArgs({
        args,
        options: {
          schema: { type: 'string' },
          table: { type: 'string' },
          'relay-role': { type: 'string' },
          'app-role': { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
        strict: true,
      }));
    } catch (err) {
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `${(err as Error).message}\n${USAGE}`);
    }
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    process.stdout.write(
      renderOutboxDdl({ schema: values.schema, table: values.table, relayRole: values['relay-role'], appRole: values['app-role'] }),
    );
    return 0;
  },
};

export default command;
