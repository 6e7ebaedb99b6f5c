/**
 * `otel-audit replay [--since] [--until] [--tenant] [--data-dir] [--config]`: backfill ClickHouse
 * from the cold archive (S3 or the local archive), idempotently — re-running it adds nothing. On a
 * terminal a progress bar with counts, rate and ETA; otherwise plain progress lines (CI, logs).
 */
import { resolve } from 'node:path';
import { AuditError } from '@otel-audit/core';
import {
  applyMigrations,
  CHECKPOINT_COLUMNS,
  checkpointRecordToRow,
  checkpointsToken,
  insertJsonEachRow,
  insertSettings,
  openClickHouse,
  parseClickHouseConfig,
} from '../../exporters/clickhouse/index.ts';
import {
  createClickHouseReplaySink,
  createColdStore,
  LocalDirectoryStore,
  listArchivedCheckpoints,
  parseColdStoreConfig,
  type ReplayProgress,
  replayColdStorage,
} from '../../exporters/coldstore/index.ts';
import { configFromEnv, mergeConfig, readConfigFile } from '../../receiver/config/load-config.ts';
import { parseCommandArgs } from '../args.ts';
import type { Command } from '../registry.ts';

const USAGE = `usage: otel-audit replay [options]

Reads cold-storage objects and inserts their rows into ClickHouse audit_events. Idempotent: rows
already in ClickHouse are not inserted again. Bad objects are reported and skipped.

  --since <time>     first event hour to replay (ISO 8601, e.g. 2026-11-01 or 2026-11-01T10:00Z)
  --until <time>     replay event hours before this time (exclusive)
  --tenant <id>      only this tenant
  --data-dir <dir>   data directory (default ./otel-audit-data): local archive and embedded ClickHouse
  --config <file>    config file (default otel-audit.yaml); uses exporters.coldstore and exporters.clickhouse
  --archive <dir>    read this local archive directory instead of the configured store
  --quiet            no progress output, only the summary

Exit status: 0 done, 1 store or ClickHouse unavailable (re-run: it is idempotent), 2 bad arguments
or configuration, 3 done but some objects were bad and skipped (listed on stderr).
`;

function parseTime(name: string, v: string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v);
  if (Number.isNaN(d.getTime())) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--${name}: "${v}" is not an ISO 8601 date or time`);
  return d;
}

/** A section as the receiver reads it (`exporters.<name>`); a top-level `<name>` is accepted too. */
function section(config: Record<string, unknown>, name: string): Record<string, unknown> {
  const exporters = config.exporters as Record<string, unknown> | undefined;
  return {
    ...((exporters?.[name] as Record<string, unknown> | undefined) ?? {}),
    ...((config[name] as Record<string, unknown> | undefined) ?? {}),
  };
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--:--';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/**
 * One progress line: objects, rows (new), rate and ETA. ETA extrapolates from the bytes done, the
 * one measure known up front for every object. With `width`, a bar of that many cells leads.
 */
export function formatReplayProgress(p: ReplayProgress, width?: number): string {
  const frac = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.objectsTotal > 0 ? p.objectsDone / p.objectsTotal : 1;
  const secs = p.elapsedMillis / 1000;
  const rate = secs > 0 ? p.rowsRead / secs : 0;
  const eta = frac > 0 ? (p.elapsedMillis / frac) * (1 - frac) : Number.NaN;
  const text =
    `${p.objectsDone}/${p.objectsTotal} objects, ${fmtInt(p.rowsRead)} rows (${fmtInt(p.rowsInserted)} new), ` +
    `${fmtInt(rate)} rows/s, ${p.skipped} skipped, ETA ${p.objectsDone === p.objectsTotal ? '0:00' : fmtDuration(eta)}`;
  if (width === undefined) return text;
  const filled = Math.round(frac * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${text}`;
}

