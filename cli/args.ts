/**
 * Argument parsing shared by every `otel-audit` subcommand: node:util `parseArgs` in strict mode,
 * a built-in `-h/--help`, and bad arguments turned into `AUDIT_ERR_INVALID_ARGUMENT` (exit 2) with
 * the command's usage text.
 */
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { AuditError } from '@otel-audit/core';

type HelpOption = { help: { type: 'boolean'; short: 'h' } };

/**
 * Parse `args` against `options` (plus `--help`). Prints `usage` and returns undefined for
 * `--help`, so the caller returns exit code 0.
 * @throws AuditError `AUDIT_ERR_INVALID_ARGUMENT` naming the unknown or malformed option.
 */
export function parseCommandArgs<O extends ParseArgsOptionsConfig>(args: string[], usage: string, options: O, allowPositionals = false) {
  const config = {
    args,
    options: { ...options, help: { type: 'boolean', short: 'h' } } as O & HelpOption,
    strict: true as const,
    allowPositionals,
  };
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `${(err as Error).message}\n${usage}`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(usage);
    return undefined;
  }
  return parsed;
}
