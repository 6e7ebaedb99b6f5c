/** The operator console at `/ui` and its read APIs (docs/console.md). */

export { isLoopbackAddress } from '../http/index.ts';
export type { ConsoleConfig, ConsoleConfigInput } from './config.ts';
export { ConsoleConfigSchema } from './config.ts';
export { CSV_COLUMNS, csvHeader, csvRow, ndjsonRow } from './export-format.ts';
export type { ConsoleSample, ConsoleSources, MountedConsole } from './routes.ts';
export { mountConsoleRoutes } from './routes.ts';
export { CONSOLE_SECURITY_HEADERS, createStaticHandler, defaultConsoleDirs, findConsoleBuild } from './static-files.ts';
