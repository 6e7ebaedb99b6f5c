/**
 * Configuration of the operator console served at `/ui` on the OTLP/HTTP port (docs/console.md).
 * One strict zod schema, defaults in the schema.
 */
import { z } from 'zod';

/** The `ui` section of the receiver configuration. */
export const ConsoleConfigSchema = z.strictObject({
  /** Serve the console at `/ui` and its read APIs. Default true (the receiver binds loopback by default). */
  enabled: z.boolean().default(true),
  /**
   * Without `auth` configured, the console and its APIs answer loopback clients only (403 to others),
   * because nothing else would stop a remote reader. Set true to serve remote clients without a
   * token anyway (e.g. behind an authenticating reverse proxy). Ignored when `auth` is configured.
   * Default false.
   */
  allowRemoteWithoutAuth: z.boolean().default(false),
  /**
   * Directory of the built console (`npm run build` writes `dist/console`). Default: `dist/console`
   * of the installed package.
   */
  distDir: z.string().min(1).optional(),
  /** How often exporter lag and backlog are sampled for the Status page's chart, ms. Default 5 000. */
  sampleIntervalMillis: z.number().int().min(100).max(3_600_000).default(5_000),
  /** How many samples are kept (the chart's window is `sampleIntervalMillis × maxSamples`). Default 720 (1 h at 5 s). */
  maxSamples: z.number().int().min(2).max(100_000).default(720),
  /** At most this many rows per export (CSV/NDJSON). Default 1 000 000. */
  maxExportRows: z.number().int().min(1).max(100_000_000).default(1_000_000),
});

/** Validated console configuration. */
export type ConsoleConfig = z.output<typeof ConsoleConfigSchema>;
/** Console configuration as written by users. */
export type ConsoleConfigInput = z.input<typeof ConsoleConfigSchema>;
