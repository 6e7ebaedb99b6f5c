/** The OTLP/HTTP ingest server and the router other receiver endpoints mount on. */

export type { HttpServerConfig, HttpServerConfigInput } from './config.ts';
export { DEFAULT_MAX_MESSAGE_BYTES, HttpServerConfigSchema, parseHttpServerConfig } from './config.ts';
export type { BoundAddress, HttpServer, HttpServerOptions } from './http-server.ts';
export { createHttpServer } from './http-server.ts';
export { isLoopbackAddress } from './loopback.ts';
export type { OtlpLogsHandlerOptions } from './otlp-logs-handler.ts';
export { createOtlpLogsHandler, parseOtlpContentType, retryAfterSeconds } from './otlp-logs-handler.ts';
export type { ReadBodyOptions, ReadBodyResult } from './read-body.ts';
export { parseContentEncoding, readRequestBody } from './read-body.ts';
export type { OtlpBodyFormat, StatusDetails } from './respond.ts';
export { sendJson, sendResponse, sendStatus } from './respond.ts';
export type { Route, RouteContext, RouteHandler, RouteMatch, RouteOptions } from './router.ts';
export { Router } from './router.ts';
