/**
 * Encoders for what the transports send back (OTLP spec, "OTLP/HTTP Response" and "OTLP/gRPC
 * Response"): `ExportLogsServiceResponse` on success, `google.rpc.Status` on failure (HTTP body), and
 * `google.rpc.RetryInfo` for throttling (gRPC `grpc-status-details-bin` trailer). The messages are
 * tiny, so they are written by hand instead of through a protobuf runtime.
 */

/** What a success answer carries. Partial success is set only when `rejected > 0` or `message !== ''`. */
export interface ExportLogsResponseFields {
  /** Number of rejected log records (OTLP `ExportLogsPartialSuccess.rejected_log_records`). */
  rejected: number;
  /** Human-readable reason or warning (`error_message`); '' for none. */
  message: string;
}

/** True when the OTLP spec wants a `partial_success` field in the response. */
export function hasPartialSuccess(fields: ExportLogsResponseFields): boolean {
  return fields.rejected > 0 || fields.message !== '';
}

/** Minimal protobuf writer: varints, length-delimited fields. */
class Writer {
  private readonly parts: number[] = [];

  varint(value: number): this {
    let v = value;
    while (v >= 0x80) {
      this.parts.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.parts.push(v);
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint(field * 8 + wireType);
  }

  bytesField(field: number, bytes: Uint8Array): this {
    this.tag(field, 2).varint(bytes.length);
    for (const b of bytes) this.parts.push(b);
    return this;
  }

  stringField(field: number, value: string): this {
    return this.bytesField(field, Buffer.from(value, 'utf8'));
  }

  varintField(field: number, value: number): this {
    return this.tag(field, 0).varint(value);
  }

  finish(): Buffer {
    return Buffer.from(this.parts);
  }
}

/** Protobuf `ExportLogsServiceResponse` (empty message when there is no partial success). */
export function encodeExportLogsResponseProtobuf(fields: ExportLogsResponseFields): Buffer {
  if (!hasPartialSuccess(fields)) return Buffer.alloc(0);
  const partial = new Writer();
  if (fields.rejected > 0) partial.varintField(1, fields.rejected);
  if (fields.message !== '') partial.stringField(2, fields.message);
  return new Writer().bytesField(1, partial.finish()).finish();
}

/** OTLP/JSON `ExportLogsServiceResponse` (int64 as a decimal string, per the OTLP JSON mapping). */
export function encodeExportLogsResponseJson(fields: ExportLogsResponseFields): Buffer {
  if (!hasPartialSuccess(fields)) return Buffer.from('{}');
  const partialSuccess: Record<string, string> = {};
  if (fields.rejected > 0) partialSuccess.rejectedLogRecords = String(fields.rejected);
  if (fields.message !== '') partialSuccess.errorMessage = fields.message;
  return Buffer.from(JSON.stringify({ partialSuccess }));
}

/** gRPC status codes used by the receiver (grpc/doc/statuscodes.md). */
export const GRPC_STATUS = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** Protobuf `google.rpc.Status` { code, message, details[] } used as the OTLP/HTTP error body. */
export function encodeRpcStatusProtobuf(code: number, message: string, details: Uint8Array[] = []): Buffer {
  const w = new Writer();
  if (code !== 0) w.varintField(1, code);
  if (message !== '') w.stringField(2, message);
  for (const d of details) w.bytesField(3, d);
  return w.finish();
}

/**
 * JSON `google.rpc.Status` { code, message, details? } used as the OTLP/HTTP error body for JSON
 * requests; `details` entries are `Any` in JSON form (`{"@type": "type.googleapis.com/…", …}`).
 */
export function encodeRpcStatusJson(code: number, message: string, details: ReadonlyArray<Record<string, unknown>> = []): Buffer {
  return Buffer.from(JSON.stringify(details.length > 0 ? { code, message, details } : { code, message }));
}

/** Type URL of `google.rpc.BadRequest`. */
export const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';

/**
 * A `google.protobuf.Any` wrapping `google.rpc.BadRequest { field_violations: [{ field, description }] }`:
 * what the OTLP/HTTP spec ("Bad Data") asks a 400 to carry in `Status.details`.
 *
 * @param field path of the offending field, e.g. `resourceLogs[0].scopeLogs[0].logRecords[3].traceId` ('' when unknown).
 * @param description what is wrong with it.
 */
export function encodeBadRequestAny(field: string, description: string): Buffer {
  const violation = new Writer();
  if (field !== '') violation.stringField(1, field);
  if (description !== '') violation.stringField(2, description);
  const badRequest = new Writer().bytesField(1, violation.finish()).finish();
  return new Writer().stringField(1, BAD_REQUEST_TYPE_URL).bytesField(2, badRequest).finish();
}

/** JSON form of {@link encodeBadRequestAny} (proto3 JSON mapping of `Any`). */
export function badRequestJson(field: string, description: string): Record<string, unknown> {
  return { '@type': BAD_REQUEST_TYPE_URL, fieldViolations: [{ field, description }] };
}

/**
 * A `google.protobuf.Any` wrapping `google.rpc.RetryInfo { retry_delay: Duration }`: the OTLP/gRPC
 * throttling hint ("OTLP/gRPC Throttling": the client SHOULD wait `retry_delay` before retrying).
 *
 * @param delayMillis how long the client should wait, milliseconds (>= 0).
 */
export function encodeRetryInfoAny(delayMillis: number): Buffer {
  const ms = Math.max(0, Math.round(delayMillis));
  const duration = new Writer();
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms % 1000) * 1_000_000;
  if (seconds > 0) duration.varintField(1, seconds);
  if (nanos > 0) duration.varintField(2, nanos);
  const retryInfo = new Writer().bytesField(1, duration.finish()).finish();
  return new Writer().stringField(1, 'type.googleapis.com/google.rpc.RetryInfo').bytesField(2, retryInfo).finish();
}