/** The `replay` command. */
export const command: Command = {
  summary: 'replay cold storage (S3 or local archive) into ClickHouse',
  async run(args) {
    const parsed = parseCommandArgs(args, USAGE, {
      since: { type: 'string' },
      until: { type: 'string' },
      tenant: { type: 'string' },
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      archive: { type: 'string' },
      quiet: { type: 'boolean' },
    });
    if (!parsed) return 0;
    const { values } = parsed;
    const since = parseTime('since', values.since);
    const until = parseTime('until', values.until);
    if (since && until && since >= until) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', '--since must be before --until');
    // Same sources as the receiver: file, then OTEL_AUDIT_* environment overrides, then flags.
    const fileConfig = mergeConfig(
      readConfigFile(values.config ?? 'otel-audit.yaml', values.config !== undefined),
      configFromEnv(process.env),
    );
    const dataDir = values['data-dir'] ?? (fileConfig.dataDir as string | undefined);
    const withDataDir = (s: Record<string, unknown>): Record<string, unknown> => (dataDir === undefined ? s : { ...s, dataDir });
    const coldConfig = parseColdStoreConfig(withDataDir(section(fileConfig, 'coldstore')), 'exporters.coldstore');
    const chConfig = parseClickHouseConfig(withDataDir(section(fileConfig, 'clickhouse')));
    const source = values.archive ? new LocalDirectoryStore(resolve(values.archive)) : createColdStore(coldConfig);

    const ch = openClickHouse(chConfig);
    const tty = process.stderr.isTTY === true && !values.quiet;
    let lastLine = 0;
    const onProgress = (p: ReplayProgress): void => {
      if (values.quiet) return;
      if (tty) {
        const width = Math.max(10, Math.min(30, (process.stderr.columns ?? 100) - 100));
        process.stderr.write(`\r${formatReplayProgress(p, width)}\x1b[K`);
      } else if (Date.now() - lastLine >= 1000 || p.objectsDone === p.objectsTotal) {
        lastLine = Date.now();
        process.stderr.write(`replay: ${formatReplayProgress(p)}\n`);
      }
    };
    const clearBar = (): void => {
      if (tty) process.stderr.write('\r\x1b[K');
    };
    try {
      const sink = createClickHouseReplaySink({
        client: ch.client,
        database: chConfig.database,
        table: chConfig.table,
        embedded: ch.embedded,
        ensureSchema: chConfig.createSchema ? async (client) => void (await applyMigrations(client, chConfig)) : false,
      });
      if (!values.quiet)
        process.stderr.write(`replay: ${source.location} → ClickHouse ${ch.location} (${chConfig.database}.${chConfig.table})\n`);
      const result = await replayColdStorage({
        source,
        sink,
        since,
        until,
        tenant: values.tenant,
        onProgress,
        onSkip: (s) => {
          clearBar();
          process.stderr.write(`replay: skipped ${s.key}: ${s.reason}\n`);
        },
        onWarning: (key, message) => {
          if (values.quiet) return;
          clearBar();
          process.stderr.write(`replay: warning ${key}: ${message}\n`);
        },
      });
      clearBar();
      if (result.status !== 'success') {
        process.stderr.write(
          `otel-audit replay: ${result.error.code}: ${result.error.message}\n${result.status === 'retryable' ? 'Re-run the command: replay is idempotent.\n' : ''}`,
        );
        return 1;
      }
      const r = result.value;
      process.stdout.write(
        `replayed ${r.objectsTotal} objects, ${r.rowsRead} rows read, ` +
          `${r.rowsInserted} inserted, ${r.rowsAlreadyPresent} already present, ${r.skipped} skipped in ${fmtDuration(r.elapsedMillis)}\n`,
      );
      // The signed checkpoints stored beside the objects go to audit_checkpoints too, so the replayed
      // rows verify from ClickHouse (otel-audit verify --source clickhouse). Idempotent (ReplacingMergeTree
      // on (ChainId, TreeSize) + a deduplication token of the records).
      const cps = await listArchivedCheckpoints(source, values.tenant === undefined ? {} : { tenant: values.tenant });
      if (cps.status !== 'success') {
        process.stderr.write(
          `otel-audit replay: checkpoints not replayed: ${cps.error.code}: ${cps.error.message}\nRe-run the command: replay is idempotent.\n`,
        );
        return 1;
      }
      const records = cps.value.flatMap((c) => (c.ok ? [c.record] : []));
      for (const bad of cps.value) if (!bad.ok) process.stderr.write(`replay: skipped checkpoint ${bad.key}: ${bad.reason}\n`);
      for (let i = 0; i < records.length; i += 1000) {
        const chunk = records.slice(i, i + 1000);
        const body = `${chunk.map((c) => JSON.stringify(checkpointRecordToRow(c))).join('\n')}\n`;
        await insertJsonEachRow(
          ch,
          { database: chConfig.database, table: chConfig.checkpointsTable },
          CHECKPOINT_COLUMNS,
          body,
          insertSettings(chConfig, checkpointsToken(chunk)),
        );
      }
      if (records.length > 0)
        process.stdout.write(`replayed ${records.length} signed checkpoints into ${chConfig.database}.${chConfig.checkpointsTable}\n`);
      return r.skipped > 0 ? 3 : 0;
    } finally {
      await ch.close();
      if ('destroy' in source && typeof source.destroy === 'function') source.destroy();
    }
  },
};
