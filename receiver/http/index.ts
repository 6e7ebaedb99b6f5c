/** The OTLP/HTTP ingest server and the router other receiver endpoints mount on. */
export { createHttpServer } from './http-server.ts';
export type { BoundAddress, HttpServer, HttpServerOptions } from './http-server.ts';
export { DEFAULT_MAX_MESSAGE_BYTES, HttpServerConfigSchema, parseHttpServerConfig } from './config.ts';
export type { HttpServerConfig, HttpServerConfigInput } from './config.ts';
export { createOtlpLogsHandler, parseOtlpContentType, retryAfterSeconds } from './otlp-logs-handler.ts';
export type { OtlpLogsHandlerOptions } from './otlp-logs-handler.ts';
export { parseContentEncoding, readRequestBody } from './read-body.ts';
export type { ReadBodyOptions, ReadBodyResult } from './read-body.ts';
export { sendJson, sendResponse, sendStatus } from './respond.ts';
export type { OtlpBodyFormat, StatusDetails } from './respond.ts';
export { Router } from './router.ts';
export type { Route, RouteContext, RouteHandler, RouteMatch, RouteOptions } from './router.ts';
