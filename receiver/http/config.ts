/**
 * Configuration of the OTLP/HTTP server (one strict zod schema, defaults in the schema).
 */

import { parseConfig } from '@otel-audit/core';
import { z } from 'zod';
import { AuthConfigSchema } from '../auth/bearer-auth.ts';

/** 64 MiB: the default maximum request size after decompression. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** OTLP/HTTP server configuration. Unknown keys are errors (typos must not silently disable a limit). */
export const HttpServerConfigSchema = z.strictObject({
  /** Interface to bind. Default loopback: exposing the receiver is an explicit decision. */
  host: z.string().min(1).default('127.0.0.1'),
  /** TCP port; 0 picks a free port (the bound one is returned by `start()`). Default 4318 (OTLP/HTTP). */
  port: z.number().int().min(0).max(65535).default(4318),
  /** Path of the OTLP logs endpoint. Default `/v1/logs` (OTLP/HTTP spec). */
  logsPath: z
    .string()
    .regex(/^\/[^?#]*$/, 'must be an absolute path without query')
    .default('/v1/logs'),
  /**
   * Maximum request body size in bytes, after decompression (and also before it: a compressed body
   * larger than this is refused too). Enforced while reading and inflating → 413. Default 64 MiB.
   */
  maxMessageBytes: z.number().int().positive().default(DEFAULT_MAX_MESSAGE_BYTES),
  /** Time a client has to send a whole request (Node `server.requestTimeout`), ms. Default 60 s. */
  requestTimeoutMillis: z.number().int().nonnegative().default(60_000),
  /** Idle keep-alive connection timeout, ms (Node `server.keepAliveTimeout`). Default 65 s (longer than typical client pools' idle time, avoiding reuse races). */
  keepAliveTimeoutMillis: z.number().int().nonnegative().default(65_000),
  /** How long `shutdown()` lets in-flight requests finish before closing their connections, ms. Default 10 s. */
  shutdownTimeoutMillis: z.number().int().nonnegative().default(10_000),
  /** Bearer-token auth for the OTLP endpoint (and routes mounted with `authenticate: true`). Absent: no auth. */
  auth: AuthConfigSchema.optional(),
});

/** Validated OTLP/HTTP server configuration (all defaults applied). */
export type HttpServerConfig = z.output<typeof HttpServerConfigSchema>;
/** OTLP/HTTP server configuration as written by users (every key optional). */
export type HttpServerConfigInput = z.input<typeof HttpServerConfigSchema>;

/**
 * Validate an OTLP/HTTP server config and apply defaults.
 * @param prefix key path of this section in the whole config, for messages. Default `receiver.http`.
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming the key, e.g. `receiver.http.maxMessageBytes`.
 */
export function parseHttpServerConfig(input: unknown, prefix = 'receiver.http'): HttpServerConfig {
  return parseConfig(HttpServerConfigSchema, input, prefix);
}
