/**
 * Options of `createAuditLogger`: one strict zod schema holding every default, parsed once.
 * An unknown key or a bad value throws `AUDIT_ERR_INVALID_CONFIG` naming the key path.
 */
import type { LoggerProvider } from '@opentelemetry/api';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import { AuditError, BackoffPolicySchema } from '@otel-audit/core';
import { formatPath } from '@otel-audit/schema';
import { z } from 'zod';
import { applyOtelEnvironment } from './otel-env.ts';
import { defaultEndpoint } from './otlp-exporter.ts';
import { DEFAULT_REDACT_KEYS, REDACTED } from './redact.ts';
import type { RejectedReport } from './sender.ts';

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', `${what} must be a function`);
const positiveInt = () => z.number().int().positive();

/** Settings of the built-in OTLP exporter. */
export const ExporterOptionsSchema = z
  .strictObject({
    /** Wire protocol. Default `http/protobuf`. */
    protocol: z.enum(['http/protobuf', 'http/json', 'grpc']).default('http/protobuf'),
    /**
     * Receiver URL. Default `http://127.0.0.1:4318/v1/logs` for HTTP (the full URL, path included)
     * and `http://127.0.0.1:4317` for gRPC (`https:` selects TLS).
     */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** Extra request headers (gRPC: metadata), e.g. `{ authorization: 'Bearer …' }`. */
    headers: z.record(z.string().min(1), z.string()).default({}),
    /** Time limit of one export request, including the exporter's own quick retries. Default 10000. */
    timeoutMillis: positiveInt().max(600_000).default(10_000),
    /** Request compression. Default `none`. */
    compression: z.enum(['none', 'gzip']).default('none'),
  })
  .transform((o) => ({ ...o, endpoint: o.endpoint ?? defaultEndpoint(o.protocol) }));

/** A LoggerProvider as the OTel API defines it (sdk-logs' `LoggerProvider` or any other). */
const providerLike = z.custom<LoggerProvider>(
  (v) => v !== null && typeof v === 'object' && typeof (v as { getLogger?: unknown }).getLogger === 'function',
  'must be "own", "global", a LoggerProvider or a function returning one',
);

