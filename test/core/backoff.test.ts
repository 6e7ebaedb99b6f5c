import { BackoffPolicySchema, backoffDelayMillis, MAX_RETRY_AFTER_MILLIS, parseConfig } from '@otel-audit/core';
import { describe, expect, it } from 'vitest';

describe('backoff policy', () => {
  const policy = parseConfig(BackoffPolicySchema, { initialIntervalMillis: 100, maxIntervalMillis: 1000, multiplier: 2, jitter: 0.5 });

  it('grows the cap by the multiplier up to the max, and draws in [cap·(1−jitter), cap)', () => {
    const caps = [100, 200, 400, 800, 1000, 1000];
    caps.forEach((cap, attempt) => {
      expect(backoffDelayMillis(policy, attempt, { random: () => 0 })).toBe(cap / 2);
      expect(backoffDelayMillis(policy, attempt, { random: () => 0.999999 })).toBe(cap - 1);
    });
    expect(backoffDelayMillis({ ...policy, jitter: 1 }, 3, { random: () => 0 })).toBe(0);
    expect(backoffDelayMillis({ ...policy, jitter: 0 }, 3, { random: () => 0.7 })).toBe(800);
    expect(backoffDelayMillis({ ...policy, multiplier: 1.5 }, 2, { random: () => 0.999999 })).toBe(224);
    // Huge attempt numbers do not overflow to NaN/Infinity past the cap.
    expect(backoffDelayMillis(policy, 10_000, { random: () => 0.999999 })).toBe(999);
  });

  it('lets a server Retry-After replace the computed delay, bounded', () => {
    expect(backoffDelayMillis(policy, 5, { retryAfterMillis: 2500 })).toBe(2500);
    expect(backoffDelayMillis(policy, 0, { retryAfterMillis: 10 * MAX_RETRY_AFTER_MILLIS })).toBe(MAX_RETRY_AFTER_MILLIS);
  });

  it('has defaults and rejects bad settings naming the key', () => {
    expect(parseConfig(BackoffPolicySchema, {})).toEqual({
      initialIntervalMillis: 1000,
      maxIntervalMillis: 30_000,
      multiplier: 2,
      jitter: 0.5,
    });
    expect(() => parseConfig(BackoffPolicySchema, { jitter: 2 }, 'retry')).toThrow(/retry\.jitter/);
    expect(() => parseConfig(BackoffPolicySchema, { initialIntervalMillis: 500, maxIntervalMillis: 100 }, 'retry')).toThrow(
      /retry\.maxIntervalMillis/,
    );
    expect(() => parseConfig(BackoffPolicySchema, { minBackoffMillis: 5 }, 'retry')).toThrow(/retry\.minBackoffMillis: unknown key/);
  });
});
