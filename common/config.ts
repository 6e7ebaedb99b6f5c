/**
 * Parsing a component's configuration: one strict zod schema per component, parsed once at start.
 * Failures throw `AUDIT_ERR_INVALID_CONFIG` naming every bad key with its full path.
 */
import type { z } from 'zod';
import { AuditError } from './errors.ts';

/**
 * Parse `input` with `schema` (defaults live in the schema). `prefix` is the component's key in the
 * config file (e.g. `exporters.clickhouse`) so messages name the key as the user wrote it.
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG`, e.g. `invalid configuration: receiver.http.port: Too big: expected number to be <=65535`.
 */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    return keys.map((path) => `${[prefix, ...path.map(String)].filter((p) => p !== '').join('.') || '(root)'}: ${issue.message}`).join('; ');
  });
  throw new AuditError('AUDIT_ERR_INVALID_CONFIG', issues.join('; '), { details: { issues } });
}
