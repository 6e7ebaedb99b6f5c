/**
 * Configuration of the webhook exporters (`exporters.webhooks[]` in otel-audit.yaml): one strict zod
 * schema per webhook, with every default in it. Unknown keys are errors (a typo such as
 * `secret_file` must not silently send unsigned requests) and every error names the key with its
 * full path, e.g. `exporters.webhooks[1].url` is reported as `exporters.webhooks.1.url`.
 *
 * Files (`secretFile`, `tls.*File`) are read when the exporter is created, so a missing key or
 * certificate stops the receiver at start with `AUDIT_ERR_INVALID_CONFIG` naming the key.
 */

import { parseConfig } from '@otel-audit/core';
import { z } from 'zod';

/** Names of the other exporters: a webhook may not take their cursor. */
export const RESERVED_EXPORTER_NAMES: ReadonlySet<string> = new Set(['clickhouse', 'coldstore']);

/** Header names the exporter sets itself (a static header may not replace them). */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'host',
  'connection',
  'idempotency-key',
  'otel-audit-signature',
]);

/** An action prefix: dotted words (`auth`, `user.password`), matching the action itself and `<prefix>.*`. */
const ACTION_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** OCSF classes the mapping can produce (docs/webhook.md, "OCSF mapping"). */
export const OCSF_CLASS_UIDS = [3001, 3002, 3004, 3006, 6003] as const;
/** One of {@link OCSF_CLASS_UIDS}. */
export type OcsfClassUid = (typeof OCSF_CLASS_UIDS)[number];

/** A per-action-prefix override of the OCSF class, activity or severity. */
export const OcsfOverrideSchema = z.strictObject({
  /** Action prefix: `billing` matches `billing` and `billing.*`. The longest matching prefix wins. */
  prefix: z.string().regex(ACTION_PREFIX, 'prefix must be dotted words, e.g. billing or user.password'),
  /** OCSF class: 3001 Account Change, 3002 Authentication, 3004 Entity Management, 3006 Group Management, 6003 API Activity. */
  classUid: z
    .union(
      OCSF_CLASS_UIDS.map((n) => z.literal(n)) as [
        z.ZodLiteral<3001>,
        z.ZodLiteral<3002>,
        z.ZodLiteral<3004>,
        z.ZodLiteral<3006>,
        z.ZodLiteral<6003>,
      ],
    )
    .optional(),
  /** Fixed `activity_id` (must be one of the class's activities, or 99 Other). Default: derived from the action's verb. */
  activityId: z.number().int().min(0).max(99).optional(),
  /** Fixed `severity_id` (0-6 or 99). Default: 1 success, 2 failure, 3 denied. */
  severityId: z.union([z.number().int().min(0).max(6), z.literal(99)]).optional(),
});

/** OCSF output settings. */
export const OcsfOptionsSchema = z.strictObject({
  /** `metadata.product.name`. Default `otel-audit`. */
  productName: z.string().min(1).max(256).default('otel-audit'),
  /** `metadata.product.vendor_name`. Default `otel-audit`. */
  vendorName: z.string().min(1).max(256).default('otel-audit'),
  /**
   * When set, each event carries `cloud: { provider, account: { uid: tenant.id, name: tenant.name } }`
   * (OCSF `cloud.provider` is required when `cloud` is present). Absent: the tenant is only in
   * `metadata.tenant_uid`.
   */
  cloudProvider: z.string().min(1).max(256).optional(),
  /** Per-action-prefix overrides, applied over the built-in table. */
  overrides: z.array(OcsfOverrideSchema).max(1000).default([]),
});

/** TLS of an https webhook: extra trusted CA and a client certificate (mutual TLS). Files in PEM. */
export const WebhookTlsSchema = z
  .strictObject({
    /** CA certificate(s) trusted for the endpoint, added to Node's default roots. */
    caFile: z.string().min(1).optional(),
    /** Client certificate for mutual TLS (with keyFile). */
    certFile: z.string().min(1).optional(),
    /** Client private key for mutual TLS (with certFile). */
    keyFile: z.string().min(1).optional(),
    /** Server name to verify instead of the URL's host (SNI and certificate check). */
    serverName: z.string().min(1).optional(),
  })
  .superRefine((t, ctx) => {
    if ((t.certFile === undefined) !== (t.keyFile === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [t.certFile === undefined ? 'certFile' : 'keyFile'],
        message: 'certFile and keyFile go together (mutual TLS)',
      });
    }
  });

const header = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'header names are RFC 9110 tokens');