/** The options schema; see {@link AuditLoggerOptions} for what each key means. */
export const AuditLoggerOptionsSchema = z
  .strictObject({
    delivery: z.enum(['durable', 'memory']).default('durable'),
    spoolDir: z.string().min(1).default('./otel-audit-spool'),
    maxSpoolBytes: positiveInt()
      .min(4096)
      .default(256 * 1024 * 1024),
    maxSegmentBytes: positiveInt()
      .min(4096)
      .default(8 * 1024 * 1024),
    loggerProvider: z.union([z.enum(['own', 'global']), providerLike, fn<() => LoggerProvider>('loggerProvider')]).default('own'),
    serviceName: z.string().min(1).optional(),
    resourceAttributes: z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()])).default({}),
    exporter: ExporterOptionsSchema.prefault({}),
    logRecordExporter: z
      .custom<LogRecordExporter>(
        (v) => v !== null && typeof v === 'object' && typeof (v as { export?: unknown }).export === 'function',
        'must be an OTel LogRecordExporter',
      )
      .optional(),
    exportThread: z.enum(['worker', 'main']).default('main'),
    recordThread: z.enum(['worker', 'main']).default('main'),
    maxExportBatchSize: positiveInt().max(100_000).default(512),
    exportDelayMillis: z.number().int().min(0).max(60_000).default(50),
    /** Retry backoff of the sender: the one policy of otel-audit (`@otel-audit/core`). */
    backoff: z
      .strictObject({
        initialIntervalMillis: positiveInt().optional(),
        maxIntervalMillis: positiveInt().optional(),
        multiplier: z.number().optional(),
        jitter: z.number().optional(),
      })
      .default({}),
    /** Alias of `backoff.initialIntervalMillis` (the key before the shared backoff vocabulary). */
    minBackoffMillis: positiveInt().optional(),
    /** Alias of `backoff.maxIntervalMillis`. */
    maxBackoffMillis: positiveInt().optional(),
    onInvalid: z.enum(['throw', 'report']).default('throw'),
    /** Where `recordInTransaction` writes: the Postgres outbox table (docs/outbox.md). */
    outbox: z
      .strictObject({
        schema: z.string().min(1).optional(),
        table: z.string().min(1).optional(),
      })
      .default({}),
    redactKeys: z.array(z.string().min(1)).default([...DEFAULT_REDACT_KEYS]),
    redactReplacement: z.string().default(REDACTED),
    onError: fn<(error: AuditError) => void>('onError').optional(),
    onRejected: fn<(report: RejectedReport) => void>('onRejected').optional(),
  })
  .transform((o, ctx) => {
    const { minBackoffMillis, maxBackoffMillis, backoff, ...rest } = o;
    // The legacy keys are accepted as aliases; given together with their new name they conflict.
    const aliases = [
      ['minBackoffMillis', minBackoffMillis, 'initialIntervalMillis'],
      ['maxBackoffMillis', maxBackoffMillis, 'maxIntervalMillis'],
    ] as const;
    const merged: Record<string, unknown> = { ...backoff };
    for (const [alias, value, key] of aliases) {
      if (value === undefined) continue;
      if (backoff[key] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [alias], message: `is an alias of backoff.${key}; set only one of them` });
        return z.NEVER;
      }
      merged[key] = value;
    }
    const parsed = BackoffPolicySchema.safeParse(merged);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const key = issue.path[0];
        const alias = aliases.find(([, value, k]) => k === key && value !== undefined)?.[0];
        const message = alias === 'maxBackoffMillis' ? 'must be >= minBackoffMillis' : issue.message;
        ctx.addIssue({ code: 'custom', path: alias ? [alias] : ['backoff', ...issue.path.map(String)], message });
      }
      return z.NEVER;
    }
    return { ...rest, backoff: parsed.data };
  });

