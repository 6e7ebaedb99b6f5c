/** The OTLP/gRPC ingest server. */

export type { GrpcServerConfig, GrpcServerConfigInput } from './config.ts';
export { DEFAULT_GRPC_MAX_MESSAGE_BYTES, GrpcServerConfigSchema, parseGrpcServerConfig } from './config.ts';
export type { GrpcBoundAddress, GrpcServer, GrpcServerOptions } from './grpc-server.ts';
export { createGrpcServer, LOGS_EXPORT_METHOD_PATH, LOGS_SERVICE_DEFINITION } from './grpc-server.ts';
