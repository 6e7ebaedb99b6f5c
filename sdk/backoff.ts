/**
 * Exponential backoff with jitter for export retries.
 */

/** Backoff settings in milliseconds. */
export interface BackoffSettings {
  /** Delay cap of the first retry. */
  minBackoffMillis: number;
  /** Upper bound of any delay computed here (a server's Retry-After may ask for longer). */
  maxBackoffMillis: number;
}

/** Longest server-requested delay honoured; a larger Retry-After is treated as this. */
export const MAX_RETRY_AFTER_MILLIS = 5 * 60 * 1000;

/**
 * Delay before retry number `attempt` (0 for the first retry): the cap doubles per attempt from
 * `minBackoffMillis` up to `maxBackoffMillis`, and the delay is drawn uniformly from
 * [cap/2, cap] ("equal jitter": spreads producers that failed together, never retries at once).
 * A `retryAfterMillis` from the receiver (Retry-After, gRPC RetryInfo) replaces the computed
 * delay, bounded by {@link MAX_RETRY_AFTER_MILLIS}. `random` returns a number in [0, 1).
 */
export function backoffDelayMillis(
  attempt: number,
  settings: BackoffSettings,
  retryAfterMillis?: number,
  random: () => number = Math.random,
): number {
  if (retryAfterMillis !== undefined && retryAfterMillis >= 0) return Math.min(retryAfterMillis, MAX_RETRY_AFTER_MILLIS);
  const cap = Math.min(settings.maxBackoffMillis, settings.minBackoffMillis * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + random() * (cap / 2));
}
