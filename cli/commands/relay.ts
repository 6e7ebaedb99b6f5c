/**
 * `otel-audit relay --postgres-url … --endpoint …`: drain the Postgres outbox into the receiver.
 * SIGTERM / SIGINT finish the in-flight batch (commit or roll back), then exit 0.
 */
import { AuditError } from '@otel-audit/core';
import type { OutboxRelayConfigInput } from '@otel-audit/sdk/outbox';
import { createOutboxRelay } from '@otel-audit/sdk/outbox';
import { parseCommandArgs } from '../args.ts';
import type { Command } from '../registry.ts';

const USAGE = `usage: otel-audit relay --postgres-url <url> [--endpoint <url>] [options]

  --postgres-url      postgres://user@host:5432/db (or env OTEL_AUDIT_POSTGRES_URL)
  --endpoint          receiver URL (default http://127.0.0.1:4318, gRPC http://127.0.0.1:4317)
  --protocol          http/protobuf (default) | http/json | grpc
  --batch-size        rows per request and transaction (default 1000)
  --concurrency       parallel drainers (default 2)
  --schema, --table   where the outbox is (default public.audit_outbox)
  --header k=v        request header / gRPC metadata, repeatable
  --poll-interval     polling fallback in ms (default 1000)
  --retention         keep delivered rows this many ms (default 86400000)
`;

function intArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--${name}: "${v}" is not an integer`);
  return n;
}

/** The `relay` command. */
export const command: Command = {
  summary: 'relay audit events from the Postgres outbox to the receiver',
  async run(args) {
    const parsed = parseCommandArgs(args, USAGE, {
      'postgres-url': { type: 'string' },
      endpoint: { type: 'string' },
      protocol: { type: 'string' },
      'batch-size': { type: 'string' },
      concurrency: { type: 'string' },
      schema: { type: 'string' },
      table: { type: 'string' },
      header: { type: 'string', multiple: true },
      'poll-interval': { type: 'string' },
      retention: { type: 'string' },
    });
    if (!parsed) return 0;
    const { values } = parsed;
    const postgresUrl = values['postgres-url'] ?? process.env.OTEL_AUDIT_POSTGRES_URL;
    if (!postgresUrl) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--postgres-url is required\n${USAGE}`);
    const headers: Record<string, string> = {};
    for (const h of values.header ?? []) {
      const eq = h.indexOf('=');
      if (eq <= 0) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--header: "${h}" is not key=value`);
      headers[h.slice(0, eq).trim()] = h.slice(eq + 1).trim();
    }
    const input: Record<string, unknown> = {
      postgresUrl,
      endpoint: values.endpoint,
      protocol: values.protocol,
      batchSize: intArg('batch-size', values['batch-size']),
      concurrency: intArg('concurrency', values.concurrency),
      schema: values.schema,
      table: values.table,
      headers,
      pollIntervalMillis: intArg('poll-interval', values['poll-interval']),
      retentionMillis: intArg('retention', values.retention),
    };
    for (const k of Object.keys(input)) if (input[k] === undefined) delete input[k];

    const relay = createOutboxRelay(input as OutboxRelayConfigInput, {
      log: (e) => process.stderr.write(`otel-audit relay: ${e.level}: ${e.message}\n`),
    });
    let signalled: (name: string) => void = () => undefined;
    const stop = new Promise<string>((resolve) => (signalled = resolve));
    const onSignal = (name: string) => () => signalled(name);
    const onTerm = onSignal('SIGTERM');
    const onInt = onSignal('SIGINT');
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
    try {
      await relay.start();
      const name = await stop;
      process.stderr.write(`otel-audit relay: ${name}: finishing the in-flight batch\n`);
    } finally {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      await relay.shutdown();
    }
    const s = relay.stats();
    process.stderr.write(
      `otel-audit relay: stopped (delivered ${s.delivered}, rejected ${s.rejected}, failed exports ${s.failedExports})\n`,
    );
    return 0;
  },
};

export default command;
