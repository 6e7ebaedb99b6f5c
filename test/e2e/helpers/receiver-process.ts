/**
 * Runs `otel-audit start` as a real child process (the project's Node 24, the CLI entry point) on
 * free ports, and parses where it listens from its startup banner.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';

const CLI = fileURLToPath(new URL('../../../cli/main.ts', import.meta.url));

/** A running receiver process. */
export interface ReceiverProcess {
  /** `http://127.0.0.1:<port>` */
  http: string;
  /** `127.0.0.1:<port>` */
  grpc: string;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM, and wait for the exit code. */
  stop(): Promise<number | null>;
}

/** Options of {@link startReceiverProcess}. */
export interface StartReceiverOptions {
  dataDir: string;
  /** Extra environment (OTEL_AUDIT_* overrides). */
  env?: Record<string, string>;
  args?: string[];
}

/** Start a receiver child process and wait until it prints its addresses (recovery is done then). */
export function startReceiverProcess(options: StartReceiverOptions): Promise<ReceiverProcess> {
  const child = spawn(
    process.execPath,
    [CLI, 'start', '--data-dir', options.dataDir, '--http-port', '0', '--grpc-port', '0', ...(options.args ?? [])],
    {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  // A process killed by a signal has no exit code: the signal goes into the output so a failing
  // assertion on the code shows why.
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      if (signal) out += `\n[receiver process ended by ${signal}]\n`;
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const http = /OTLP\/HTTP\s+(http:\/\/[\d.]+:\d+)\/v1\/logs/.exec(out)?.[1];
      const grpc = /OTLP\/gRPC\s+([\d.]+:\d+)/.exec(out)?.[1];
      if (http && grpc) {
        child.stdout!.off('data', onData);
        child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
        resolve({
          http,
          grpc,
          child,
          output: () => out,
          async kill() {
            child.kill('SIGKILL');
            await exited;
          },
          async stop() {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
    void exited.then((code) => reject(new Error(`receiver exited with ${code} before it was ready:\n${out}`)));
  });
}

/** Poll `check` every `intervalMillis` until it returns a value other than undefined (bounded by `attempts`). */
export async function eventually<T>(check: () => Promise<T | undefined>, attempts = 200, intervalMillis = 100): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMillis));
  }
  throw new Error(`condition not met after ${attempts} attempts${last ? `: ${(last as Error).message}` : ''}`);
}

/** A TCP port on 127.0.0.1 that is free now (for a server that must come back on the same port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** What ClickHouse holds for one tenant, read through a receiver's ClickHouse-HTTP endpoint. */
export interface TenantEvents {
  /** Rows, counted without FINAL (duplicates would show). */
  count: number;
  /** Distinct event ids. */
  distinct: number;
  ids: string[];
}

/** Rows of `tenant` in `otel_audit.audit_events`, through the receiver at `http` (`/clickhouse`). */
export async function tenantEventsInClickHouse(http: string, tenant: string): Promise<TenantEvents> {
  const client = createClient({ url: http, pathname: '/clickhouse', log: { level: ClickHouseLogLevel.OFF } });
  try {
    const rs = await client.query({
      query:
        'SELECT count() AS n, uniqExact(EventId) AS d, groupArray(toString(EventId)) AS ids FROM otel_audit.audit_events WHERE TenantId = {tenant:String}',
      query_params: { tenant },
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ n: string | number; d: string | number; ids: string[] }>();
    return { count: Number(row?.n ?? 0), distinct: Number(row?.d ?? 0), ids: row?.ids ?? [] };
  } finally {
    await client.close();
  }
}

/**
 * An OTLP/JSON ExportLogsServiceRequest of minimal audit events (`doc.read`, success, a service
 * actor), one per id, alternating over `tenants`: the load the crash tests send.
 */
export function auditRequestJson(ids: readonly string[], o: { service: string; actorId: string; tenants: readonly string[] }): object {
  return {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: o.service } }] },
        scopeLogs: [
          {
            scope: { name: o.service },
            logRecords: ids.map((id, i) => ({
              timeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
              eventName: 'doc.read',
              attributes: [
                { key: 'audit.schema_version', value: { stringValue: '1.0' } },
                { key: 'audit.event_id', value: { stringValue: id } },
                { key: 'audit.outcome', value: { stringValue: 'success' } },
                { key: 'audit.actor.id', value: { stringValue: o.actorId } },
                { key: 'audit.actor.type', value: { stringValue: 'service' } },
                { key: 'audit.tenant.id', value: { stringValue: o.tenants[i % o.tenants.length]! } },
              ],
            })),
          },
        ],
      },
    ],
  };
}
