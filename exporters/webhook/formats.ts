/**
 * Request bodies of the webhook exporter: one JSON object per event in the configured format
 * (`otel-audit`, `ocsf`, `splunk-hec`), joined as NDJSON or a JSON array, and split into requests of
 * at most `maxBatchEvents` events and `maxBatchBytes` bytes.
 *
 * Everything here is a pure function of the records and the configuration, so the same WAL range
 * always gives the same requests with the same bodies — what makes a redelivery under the same
 * `Idempotency-Key` byte-identical (docs/webhook.md, "Delivery").
 */
import { hostname } from 'node:os';
import type { OcsfMapper } from './ocsf.ts';
import { type AuditRecord, otelAuditJson } from './record.ts';

/** Body format of a webhook. */
export type WebhookFormat = 'otel-audit' | 'ocsf' | 'splunk-hec';
/** How the objects of one request are joined. */
export type WebhookEncoding = 'ndjson' | 'json-array';

/** Splunk HEC envelope settings. */
export interface SplunkEnvelope {
  host?: string | undefined;
  source: string;
  sourcetype: string;
  index?: string | undefined;
  eventFormat: 'otel-audit' | 'ocsf';
}

/** Renders one record as the JSON text of one body item. */
export interface RecordFormatter {
  readonly format: WebhookFormat;
  readonly encoding: WebhookEncoding;
  /** `Content-Type` of a request body. */
  readonly contentType: string;
  /** JSON text of one record (no trailing newline). */
  line(record: AuditRecord): string;
}

/**
 * The Splunk HEC event object of a record (HEC "event" JSON: `time` in epoch seconds with a
 * millisecond fraction, `host`, `source`, `sourcetype`, optional `index`, the `event` payload, and
 * indexed `fields` whose values are strings).
 */
export function splunkHecEvent(record: AuditRecord, envelope: SplunkEnvelope, ocsf?: OcsfMapper): Record<string, unknown> {
  const e = record.event;
  const millis = Date.parse(e.occurredAt);
  return {
    time: Math.round(millis) / 1000,
    host: envelope.host ?? hostname(),
    source: envelope.source,
    sourcetype: envelope.sourcetype,
    ...(envelope.index !== undefined ? { index: envelope.index } : {}),
    event: envelope.eventFormat === 'ocsf' && ocsf ? ocsf.map(record) : otelAuditJson(record),
    fields: {
      tenant_id: e.tenant.id,
      action: e.action,
      outcome: e.outcome,
      actor_id: e.actor.id,
      chain_id: record.chainId,
      seq: String(record.seq),
    },
  };
}

/** Create the formatter of a webhook. `ocsf` is required for the `ocsf` format (and HEC with OCSF events). */
export function createRecordFormatter(
  format: WebhookFormat,
  encoding: WebhookEncoding,
  options: { ocsf?: OcsfMapper; splunk?: SplunkEnvelope } = {},
): RecordFormatter {
  const contentType = format === 'splunk-hec' || encoding === 'json-array' ? 'application/json' : 'application/x-ndjson';
  let line: (r: AuditRecord) => string;
  if (format === 'otel-audit') line = (r) => JSON.stringify(otelAuditJson(r));
  else if (format === 'ocsf') {
    const mapper = options.ocsf;
    if (!mapper) throw new Error('the ocsf format needs an OCSF mapper');
    line = (r) => JSON.stringify(mapper.map(r));
  } else {
    const envelope: SplunkEnvelope = {
      ...(options.splunk ?? { source: 'otel-audit', sourcetype: 'otel:audit', eventFormat: 'otel-audit' }),
    };
    // Resolved once, so every request of this process (and of the next, on the same host) is the same.
    envelope.host ??= hostname();
    line = (r) => JSON.stringify(splunkHecEvent(r, envelope, options.ocsf));
  }
  return { format, encoding, contentType, line };
}

/** Join item texts into a body. */
export function joinBody(lines: readonly string[], encoding: WebhookEncoding): string {
  return encoding === 'ndjson' ? (lines.length === 0 ? '' : `${lines.join('\n')}\n`) : `[${lines.join(',')}]`;
}

/** One request's worth of items: indexes `[start, end)` of the input. */
export interface BodyChunk {
  start: number;
  end: number;
  body: string;
  bytes: number;
}

/**
 * Split item texts into bodies of at most `maxItems` items and `maxBytes` UTF-8 bytes (an item larger
 * than `maxBytes` goes alone). Deterministic: the split depends only on the items and the limits.
 */
export function chunkBodies(lines: readonly string[], encoding: WebhookEncoding, maxItems: number, maxBytes: number): BodyChunk[] {
  const chunks: BodyChunk[] = [];
  const overhead = encoding === 'ndjson' ? 0 : 2; // '[' and ']'
  let start = 0;
  let bytes = overhead;
  for (let i = 0; i < lines.length; i++) {
    const size = Buffer.byteLength(lines[i]!, 'utf8') + 1; // '\n' or ','
    const count = i - start;
    if (count > 0 && (count >= maxItems || bytes + size > maxBytes)) {
      chunks.push(finish(start, i));
      start = i;
      bytes = overhead;
    }
    bytes += size;
  }
  if (start < lines.length) chunks.push(finish(start, lines.length));
  return chunks;

  function finish(s: number, e: number): BodyChunk {
    const body = joinBody(lines.slice(s, e), encoding);
    return { start: s, end: e, body, bytes: Buffer.byteLength(body, 'utf8') };
  }
}
