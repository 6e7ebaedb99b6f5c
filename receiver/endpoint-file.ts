/**
 * `<dataDir>/receiver.json`: where the running receiver listens (pid, HTTP URL, query path), so the
 * CLI run against the same data dir (`otel-audit verify`, `prove`, `verify-proof`) can reach the
 * receiver that holds the embedded engine and fetch its verifier key. Written once the transports
 * listen, removed at shutdown; a stale file (after a crash) is recognised by its dead pid.
 * Kept apart from receiver.ts so the CLI reads it without loading the receiver.
 */

/** File name of the endpoint file in the data dir. */
export const ENDPOINT_FILE = 'receiver.json';

/** What {@link ENDPOINT_FILE} holds. */
export interface ReceiverEndpointFile {
  pid: number;
  /** `http://host:port` of the HTTP port. */
  http: string;
  /** Path of the read-only ClickHouse-HTTP endpoint, when it is served. */
  queryPath?: string;
}

/** Path of the HTTP endpoint serving the receiver's verifier key (text, one key line). */
export const VERIFIER_KEY_PATH = '/v1/audit/verifier-key';
