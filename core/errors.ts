/**
 * The one error type of otel-audit, with stable codes from a registry (modelled on fastify's
 * coded errors). Code strings never change once released: users match on them. Add new codes here,
 * never construct an `AuditError` with a code that is not in {@link AUDIT_ERROR_CODES}.
 *
 * Expected failures on hot paths are results (`{ status: 'success' | 'retryable' | 'failure' }`),
 * not exceptions; an `AuditError` is thrown for programming errors (invalid event, bad config) and
 * carried inside results where a caller needs a code.
 */

/** Registry of every error code with its default message prefix. */
export const AUDIT_ERROR_CODES = {
  AUDIT_ERR_INVALID_EVENT: 'invalid audit event',
  AUDIT_ERR_INVALID_CONFIG: 'invalid configuration',
  AUDIT_ERR_INVALID_ARGUMENT: 'invalid argument',
  AUDIT_ERR_SPOOL_FULL: 'spool is full',
  AUDIT_ERR_SPOOL_CORRUPT: 'spool is corrupt',
  AUDIT_ERR_SHUTDOWN: 'component is shut down',
  AUDIT_ERR_EXPORT_FAILED: 'export failed',
  AUDIT_ERR_EXPORT_REJECTED: 'export rejected by the receiver',
  AUDIT_ERR_DECODE: 'request could not be decoded',
  AUDIT_ERR_UNSUPPORTED_MEDIA_TYPE: 'unsupported media type',
  AUDIT_ERR_PAYLOAD_TOO_LARGE: 'payload too large',
  AUDIT_ERR_UNAUTHENTICATED: 'unauthenticated',
  AUDIT_ERR_FORBIDDEN: 'forbidden',
  AUDIT_ERR_BACKPRESSURE: 'receiver is applying back-pressure',
  AUDIT_ERR_WAL_CORRUPT: 'WAL is corrupt',
  AUDIT_ERR_WAL_IO: 'WAL I/O failed',
  AUDIT_ERR_NOT_READY: 'component is not ready',
  AUDIT_ERR_QUERY_REFUSED: 'query refused',
  AUDIT_ERR_QUERY_FAILED: 'query failed',
  AUDIT_ERR_STORE_UNAVAILABLE: 'store unavailable',
  AUDIT_ERR_OUTBOX: 'outbox operation failed',
  AUDIT_ERR_INTEGRITY: 'integrity check failed',
  AUDIT_ERR_KEY: 'signing key problem',
  AUDIT_ERR_INTERNAL: 'internal error',
  AUDIT_ERR_DEDUPE_CORRUPT: 'dedupe index run or manifest is corrupt',
  AUDIT_ERR_WEBHOOK_REJECTED: 'webhook endpoint rejected the request',
  AUDIT_ERR_WEBHOOK_UNAVAILABLE: 'webhook endpoint unavailable',
  AUDIT_ERR_NOT_FOUND: 'not found',
  AUDIT_ERR_NOT_COVERED: 'not yet covered by a signed checkpoint',
  AUDIT_ERR_DATA_DIR_LOCKED: 'directory is in use by another process',
  AUDIT_ERR_DEDUPE_IO: 'dedupe index I/O failed',
} as const;

/** A stable error code, e.g. `AUDIT_ERR_INVALID_EVENT`. */
export type AuditErrorCode = keyof typeof AUDIT_ERROR_CODES;

/** Options for {@link AuditError}. */
export interface AuditErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
  /** Field path(s) the error is about, e.g. `actor.id` or `targets[2].type`. */
  path?: string;
  /** Whether retrying the same operation later may succeed. Defaults to false. */
  retryable?: boolean;
  /** Extra structured detail (safe to log; never contains secrets). */
  details?: Record<string, unknown>;
}

/**
 * The error thrown or carried by every otel-audit component.
 * `message` always starts with the registry's text for `code`, followed by the specifics.
 */
export class AuditError extends Error {
  /** Stable code from {@link AUDIT_ERROR_CODES}. */
  readonly code: AuditErrorCode;
  /** Field path the error is about, if any. */
  readonly path: string | undefined;
  /** Whether retrying later may succeed. */
  readonly retryable: boolean;
  /** Extra structured detail. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: AuditErrorCode, detail?: string, options: AuditErrorOptions = {}) {
    const base = AUDIT_ERROR_CODES[code];
    super(detail ? `${base}: ${detail}` : base, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AuditError';
    this.code = code;
    this.path = options.path;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

/** True when `err` is an {@link AuditError}, optionally with the given code. */
export function isAuditError(err: unknown, code?: AuditErrorCode): err is AuditError {
  return err instanceof AuditError && (code === undefined || err.code === code);
}

/**
 * Outcome of an operation whose failures are expected (network, disk full, downstream refusal).
 * `retryable` means the same input may succeed later; `failure` means it never will.
 */
export type OperationResult<T = void> =
  | { status: 'success'; value: T }
  | { status: 'retryable'; error: AuditError; retryAfterMillis?: number }
  | { status: 'failure'; error: AuditError };
