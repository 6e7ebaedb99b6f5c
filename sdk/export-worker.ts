/**
 * Entry point of the export worker thread: encodes spooled records as OTLP requests (protobuf
 * straight from the spool text, JSON through the OTel serializer) and sends them, so that encoding
 * and HTTP/gRPC work run next to the application's thread instead of on it. It answers every request with a plain result (errors do
 * not survive structured cloning, so they are classified here). See worker-transport.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { classifyExportError, createCapturingExporter, createEncodedRequestExporter, type OtlpExporterSettings } from './otlp-exporter.ts';
import { RecordDecoder } from './record-codec.ts';
import { SpooledLogsEncoder } from './spooled-logs-encoder.ts';

/** A request from the main thread: records as one transferred buffer plus offsets. */
export interface WorkerExportRequest {
  type: 'export';
  id: number;
  contexts: string[];
  /** Context index per record. */
  contextOf: Uint32Array;
  /** Record i is `data[offsets[i] .. offsets[i + 1])`. */
  offsets: Uint32Array;
  data: Uint8Array;
}

/** The worker's answer to a {@link WorkerExportRequest}. */
export type WorkerExportResponse =
  | { type: 'result'; id: number; kind: 'success'; partial?: { rejected: number; message: string } | undefined }
  | { type: 'result'; id: number; kind: 'invalid'; message: string }
  | { type: 'result'; id: number; kind: 'retryable'; message: string; retryAfterMillis?: number };

const port = parentPort;
if (port) {
  const settings = (workerData as { settings: OtlpExporterSettings }).settings;
  type Reply = (r: WorkerExportResponse) => void;
  /** Map an export's result to the answer (errors do not survive structured cloning). */
  const answer = (id: number, reply: Reply, result: ExportResult, partial: () => { rejected: number; message: string } | undefined) => {
    if (result.code === 0) {
      reply({ type: 'result', id, kind: 'success', partial: partial() });
      return;
    }
    const cls = classifyExportError(result.error);
    const message = result.error?.message ? `${cls.status}: ${result.error.message}` : cls.status;
    if (cls.kind === 'invalid') reply({ type: 'result', id, kind: 'invalid', message });
    else if (cls.retryAfterMillis === undefined) reply({ type: 'result', id, kind: 'retryable', message });
    else reply({ type: 'result', id, kind: 'retryable', message, retryAfterMillis: cls.retryAfterMillis });
  };
  // Protobuf protocols: spool text straight to request bytes (spooled-logs-encoder.ts), no
  // ReadableLogRecord and no second serializer pass. JSON: through the OTel serializer.
  let send: (m: WorkerExportRequest, reply: Reply) => void;
  let shutdown: () => Promise<void>;
  if (settings.protocol === 'http/json') {
    const { exporter, takePartialSuccess } = createCapturingExporter(settings);
    const decoder = new RecordDecoder();
    shutdown = () => exporter.shutdown();
    send = (m, reply) => {
      let records: ReadableLogRecord[];
      try {
        const buf = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
        records = Array.from(m.contextOf, (ctx, i) => decoder.decode(m.contexts[ctx]!, buf.subarray(m.offsets[i]!, m.offsets[i + 1]!)));
      } catch (err) {
        reply({ type: 'result', id: m.id, kind: 'retryable', message: `decoding spooled records failed: ${(err as Error).message}` });
        return;
      }
      exporter.export(records, (result) => answer(m.id, reply, result, takePartialSuccess));
    };
  } else {
    const exporter = createEncodedRequestExporter(settings);
    const encoder = new SpooledLogsEncoder();
    shutdown = () => exporter.shutdown();
    send = (m, reply) => {
      const encoded = encoder.encode(m);
      if (!encoded.ok) {
        reply({ type: 'result', id: m.id, kind: 'retryable', message: `decoding spooled records failed: ${encoded.message}` });
        return;
      }
      exporter.export({ bytes: encoded.bytes, records: m.contextOf.length }, (result) =>
        answer(m.id, reply, result, exporter.takePartialSuccess),
      );
    };
  }
  port.on('message', (m: WorkerExportRequest | { type: 'shutdown' }) => {
    if (m.type === 'shutdown') {
      shutdown().finally(() => port.postMessage({ type: 'closed' }));
      return;
    }
    const reply: Reply = (r) => port.postMessage(r);
    try {
      send(m, reply);
    } catch (err) {
      reply({ type: 'result', id: m.id, kind: 'retryable', message: `the exporter threw: ${(err as Error).message}` });
    }
  });
}
