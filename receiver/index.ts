/**
 * The otel-audit receiver: OTLP/gRPC + OTLP/HTTP ingest, the pipeline (validate, dedupe,
 * hash-chain, WAL with fsync'd acks) and the configured exporters.
 */

export type { ConfigSources } from './config/load-config.ts';
export { loadRawConfig } from './config/load-config.ts';
export type { ReceiverConfig, ReceiverConfigInput } from './config/receiver-config.ts';
export { DEFAULT_CONFIG_FILE, DEFAULT_DATA_DIR, parseReceiverConfig, ReceiverConfigSchema } from './config/receiver-config.ts';
export type {
  AuditExporter,
  Component,
  DecodedLogs,
  ExportBatch,
  ExportResult,
  IngestContext,
  IngestResult,
  LogsConsumer,
  WalEntry,
  WalEventEntry,
} from './contracts.ts';
export type { Receiver, ReceiverAddresses, ReceiverOptions } from './receiver.ts';
export { createReceiver } from './receiver.ts';
