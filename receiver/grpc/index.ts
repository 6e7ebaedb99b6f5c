/** The OTLP/gRPC ingest server. */
export { LOGS_EXPORT_METHOD_PATH, LOGS_SERVICE_DEFINITION, createGrpcServer } from './grpc-server.ts';
export type { GrpcBoundAddress, GrpcServer, GrpcServerOptions } from './grpc-server.ts';
export { DEFAULT_GRPC_MAX_MESSAGE_BYTES, GrpcServerConfigSchema, parseGrpcServerConfig } from './config.ts';
export type { GrpcServerConfig, GrpcServerConfigInput } from './config.ts';
