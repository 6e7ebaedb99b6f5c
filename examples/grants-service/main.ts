/**
 * Runs the grants service with its relay embedded: `npm run example:grants` (see README.md).
 * `startGrantsService()` is the same start-up as a function, for the example's test.
 *
 * Environment: `DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/test), `GRANTS_SCHEMA`
 * (default `grants_example`), `PORT` (default 3000), `OTEL_AUDIT_ENDPOINT` (the receiver's OTLP/HTTP
 * base URL, default http://127.0.0.1:4318), `RELAY` (`embedded` (default) or `off` when
 * `otel-audit relay` runs as its own process), `DEMO_API_TOKEN` (registers that token for tenant
 * `acme` with scope `grants:write`, for trying the API).
 */

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOutboxRelay, type OutboxRelay, type OutboxRelayConfigInput, type RelayLogEntry } from '@otel-audit/sdk/outbox';
import pg from 'pg';
import { addApiToken, migrateGrantsDb } from './grants-db.ts';
import { createGrantsApp, type GrantsServiceOptions } from './service.ts';

/** Options of {@link startGrantsService}. */
export interface StartGrantsServiceOptions extends Omit<GrantsServiceOptions, 'pool'> {
  postgresUrl: string;
  /** Port to listen on (0 = any free port). Host is 127.0.0.1. */
  port: number;
  /**
   * Relay settings (`endpoint` etc.; `postgresUrl` and `schema` are filled in), or `false` when the
   * relay runs elsewhere (`otel-audit relay` as its own process).
   */
  relay: Omit<OutboxRelayConfigInput, 'postgresUrl' | 'schema'> | false;
  /** Relay log lines. Default: warnings and errors to stderr. */
  relayLog?: (entry: RelayLogEntry) => void;
}

/** A running grants service. */
export interface RunningGrantsService {
  /** `http://127.0.0.1:<port>` */
  url: string;
  pool: pg.Pool;
  relay: OutboxRelay | undefined;
  /** Stop accepting requests, let the relay finish its batch, close the pool. */
  close(): Promise<void>;
}

/** Migrate, listen, start the embedded relay. */
export async function startGrantsService(options: StartGrantsServiceOptions): Promise<RunningGrantsService> {
  const pool = new pg.Pool({ connectionString: options.postgresUrl, max: 10 });
  await migrateGrantsDb(pool, options.schema);
  const { postgresUrl: _url, port, relay: relayConfig, relayLog, ...serviceOptions } = options;
  const app = createGrantsApp({ ...serviceOptions, pool });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let relay: OutboxRelay | undefined;
  if (relayConfig !== false) {
    relay = createOutboxRelay(
      { ...relayConfig, postgresUrl: options.postgresUrl, schema: options.schema },
      { log: relayLog ?? ((e) => (e.level === 'info' ? undefined : process.stderr.write(`relay ${e.level}: ${e.message}\n`))) },
    );
    await relay.start();
  }
  return {
    url,
    pool,
    relay,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await relay?.shutdown();
      await pool.end();
    },
  };
}

if (import.meta.main) {
  const env = process.env;
  const schema = env.GRANTS_SCHEMA ?? 'grants_example';
  const postgresUrl = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const service = await startGrantsService({
    postgresUrl,
    schema,
    port: Number(env.PORT ?? 3000),
    relay: env.RELAY === 'off' ? false : { endpoint: env.OTEL_AUDIT_ENDPOINT ?? 'http://127.0.0.1:4318', pollIntervalMillis: 500 },
    relayLog: (e) => process.stderr.write(`relay ${e.level}: ${e.message}\n`),
  });
  if (env.DEMO_API_TOKEN) {
    await addApiToken(service.pool, schema, {
      token: env.DEMO_API_TOKEN,
      id: 'demo-token',
      tenantId: 'acme',
      name: 'demo',
      scopes: ['grants:write'],
    });
  }
  process.stdout.write(
    `grants-service listening on ${service.url} (schema ${schema}, relay ${service.relay ? `embedded → ${service.relay.config.endpoint ?? 'default'}` : 'off'})\n`,
  );
  const stop = (signal: string) => {
    process.stdout.write(`grants-service: ${signal}: stopping\n`);
    void service.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
