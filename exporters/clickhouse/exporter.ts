/**
 * The ClickHouse exporter: turns WAL batches into `audit_events` rows and inserts them
 * idempotently. The exporter runner (receiver/exporting) owns the cursor, batching and backoff;
 * this module owns the conversion, the insert and the classification of failures.
 *
 * Idempotency has two layers (docs/clickhouse.md, "Idempotency"):
 *  1. every insert carries `insert_deduplication_token` derived from the batch's WAL range and the
 *     chain hashes at both ends, and the table keeps a deduplication window (set explicitly for
 *     non-replicated tables, where ClickHouse defaults it to 0) — a replayed batch is dropped
 *     by the server, so even `SELECT count()` without FINAL sees each event once;
 *  2. the table is a ReplacingMergeTree whose sorting key ends in EventId, so a copy that slipped
 *     past the window (a batch replayed with different boundaries) collapses on merge, and
 *     `FINAL` / `LIMIT 1 BY EventId` hide it until then.
 *
 * A batch above `insertChunkRows` is inserted in deterministic chunks (`<token>#<n>`), building
 * chunk n+1 while chunk n is in the engine; a replay re-creates the same chunks and tokens.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { AuditError, decodeWalEntryOrThrow, type OperationResult } from '@otel-audit/core';
import type { AuditEvent } from '@otel-audit/schema';
import { AUDIT_ROW_COLUMNS, walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';
import type { AuditExporter, ExportBatch, ExportResult, WalCheckpointEntry, WalEntry, WalEventEntry } from '../../receiver/contracts.ts';
import type { ExporterCapabilities, PayloadBatch } from '../../receiver/exporting/runner.ts';
import { payloadCount, payloadText, payloadTexts } from '../../receiver/wal/packed-payloads.ts';
import { CHECKPOINT_COLUMNS, checkpointRecordToRow, checkpointsToken } from './checkpoints.ts';
import { type ClickHouseHandle, openClickHouse } from './client.ts';
import { type ClickHouseConfig, type ClickHouseConfigInput, parseClickHouseConfig } from './config.ts';
import { schemaNames } from './ddl.ts';
import { classifyClickHouseError } from './errors.ts';
import { insertJsonEachRow, insertNative, insertSettings } from './insert.ts';
import { applyMigrations } from './migrations.ts';
import { createNativeBuilder, type NativeBuildRequest, type NativeBuildSummary, type NativeChunk, removeFiles } from './native-build.ts';

/** Options of {@link createClickHouseExporter} that are objects rather than configuration. */
export interface ClickHouseExporterOptions {
  /**
   * A client opened by the caller (shared with the query service: chDB allows one engine per data
   * path per process). The exporter does not close a handle it did not open.
   */
  handle?: ClickHouseHandle;
  /** Where the configuration sits in the config file, for error paths (default `clickhouse`). */
  configPrefix?: string;
}

/**
 * The ClickHouse exporter (an {@link AuditExporter} named `clickhouse`). It also takes batches as
 * unparsed WAL payloads (`exportPayloads`, parsed in its worker thread) and states its own batch
 * limits (`batching`: `maxBatchRows`, `maxBatchBytes`, `maxBatchAgeMillis`).
 */
export interface ClickHouseExporter extends AuditExporter, ExporterCapabilities {
  exportPayloads(batch: PayloadBatch): Promise<ExportResult>;
  readonly batching: { maxEntries: number; maxBytes: number; maxDelayMillis: number };
  /** The validated configuration. */
  readonly config: ClickHouseConfig;
  /** The client in use (after `start()`). */
  readonly handle: ClickHouseHandle | undefined;
  /** Create/migrate the schema now (also done lazily by `export()` until it succeeds). */
  ensureSchema(): Promise<OperationResult>;
  /**
   * Store signed checkpoints in `audit_checkpoints`, idempotently (the same records give the same
   * deduplication token; the table is a ReplacingMergeTree on (ChainId, TreeSize)).
   */
  exportCheckpoints(records: ReadonlyArray<CheckpointRecord>): Promise<ExportResult>;
}

/**
 * The deduplication token of a batch: its WAL range plus the chain hashes of its first and last
 * entries. The LSN range alone would collide between receivers (each has its own WAL starting at
 * 1) writing to one server; the hashes make the token unique per receiver while staying identical
 * for a replay of the same range.
 */
