/**
 * Redaction of secrets in free-form JSON (`details`, `changes.before`, `changes.after`) before an
 * event is written to the spool or leaves the process.
 */

/** Keys redacted by default. Matching is case-insensitive and ignores `_`, `-`, `.` and spaces. */
export const DEFAULT_REDACT_KEYS: readonly string[] = [
  'password',
  'passwd',
  'secret',
  'token',
  'authorization',
  'cookie',
  'api_key',
  'private_key',
  'credential',
];

/** What a redacted value is replaced with. */
export const REDACTED = '[REDACTED]';

/**
 * A redactor for the given key names. A key is redacted when its normalized form (lower case,
 * without `_ - .` and spaces) *contains* a normalized configured name, so `token` also covers
 * `accessToken`, `refresh_token` and `X-Auth-Token`, and `api_key` covers `apiKey` and `x-api-key`.
 * Erring towards redacting too much is deliberate: an audit trail is kept for years.
 * The input is never mutated; unchanged subtrees are shared.
 */
export function createRedactor(keys: readonly string[], replacement: string = REDACTED): (value: unknown) => unknown {
  const needles = [...new Set(keys.map(normalizeKey).filter((k) => k !== ''))];
  const cache = new Map<string, boolean>();
  const matches = (key: string): boolean => {
    let hit = cache.get(key);
    if (hit === undefined) {
      const n = normalizeKey(key);
      hit = needles.some((needle) => n.includes(needle));
      // Bounded so that attacker-controlled keys cannot grow memory without limit.
      if (cache.size < 4096) cache.set(key, hit);
    }
    return hit;
  };
  const walk = (value: unknown, depth: number): unknown => {
    if (value === null || typeof value !== 'object' || depth > 64) return value;
    if (Array.isArray(value)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const v = walk(value[i], depth + 1);
        if (v !== value[i]) {
          out ??= value.slice();
          out[i] = v;
        }
      }
      return out ?? value;
    }
    if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
    let out: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(value)) {
      const next = matches(k) ? replacement : walk(v, depth + 1);
      if (next !== v) {
        out ??= { ...(value as Record<string, unknown>) };
        out[k] = next;
      }
    }
    return out ?? value;
  };
  return needles.length === 0 ? (v) => v : (v) => walk(v, 0);
}

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[\s_.-]/g, '');
}
