/**
 * Opening a store view for the integrity commands from the same configuration sources as the
 * receiver (config file ← `OTEL_AUDIT_*` environment ← flags): the WAL in `<dataDir>/wal`, ClickHouse
 * (the embedded chDB at `<dataDir>/clickhouse`, a server by URL, or a running receiver's read-only
 * ClickHouse-HTTP endpoint), and the cold archive (the configured S3 bucket or local directory).
 *
 * chDB binds one engine per data path per process, and a running receiver holds its embedded engine:
 * against the embedded store of a running receiver, the view reads through that receiver's
 * ClickHouse-HTTP endpoint, found in `<dataDir>/receiver.json` (or given with `--url … --pathname`).
 */
import { join, resolve } from 'node:path';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { AuditError } from '@otel-audit/core';
import { openClickHouse, parseClickHouseConfig } from '../../exporters/clickhouse/index.ts';
import { createColdStore, LocalDirectoryStore, parseColdStoreConfig, S3ObjectStore } from '../../exporters/coldstore/index.ts';
import { openArchiveView, openClickHouseView, openWalView, type StoreFilter, type StoreSource, type StoreView } from './stores.ts';
import { loadIntegrityConfig, lockHolder, runningReceiver } from './verifier-keys.ts';

/** The command-line flags of {@link StoreLocationOptions}, shared by `verify` and `prove`. */
export const STORE_LOCATION_FLAGS = {
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  url: { type: 'string' },
  pathname: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  archive: { type: 'string' },
} as const;

/** Where to read from (the common flags of `verify` and `prove`). */
export interface StoreLocationOptions {
  dataDir?: string;
  config?: string;
  /** ClickHouse server or receiver endpoint URL (instead of the embedded engine). */
  url?: string;
  /** URL path prefix, e.g. `/clickhouse` for a receiver's endpoint. */
  pathname?: string;
  user?: string;
  password?: string;
  /** A local archive directory instead of the configured cold store. */
  archive?: string;
}

/** A section as the receiver reads it (`exporters.<name>`); a top-level `<name>` is accepted too. */
function section(config: Record<string, unknown>, name: string): Record<string, unknown> {
  const exporters = config.exporters as Record<string, unknown> | undefined;
  return {
    ...((exporters?.[name] as Record<string, unknown> | undefined) ?? {}),
    ...((config[name] as Record<string, unknown> | undefined) ?? {}),
  };
}

/** Open a read-only view of `source`. Throws `AUDIT_ERR_INVALID_ARGUMENT` / `AUDIT_ERR_STORE_UNAVAILABLE` with what to do. */
export async function openStoreView(source: StoreSource, o: StoreLocationOptions, filter: StoreFilter): Promise<StoreView> {
  const { config, dataDir } = loadIntegrityConfig(o);
  if (source === 'wal') return openWalView(join(dataDir, 'wal'), filter);
  if (source === 'clickhouse') {
    const chConfig = parseClickHouseConfig(
      { ...section(config, 'clickhouse'), dataDir, ...(o.url ? { url: undefined } : {}) },
      'exporters.clickhouse',
    );
    const tables = { database: chConfig.database, table: chConfig.table, checkpointsTable: chConfig.checkpointsTable };
    if (o.url !== undefined) {
      const client = createClient({
        url: o.url,
        ...(o.pathname ? { pathname: o.pathname } : {}),
        username: o.user ?? 'default',
        password: o.password ?? '',
        log: { level: ClickHouseLogLevel.OFF },
      });
      const view = openClickHouseView(client, tables, filter, `${o.url}${o.pathname ?? ''}`);
      return { ...view, close: async () => client.close() };
    }
    if (chConfig.url === undefined) {
      const pid = lockHolder(dataDir);
      if (pid !== undefined) {
        // The receiver holds the embedded engine: read through its endpoint.
        const running = runningReceiver(dataDir);
        if (running?.queryPath === undefined) {
          throw new AuditError(
            'AUDIT_ERR_INVALID_ARGUMENT',
            `the receiver (process ${pid}) holds the embedded ClickHouse of ${dataDir}; read through its endpoint instead: --url http://127.0.0.1:4318 --pathname /clickhouse (or stop the receiver)`,
          );
        }
        process.stderr.write(
          `reading ClickHouse through the running receiver (process ${running.pid}) at ${running.http}${running.queryPath}\n`,
        );
        const client = createClient({
          url: running.http,
          pathname: running.queryPath,
          username: o.user ?? 'default',
          password: o.password ?? '',
          log: { level: ClickHouseLogLevel.OFF },
        });
        const view = openClickHouseView(client, tables, filter, `${running.http}${running.queryPath}`);
        return { ...view, close: async () => client.close() };
      }
    }
    const handle = openClickHouse(chConfig);
    const view = openClickHouseView(handle.client, tables, filter, handle.location);
    return { ...view, close: async () => handle.close() };
  }
  const store =
    o.archive !== undefined
      ? new LocalDirectoryStore(resolve(o.archive))
      : createColdStore(parseColdStoreConfig({ ...section(config, 'coldstore'), dataDir }, 'exporters.coldstore'));
  const view = await openArchiveView(store, filter);
  return {
    ...view,
    close: async () => {
      if (store instanceof S3ObjectStore) store.destroy();
    },
  };
}