/**
 * Options of `createAuditLogger`. Every key is optional.
 *
 * - `delivery` (`'durable'`): `'durable'` writes each event to the spool and fsyncs it before
 *   `record()` resolves. `'memory'` keeps events in memory until acknowledged — for tests and
 *   tools: events not yet acknowledged are lost when the process exits or crashes.
 * - `spoolDir` (`'./otel-audit-spool'`): directory of the durable spool; one logger per directory
 *   (a lock file enforces it).
 * - `maxSpoolBytes` (256 MiB): bytes of events waiting for delivery (disk for durable, memory for
 *   memory). A `record()` that does not fit rejects with `AUDIT_ERR_SPOOL_FULL`.
 * - `maxSegmentBytes` (8 MiB): size at which spool segment files roll over; acknowledged segments
 *   are deleted, so disk use can exceed `maxSpoolBytes` by up to one segment.
 * - `loggerProvider` (`'own'`): `'own'` creates a LoggerProvider with the audit processor;
 *   `'global'` emits through `logs.getLoggerProvider()` and a provider (or a function returning one,
 *   resolved on first use) emits through that provider. In both, add `audit.processor` to that
 *   provider's `processors`.
 * - `serviceName`, `resourceAttributes`: resource of the own provider (`service.name` etc.).
 *   Default: `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`.
 * - `exporter`: built-in OTLP exporter settings (`protocol`, `endpoint`, `headers`,
 *   `timeoutMillis`, `compression`). Default: the `OTEL_EXPORTER_OTLP_LOGS_*` and
 *   `OTEL_EXPORTER_OTLP_*` variables, then the built-in defaults (docs/sdk.md).
 * - `logRecordExporter`: use this OTel exporter instead (then `exporter` is ignored, and
 *   partial_success is invisible: stock OTel exporters only log it).
 * - `exportThread` (`'main'`): where the built-in exporter encodes and sends. `'worker'` moves OTLP
 *   encoding and sending to a worker thread, off the application's event loop — for high event
 *   rates; the worker starts with the logger and its start-up (loading the exporter, ~0.5 s on a
 *   busy machine) delays the first delivery. A `logRecordExporter` always runs on the main thread.
 * - `recordThread` (`'main'`): where durable `record()` encodes, spools and fsyncs. `'main'` does
 *   it all on the calling thread. `'worker'` keeps only completing, redacting and validating the
 *   event on the calling thread (invalid input still throws there) and hands the event to a
 *   worker thread that owns the spool: it maps and encodes the record, appends it and fsyncs
 *   (group commit), and answers in batches. Same guarantees (`record()` resolves after fsync, same
 *   error codes, `shutdown()` drains). With the `'own'` provider the event skips the OTel
 *   `Logger.emit` on the calling thread (the worker emits it through an identical provider); with
 *   an app's provider `emit` and encoding stay on the calling thread and only the spool moves.
 *   Ignored for `delivery: 'memory'`. Best with `exportThread: 'worker'` (else the sender decodes
 *   spooled records on the main thread). Numbers: docs/performance.md.
 * - `maxExportBatchSize` (512): records per export request.
 * - `exportDelayMillis` (50): how long a partial batch waits for more records before it is sent
 *   (`flush()` does not wait). Fewer, larger requests at low rates; events are durable meanwhile.
 * - `backoff` (`{ initialIntervalMillis: 1000, maxIntervalMillis: 30000, multiplier: 2, jitter: 0.5 }`):
 *   the sender's retry backoff (the shared policy of `@otel-audit/core`). `minBackoffMillis` and
 *   `maxBackoffMillis` are accepted as aliases of its first two keys.
 * - `onInvalid` (`'throw'`): `'throw'` makes `record()` throw `AUDIT_ERR_INVALID_EVENT`
 *   synchronously; `'report'` returns a rejected promise and counts it in `stats().invalid`.
 * - `redactKeys` (password, passwd, secret, token, authorization, cookie, api_key, private_key,
 *   credential), `redactReplacement` (`'[REDACTED]'`): see redact.ts.
 * - `outbox` (`{}`): `{ schema, table }` of the Postgres outbox that `recordInTransaction` writes
 *   (defaults of `createOutbox`: schema `public`, table `audit_outbox`).
 * - `onError(error)`: delivery problems that are being retried (export failures, spool damage).
 * - `onRejected(report)`: events the receiver refused for good (partial_success, invalid request).
 */
export type AuditLoggerOptions = z.input<typeof AuditLoggerOptionsSchema>;
/** Options after defaults. */
export type ResolvedAuditLoggerOptions = z.output<typeof AuditLoggerOptionsSchema>;

/**
 * Parse options, with the standard OTel environment variables (`OTEL_EXPORTER_OTLP_*`,
 * `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`) filling in what `input` leaves out (see
 * otel-env.ts for the precedence). Throws `AUDIT_ERR_INVALID_CONFIG` naming the first bad key (all
 * in `details.issues`) or the bad variable.
 *
 * @param env the environment to read; pass `{}` to ignore the process environment.
 */
export function parseAuditLoggerOptions(
  input: unknown,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ResolvedAuditLoggerOptions {
  const withEnv =
    input !== null && typeof input === 'object' && !Array.isArray(input)
      ? applyOtelEnvironment(input as Record<string, unknown>, env)
      : input;
  const parsed = AuditLoggerOptionsSchema.safeParse(withEnv ?? applyOtelEnvironment({}, env));
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => {
    const keys = (i as { keys?: string[] }).keys;
    const path = keys && keys.length > 0 ? formatPath([...i.path, keys[0]!]) : formatPath(i.path);
    return { path, message: keys && keys.length > 0 ? `unknown option (${keys.join(', ')})` : i.message };
  });
  const first = issues[0]!;
  throw new AuditError('AUDIT_ERR_INVALID_CONFIG', issues.map((i) => `${i.path}: ${i.message}`).join('; '), {
    path: first.path,
    details: { issues },
  });
}
