/**
 * Parsing a component's configuration: one strict zod schema per component, parsed once at start.
 * Failures throw `AUDIT_ERR_INVALID_CONFIG` naming every bad key with its full path.
 */
import type { z } from 'zod';
import { AuditError } from './errors.ts';

/**
 * Validate `input` against `schema` (defaults live in the schema) or throw.
 *
 * @param prefix the key path of this section in the whole config (e.g. `exporters.clickhouse`), so
 *   messages name the key as the user wrote it. Default '' (top level).
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` listing every problem with its full key path, e.g.
 *   `invalid configuration: http.port: Too big: expected number to be <=65535; http.colour: unknown key`;
 *   the first key is in `error.path`, all of them in `error.details.problems`.
 */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.flatMap((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    return keys.map((k) => ({
      key: [prefix, ...issue.path.map(String), ...(k === undefined ? [] : [k])].filter((s) => s !== '').join('.') || '(root)',
      message: issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message,
    }));
  });
  throw new AuditError('AUDIT_ERR_INVALID_CONFIG', problems.map((p) => `${p.key}: ${p.message}`).join('; '), {
    path: problems[0]?.key,
    details: { problems },
  });
}
