/**
 * The one retry backoff policy of otel-audit, used by the SDK sender, the exporter runner and the
 * outbox relay, with one config vocabulary (modelled on the Collector's `retry_on_failure`:
 * initial interval, max interval, multiplier, randomization):
 *
 *   cap(attempt) = min(maxIntervalMillis, initialIntervalMillis × multiplier^attempt)
 *   delay        = uniform in [cap × (1 − jitter), cap), whole milliseconds
 *
 * `jitter: 1` is "full jitter" and `jitter: 0.5` "equal jitter" (AWS architecture blog,
 * "Exponential Backoff And Jitter"); jitter spreads producers that failed together.
 */
import { z } from 'zod';

/** The backoff policy configuration schema (defaults in the schema). */
export const BackoffPolicySchema = z
  .strictObject({
    /** Delay cap of the first retry. */
    initialIntervalMillis: z.number().int().positive().default(1000),
    /** Upper bound of any computed delay (a server's Retry-After may ask for longer, see {@link backoffDelayMillis}). */
    maxIntervalMillis: z.number().int().positive().default(30_000),
    /** Growth of the cap per attempt. */
    multiplier: z.number().min(1).max(10).default(2),
    /** Fraction of the cap that is randomized: 0 = none, 0.5 = equal jitter, 1 = full jitter. */
    jitter: z.number().min(0).max(1).default(0.5),
  })
  .refine((b) => b.maxIntervalMillis >= b.initialIntervalMillis, {
    message: 'maxIntervalMillis must be >= initialIntervalMillis',
    path: ['maxIntervalMillis'],
  });

/** A backoff policy with every field set. */
export type BackoffPolicy = z.output<typeof BackoffPolicySchema>;
/** A backoff policy as configured (every field optional). */
export type BackoffPolicyInput = z.input<typeof BackoffPolicySchema>;

/** Longest server-requested delay honoured; a larger Retry-After is treated as this. */
export const MAX_RETRY_AFTER_MILLIS = 5 * 60 * 1000;

/**
 * Delay before retry number `attempt` (0 for the first retry). A `retryAfterMillis` from the
 * server (HTTP Retry-After, gRPC RetryInfo, OTLP throttling) replaces the computed delay, bounded
 * by {@link MAX_RETRY_AFTER_MILLIS}. `random` returns a number in [0, 1).
 */
export function backoffDelayMillis(
  policy: BackoffPolicy,
  attempt: number,
  options: { retryAfterMillis?: number | undefined; random?: () => number } = {},
): number {
  const { retryAfterMillis, random = Math.random } = options;
  if (retryAfterMillis !== undefined && retryAfterMillis >= 0) return Math.min(retryAfterMillis, MAX_RETRY_AFTER_MILLIS);
  const cap = Math.min(policy.maxIntervalMillis, policy.initialIntervalMillis * policy.multiplier ** Math.min(Math.max(attempt, 0), 64));
  return Math.floor(cap * (1 - policy.jitter) + random() * cap * policy.jitter);
}
