/**
 * `otel-audit start [--config otel-audit.yaml] [--data-dir ./otel-audit-data]`: run the receiver
 * with its exporters until SIGTERM/SIGINT. Without a config file it runs on embedded defaults:
 * OTLP/gRPC 127.0.0.1:4317, OTLP/HTTP 127.0.0.1:4318, chDB and a local archive in the data dir.
 */
import { AuditError, createLogger, type LogLevel } from '@otel-audit/core';
import { loadRawConfig } from '../../receiver/config/load-config.ts';
import { parseReceiverConfig } from '../../receiver/config/receiver-config.ts';
import { createReceiver } from '../../receiver/receiver.ts';
import { parseCommandArgs } from '../args.ts';
import type { Command } from '../registry.ts';

const USAGE = `usage: otel-audit start [options]

Runs the OTLP receiver (gRPC and HTTP) with its exporters until SIGTERM or SIGINT.

  --config <file>      config file (default: otel-audit.yaml when present)
  --data-dir <dir>     data directory (default ./otel-audit-data)
  --http-port <port>   OTLP/HTTP port (default 4318; 0 picks a free port)
  --grpc-port <port>   OTLP/gRPC port (default 4317; 0 picks a free port)
  --log-level <level>  debug, info, warn, error or silent (default: config logLevel, info)

The banner goes to standard output; the log to standard error, as JSON lines
(pretty when standard error is a terminal).

Environment overrides: OTEL_AUDIT_<PATH>, path segments joined by "__", e.g.
OTEL_AUDIT_HTTP__PORT=4319 or OTEL_AUDIT_EXPORTERS__CLICKHOUSE__URL=http://ch:8123.
`;

function port(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--${name}: "${value}" is not a port number (0-65535)`);
  return n;
}

/** The `start` command. */
export const command: Command = {
  summary: 'run the receiver and exporters',
  async run(args) {
    const parsed = parseCommandArgs(args, USAGE, {
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      'http-port': { type: 'string' },
      'grpc-port': { type: 'string' },
      'log-level': { type: 'string' },
    });
    if (!parsed) return 0;
    const { values } = parsed;
    const overrides: Record<string, unknown> = {};
    const httpPort = port('http-port', values['http-port']);
    const grpcPort = port('grpc-port', values['grpc-port']);
    if (httpPort !== undefined) overrides.http = { port: httpPort };
    if (grpcPort !== undefined) overrides.grpc = { port: grpcPort };
    // Validated with the config (the same message as a bad `logLevel` key).
    if (values['log-level'] !== undefined) overrides.logLevel = values['log-level'];
    const raw = loadRawConfig({ configPath: values.config, dataDir: values['data-dir'], overrides });
    const config = parseReceiverConfig(raw);
    const logger = createLogger({ level: config.logLevel as LogLevel, name: 'otel-audit' });
    const receiver = createReceiver(raw, { logger });

    // The signal handlers go in before anything is printed: whoever reads the banner may send
    // SIGTERM at once, and a signal without a handler would kill the process without a drain.
    // A signal that arrives during start is remembered and honoured once start has finished.
    let requestStop: ((signal: string) => void) | undefined;
    let pendingSignal: string | undefined;
    const onSignal = (signal: string) => {
      if (requestStop) requestStop(signal);
      else pendingSignal ??= signal;
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));

    const addresses = await receiver.start();
    const status = receiver.status();
    logger.info({ instanceId: status.instanceId, dataDir: status.dataDir, ...addresses }, 'receiver ready');
    const integrity = receiver.integrityStatus();
    process.stdout.write(
      `otel-audit receiver ${status.instanceId} ready (data dir ${status.dataDir})\n` +
        (addresses.grpc ? `  OTLP/gRPC  ${addresses.grpc}\n` : '') +
        (addresses.http
          ? `  OTLP/HTTP  ${addresses.http}/v1/logs\n  health     ${addresses.http}/healthz  ${addresses.http}/readyz  ${addresses.http}/metrics\n`
          : '') +
        (addresses.http && receiver.config.query.enabled && receiver.config.exporters.clickhouse.enabled
          ? `  query      ${addresses.http}${receiver.config.query.path} (ClickHouse HTTP, read-only)  ${addresses.http}/v1/audit/events\n`
          : '') +
        (addresses.http && receiver.config.ui.enabled ? `  console    ${addresses.http}/ui/\n` : '') +
        // The C2SP note verifier key checkpoints are signed with: record it somewhere the receiver's
        // operators cannot change, and verify with --public-key to prove authenticity.
        (integrity.verifierKey
          ? `  verifier key  ${integrity.verifierKey}\n               (signing key ${integrity.keyFile}${integrity.keyCreated ? ', created now' : ''}; keep a copy of the verifier key to check checkpoints with --public-key)\n`
          : '  integrity  off (integrity.enabled: false): no signed checkpoints\n'),
    );

    return await new Promise<number>((resolveExit) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stdout.write(`otel-audit: ${signal}: stopping (finishing in-flight requests, fsync, exporters)\n`);
        logger.info({ signal }, 'stopping');
        receiver.shutdown().then(
          () => {
            logger.info({}, 'stopped');
            resolveExit(0);
          },
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            process.stderr.write(`otel-audit: shutdown failed: ${(err as Error).message}\n`);
            resolveExit(1);
          },
        );
      };
      requestStop = stop;
      if (pendingSignal) stop(pendingSignal);
    });
  },
};
