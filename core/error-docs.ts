/**
 * What each error code means and what to do about it: the source of docs/errors.md
 * (`npm run gen:errors`; test/core/error-docs.test.ts fails when the page is stale). Typed as a
 * record over {@link AuditErrorCode}, so a code cannot be added to the registry without its entry.
 */
import type { AuditErrorCode } from './errors.ts';

/** Reference entry of one error code. */
export interface AuditErrorDoc {
  /** Where the code is raised (component or surface). */
  raisedBy: string;
  /** Whether retrying the same operation later can succeed: always, never, or depends (see `meaning`). */
  retryable: 'yes' | 'no' | 'depends';
  /** What happened, in one or two sentences. */
  meaning: string;
  /** What the operator or developer should do. */
  action: string;
}

/** The reference entry of every code in the registry. */
export const AUDIT_ERROR_DOCS: Record<AuditErrorCode, AuditErrorDoc> = {
  AUDIT_ERR_INVALID_EVENT: {
    raisedBy: 'SDK `record()`, receiver validation (partial_success, dead letters)',
    retryable: 'no',
    meaning: 'An audit event breaks the schema; `path` names the field (e.g. `actor.type`).',
    action: 'Fix the producer. The receiver keeps the rejected record in the dead-letter store (`otel-audit dead-letters`).',
  },
  AUDIT_ERR_INVALID_CONFIG: {
    raisedBy: 'every component at start (zod schemas), SDK environment variables',
    retryable: 'no',
    meaning: 'A configuration key, flag or `OTEL_*`/`OTEL_AUDIT_*` variable is missing, unknown or invalid; the message names it.',
    action: 'Correct the named key; nothing was started.',
  },
  AUDIT_ERR_INVALID_ARGUMENT: {
    raisedBy: 'CLI commands, HTTP query parameters, library calls',
    retryable: 'no',
    meaning: 'A command-line argument or API parameter is invalid; the message names it. The CLI exits 2.',
    action: 'Correct the argument (`--help` lists them).',
  },
  AUDIT_ERR_SPOOL_FULL: {
    raisedBy: 'SDK durable spool',
    retryable: 'yes',
    meaning: 'The producer spool reached `maxBytes` because the receiver has been unreachable or slow.',
    action: 'Restore delivery to the receiver, or raise the spool bound; `record()` accepts again as the spool drains.',
  },
  AUDIT_ERR_SPOOL_CORRUPT: {
    raisedBy: 'SDK durable spool recovery',
    retryable: 'no',
    meaning: 'A spool segment has a damaged record that is not a torn tail (valid records follow it).',
    action: 'Keep the spool directory for inspection; the message names the segment and offset.',
  },
  AUDIT_ERR_SHUTDOWN: {
    raisedBy: 'any component after `shutdown()`; the receiver while stopping (retryable answer)',
    retryable: 'depends',
    meaning: 'The component is shut down or shutting down. OTLP clients get 503/UNAVAILABLE and retry elsewhere or later.',
    action: 'Create a new instance; senders retry by themselves.',
  },
  AUDIT_ERR_EXPORT_FAILED: {
    raisedBy: 'SDK sender, exporters',
    retryable: 'depends',
    meaning: 'Delivering a batch failed (network, timeout, store error). Nothing is dropped: the batch stays queued.',
    action: 'Check the destination named in the message; delivery resumes by itself.',
  },
  AUDIT_ERR_EXPORT_REJECTED: {
    raisedBy: 'SDK sender',
    retryable: 'no',
    meaning: 'The receiver rejected records permanently (HTTP 400 or partial_success); the SDK reports the reason.',
    action: "Fix the producer; the rejected records are in the receiver's dead-letter store.",
  },
  AUDIT_ERR_DECODE: {
    raisedBy: 'receiver transports',
    retryable: 'no',
    meaning:
      'The request body is not a valid OTLP ExportLogsServiceRequest (protobuf or JSON) or its gzip is corrupt; answered 400 / INVALID_ARGUMENT with the field.',
    action: 'Fix the sender.',
  },
  AUDIT_ERR_UNSUPPORTED_MEDIA_TYPE: {
    raisedBy: 'receiver OTLP/HTTP',
    retryable: 'no',
    meaning: 'Content-Type or Content-Encoding is not one OTLP/HTTP defines (415).',
    action: 'Send `application/x-protobuf` or `application/json`, optionally gzip.',
  },
  AUDIT_ERR_PAYLOAD_TOO_LARGE: {
    raisedBy: 'receiver transports',
    retryable: 'no',
    meaning: 'The request (after decompression) exceeds `http.maxMessageBytes` / `grpc.maxMessageBytes` (413 / RESOURCE_EXHAUSTED).',
    action: 'Send smaller batches or raise the limit.',
  },
  AUDIT_ERR_UNAUTHENTICATED: {
    raisedBy: 'receiver (auth configured), console',
    retryable: 'no',
    meaning: 'No bearer token, or one the receiver does not know (401 / UNAUTHENTICATED).',
    action: 'Send `Authorization: Bearer <token>` with a token from `otel-audit token generate`.',
  },
  AUDIT_ERR_FORBIDDEN: {
    raisedBy: 'receiver, query endpoint, console',
    retryable: 'no',
    meaning:
      'The token may not do this: records of another tenant, SQL with a tenant-bound token, the console from a non-loopback address without auth.',
    action: 'Use a token with the right binding.',
  },
  AUDIT_ERR_BACKPRESSURE: {
    raisedBy: 'receiver pipeline',
    retryable: 'yes',
    meaning: 'The WAL backlog or free disk is past its bound (an exporter is behind); answered 503 + Retry-After / UNAVAILABLE.',
    action: 'Senders retry by themselves; fix the slow exporter (see `/v1/audit/status`).',
  },
  AUDIT_ERR_WAL_CORRUPT: {
    raisedBy: 'WAL recovery and readers',
    retryable: 'no',
    meaning: 'A WAL segment is damaged where it cannot be a torn tail (valid records follow), or an entry does not decode.',
    action: 'Do not delete the data dir; `otel-audit verify --source wal` names the segment and offset.',
  },
  AUDIT_ERR_WAL_IO: {
    raisedBy: 'WAL writer, exporter cursors',
    retryable: 'yes',
    meaning:
      'A WAL write or fsync failed (disk full, I/O error). The failed batch was rolled back, clients get 503, and the WAL repairs itself once writes succeed again.',
    action: 'Free disk space; ingest resumes without a restart.',
  },
  AUDIT_ERR_NOT_READY: {
    raisedBy: 'receiver while recovering; components before `start()`',
    retryable: 'yes',
    meaning: 'The component is still starting (WAL recovery).',
    action: 'Wait for `/readyz`.',
  },
  AUDIT_ERR_QUERY_REFUSED: {
    raisedBy: 'read-only query endpoint, `otel-audit query`',
    retryable: 'no',
    meaning: 'The SQL is not a read query (only SELECT, WITH … SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN).',
    action: 'Run writes against ClickHouse directly with a writer role.',
  },
  AUDIT_ERR_QUERY_FAILED: {
    raisedBy: 'query endpoint, CLI, events API',
    retryable: 'no',
    meaning: 'ClickHouse refused or failed the query; the message carries its code and text (e.g. UNKNOWN_TABLE).',
    action: 'Fix the query; `--verbose` prints the full error.',
  },
  AUDIT_ERR_STORE_UNAVAILABLE: {
    raisedBy: 'ClickHouse and cold-storage exporters, readers',
    retryable: 'yes',
    meaning: 'ClickHouse, S3 or the archive directory cannot be reached; the exporter keeps its cursor and retries.',
    action: 'Restore the store; its lag is in `/metrics` and `/v1/audit/status`.',
  },
  AUDIT_ERR_OUTBOX: {
    raisedBy: 'Postgres outbox and relay',
    retryable: 'depends',
    meaning: 'An outbox statement failed (connection, missing migration, privileges).',
    action: "Run `otel-audit postgres-ddl` and check the relay's connection.",
  },
  AUDIT_ERR_INTEGRITY: {
    raisedBy: '`otel-audit verify`, `prove`, `verify-proof`, the console',
    retryable: 'no',
    meaning:
      'A chain, checkpoint or proof does not verify: an edited, deleted, reordered or forged entry, or a bad signature; the message names the chain and seq.',
    action: 'Treat as tampering until explained; compare stores with `verify --compare`.',
  },
  AUDIT_ERR_KEY: {
    raisedBy: 'integrity keys (receiver start, CLI)',
    retryable: 'no',
    meaning: 'A signing or verifier key is missing, unreadable, malformed, or ambiguous (two keys in `<dataDir>/keys`).',
    action: 'Point `integrity.signingKeyFile` / `--public-key` at the right key.',
  },
  AUDIT_ERR_INTERNAL: {
    raisedBy: 'anywhere',
    retryable: 'no',
    meaning: 'A bug: an invariant did not hold. The cause is attached.',
    action: 'Report it with the log line.',
  },
  AUDIT_ERR_DEDUPE_CORRUPT: {
    raisedBy: 'dedupe index (receiver)',
    retryable: 'no',
    meaning:
      'A dedupe run, its footer or the manifest failed its checksum, or a listed run is missing. Lookups that need it fail rather than risk storing a duplicate.',
    action: 'See docs/wal.md "Dedupe index" for replacing a damaged run.',
  },
  AUDIT_ERR_WEBHOOK_REJECTED: {
    raisedBy: 'webhook exporter',
    retryable: 'no',
    meaning: 'The endpoint answered a permanent 4xx. The batch is kept and retried slowly; the exporter is flagged failing.',
    action: 'Fix the endpoint or the exporter config (secret, headers, format); delivery resumes by itself.',
  },
  AUDIT_ERR_WEBHOOK_UNAVAILABLE: {
    raisedBy: 'webhook exporter',
    retryable: 'yes',
    meaning: 'The endpoint answered 429/5xx, timed out or could not be reached (including TLS errors).',
    action: 'Nothing to do if transient; the lag shows in `/metrics`.',
  },
  AUDIT_ERR_NOT_FOUND: {
    raisedBy: 'events API, console, `prove`',
    retryable: 'no',
    meaning: "No event with this id (or not in the token's tenant).",
    action: 'Check the id and the token.',
  },
  AUDIT_ERR_NOT_COVERED: {
    raisedBy: "`prove`, the console's Verify",
    retryable: 'yes',
    meaning: 'The event is stored but no signed checkpoint covers it yet.',
    action: 'Retry after the next checkpoint (`integrity.checkpointIntervalMillis`).',
  },
  AUDIT_ERR_DATA_DIR_LOCKED: {
    raisedBy: 'receiver start (data dir), SDK (spool dir)',
    retryable: 'no',
    meaning: "Another live process holds the directory's lock; two writers would corrupt it.",
    action: 'Stop the other process, or give each instance its own `--data-dir` / `spoolDir`.',
  },
  AUDIT_ERR_DEDUPE_IO: {
    raisedBy: 'dedupe index (receiver)',
    retryable: 'yes',
    meaning: 'Reading or writing a dedupe run failed (I/O error, disk full); WAL segments are kept until the runs are written.',
    action: 'Check the disk; the index retries in the background.',
  },
};

/** docs/errors.md, rendered from {@link AUDIT_ERROR_DOCS} and the registry messages. */
export function renderErrorReference(messages: Record<AuditErrorCode, string>): string {
  const codes = Object.keys(messages) as AuditErrorCode[];
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated from core/error-docs.ts by `npm run gen:errors`; do not edit by hand. -->',
    '',
    "Every otel-audit failure carries one `AuditError` with a stable `code` (`err.code`, the CLI's",
    'one-line errors, `/v1/audit/status`, dead letters, log lines). Codes never change once released;',
    'the message starts with the text below, followed by the specifics (a field path, a file, a',
    'ClickHouse error).',
    '',
    '| code | message | retryable | raised by |',
    '| --- | --- | --- | --- |',
    ...codes.map(
      (c) => `| [\`${c}\`](#${c.toLowerCase()}) | ${messages[c]} | ${AUDIT_ERROR_DOCS[c].retryable} | ${AUDIT_ERROR_DOCS[c].raisedBy} |`,
    ),
    '',
  ];
  for (const c of codes) {
    const d = AUDIT_ERROR_DOCS[c];
    lines.push(`## ${c}`, '', d.meaning, '', `**What to do:** ${d.action}`, '');
  }
  return lines.join('\n');
}
