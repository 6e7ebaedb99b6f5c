/**
 * The result type shared by the OTLP decoders. A malformed request is an expected failure on the
 * ingest path, so decoders return it as a value instead of throwing (house rule: expected failures
 * are results).
 */
import { AuditError } from '@otel-audit/core';
import type { DecodedLogs } from '../contracts.ts';

/**
 * Outcome of decoding one `ExportLogsServiceRequest`.
 * - `ok: true`: `logs` is the transport-neutral request, `recordCount` the number of LogRecords in it.
 * - `ok: false`: `error` is an {@link AuditError} with code `AUDIT_ERR_DECODE`; its `path` names the
 *   offending field (e.g. `resourceLogs[0].scopeLogs[1].logRecords[3].timeUnixNano`) and its message
 *   says what was expected. Transports answer it with HTTP 400 / gRPC INVALID_ARGUMENT.
 */
export type DecodeResult = { ok: true; logs: DecodedLogs; recordCount: number } | { ok: false; error: AuditError };

/**
 * Internal signal thrown inside a decoder and turned into a {@link DecodeResult} at its entry point.
 * Carries the field path innermost-first so that the hot path never builds path strings.
 */
export class DecodeFailure extends Error {
  /** Path segments, innermost last once {@link DecodeFailure.at} has prefixed them. */
  readonly segments: string[];

  constructor(message: string, segment?: string) {
    super(message);
    this.segments = segment === undefined || segment === '' ? [] : [segment];
  }

  /** Prefix a path segment (called while unwinding, outermost call last). */
  at(segment: string): DecodeFailure {
    if (segment !== '') this.segments.unshift(segment);
    return this;
  }

  /** The dotted path, e.g. `resourceLogs[0].scopeLogs[1].logRecords[3].traceId`. */
  path(): string {
    let out = '';
    for (const s of this.segments) out += s.startsWith('[') || out === '' ? s : `.${s}`;
    return out;
  }
}

/** Convert a thrown value from inside a decoder into a failed {@link DecodeResult}. */
export function decodeFailureResult(err: unknown, format: 'protobuf' | 'json'): { ok: false; error: AuditError } {
  if (err instanceof DecodeFailure) {
    const path = err.path();
    const where = path === '' ? '' : `${path}: `;
    return {
      ok: false,
      error: new AuditError('AUDIT_ERR_DECODE', `${format}: ${where}${err.message}`, { path: path === '' ? undefined : path }),
    };
  }
  // A RangeError from deep recursion or a bug in the decoder: still a 400, never a crash.
  const message = err instanceof Error ? err.message : String(err);
  return { ok: false, error: new AuditError('AUDIT_ERR_DECODE', `${format}: ${message}`, { cause: err }) };
}
