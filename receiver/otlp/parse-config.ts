/**
 * Shared strict-config parsing for the ingest components: zod validation that fails fast with an
 * `AUDIT_ERR_INVALID_CONFIG` error naming the offending key (`receiver.http.maxMessageBytes: …`).
 */
import type { z } from 'zod';
import { AuditError } from '../../common/errors.ts';

/**
 * Validate `input` against `schema` (defaults applied) or throw.
 *
 * @param prefix the key path of this section in the whole config, e.g. `receiver.http`; used in messages.
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` listing every problem with its full key path; the
 *   first key is in `error.path`.
 */
export function parseComponentConfig<S extends z.ZodType>(schema: S, input: unknown, prefix: string): z.output<S> {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys : [undefined];
    return keys.map((k) => {
      const segments = [prefix, ...issue.path.map(String), ...(k === undefined ? [] : [k])].filter((s) => s !== '');
      const key = segments.join('.');
      return { key, message: issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message };
    });
  }).flat();
  const detail = problems.map((p) => `${p.key}: ${p.message}`).join('; ');
  throw new AuditError('AUDIT_ERR_INVALID_CONFIG', detail, { path: problems[0]?.key, details: { problems } });
}
