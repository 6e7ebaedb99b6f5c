import { parseOutboxRelayConfig } from '@otel-audit/sdk/outbox';
import { describe, expect, it } from 'vitest';

describe('relay backoff config', () => {
  const base = { postgresUrl: 'postgres://postgres@127.0.0.1:5432/test' };

  it('uses the shared backoff vocabulary with the relay defaults', () => {
    expect(parseOutboxRelayConfig(base).backoff).toEqual({
      initialIntervalMillis: 200,
      maxIntervalMillis: 30_000,
      multiplier: 2,
      jitter: 0.2,
    });
    expect(parseOutboxRelayConfig({ ...base, backoff: { initialIntervalMillis: 50, multiplier: 3 } }).backoff).toEqual({
      initialIntervalMillis: 50,
      maxIntervalMillis: 30_000,
      multiplier: 3,
      jitter: 0.2,
    });
  });

  it('accepts the earlier keys initialMillis/maxMillis as aliases', () => {
    expect(parseOutboxRelayConfig({ ...base, backoff: { initialMillis: 20, maxMillis: 200 } }).backoff).toEqual({
      initialIntervalMillis: 20,
      maxIntervalMillis: 200,
      multiplier: 2,
      jitter: 0.2,
    });
  });

  it('names the bad key', () => {
    expect(() => parseOutboxRelayConfig({ ...base, backoff: { initialMillis: 20, initialIntervalMillis: 30 } })).toThrow(
      /backoff\.initialMillis: is an alias of initialIntervalMillis/,
    );
    expect(() => parseOutboxRelayConfig({ ...base, backoff: { jitter: 3 } })).toThrow(/backoff\.jitter/);
    expect(() => parseOutboxRelayConfig({ ...base, backoff: { initialIntervalMillis: 500, maxIntervalMillis: 100 } })).toThrow(
      /backoff\.maxIntervalMillis/,
    );
  });
});
