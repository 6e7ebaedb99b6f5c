/**
 * The OTLP/gRPC server component: `opentelemetry.proto.collector.logs.v1.LogsService/Export`
 * (OTLP spec "OTLP/gRPC"). The service is registered with pass-through (de)serializers so requests
 * reach our own decoder as raw bytes: a decode failure then becomes INVALID_ARGUMENT with a useful
 * message, where a throwing grpc-js deserializer would only give INTERNAL.
 */
import * as grpc from '@grpc/grpc-js';
import { AuditError, type Logger, silentLogger } from '@otel-audit/core';
import { createBearerAuthenticator } from '../auth/bearer-auth.ts';
import type { IngestContext, IngestResult, LogsConsumer } from '../contracts.ts';
import { type EncodedIngestResult, isEncodedLogsConsumer } from '../otlp/encoded-consumer.ts';
import { type IngestObserver, type IngestOutcome, notifyObserver, secondsSince } from '../otlp/ingest-events.ts';
import { decodeLogsProtobuf } from '../otlp/protobuf-decoder.ts';
import {
  encodeBadRequestAny,
  encodeExportLogsResponseProtobuf,
  encodeRetryInfoAny,
  encodeRpcStatusProtobuf,
  GRPC_STATUS,
} from '../otlp/responses.ts';
import { type GrpcServerConfig, type GrpcServerConfigInput, parseGrpcServerConfig } from './config.ts';

/** Full method path of the OTLP logs export RPC. */
export const LOGS_EXPORT_METHOD_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';

/** Where the gRPC server listens once started. */
export interface GrpcBoundAddress {
  host: string;
  /** The actual port (useful with `port: 0`). */
  port: number;
  /** `host:port` as a gRPC target (IPv6 in brackets). */
  target: string;
}

/** Dependencies of {@link createGrpcServer}. */
export interface GrpcServerOptions {
  /** Configuration; validated with {@link parseGrpcServerConfig}. */
  config?: GrpcServerConfigInput;
  /**
   * Receives every OTLP logs request: as raw bytes when it takes encoded requests
   * (`EncodedLogsConsumer`, the pipeline decodes in its worker threads), else decoded.
   */
  consumer: LogsConsumer;
  /**
   * Told about every finished Export call (outcome, records, bytes, latency) for self-metrics.
   * Calls refused by grpc-js itself (RESOURCE_EXHAUSTED) never reach us and are not reported.
   */
  onRequest?: IngestObserver;
  /** Where a failing consumer (a bug: answered INTERNAL) is logged. Default: silent. */
  logger?: Logger;
}

/** The OTLP/gRPC server (start/shutdown like a `Component`; `start()` resolves with the address). */
export interface GrpcServer {
  /** The validated configuration in effect. */
  readonly config: GrpcServerConfig;
  /**
   * Bind and serve. Resolves with the bound address.
   * @throws AuditError `AUDIT_ERR_INTERNAL` when the address cannot be bound, `AUDIT_ERR_SHUTDOWN` after shutdown.
   */
  start(): Promise<GrpcBoundAddress>;
  /**
   * Stop accepting calls, let in-flight calls finish (up to `shutdownTimeoutMillis`, then they are
   * cancelled), close. Idempotent.
   */
  shutdown(): Promise<void>;
  /** The bound address while started. */
  address(): GrpcBoundAddress | undefined;
}

/** The service definition with pass-through (de)serializers: the handler sees the raw request bytes. */
export const LOGS_SERVICE_DEFINITION: grpc.ServiceDefinition = {
  Export: {
    path: LOGS_EXPORT_METHOD_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (value: Buffer) => value,
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (value: Buffer) => value,
    responseDeserialize: (bytes: Buffer) => bytes,
    originalName: 'export',
  },
};

function grpcError(code: number, message: string, metadata?: grpc.Metadata): grpc.ServiceError {
  const err = new Error(message) as grpc.ServiceError;
  err.code = code;
  err.details = message;
  err.metadata = metadata ?? new grpc.Metadata();
  return err;
}

/**
 * UNAVAILABLE with a `google.rpc.RetryInfo` in `grpc-status-details-bin` (OTLP/gRPC "Throttling":
 * the client waits `retry_delay` before retrying; without it, clients use their own backoff).
 */
function unavailable(message: string, retryAfterMillis: number): grpc.ServiceError {
  const md = new grpc.Metadata();
  md.set('grpc-status-details-bin', encodeRpcStatusProtobuf(GRPC_STATUS.UNAVAILABLE, message, [encodeRetryInfoAny(retryAfterMillis)]));
  return grpcError(GRPC_STATUS.UNAVAILABLE, message, md);
}

/**
 * Create the OTLP/gRPC server (not yet bound).
 * Status mapping: success → OK + `ExportLogsServiceResponse` (partial_success when records were
 * rejected or there is a warning); undecodable → INVALID_ARGUMENT; too large → RESOURCE_EXHAUSTED
 * (grpc-js, from `grpc.max_receive_message_length`); retryable → UNAVAILABLE (+ RetryInfo);
 * failure → INTERNAL; missing/wrong token → UNAUTHENTICATED.
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming the bad key.
 */
