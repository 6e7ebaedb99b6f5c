/**
 * Small response helpers shared by the OTLP handler and by routes other components mount.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeRpcStatusJson, encodeRpcStatusProtobuf } from '../otlp/responses.ts';

/** The body formats the OTLP endpoint speaks (OTLP/HTTP: answer in the request's format). */
export type OtlpBodyFormat = 'protobuf' | 'json';

/** `google.rpc.Code` for the HTTP statuses the receiver sends (google/rpc/code.proto mapping). */
const RPC_CODE_FOR_HTTP: Readonly<Record<number, number>> = {
  400: 3, // INVALID_ARGUMENT
  401: 16, // UNAUTHENTICATED
  404: 5, // NOT_FOUND
  405: 12, // UNIMPLEMENTED
  413: 8, // RESOURCE_EXHAUSTED
  415: 3, // INVALID_ARGUMENT
  429: 8, // RESOURCE_EXHAUSTED
  500: 13, // INTERNAL
  503: 14, // UNAVAILABLE
};

/**
 * Send a complete response. When the request body has not been fully read (early 401/413/415),
 * the connection is closed afterwards instead of draining an unbounded body for keep-alive.
 */
export function sendResponse(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  contentType: string | undefined,
  body: Buffer | string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (contentType !== undefined) res.setHeader('content-type', contentType);
  res.setHeader('content-length', payload.length);
  if (!req.complete) res.setHeader('connection', 'close');
  res.writeHead(status);
  res.end(payload);
}

/**
 * Send an error as a `google.rpc.Status` body (OTLP/HTTP "Failures": the body SHOULD be a Status
 * whose `message` says what went wrong), encoded in the request's format.
 */
export function sendStatus(
  req: IncomingMessage,
  res: ServerResponse,
  httpStatus: number,
  message: string,
  format: OtlpBodyFormat = 'json',
  headers: Record<string, string> = {},
  details?: StatusDetails,
): void {
  const code = RPC_CODE_FOR_HTTP[httpStatus] ?? 2; // 2 = UNKNOWN
  if (format === 'protobuf') {
    sendResponse(req, res, httpStatus, 'application/x-protobuf', encodeRpcStatusProtobuf(code, message, details?.protobuf), headers);
  } else {
    sendResponse(req, res, httpStatus, 'application/json', encodeRpcStatusJson(code, message, details?.json), headers);
  }
}

/** `google.rpc.Status.details` in both encodings (the one matching the response is used). */
export interface StatusDetails {
  /** Encoded `google.protobuf.Any` messages. */
  protobuf: Uint8Array[];
  /** The same in proto3 JSON form. */
  json: Array<Record<string, unknown>>;
}

/** Send a JSON value with status 200 (or `status`); for status/health routes. */
export function sendJson(req: IncomingMessage, res: ServerResponse, value: unknown, status = 200): void {
  sendResponse(req, res, status, 'application/json', JSON.stringify(value));
}