export function deduplicationToken(batch: ExportBatch): string {
  return tokenOf(batch.firstLsn, batch.lastLsn, batch.entries[0], batch.entries[batch.entries.length - 1]);
}

function tokenOf(firstLsn: number, lastLsn: number, first: WalEntry | undefined, last: WalEntry | undefined): string {
  const mark = (e: WalEntry | undefined) =>
    e === undefined ? '' : e.kind === 'event' ? e.hash.slice(0, 16) : e.checkpoint.rootHash.slice(0, 16);
  return `otel-audit:${firstLsn}-${lastLsn}:${mark(first)}:${mark(last)}`;
}

/** JSONEachRow body of a batch (one line per event entry). */
export function batchToJsonEachRow(entries: ReadonlyArray<WalEventEntry>): string {
  const lines = new Array<string>(entries.length + 1);
  for (let i = 0; i < entries.length; i++) lines[i] = JSON.stringify(walEntryToAuditRow(entries[i]!));
  lines[entries.length] = '';
  return lines.join('\n');
}

/**
 * Create the ClickHouse exporter. Throws `AUDIT_ERR_INVALID_CONFIG` naming the key for a bad
 * configuration; everything that can go wrong at run time comes back as an {@link ExportResult}.
 */
export function createClickHouseExporter(input: ClickHouseConfigInput = {}, options: ClickHouseExporterOptions = {}): ClickHouseExporter {
  const config = parseClickHouseConfig(input, options.configPrefix);
  const names = schemaNames(config);
  let handle = options.handle;
  const ownsHandle = options.handle === undefined;
  let schemaReady = !config.createSchema;
  const builder = createNativeBuilder({ inline: !config.encodeInWorker, heap: config.encodeWorkerHeap });
  const scratchDir = config.insertScratchDir ?? join(config.dataDir, 'clickhouse-inserts');
  let shutDown = false;

  async function ensureSchema(): Promise<OperationResult> {
    if (schemaReady) return { status: 'success', value: undefined };
    if (handle === undefined)
      return { status: 'failure', error: new AuditError('AUDIT_ERR_NOT_READY', 'clickhouse exporter is not started') };
    try {
      await applyMigrations(handle.client, config);
      schemaReady = true;
      return { status: 'success', value: undefined };
    } catch (err) {
      const c = classifyClickHouseError(err, `schema migration of ${names.database}`);
      return c.retryable ? { status: 'retryable', error: c.error } : { status: 'failure', error: c.error };
    }
  }

  function insert(h: ClickHouseHandle, body: string, token: string): Promise<void> {
    return insertJsonEachRow(h, { database: names.database, table: names.events }, AUDIT_ROW_COLUMNS, body, insertSettings(config, token));
  }

  async function exportEvents(batch: ExportBatch, events: WalEventEntry[]): Promise<ExportResult> {
    const h = handle!;
    const schema = await ensureSchema();
    if (schema.status !== 'success') return schema;
    const token = deduplicationToken(batch);
    const chunk = config.insertChunkRows;
    const chunks = Math.ceil(events.length / chunk);
    let inFlight: Promise<void> | undefined;
    let stage: 'build' | 'insert' = 'build';
    try {
      for (let c = 0; c < chunks; c++) {
        // Built while the previous chunk's insert runs on the engine's threads (or the wire).
        stage = 'build';
        const body = batchToJsonEachRow(events.slice(c * chunk, (c + 1) * chunk));
        stage = 'insert';
        if (inFlight !== undefined) await inFlight;
        // Deterministic chunking: a replay of the range reproduces every chunk's token.
        inFlight = insert(h, body, chunks === 1 ? token : `${token}#${c}`);
      }
      stage = 'insert';
      await inFlight;
      return { status: 'success' };
    } catch (err) {
      // Never leave a rejected insert unobserved when the next chunk's build failed.
      // The build error is the one reported (the batch is retried whole); the insert's own outcome is moot.
      if (stage === 'build' && inFlight !== undefined) await inFlight.catch(() => undefined);
      if (stage === 'build') {
        return {
          status: 'failure',
          error: new AuditError(
            'AUDIT_ERR_EXPORT_FAILED',
            `LSN ${batch.firstLsn}-${batch.lastLsn}: cannot build rows: ${(err as Error).message}`,
            { cause: err },
          ),
        };
      }
      const c = classifyClickHouseError(err, `insert of LSN ${batch.firstLsn}-${batch.lastLsn} into ${names.database}.${names.events}`);
      return c.retryable ? { status: 'retryable', error: c.error } : { status: 'failure', error: c.error };
    }
  }

  /**
   * The Native path: the builder (a worker thread by default) parses, maps and encodes chunk by
   * chunk; each chunk is inserted as soon as it is ready (while the next is built), under the
   * batch's token (`<token>#<n>` when the batch has several chunks, as on the JSON path), then
   * the batch's checkpoints go to `audit_checkpoints`.
   */
  async function exportNative(
    firstLsn: number,
    lastLsn: number,
    token: string,
    source: Pick<NativeBuildRequest, 'payloads' | 'entries'>,
  ): Promise<ExportResult> {
    const h = handle!;
    const schema = await ensureSchema();
    if (schema.status !== 'success') return schema;
    const fileBase = h.chdb === undefined ? undefined : join(scratchDir, createHash('sha256').update(token).digest('hex').slice(0, 32));
    // The builder's results, consumed in order as they arrive.
    const ready: NativeChunk[] = [];
    let planned = -1;
    let summary: NativeBuildSummary | undefined;
    let buildError: Error | undefined;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const files = new Set<string>();
    builder.build(
      {
        ...source,
        ...(source.payloads ? { payloads: source.payloads } : {}),
        chunkRows: config.insertChunkRows,
        ...(fileBase === undefined ? {} : { fileBase }),
      },
      {
        plan(n) {
          planned = n;
        },
        chunk(c) {
          if (c.file !== undefined) files.add(c.file);
          ready.push(c);
          notify();
        },
        done(s) {
          summary = s;
          notify();
        },
        fail(err) {
          buildError = err;
          notify();
        },
      },
    );
    let inserted = 0;
    let insertError: unknown;
    try {
      for (;;) {
        const next = ready.shift();
        if (next === undefined) {
          if (buildError !== undefined || (summary !== undefined && inserted >= summary.chunks)) break;
          await new Promise<void>((r) => (wake = r));
          continue;
        }
        // Same tokens as the JSON path: the bare token for a one-chunk batch, `<token>#<n>` otherwise.
        const t = planned === 1 ? token : `${token}#${next.index}`;
        try {
          await insertNative(
            h,
            { database: names.database, table: names.events },
            AUDIT_ROW_COLUMNS,
            next.file !== undefined ? { file: next.file } : { bytes: next.bytes! },
            insertSettings(config, t),
          );
        } finally {
          if (next.file !== undefined) {
            removeFiles([next.file]);
            files.delete(next.file);
          }
        }
        inserted++;
      }
    } catch (err) {
      insertError = err;
    }
    if (insertError !== undefined || buildError !== undefined) {
      // Let the build finish (or fail) before removing what it wrote, so no file is left behind.
      while (summary === undefined && buildError === undefined) await new Promise<void>((r) => (wake = r));
      for (const c of ready.splice(0)) if (c.file !== undefined) files.add(c.file);
      removeFiles(files);
    }
    if (insertError !== undefined) {
      const c = classifyClickHouseError(insertError, `insert of LSN ${firstLsn}-${lastLsn} into ${names.database}.${names.events}`);
      return c.retryable ? { status: 'retryable', error: c.error } : { status: 'failure', error: c.error };
    }
    if (buildError !== undefined) {
      return {
        status: 'failure',
        error: new AuditError('AUDIT_ERR_EXPORT_FAILED', `LSN ${firstLsn}-${lastLsn}: cannot build rows: ${buildError.message}`, {
          cause: buildError,
        }),
      };
    }
    const checkpoints = summary!.checkpoints;
    return checkpoints.length === 0 ? { status: 'success' } : exporter.exportCheckpoints(checkpoints);
  }

  /** A retryable answer while the exporter is shut down or not started, else undefined. */
  const unavailable = (): ExportResult | undefined => {
    if (shutDown)
      return { status: 'retryable', error: new AuditError('AUDIT_ERR_SHUTDOWN', 'clickhouse exporter is shut down', { retryable: true }) };
    if (handle === undefined)
      return {
        status: 'retryable',
        error: new AuditError('AUDIT_ERR_NOT_READY', 'clickhouse exporter is not started', { retryable: true }),
      };
    return undefined;
  };
  const exporter: ClickHouseExporter = {
    name: 'clickhouse',
    config,
    batching: { maxEntries: config.maxBatchRows, maxBytes: config.maxBatchBytes, maxDelayMillis: config.maxBatchAgeMillis },
    // The Native builder turns storage rows into columns without parsing the JSON (native-build.ts).
    storageRows: config.insertFormat === 'Native',
    get handle() {
      return handle;
    },
    ensureSchema,
    async start() {
      if (shutDown) throw new AuditError('AUDIT_ERR_SHUTDOWN', 'clickhouse exporter was shut down');
      handle ??= openClickHouse(config);
      // A server that is down must not stop the receiver: the schema is retried by export().
      await ensureSchema();
    },
    async export(batch: ExportBatch): Promise<ExportResult> {
      const refused = unavailable();
      if (refused) return refused;
      if (config.insertFormat === 'Native')
        return exportNative(batch.firstLsn, batch.lastLsn, deduplicationToken(batch), { entries: batch.entries });
      const events = batch.entries.filter((e): e is WalEventEntry => e.kind === 'event');
      // Signed checkpoints travel in the WAL after the entries they cover; they go to
      // audit_checkpoints once the batch's events are in (a verifier never sees a checkpoint whose
      // entries this exporter has not written yet).
      const checkpoints = batch.entries.filter((e): e is WalCheckpointEntry => e.kind === 'checkpoint').map((e) => e.checkpoint);
      if (events.length === 0) return checkpoints.length === 0 ? { status: 'success' } : exporter.exportCheckpoints(checkpoints);
      const result = await exportEvents(batch, events);
      if (result.status !== 'success' || checkpoints.length === 0) return result;
      return exporter.exportCheckpoints(checkpoints);
    },
    async exportPayloads(batch: PayloadBatch): Promise<ExportResult> {
      const p = batch.payloads;
      const n = payloadCount(p);
      if (config.insertFormat !== 'Native') {
        const texts = payloadTexts(p);
        return exporter.export({
          firstLsn: batch.firstLsn,
          lastLsn: batch.lastLsn,
          entries: texts.map((t, i) => decodeWalEntryOrThrow<AuditEvent, CheckpointRecord>(t, batch.firstLsn + i)),
        });
      }
      const refused = unavailable();
      if (refused) return refused;
      if (n === 0) return { status: 'success' };
      // Only the two ends are parsed here (for the token); the worker parses the rest.
      let token: string;
      try {
        const first = JSON.parse(payloadText(p, 0)) as WalEntry;
        const last = n === 1 ? first : (JSON.parse(payloadText(p, n - 1)) as WalEntry);
        token = tokenOf(batch.firstLsn, batch.lastLsn, first, last);
      } catch (err) {
        return {
          status: 'failure',
          error: new AuditError(
            'AUDIT_ERR_EXPORT_FAILED',
            `LSN ${batch.firstLsn}-${batch.lastLsn}: unreadable WAL payload: ${(err as Error).message}`,
            { cause: err },
          ),
        };
      }
      return exportNative(batch.firstLsn, batch.lastLsn, token, { payloads: p });
    },
    async exportCheckpoints(records) {
      const refused = unavailable();
      if (refused) return refused;
      const started = handle as ClickHouseHandle; // unavailable() answered for an unset handle
      if (records.length === 0) return { status: 'success' };
      const schema = await ensureSchema();
      if (schema.status !== 'success') return schema;
      let body: string;
      try {
        body = `${records.map((r) => JSON.stringify(checkpointRecordToRow(r))).join('\n')}\n`;
      } catch (err) {
        return {
          status: 'failure',
          error: new AuditError('AUDIT_ERR_EXPORT_FAILED', `cannot build checkpoint rows: ${(err as Error).message}`, { cause: err }),
        };
      }
      try {
        await insertJsonEachRow(
          started,
          { database: names.database, table: names.checkpoints },
          CHECKPOINT_COLUMNS,
          body,
          insertSettings(config, checkpointsToken(records)),
        );
        return { status: 'success' };
      } catch (err) {
        const c = classifyClickHouseError(err, `insert of ${records.length} checkpoints into ${names.database}.${names.checkpoints}`);
        return c.retryable ? { status: 'retryable', error: c.error } : { status: 'failure', error: c.error };
      }
    },
    async shutdown() {
      if (shutDown) return;
      shutDown = true;
      await builder.close();
      if (ownsHandle && handle !== undefined) await handle.close();
    },
  };
  return exporter;
}
