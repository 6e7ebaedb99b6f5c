/**
 * Configuration of the outbox relay: one strict zod schema (unknown keys are errors), defaults here.
 */

import { BackoffPolicySchema, parseConfig } from '@otel-audit/core';
import { z } from 'zod';
import { DEFAULT_OUTBOX_SCHEMA, DEFAULT_OUTBOX_TABLE, IDENTIFIER_PATTERN } from './identifiers.ts';

const identifier = z.string().regex(IDENTIFIER_PATTERN, `must match ${IDENTIFIER_PATTERN.source}`);
const millis = () =>
  z
    .number()
    .int()
    .min(0)
    .max(24 * 3600_000 * 365);

/**
 * Exponential backoff with jitter after failed exports or database errors: the shared policy of
 * `@otel-audit/core` (`initialIntervalMillis`, `maxIntervalMillis`, `multiplier`, `jitter`) with the
 * relay's defaults (200 ms × 2 up to 30 s, the last 20% of each delay randomized). The keys of
 * earlier versions, `initialMillis` and `maxMillis`, are accepted as aliases.
 */
export const RelayBackoffSchema = z
  .strictObject({
    initialIntervalMillis: millis().min(1).optional(),
    maxIntervalMillis: millis().min(1).optional(),
    multiplier: z.number().optional(),
    jitter: z.number().optional(),
    /** Alias of `initialIntervalMillis`. */
    initialMillis: millis().min(1).optional(),
    /** Alias of `maxIntervalMillis`. */
    maxMillis: millis().min(1).optional(),
  })
  .transform((b, ctx) => {
    const { initialMillis, maxMillis, ...rest } = b;
    for (const [alias, value, key] of [
      ['initialMillis', initialMillis, 'initialIntervalMillis'],
      ['maxMillis', maxMillis, 'maxIntervalMillis'],
    ] as const) {
      if (value === undefined) continue;
      if (rest[key] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [alias], message: `is an alias of ${key}; set only one of them` });
        return z.NEVER;
      }
      rest[key] = value;
    }
    const parsed = BackoffPolicySchema.safeParse({
      initialIntervalMillis: 200,
      maxIntervalMillis: 30_000,
      multiplier: 2,
      jitter: 0.2,
      ...rest,
    });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path: issue.path.map(String), message: issue.message });
      return z.NEVER;
    }
    return parsed.data;
  });

/** The relay's configuration (`createOutboxRelay(config)`, `otel-audit relay`). */
export const OutboxRelayConfigSchema = z.strictObject({
  /** `postgres://user@host:port/db` of the database holding the outbox. */
  postgresUrl: z.string().min(1),
  /** Schema of the outbox table. */
  schema: identifier.default(DEFAULT_OUTBOX_SCHEMA),
  /** Outbox table name. */
  table: identifier.default(DEFAULT_OUTBOX_TABLE),
  /**
   * Receiver base URL: `http://127.0.0.1:4318` (`/v1/logs` is appended unless present) for the HTTP
   * protocols, `http://127.0.0.1:4317` for gRPC. Defaults to those.
   */
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  /** OTLP transport. */
  protocol: z.enum(['http/protobuf', 'http/json', 'grpc']).default('http/protobuf'),
  /** Extra request headers (gRPC metadata), e.g. `authorization`. */
  headers: z.record(z.string().min(1), z.string()).default({}),
  /** Rows per export request (and per transaction). */
  batchSize: z.number().int().min(1).max(10_000).default(1000),
  /** Parallel drainers in this process, each with its own connection (SKIP LOCKED keeps them apart). */
  concurrency: z.number().int().min(1).max(32).default(2),
  /**
   * Polling fallback when no NOTIFY arrives. Also the quiet period: after this long without new
   * rows the relay sleeps and asks inserts to NOTIFY it; until then it polls every
   * `busyPollIntervalMillis` and inserts do not NOTIFY (a NOTIFY serializes committing transactions).
   */
  pollIntervalMillis: millis().min(10).default(1000),
  /** Polling interval while rows keep arriving (see `pollIntervalMillis`). */
  busyPollIntervalMillis: millis().min(1).default(50),
  /** How long delivered rows stay in the outbox before the relay deletes them. */
  retentionMillis: millis().default(24 * 3600_000),
  /** How often delivered rows past retention are deleted. */
  retentionSweepIntervalMillis: millis().min(100).default(60_000),
  /** Timeout of one export request, including the exporter's own retries of retryable answers. */
  exportTimeoutMillis: millis().min(100).default(10_000),
  /** Backoff after failures. */
  backoff: RelayBackoffSchema.prefault({}),
  /**
   * A record the receiver refuses on its own (HTTP 400 / INVALID_ARGUMENT for a one-record request)
   * is rejected only if the receiver acknowledged another export within this window: proof that the
   * refusal is about the record, not a misconfigured endpoint that refuses everything.
   */
  poisonEvidenceWindowMillis: millis().min(1).default(300_000),
  /** `service.name` on the OTLP resource for rows that carry none. */
  serviceName: z.string().min(1).max(256).default('otel-audit-outbox-relay'),
});

/** Parsed relay configuration (defaults applied). */
export type OutboxRelayConfig = z.output<typeof OutboxRelayConfigSchema>;
/** Relay configuration as written by the user. */
export type OutboxRelayConfigInput = z.input<typeof OutboxRelayConfigSchema>;

/**
 * Parse relay configuration. @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming the key
 * (prefixed with `prefix`, e.g. `relay.batchSize`).
 */
export function parseOutboxRelayConfig(input: unknown, prefix = ''): OutboxRelayConfig {
  return parseConfig(OutboxRelayConfigSchema, input, prefix);
}