export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  const config = parseGrpcServerConfig(options.config ?? {});
  const log = options.logger ?? silentLogger;
  const auth = createBearerAuthenticator(config.auth);
  const consumer = options.consumer;
  const encoded = isEncodedLogsConsumer(consumer) ? consumer : undefined;
  let bound: GrpcBoundAddress | undefined;
  let started = false;
  let shutdownPromise: Promise<void> | undefined;
  let startPromise: Promise<GrpcBoundAddress> | undefined;

  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.maxMessageBytes,
  });

  const exportHandler: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    const start = process.hrtime.bigint();
    let records = 0;
    const bytes = call.request.length;
    const report = (outcome: IngestOutcome, rejected = 0) =>
      notifyObserver(options.onRequest, { transport: 'grpc', outcome, records, rejected, bytes, durationSeconds: secondsSince(start) });
    const authResult = auth.authenticate(auth.enabled ? (call.metadata.get('authorization') as string[]).map(String) : undefined);
    if (!authResult.ok) {
      callback(grpcError(GRPC_STATUS.UNAUTHENTICATED, authResult.error.message));
      report('unauthenticated');
      return;
    }
    const invalid = (error: AuditError) => {
      // Like OTLP/HTTP "Bad Data": the field path travels as a google.rpc.BadRequest in the status details.
      const md = new grpc.Metadata();
      const details = [encodeBadRequestAny(error.path ?? '', error.message)];
      md.set('grpc-status-details-bin', encodeRpcStatusProtobuf(GRPC_STATUS.INVALID_ARGUMENT, error.message, details));
      callback(grpcError(GRPC_STATUS.INVALID_ARGUMENT, error.message, md));
      report('decode_error');
    };
    const context: IngestContext = { transport: 'grpc' };
    if (authResult.identity.boundTenantId !== undefined) context.boundTenantId = authResult.identity.boundTenantId;
    if (authResult.identity.principal !== undefined) context.principal = authResult.identity.principal;
    let consumed: Promise<IngestResult | undefined>;
    if (encoded) {
      // grpc-js has already inflated the message (grpc-encoding); decode + prepare run in the
      // pipeline's worker threads, a decode failure is answered exactly as below.
      consumed = encoded
        .consumeEncoded({ body: call.request, format: 'protobuf', encoding: 'identity', maxBytes: config.maxMessageBytes }, context)
        .then((r: EncodedIngestResult) => {
          if (!r.decoded) {
            invalid(r.error);
            return undefined;
          }
          records = r.records;
          return r.result;
        });
    } else {
      const decoded = decodeLogsProtobuf(call.request);
      if (!decoded.ok) {
        invalid(decoded.error);
        return;
      }
      records = decoded.recordCount;
      consumed = consumer.consume(decoded.logs, context);
    }
    consumed.then(
      (result: IngestResult | undefined) => {
        if (result === undefined) return; // answered INVALID_ARGUMENT
        switch (result.status) {
          case 'success':
            callback(null, encodeExportLogsResponseProtobuf({ rejected: result.rejected, message: result.message }));
            report('success', result.rejected);
            return;
          case 'retryable':
            callback(unavailable(result.error.message, result.retryAfterMillis));
            report('retryable');
            return;
          default:
            callback(grpcError(GRPC_STATUS.INTERNAL, result.error.message));
            report('failure');
        }
      },
      (err: unknown) => {
        // A throwing consumer is a bug: INTERNAL, and keep serving.
        log.error({ err }, 'OTLP/gRPC Export failed unexpectedly');
        callback(
          grpcError(GRPC_STATUS.INTERNAL, new AuditError('AUDIT_ERR_INTERNAL', 'the pipeline failed unexpectedly', { cause: err }).message),
        );
        report('failure');
      },
    );
  };
  server.addService(LOGS_SERVICE_DEFINITION, { Export: exportHandler });

  return {
    config,
    address() {
      return bound;
    },
    start() {
      if (shutdownPromise) return Promise.reject(new AuditError('AUDIT_ERR_SHUTDOWN', 'the gRPC server was shut down'));
      if (startPromise) return startPromise; // idempotent, also while binding
      const hostPart = config.host.includes(':') ? `[${config.host}]` : config.host;
      startPromise = new Promise<GrpcBoundAddress>((resolve, reject) => {
        server.bindAsync(`${hostPart}:${config.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
          if (err) {
            startPromise = undefined;
            reject(new AuditError('AUDIT_ERR_INTERNAL', `cannot listen on ${hostPart}:${config.port}: ${err.message}`, { cause: err }));
            return;
          }
          started = true;
          bound = { host: config.host, port, target: `${hostPart}:${port}` };
          resolve(bound);
        });
      });
      return startPromise;
    },
    shutdown() {
      if (shutdownPromise) return shutdownPromise;
      shutdownPromise = new Promise<void>((resolve) => {
        if (!started) {
          server.forceShutdown();
          resolve();
          return;
        }
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          bound = undefined;
          resolve();
        };
        // In-flight calls get shutdownTimeoutMillis; then they are cancelled and we resolve regardless.
        const timer = setTimeout(() => {
          server.forceShutdown();
          finish();
        }, config.shutdownTimeoutMillis);
        timer.unref();
        server.tryShutdown(finish);
      });
      return shutdownPromise;
    },
  };
}
