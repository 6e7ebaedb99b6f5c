/**
 * The structured logger every component receives: a small interface (pino's call shape, so pino
 * is the implementation and tests can pass a capturing one) and {@link createLogger}, which writes
 * JSON lines by default and pretty, coloured lines when the destination is a TTY and
 * `pino-pretty` (an optional peer dependency) is installed.
 */
import { createRequire } from 'node:module';
import { type DestinationStream, type Level, pino } from 'pino';

/** Structured fields of a log line (`err` holds an Error, serialized with its code and cause). */
export type LogFields = Record<string, unknown>;

/** A leveled, structured logger. The first argument is the fields, the second the message. */
export interface Logger {
  debug(fields: LogFields, message?: string): void;
  info(fields: LogFields, message?: string): void;
  warn(fields: LogFields, message?: string): void;
  error(fields: LogFields, message?: string): void;
  /** A logger adding `bindings` to every line (e.g. `{ component: 'wal' }`). */
  child(bindings: LogFields): Logger;
}

/** Log levels, least to most severe; `silent` logs nothing. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Lowest level written. Default `info`. */
  level?: LogLevel;
  /** `name` field of every line (e.g. `otel-audit`). */
  name?: string;
  /** Where lines go. Default: standard error (standard output is the CLI's result channel). */
  destination?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Force pretty (true) or JSON (false) output; default: pretty on a TTY when pino-pretty is installed. */
  pretty?: boolean;
}

type PrettyFactory = (options: { colorize: boolean; destination: NodeJS.WritableStream; sync: boolean }) => DestinationStream;

/** pino-pretty when it can be loaded from here, else undefined (it is an optional peer). */
function loadPretty(): PrettyFactory | undefined {
  try {
    const mod = createRequire(import.meta.url)('pino-pretty') as PrettyFactory | { default: PrettyFactory };
    return typeof mod === 'function' ? mod : mod.default;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw err;
  }
}

/** Create the pino-backed {@link Logger}. */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stderr;
  const wantPretty = options.pretty ?? destination.isTTY === true;
  const pretty = wantPretty ? loadPretty() : undefined;
  const stream: DestinationStream = pretty
    ? pretty({ colorize: destination.isTTY === true, destination, sync: true })
    : (destination as DestinationStream);
  return pino(
    {
      level: (options.level ?? 'info') as Level | 'silent',
      ...(options.name === undefined ? {} : { name: options.name }),
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: pino.stdSerializers.err },
    },
    stream,
  ) as Logger;
}

/** A logger that writes nothing (the default where a caller passes none). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
