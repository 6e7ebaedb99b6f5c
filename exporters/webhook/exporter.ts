/**
 * The webhook exporter: WAL batches POSTed to an HTTP(S) endpoint — a SIEM's collector (Splunk HEC,
 * an OCSF pipeline) or the user's own service. The exporter runner (receiver/exporting) owns the
 * durable cursor, batching and backoff; this module owns the bodies, the request and the
 * classification of the answer.
 *
 * At-least-once with stable identity (docs/webhook.md, "Delivery"):
 *  - the runner persists the range of a batch before exporting it, so after a crash the same
 *    `(firstLsn, lastLsn)` is handed out again;
 *  - the exporter splits a batch's events into requests deterministically (count and byte limits
 *    only), so the same range gives the same requests with byte-identical bodies;
 *  - each request's `Idempotency-Key` is derived from the webhook name, the LSN range of its events
 *    and their chain hashes (plus a fingerprint of the output settings), so a retry — in this
 *    process or after a restart — carries the same key, and the endpoint can drop the copy.
 *
 * A permanent refusal (4xx other than 408/409/425/429) is a `failure`: the runner keeps the batch,
 * flags the exporter as failing in `/v1/audit/status` and `/metrics`, and retries at its maximum
 * backoff, so a fixed endpoint resumes where it stopped. Nothing is ever skipped.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AuditError } from '@otel-audit/core';
import type { AuditExporter, ExportBatch, ExportResult, WalEventEntry } from '../../receiver/contracts.ts';
import { parseWebhookConfig, type WebhookConfig, type WebhookConfigInput } from './config.ts';
import { chunkBodies, createRecordFormatter, type RecordFormatter } from './formats.ts';
import { type ClientTls, createWebhookHttpClient, isRetryableStatus, type WebhookHttpClient } from './http-client.ts';
import { createOcsfMapper, type OcsfMapper } from './ocsf.ts';
import { recordFromWalEntry } from './record.ts';
import { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signatureHeader } from './signature.ts';

/** Version of the body layout, part of the key fingerprint: bump it when a format's output changes. */
export const WEBHOOK_BODY_VERSION = 1;

/** Options of {@link createWebhookExporter} that are not configuration. */
export interface WebhookExporterOptions {
  /** Where this webhook sits in the config file, for error paths (default `exporters.webhooks.<name>`). */
  configPrefix?: string;
  /** Clock for the signature timestamp (ms). Default Date.now. */
  now?: () => number;
}

/** Counters of one webhook (also in `stats()`). */
export interface WebhookStats {
  /** Requests sent (every attempt). */
  requests: number;
  /** Requests answered 2xx. */
  delivered: number;
  /** Events in 2xx-answered requests (a redelivered request counts again). */
  deliveredEvents: number;
  /** Attempts answered retryable (429, 5xx, timeouts, connection errors). */
  retryable: number;
  /** Attempts refused permanently (other 4xx). */
  rejected: number;
  /** Last HTTP status received (0 when the last attempt got no answer). */
  lastStatus: number;
  /** Requests skipped in a retried batch because they were already acknowledged in this process. */
  skippedAcknowledged: number;
}

/** The webhook exporter (an {@link AuditExporter} named after the webhook). */
export interface WebhookExporter extends AuditExporter {
  readonly config: WebhookConfig;
  /** Counters since start. */
  stats(): WebhookStats;
  /** The request bodies and keys of a batch, exactly as `export()` would send them (tests, tools). */
  plan(batch: ExportBatch): Array<{ key: string; body: string; events: number; firstLsn: number; lastLsn: number }>;
}

function readConfiguredFile(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new AuditError('AUDIT_ERR_INVALID_CONFIG', `${key}: cannot read ${path}: ${(err as Error).message}`, { path: key, cause: err });
  }
}

/**
 * The idempotency key of one request: `<name>:<firstLsn>-<lastLsn>:<16 hex>`, the hex being the
 * start of SHA-256 over the first event's hash, the last event's hash and the settings fingerprint.
 * The LSN range names the position in this receiver's WAL; the chain hashes make keys of different
 * receivers (each WAL starts at LSN 1) differ; the fingerprint changes the key when a configuration
 * change changes the body.
 */