/** One webhook exporter. */
export const WebhookConfigSchema = z
  .strictObject({
    /** Stable name: the exporter's cursor id, in status and metrics. Unique; not `clickhouse` or `coldstore`. */
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'name must be 1-64 of [A-Za-z0-9_.-], starting with a letter or digit'),
    /** Run this webhook. Default true. */
    enabled: z.boolean().default(true),
    /** Endpoint URL (http or https). */
    url: z.url({ protocol: /^https?$/ }),
    /** Body format: `otel-audit` (event + chain position), `ocsf` (OCSF 1.3.0), `splunk-hec` (HEC event JSON). */
    format: z.enum(['otel-audit', 'ocsf', 'splunk-hec']).default('otel-audit'),
    /** `ndjson` (one JSON object per line) or `json-array`. `splunk-hec` requires ndjson (HEC reads concatenated objects). */
    encoding: z.enum(['ndjson', 'json-array']).default('ndjson'),
    /** HMAC-SHA256 key (UTF-8) for `Otel-Audit-Signature`. Exactly one of secret and secretFile. */
    secret: z.string().min(16, 'secret must be at least 16 characters').optional(),
    /** File holding the HMAC key (UTF-8; one trailing newline is ignored). */
    secretFile: z.string().min(1).optional(),
    /** Static headers (e.g. `authorization: "Splunk <token>"`). */
    headers: z
      .record(
        header,
        z
          .string()
          .max(8192)
          .regex(/^[^\r\n]*$/, 'header values must not contain line breaks'),
      )
      .default({}),
    /** Per-request deadline, connection to end of response (ms). Default 10 000. */
    timeoutMillis: z.number().int().min(100).max(600_000).default(10_000),
    /** Most events per request. Default 500. */
    maxBatchEvents: z.number().int().min(1).max(100_000).default(500),
    /** Most body bytes per request (an event larger than this goes alone). Default 1 MiB. */
    maxBatchBytes: z
      .number()
      .int()
      .min(1024)
      .max(256 * 1024 * 1024)
      .default(1024 * 1024),
    /** Upper bound of a `Retry-After` the exporter honours (ms). Default 300 000. */
    maxRetryAfterMillis: z.number().int().min(0).max(86_400_000).default(300_000),
    /** Runner retry settings of this webhook (default: `pipeline.exporters`). Permanent failures retry every maxBackoffMillis. */
    retry: z
      .strictObject({
        initialBackoffMillis: z.number().int().min(1).optional(),
        maxBackoffMillis: z.number().int().min(1).optional(),
      })
      .optional(),
    tls: WebhookTlsSchema.optional(),
    /** OCSF output settings (format `ocsf`). */
    ocsf: OcsfOptionsSchema.prefault({}),
    /** Splunk HEC envelope (format `splunk-hec`). */
    splunk: z
      .strictObject({
        /** `host`. Default: this machine's host name. */
        host: z.string().min(1).optional(),
        /** `source`. Default `otel-audit`. */
        source: z.string().min(1).default('otel-audit'),
        /** `sourcetype`. Default `otel:audit`. */
        sourcetype: z.string().min(1).default('otel:audit'),
        /** `index`; absent: the token's default index. */
        index: z.string().min(1).optional(),
        /** `event` payload: the otel-audit record (default) or the OCSF event. */
        eventFormat: z.enum(['otel-audit', 'ocsf']).default('otel-audit'),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    if ((c.secret === undefined) === (c.secretFile === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message: 'give exactly one of secret or secretFile (the HMAC key of Otel-Audit-Signature)',
      });
    }
    if (RESERVED_EXPORTER_NAMES.has(c.name)) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: `"${c.name}" is the name of a built-in exporter` });
    }
    if (c.format === 'splunk-hec' && c.encoding !== 'ndjson') {
      ctx.addIssue({
        code: 'custom',
        path: ['encoding'],
        message: 'splunk-hec needs encoding ndjson (HEC reads concatenated JSON objects, not an array)',
      });
    }
    if (c.tls !== undefined && !c.url.startsWith('https:')) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls needs an https url' });
    }
    for (const name of Object.keys(c.headers)) {
      if (RESERVED_HEADERS.has(name.toLowerCase()))
        ctx.addIssue({ code: 'custom', path: ['headers', name], message: `${name} is set by the exporter` });
    }
    const seen = new Set<string>();
    c.ocsf.overrides.forEach((o, i) => {
      if (seen.has(o.prefix))
        ctx.addIssue({ code: 'custom', path: ['ocsf', 'overrides', i, 'prefix'], message: `prefix "${o.prefix}" is given twice` });
      seen.add(o.prefix);
    });
  });

/** Every webhook, with unique names. */
export const WebhooksConfigSchema = z.array(WebhookConfigSchema).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.forEach((w, i) => {
    if (seen.has(w.name))
      ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `webhook name "${w.name}" is used twice (the name is the cursor id)` });
    seen.add(w.name);
  });
});

/** A webhook as written by users. */
export type WebhookConfigInput = z.input<typeof WebhookConfigSchema>;
/** A webhook with defaults applied. */
export type WebhookConfig = z.output<typeof WebhookConfigSchema>;
/** OCSF settings with defaults applied. */
export type OcsfOptions = z.output<typeof OcsfOptionsSchema>;
/** OCSF settings as written. */
export type OcsfOptionsInput = z.input<typeof OcsfOptionsSchema>;
/** One OCSF override. */
export type OcsfOverride = z.output<typeof OcsfOverrideSchema>;

/**
 * Validate one webhook configuration and apply defaults.
 * @param prefix where it sits in the config file, for messages (e.g. `exporters.webhooks.0`).
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming every bad key.
 */
export function parseWebhookConfig(input: unknown, prefix = 'webhook'): WebhookConfig {
  return parseConfig(WebhookConfigSchema, input, prefix);
}

/** Validate OCSF options (the CLI's `--ocsf-config`). */
export function parseOcsfOptions(input: unknown, prefix = 'ocsf'): OcsfOptions {
  return parseConfig(OcsfOptionsSchema, input, prefix);
}
