/**
 * Configuration of the OTLP/gRPC server (one strict zod schema, defaults in the schema).
 */

import { parseConfig } from '@otel-audit/core';
import { z } from 'zod';
import { AuthConfigSchema } from '../auth/bearer-auth.ts';

/** 64 MiB: the default maximum message size after decompression. */
export const DEFAULT_GRPC_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** OTLP/gRPC server configuration. Unknown keys are errors. */
export const GrpcServerConfigSchema = z.strictObject({
  /** Interface to bind. Default loopback. */
  host: z.string().min(1).default('127.0.0.1'),
  /** TCP port; 0 picks a free port (returned by `start()`). Default 4317 (OTLP/gRPC). */
  port: z.number().int().min(0).max(65535).default(4317),
  /**
   * Maximum message size in bytes after decompression (`grpc.max_receive_message_length`; grpc-js
   * enforces it while inflating) → RESOURCE_EXHAUSTED. Default 64 MiB.
   */
  maxMessageBytes: z.number().int().positive().default(DEFAULT_GRPC_MAX_MESSAGE_BYTES),
  /** How long `shutdown()` lets in-flight calls finish before cancelling them, ms. Default 10 s. */
  shutdownTimeoutMillis: z.number().int().nonnegative().default(10_000),
  /** Bearer-token auth (`authorization` metadata). Absent: no auth. */
  auth: AuthConfigSchema.optional(),
});

/** Validated OTLP/gRPC server configuration. */
export type GrpcServerConfig = z.output<typeof GrpcServerConfigSchema>;
/** OTLP/gRPC server configuration as written by users. */
export type GrpcServerConfigInput = z.input<typeof GrpcServerConfigSchema>;

/**
 * Validate an OTLP/gRPC server config and apply defaults.
 * @param prefix key path of this section, for messages. Default `receiver.grpc`.
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming the key.
 */
export function parseGrpcServerConfig(input: unknown, prefix = 'receiver.grpc'): GrpcServerConfig {
  return parseConfig(GrpcServerConfigSchema, input, prefix);
}