export function idempotencyKey(
  name: string,
  firstLsn: number,
  lastLsn: number,
  firstHash: string,
  lastHash: string,
  fingerprint: string,
): string {
  const h = createHash('sha256').update(`${firstHash}\n${lastHash}\n${fingerprint}`).digest('hex').slice(0, 16);
  return `${name}:${firstLsn}-${lastLsn}:${h}`;
}

/**
 * Create a webhook exporter. Reads `secretFile` and the TLS files now: a missing file is
 * `AUDIT_ERR_INVALID_CONFIG` naming the key. Everything that goes wrong at run time is an
 * {@link ExportResult}.
 */
export function createWebhookExporter(input: WebhookConfigInput | WebhookConfig, options: WebhookExporterOptions = {}): WebhookExporter {
  const prefix = options.configPrefix ?? `exporters.webhooks.${(input as { name?: unknown }).name ?? '?'}`;
  const config = parseWebhookConfig(input, prefix);
  const now = options.now ?? Date.now;
  let secret: Buffer;
  if (config.secretFile !== undefined) {
    const text = readConfiguredFile(config.secretFile, `${prefix}.secretFile`)
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (text.length < 16)
      throw new AuditError(
        'AUDIT_ERR_INVALID_CONFIG',
        `${prefix}.secretFile: the key in ${config.secretFile} is shorter than 16 characters`,
        { path: `${prefix}.secretFile` },
      );
    secret = Buffer.from(text, 'utf8');
  } else {
    secret = Buffer.from(config.secret!, 'utf8');
  }
  const tls: ClientTls = config.tls
    ? {
        ca: config.tls.caFile !== undefined ? readConfiguredFile(config.tls.caFile, `${prefix}.tls.caFile`) : undefined,
        cert: config.tls.certFile !== undefined ? readConfiguredFile(config.tls.certFile, `${prefix}.tls.certFile`) : undefined,
        key: config.tls.keyFile !== undefined ? readConfiguredFile(config.tls.keyFile, `${prefix}.tls.keyFile`) : undefined,
        serverName: config.tls.serverName,
      }
    : {};
  const needsOcsf = config.format === 'ocsf' || (config.format === 'splunk-hec' && config.splunk.eventFormat === 'ocsf');
  const mapper: OcsfMapper | undefined = needsOcsf ? createOcsfMapper(config.ocsf, `${prefix}.ocsf`) : undefined;
  const formatter: RecordFormatter = createRecordFormatter(config.format, config.encoding, {
    ...(mapper ? { ocsf: mapper } : {}),
    splunk: config.splunk,
  });
  const fingerprint = createHash('sha256')
    .update(
      JSON.stringify({
        v: WEBHOOK_BODY_VERSION,
        format: config.format,
        encoding: config.encoding,
        ocsf: needsOcsf ? config.ocsf : null,
        splunk: config.format === 'splunk-hec' ? { ...config.splunk, host: config.splunk.host ?? null } : null,
      }),
    )
    .digest('hex');
  const url = new URL(config.url);
  const staticHeaders: Record<string, string> = {
    'user-agent': 'otel-audit-webhook/1',
    ...Object.fromEntries(Object.entries(config.headers).map(([k, v]) => [k.toLowerCase(), v])),
    'content-type': formatter.contentType,
  };

  let client: WebhookHttpClient | undefined;
  let shutDown = false;
  const stats: WebhookStats = {
    requests: 0,
    delivered: 0,
    deliveredEvents: 0,
    retryable: 0,
    rejected: 0,
    lastStatus: 0,
    skippedAcknowledged: 0,
  };
  // Keys of the current batch already acknowledged: a retried batch resends only what is missing.
  let ackedBatch: number | undefined;
  const acked = new Set<string>();

  function plan(batch: ExportBatch) {
    const events = batch.entries.filter((e): e is WalEventEntry => e.kind === 'event');
    const lines = events.map((e) => formatter.line(recordFromWalEntry(e)));
    return chunkBodies(lines, config.encoding, config.maxBatchEvents, config.maxBatchBytes).map((c) => {
      const first = events[c.start]!;
      const last = events[c.end - 1]!;
      return {
        key: idempotencyKey(config.name, first.lsn, last.lsn, first.hash, last.hash, fingerprint),
        body: c.body,
        events: c.end - c.start,
        firstLsn: first.lsn,
        lastLsn: last.lsn,
      };
    });
  }

  const exporter: WebhookExporter = {
    name: config.name,
    config,
    stats: () => ({ ...stats }),
    plan,
    async start() {
      if (shutDown) throw new AuditError('AUDIT_ERR_SHUTDOWN', `webhook ${config.name} was shut down`);
      client ??= createWebhookHttpClient(url, tls);
    },
    async export(batch: ExportBatch): Promise<ExportResult> {
      if (shutDown)
        return {
          status: 'retryable',
          error: new AuditError('AUDIT_ERR_SHUTDOWN', `webhook ${config.name} is shut down`, { retryable: true }),
        };
      if (client === undefined)
        return {
          status: 'retryable',
          error: new AuditError('AUDIT_ERR_NOT_READY', `webhook ${config.name} is not started`, { retryable: true }),
        };
      let requests: ReturnType<typeof plan>;
      try {
        requests = plan(batch);
      } catch (err) {
        return {
          status: 'failure',
          error: new AuditError(
            'AUDIT_ERR_EXPORT_FAILED',
            `webhook ${config.name}: LSN ${batch.firstLsn}-${batch.lastLsn}: cannot build the body: ${(err as Error).message}`,
            { cause: err },
          ),
        };
      }
      if (ackedBatch !== batch.firstLsn) {
        ackedBatch = batch.firstLsn;
        acked.clear();
      }
      for (const r of requests) {
        if (acked.has(r.key)) {
          stats.skippedAcknowledged++;
          continue;
        }
        const body = Buffer.from(r.body, 'utf8');
        const t = Math.floor(now() / 1000);
        const headers = {
          ...staticHeaders,
          [IDEMPOTENCY_HEADER.toLowerCase()]: r.key,
          [SIGNATURE_HEADER.toLowerCase()]: signatureHeader(secret, t, body),
        };
        stats.requests++;
        const outcome = await client.post(body, headers, config.timeoutMillis);
        const where = `webhook ${config.name} (${url.origin}${url.pathname}), LSN ${r.firstLsn}-${r.lastLsn}`;
        if (outcome.kind === 'error') {
          stats.retryable++;
          stats.lastStatus = 0;
          return {
            status: 'retryable',
            error: new AuditError('AUDIT_ERR_WEBHOOK_UNAVAILABLE', `${where}: ${outcome.timedOut ? 'timed out: ' : ''}${outcome.message}`, {
              retryable: true,
              details: { key: r.key },
            }),
          };
        }
        stats.lastStatus = outcome.status;
        if (outcome.status >= 200 && outcome.status <= 299) {
          stats.delivered++;
          stats.deliveredEvents += r.events;
          acked.add(r.key);
          continue;
        }
        const detail = `${where}: HTTP ${outcome.status}${outcome.bodySnippet ? `: ${outcome.bodySnippet}` : ''}`;
        if (isRetryableStatus(outcome.status)) {
          stats.retryable++;
          const retryAfter =
            outcome.retryAfterMillis === undefined ? undefined : Math.min(outcome.retryAfterMillis, config.maxRetryAfterMillis);
          return {
            status: 'retryable',
            error: new AuditError('AUDIT_ERR_WEBHOOK_UNAVAILABLE', detail, {
              retryable: true,
              details: { key: r.key, httpStatus: outcome.status },
            }),
            ...(retryAfter === undefined ? {} : { retryAfterMillis: retryAfter }),
          };
        }
        stats.rejected++;
        return {
          status: 'failure',
          error: new AuditError('AUDIT_ERR_WEBHOOK_REJECTED', detail, { details: { key: r.key, httpStatus: outcome.status } }),
        };
      }
      return { status: 'success' };
    },
    async shutdown() {
      if (shutDown) return;
      shutDown = true;
      client?.close();
      client = undefined;
    },
  };
  return exporter;
}
