/**
 * What the transports report about each OTLP export request, for the receiver's self-metrics
 * (`/metrics`: requests by transport and outcome, bytes, latency). Requests refused before they
 * reach the pipeline (bad auth, too large, undecodable) are only visible here.
 */

/** Outcome of one export request as answered to the client. */
export type IngestOutcome =
  /** Answered success (possibly a partial success: see `rejected`). */
  | 'success'
  /** Pipeline said retryable: HTTP 503 / gRPC UNAVAILABLE. */
  | 'retryable'
  /** Pipeline failure or a pipeline bug: HTTP 500 / gRPC INTERNAL. */
  | 'failure'
  /** Body could not be decoded (incl. corrupt gzip): HTTP 400 / gRPC INVALID_ARGUMENT. */
  | 'decode_error'
  /** Missing or invalid bearer token: HTTP 401 / gRPC UNAUTHENTICATED. */
  | 'unauthenticated'
  /** Over `maxMessageBytes`: HTTP 413 (gRPC RESOURCE_EXHAUSTED is answered by grpc-js before we see the call, so it is not reported). */
  | 'too_large'
  /** Unsupported Content-Type or Content-Encoding: HTTP 415. */
  | 'unsupported_media_type';

/** One finished export request. */
export interface IngestRequestEvent {
  transport: 'http' | 'grpc';
  outcome: IngestOutcome;
  /** Log records in the decoded request; 0 when it was not decoded. */
  records: number;
  /** Records the pipeline rejected (partial success); 0 otherwise. */
  rejected: number;
  /** Message size in bytes after decompression; 0 when the body was not read. */
  bytes: number;
  /** Seconds from the start of handling to the answer (includes waiting for the WAL fsync). */
  durationSeconds: number;
}

/**
 * Observer of export requests. Called synchronously after the answer is sent; must not throw
 * (an exception is caught and ignored so that metrics can never break ingest).
 */
export type IngestObserver = (event: IngestRequestEvent) => void;

/** Call `observer` safely (no-op when absent; exceptions are swallowed on purpose, see {@link IngestObserver}). */
export function notifyObserver(observer: IngestObserver | undefined, event: IngestRequestEvent): void {
  if (!observer) return;
  try {
    observer(event);
  } catch {
    // Metrics must never break ingest.
  }
}

/** Seconds elapsed since `start` (a `process.hrtime.bigint()` value). */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}
