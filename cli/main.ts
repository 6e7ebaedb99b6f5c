/**
 * The `otel-audit` command line. Each subcommand lives in its own module under cli/commands and is
 * registered in cli/commands/index.ts; `main(argv)` returns the process exit code.
 */
import { AuditError } from '@otel-audit/core';
import './commands/index.ts';
import { commands } from './registry.ts';

function usage(): string {
  const names = [...commands.keys()].sort();
  const lines = names.map((n) => `  ${n.padEnd(14)} ${commands.get(n)!.summary}`);
  return `usage: otel-audit <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

/** Run the CLI with `argv` (without node and script). Resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const entry = commands.get(name);
  if (!entry) {
    process.stderr.write(`otel-audit: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  try {
    const command = await entry.load();
    return await command.run(rest);
  } catch (err) {
    if (err instanceof AuditError) {
      process.stderr.write(`otel-audit ${name}: ${err.code}: ${err.message}\n`);
      return err.code === 'AUDIT_ERR_INVALID_CONFIG' || err.code === 'AUDIT_ERR_INVALID_ARGUMENT' ? 2 : 1;
    }
    throw err;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
