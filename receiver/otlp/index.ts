/** OTLP logs decoding (protobuf and OTLP/JSON → DecodedLogs) and response encoding, shared by the transports. */

export type { DecodeResult } from './decode-result.ts';
export type { IngestObserver, IngestOutcome, IngestRequestEvent } from './ingest-events.ts';
export { notifyObserver, secondsSince } from './ingest-events.ts';
export { decodeLogsJson } from './json-decoder.ts';
export { decodeLogsProtobuf, MAX_ANY_VALUE_DEPTH } from './protobuf-decoder.ts';
export type { ExportLogsResponseFields } from './responses.ts';
export {
  BAD_REQUEST_TYPE_URL,
  badRequestJson,
  encodeBadRequestAny,
  encodeExportLogsResponseJson,
  encodeExportLogsResponseProtobuf,
  encodeRetryInfoAny,
  encodeRpcStatusJson,
  encodeRpcStatusProtobuf,
  GRPC_STATUS,
  hasPartialSuccess,
} from './responses.ts';
