/**
 * Opens the one ClickHouse client the exporter and the query surfaces share: the embedded chDB
 * engine at `<dataDir>/clickhouse` by default, or a server by URL — the same `@clickhouse/client`
 * API either way, so every other module has a single code path.
 *
 * chDB runs one engine per data path per process, so a process opens this once and hands the
 * client to the exporter, the query service and the events API.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { AuditError } from '@otel-audit/core';
import type { Session } from 'chdb';
import type { ChdbConnection, createChdbConnection } from 'chdb/connection';
import type { ClickHouseConfig } from './config.ts';

/**
 * chDB, loaded on first use of the embedded engine only. Loading it maps and relocates its native
 * library (~190 MiB of resident file pages, measured on an idle receiver), which a receiver that
 * writes to a ClickHouse server by URL — or has ClickHouse off — must not pay. chDB's ESM entry
 * re-exports this same CommonJS module, so a later `import 'chdb'` elsewhere shares the instance.
 */
function loadChdb(): { Session: typeof Session; createChdbConnection: typeof createChdbConnection } {
  const require = createRequire(import.meta.url);
  const chdb = require('chdb') as { Session: typeof Session };
  const connection = require('chdb/connection') as { createChdbConnection: typeof createChdbConnection };
  return { Session: chdb.Session, createChdbConnection: connection.createChdbConnection };
}

/** A ClickHouse client plus what the exporter needs to know about the backend. */
export interface ClickHouseHandle {
  client: ClickHouseClient;
  /** True for the in-process chDB engine. */
  embedded: boolean;
  /** The chDB connection when embedded (its raw zero-copy insert is faster than the client's). */
  chdb?: ChdbConnection | undefined;
  /** Where the embedded engine keeps its data, or the server URL. */
  location: string;
  /** Close the client (and the embedded engine). Idempotent. */
  close(): Promise<void>;
}

/**
 * `clickhouse local` command-line arguments bounding the embedded engine's memory (server
 * settings, so they must be given when the engine starts): the server-wide memory limit, and the
 * mark / uncompressed / index-mark caches, which ClickHouse sizes for a dedicated server (GiBs).
 */
export function engineArgs(m: ClickHouseConfig['engineMemory']): string[] {
  return [
    `--max_server_memory_usage=${m.maxServerMemoryBytes}`,
    `--mark_cache_size=${m.markCacheBytes}`,
    `--uncompressed_cache_size=${m.uncompressedCacheBytes}`,
    `--index_mark_cache_size=${m.indexMarkCacheBytes}`,
    `--primary_index_cache_size=${m.primaryIndexCacheBytes}`,
    `--query_condition_cache_size=${m.queryConditionCacheBytes}`,
  ];
}

/**
 * Open the client for a validated configuration. Never contacts a server (so a ClickHouse outage
 * does not stop the receiver from starting); chDB opens its data directory immediately.
 */
export function openClickHouse(config: ClickHouseConfig): ClickHouseHandle {
  if (config.url === undefined) {
    const path = resolve(config.path ?? join(config.dataDir, 'clickhouse'));
    mkdirSync(path, { recursive: true });
    let connection: ChdbConnection;
    let session: Session | undefined;
    try {
      const { Session, createChdbConnection } = loadChdb();
      // `chdb/connection` takes no engine arguments, so a plain Session opens the engine first with
      // the memory bounds (chDB keys its engine registry by data path: the connection below then
      // attaches to this same engine, and the settings are in force for it).
      session = new Session(path, { connectionArgs: engineArgs(config.engineMemory) });
      connection = createChdbConnection({ path });
    } catch (err) {
      session?.close();
      throw new AuditError(
        'AUDIT_ERR_STORE_UNAVAILABLE',
        `cannot open the embedded ClickHouse (chDB) at ${path}: ${(err as Error).message}`,
        {
          cause: err,
          details: { path },
        },
      );
    }
    // chdb types its connection against its own copy of @clickhouse/client-common; the runtime
    // contract is the same (chdb's documented usage), only the declaration files differ.
    const client = createClient({
      connection: connection as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'],
      // Errors reach callers as results; the client's console logger would print on the terminal.
      log: { level: ClickHouseLogLevel.OFF },
    });
    let closed = false;
    return {
      client,
      embedded: true,
      chdb: connection,
      location: path,
      async close() {
        if (closed) return;
        closed = true;
        await client.close();
        await connection.close();
        session?.close();
      },
    };
  }
  const client = createClient({
    url: config.url,
    username: config.username ?? 'default',
    password: config.password ?? '',
    request_timeout: config.requestTimeoutMillis,
    // Failures come back to callers as results with the cause attached; the client's own console
    // logging would report every retry of an outage twice.
    log: { level: ClickHouseLogLevel.OFF },
    ...(config.tls
      ? {
          tls:
            config.tls.cert && config.tls.key
              ? { ca_cert: Buffer.from(config.tls.caCert), cert: Buffer.from(config.tls.cert), key: Buffer.from(config.tls.key) }
              : { ca_cert: Buffer.from(config.tls.caCert) },
        }
      : {}),
  });
  let closed = false;
  return {
    client,
    embedded: false,
    location: config.url,
    async close() {
      if (closed) return;
      closed = true;
      await client.close();
    },
  };
}
