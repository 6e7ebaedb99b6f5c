import { renderOutboxDdl } from '@otel-audit/sdk/outbox';
import { parseCommandArgs } from '../args.ts';
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
    const parsed = parseCommandArgs(args, USAGE, {
      schema: { type: 'string' },
      table: { type: 'string' },
      'relay-role': { type: 'string' },
      'app-role': { type: 'string' },
    });
    if (!parsed) return 0;
    const { values } = parsed;
    process.stdout.write(
      renderOutboxDdl({ schema: values.schema, table: values.table, relayRole: values['relay-role'], appRole: values['app-role'] }),
    );
    return 0;
  },
};

export default command;
