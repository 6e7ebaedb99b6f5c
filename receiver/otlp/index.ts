/** OTLP logs decoding (protobuf and OTLP/JSON → DecodedLogs) and response encoding, shared by the transports. */
export { decodeLogsProtobuf, MAX_ANY_VALUE_DEPTH } from './protobuf-decoder.ts';
export { decodeLogsJson } from './json-decoder.ts';
export type { DecodeResult } from './decode-result.ts';
export {
  BAD_REQUEST_TYPE_URL,
  GRPC_STATUS,
  badRequestJson,
  encodeBadRequestAny,
  encodeExportLogsResponseJson,
  encodeExportLogsResponseProtobuf,
  encodeRetryInfoAny,
  encodeRpcStatusJson,
  encodeRpcStatusProtobuf,
  hasPartialSuccess,
} from './responses.ts';
export type { ExportLogsResponseFields } from './responses.ts';
export { notifyObserver, secondsSince } from './ingest-events.ts';
export type { IngestObserver, IngestOutcome, IngestRequestEvent } from './ingest-events.ts';
