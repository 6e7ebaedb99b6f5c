/**
 * The outbox relay: moves committed audit events from the Postgres outbox to the receiver over OTLP.
 *
 * One pass = one transaction: lock up to `batchSize` pending rows (`FOR UPDATE SKIP LOCKED`, so
 * any number of relays and drainers share the queue without handing out a row twice), export them
 * as one OTLP request, and mark them delivered in the same transaction only after the receiver
 * acknowledged. A crash anywhere before COMMIT releases the locks and leaves the rows pending, so
 * they are sent again: at-least-once, and the receiver dedupes by event id.
 */

import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { AuditError, backoffDelayMillis } from '@otel-audit/core';
import { validateAuditEvent } from '@otel-audit/schema';
import pg from 'pg';
import { OUTBOX_NOTIFY_CHANNEL, outboxNames } from './identifiers.ts';
import { type AuditBatchExporter, createAuditBatchExporter, LogRecordBuilder } from './otlp-export.ts';
import { type OutboxRelayConfig, type OutboxRelayConfigInput, parseOutboxRelayConfig } from './relay-config.ts';

/** Counters since the relay was created. */
export interface OutboxRelayStats {
  /** Rows marked delivered (acknowledged by the receiver). */
  delivered: number;
  /** Rows the relay gave up on (invalid payload, or refused on their own by the receiver); kept in the table with `rejected_at` and `last_error`. */
  rejected: number;
  /** Records the receiver reported as rejected through OTLP partial success (delivered rows; the receiver dead-letters them). */
  receiverRejected: number;
  /** Export requests that failed (every one is retried later). */
  failedExports: number;
  /** Committed passes that moved at least one row. */
  batches: number;
  /** Delivered rows deleted after retention. */
  deleted: number;
  /** Passes run (including empty ones). */
  passes: number;
  /** Whether the LISTEN connection is up (otherwise the relay polls). */
  listening: boolean;
  /** The last export or database error, if any. */
  lastError: string | undefined;
}

/** Result of one pass over the queue. */
export type RelayPassResult =
  | { kind: 'idle' }
  | { kind: 'progress'; rows: number; delivered: number; rejected: number; failed: number }
  | { kind: 'stalled'; rows: number; failed: number; message: string }
  | { kind: 'error'; error: AuditError };

/** A log line from the relay (the CLI prints them; embedders route them to their logger). */
export interface RelayLogEntry {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields?: Record<string, unknown>;
}

/** Options that are not configuration (not part of the zod schema). */
export interface OutboxRelayOptions {
  /** Receives log entries. Default: none (read {@link OutboxRelay.stats}). */
  log?: (entry: RelayLogEntry) => void;
}

/** A running (or startable) relay; see {@link createOutboxRelay}. */
export interface OutboxRelay {
  /** The parsed configuration. */
  readonly config: OutboxRelayConfig;
  /**
   * Check the outbox is reachable (fails fast on a wrong URL or a missing table), then start the
   * drainers, the LISTEN connection and the retention sweep. Idempotent.
   * @throws AuditError `AUDIT_ERR_OUTBOX` when the outbox cannot be read; `AUDIT_ERR_SHUTDOWN` after shutdown.
   */
  start(): Promise<void>;
  /** Stop: in-flight passes finish (commit or roll back), then connections close. Idempotent. */
  shutdown(): Promise<void>;
  /** Run one pass now (for tools and tests; works without `start()`). */
  drainOnce(): Promise<RelayPassResult>;
  /** Counters since creation. */
  stats(): OutboxRelayStats;
}

interface OutboxRow {
  id: string;
  event_id: string;
  service_name: string | null;
  payload: unknown;
  created_at: Date;
}

interface Item {
  id: string;
  record: ReadableLogRecord;
}

interface PassAccumulator {
  delivered: Array<{ id: string; note: string | null }>;
  rejected: Array<{ id: string; reason: string }>;
  failed: Array<{ id: string; reason: string }>;
  receiverRejected: number;
  transient: string | undefined;
  failedExports: number;
}

/** Wakes one sleeping drainer; remembers a wake-up that arrives while it is busy. */
class Wakeup {
  #pending = false;
  #waiter: (() => void) | undefined;

  notify(): void {
    this.#pending = true;
    this.#waiter?.();
  }

  /** Forget earlier wake-ups: the pass about to start sees every commit they announced. */
  clear(): void {
    this.#pending = false;
  }

  wait(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiter = undefined;
        this.#pending = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiter = done;
    });
  }
}

/**
 * Create a relay. Nothing connects until {@link OutboxRelay.start} or {@link OutboxRelay.drainOnce}.
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming the bad key.
 */
export function createOutboxRelay(configInput: OutboxRelayConfigInput, options: OutboxRelayOptions = {}): OutboxRelay {
  const config = parseOutboxRelayConfig(configInput);
  const log = options.log ?? (() => undefined);
  const n = outboxNames({ schema: config.schema, table: config.table });
  const endpoint = config.endpoint ?? (config.protocol === 'grpc' ? 'http://127.0.0.1:4317' : 'http://127.0.0.1:4318');

  const selectSql = `SELECT id, event_id, service_name, payload, created_at FROM ${n.qTable}
    WHERE delivered_at IS NULL AND rejected_at IS NULL AND NOT (id = ANY($2::bigint[]))
    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`;
  const markDeliveredSql = `UPDATE ${n.qTable} SET delivered_at = now(), attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::bigint[])`;
  const markRejectedSql = `UPDATE ${n.qTable} AS t SET rejected_at = now(), attempts = t.attempts + 1, last_error = r.reason
    FROM unnest($1::bigint[], $2::text[]) AS r(id, reason) WHERE t.id = r.id`;
  const markFailedSql = `UPDATE ${n.qTable} AS t SET attempts = t.attempts + 1, last_error = r.reason
    FROM unnest($1::bigint[], $2::text[]) AS r(id, reason) WHERE t.id = r.id`;
  const sweepSql = `DELETE FROM ${n.qTable} WHERE id = ANY(ARRAY(
    SELECT id FROM ${n.qTable} WHERE delivered_at < now() - $1::double precision * interval '1 millisecond'
    ORDER BY delivered_at LIMIT $2))`;
  const SWEEP_CHUNK = 5000;
  // Losing a flag change in a crash is harmless (polling covers it), so skip the commit's WAL flush.
  const setWakeSql = (wanted: boolean) =>
    `BEGIN; SET LOCAL synchronous_commit TO off; UPDATE ${n.derived('relay_state')} SET wake_wanted = ${wanted} WHERE wake_wanted = ${!wanted}; COMMIT;`;

  const stats: OutboxRelayStats = {
    delivered: 0,
    rejected: 0,
    receiverRejected: 0,
    failedExports: 0,
    batches: 0,
    deleted: 0,
    passes: 0,
    listening: false,
    lastError: undefined,
  };
  const builder = new LogRecordBuilder(config.serviceName);
  /** Rows refused on their own without proof the receiver works: skipped until the time given. */
  const deferred = new Map<string, number>();
  let lastAckAt = -Infinity;
  /** Whether this relay asked inserts to NOTIFY (it is, or was about to go, asleep). */
  let wakeArmed = false;
  /** When a pass last found rows: within `pollIntervalMillis` of it the relay polls instead of arming. */
  let lastRowsAt = -Infinity;
  let wakeFlagWarned = false;

  let pool: pg.Pool | undefined;
  /** One exporter per drainer: an exporter remembers the partial success of its last response. */
  const exporters: AuditBatchExporter[] = [];
  let listener: pg.Client | undefined;
  let listenerRetry: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  const wakeups: Wakeup[] = [];
  const loops: Array<Promise<void>> = [];
  const stopController = new AbortController();
  let started: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;

  function getPool(): pg.Pool {
    if (!pool) {
      pool = new pg.Pool({ connectionString: config.postgresUrl, max: config.concurrency + 2, application_name: 'otel-audit-relay' });
      // An idle client losing its connection must not crash the process; the next pass reconnects.
      pool.on('error', (err) => log({ level: 'warn', message: `idle Postgres connection failed: ${err.message}` }));
    }
    return pool;
  }

  function newExporter(): AuditBatchExporter {
    const e = createAuditBatchExporter({
      protocol: config.protocol,
      endpoint,
      headers: config.headers,
      timeoutMillis: config.exportTimeoutMillis,
    });
    exporters.push(e);
    return e;
  }
  /** Exporters of finished drainOnce() calls, reused (overlapping calls each get their own). */
  const idleExporters: AuditBatchExporter[] = [];

  function deferredIds(): string[] {
    if (deferred.size === 0) return [];
    const now = Date.now();
    const ids: string[] = [];
    for (const [id, until] of deferred) {
      if (until <= now) deferred.delete(id);
      else ids.push(id);
    }
    return ids;
  }

  /** Export `items` as one request; on a content refusal, split to find the records at fault. */
  async function deliver(exporter: AuditBatchExporter, items: Item[], acc: PassAccumulator): Promise<void> {
    if (items.length === 0) return;
    if (acc.transient !== undefined) {
      for (const i of items) acc.failed.push({ id: i.id, reason: acc.transient });
      return;
    }
    const out = await exporter.export(items.map((i) => i.record));
    if (out.status === 'success') {
      lastAckAt = Date.now();
      // OTLP partial success does not say which records were refused, and says not to retry: the
      // receiver keeps the refused ones in its dead-letter store. Every row of the request is done;
      // each carries the receiver's message so an operator can find them.
      const note =
        out.rejected > 0
          ? `receiver rejected ${out.rejected} of ${items.length} records of this request: ${out.message ?? ''}`
          : (out.message ?? null);
      for (const i of items) acc.delivered.push({ id: i.id, note });
      acc.receiverRejected += out.rejected;
      return;
    }
    acc.failedExports += 1;
    if (out.kind === 'transient') {
      // Down, overloaded or misconfigured: nothing about these records is wrong. Keep them all.
      acc.transient = out.message;
      for (const i of items) acc.failed.push({ id: i.id, reason: out.message });
      return;
    }
    if (items.length > 1) {
      const mid = Math.ceil(items.length / 2);
      await deliver(exporter, items.slice(0, mid), acc);
      await deliver(exporter, items.slice(mid), acc);
      return;
    }
    const item = items[0]!;
    if (Date.now() - lastAckAt < config.poisonEvidenceWindowMillis) {
      acc.rejected.push({ id: item.id, reason: `refused by the receiver on its own: ${out.message}` });
    } else {
      // No proof the receiver accepts anything: an endpoint that refuses every request must not
      // empty the outbox. Skip this row for a while so the rows behind it can supply the proof.
      acc.failed.push({ id: item.id, reason: out.message });
      deferred.set(item.id, Date.now() + config.backoff.maxIntervalMillis);
    }
  }

  async function pass(exporter: AuditBatchExporter): Promise<RelayPassResult> {
    stats.passes += 1;
    let client: pg.PoolClient;
    try {
      client = await getPool().connect();
    } catch (err) {
      return dbError(err);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<OutboxRow>(selectSql, [config.batchSize, deferredIds()]);
      if (rows.length === 0) {
        await client.query('COMMIT');
        return { kind: 'idle' };
      }
      const acc: PassAccumulator = { delivered: [], rejected: [], failed: [], receiverRejected: 0, transient: undefined, failedExports: 0 };
      const items: Item[] = [];
      for (const row of rows) {
        const checked = validateAuditEvent(row.payload);
        if (!checked.ok) {
          acc.rejected.push({ id: row.id, reason: `invalid audit event in the outbox: ${checked.error.message}` });
        } else if (checked.event.eventId !== row.event_id) {
          acc.rejected.push({
            id: row.id,
            reason: `event_id column ${row.event_id} does not match the payload's eventId ${checked.event.eventId}`,
          });
        } else {
          items.push({ id: row.id, record: builder.build(checked.event, row.created_at, row.service_name) });
        }
      }
      await deliver(exporter, items, acc);

      for (const [note, ids] of idsByNote(acc.delivered)) {
        await client.query(markDeliveredSql, [ids, note]);
      }
      if (acc.rejected.length > 0) {
        await client.query(markRejectedSql, [acc.rejected.map((r) => r.id), acc.rejected.map((r) => r.reason.slice(0, 2000))]);
      }
      if (acc.failed.length > 0) {
        await client.query(markFailedSql, [acc.failed.map((r) => r.id), acc.failed.map((r) => r.reason.slice(0, 2000))]);
      }
      await client.query('COMMIT');

      stats.delivered += acc.delivered.length;
      stats.rejected += acc.rejected.length;
      stats.receiverRejected += acc.receiverRejected;
      stats.failedExports += acc.failedExports;
      for (const r of acc.rejected) log({ level: 'warn', message: `outbox row ${r.id} rejected: ${r.reason}` });
      if (acc.receiverRejected > 0) log({ level: 'warn', message: `receiver rejected ${acc.receiverRejected} records (partial success)` });
      const finished = acc.delivered.length + acc.rejected.length;
      if (finished === 0) {
        const message = acc.transient ?? acc.failed[0]?.reason ?? 'export failed';
        stats.lastError = message;
        return { kind: 'stalled', rows: rows.length, failed: acc.failed.length, message };
      }
      stats.batches += 1;
      return {
        kind: 'progress',
        rows: rows.length,
        delivered: acc.delivered.length,
        rejected: acc.rejected.length,
        failed: acc.failed.length,
      };
    } catch (err) {
      broken = true;
      // The connection is discarded below (release(broken)), which ends the transaction anyway;
      // the error to report is the one that broke it.
      await client.query('ROLLBACK').catch(() => undefined);
      return dbError(err);
    } finally {
      // A client whose transaction failed may be in any state; drop it rather than reuse it.
      client.release(broken);
    }
  }

  function dbError(err: unknown): RelayPassResult {
    const error = new AuditError('AUDIT_ERR_OUTBOX', `relay pass on ${n.schema}.${n.table}: ${(err as Error).message ?? String(err)}`, {
      cause: err,
      retryable: true,
    });
    stats.lastError = error.message;
    return { kind: 'error', error };
  }

  function backoffMillis(failures: number): number {
    // `failures` counts from 1; the shared policy's attempt counts from 0.
    return Math.max(1, backoffDelayMillis(config.backoff, Math.max(0, failures - 1)));
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (stopController.signal.aborted) return resolve();
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        stopController.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      stopController.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Ask inserts to NOTIFY (before sleeping) or to stop (while draining). Best effort. */
  async function setWakeWanted(wanted: boolean): Promise<void> {
    wakeArmed = wanted;
    try {
      await getPool().query(setWakeSql(wanted));
    } catch (err) {
      // Typically a relay role without UPDATE on the flag table: say it once, then just poll.
      if (!wakeFlagWarned)
        log({ level: 'warn', message: `cannot update the wake-up flag (polling still works): ${(err as Error).message}` });
      wakeFlagWarned = true;
    }
  }

  async function drainLoop(wakeup: Wakeup): Promise<void> {
    const exporter = newExporter();
    let failures = 0;
    let reportedFailure = false;
    while (!stopController.signal.aborted) {
      wakeup.clear();
      const r = await pass(exporter);
      if (r.kind === 'progress' || r.kind === 'idle') {
        failures = 0;
        if (reportedFailure) log({ level: 'info', message: 'export recovered; draining' });
        reportedFailure = false;
      }
      if (r.kind === 'progress') {
        lastRowsAt = Date.now();
        // Busy: inserts need not notify (each NOTIFY costs the application commit throughput).
        if (wakeArmed) await setWakeWanted(false);
        if (r.rows >= config.batchSize) continue;
      }
      if (r.kind === 'progress' || r.kind === 'idle') {
        if (Date.now() - lastRowsAt < config.pollIntervalMillis) {
          // Rows keep coming: poll briefly rather than have every insert NOTIFY.
          await wakeup.wait(config.busyPollIntervalMillis);
          continue;
        }
        if (!wakeArmed && stats.listening) {
          // Quiet: ask for a NOTIFY, then look once more (a row committed before the flag was set did not notify).
          await setWakeWanted(true);
          continue;
        }
        await wakeup.wait(config.pollIntervalMillis);
        continue;
      }
      failures += 1;
      const message = r.kind === 'error' ? r.error.message : r.message;
      const delay = backoffMillis(failures);
      log({
        level: failures === 1 ? 'warn' : 'info',
        message: `${r.kind === 'error' ? 'database error' : 'export failed'}; retrying in ${delay} ms: ${message}`,
        fields: { failures },
      });
      reportedFailure = true;
      await sleep(delay);
    }
  }

  function connectListener(): void {
    if (stopController.signal.aborted) return;
    const client = new pg.Client({ connectionString: config.postgresUrl, application_name: 'otel-audit-relay-listen' });
    listener = client;
    const retry = (err: Error) => {
      if (listener !== client || stopController.signal.aborted) return;
      listener = undefined;
      stats.listening = false;
      client.end().catch(() => undefined); // the connection is already lost (logged just below)
      log({
        level: 'warn',
        message: `LISTEN connection lost (${err.message}); polling every ${config.pollIntervalMillis} ms until it is back`,
      });
      listenerRetry = setTimeout(connectListener, backoffMillis(3));
    };
    client.on('error', retry);
    client.on('end', () => retry(new Error('connection ended')));
    client.on('notification', (msg) => {
      if (msg.channel === OUTBOX_NOTIFY_CHANNEL && msg.payload === n.notifyPayload) for (const w of wakeups) w.notify();
    });
    client
      .connect()
      .then(() => client.query(`LISTEN "${OUTBOX_NOTIFY_CHANNEL}"`))
      // Rows committed while the listener was away are picked up by this wake-up.
      .then(() => {
        stats.listening = listener === client;
        for (const w of wakeups) w.notify();
      })
      .catch(retry);
  }

  async function sweep(): Promise<void> {
    try {
      for (;;) {
        const r = await getPool().query(sweepSql, [config.retentionMillis, SWEEP_CHUNK]);
        stats.deleted += r.rowCount ?? 0;
        if ((r.rowCount ?? 0) < SWEEP_CHUNK || stopController.signal.aborted) break;
      }
    } catch (err) {
      log({ level: 'warn', message: `retention sweep failed: ${(err as Error).message}` });
    }
  }

  function scheduleSweep(): void {
    sweepTimer = setTimeout(() => {
      sweeping = sweep().finally(() => {
        sweeping = undefined;
        if (!stopController.signal.aborted) scheduleSweep();
      });
    }, config.retentionSweepIntervalMillis);
    sweepTimer.unref?.();
  }

  return {
    config,
    start() {
      if (stopped) return Promise.reject(new AuditError('AUDIT_ERR_SHUTDOWN', 'the relay was shut down'));
      started ??= (async () => {
        try {
          await getPool().query(`SELECT 1 FROM ${n.qTable} LIMIT 0`);
        } catch (err) {
          throw new AuditError('AUDIT_ERR_OUTBOX', `cannot read ${n.schema}.${n.table}: ${(err as Error).message}`, { cause: err });
        }
        connectListener();
        for (let i = 0; i < config.concurrency; i++) {
          const w = new Wakeup();
          wakeups.push(w);
          loops.push(drainLoop(w));
        }
        sweeping = sweep().finally(() => {
          sweeping = undefined;
          if (!stopController.signal.aborted) scheduleSweep();
        });
        log({
          level: 'info',
          message: `relaying ${n.schema}.${n.table} to ${endpoint} (${config.protocol}, batch ${config.batchSize}, ${config.concurrency} drainers)`,
        });
      })();
      return started;
    },
    shutdown() {
      stopped ??= (async () => {
        stopController.abort();
        for (const w of wakeups) w.notify();
        await started?.catch(() => undefined); // a start failure was thrown to start()'s caller
        await Promise.all(loops);
        clearTimeout(sweepTimer);
        clearTimeout(listenerRetry);
        await sweeping;
        const l = listener;
        listener = undefined;
        const failed = (what: string) => (err: unknown) =>
          log({ level: 'warn', message: `shutdown: ${what} failed: ${(err as Error)?.message ?? err}` });
        await l?.end().catch(failed('closing the LISTEN connection'));
        await Promise.all(exporters.map((e) => e.shutdown().catch(failed('flushing the OTLP exporter'))));
        await pool?.end().catch(failed('closing the Postgres pool'));
      })();
      return stopped;
    },
    drainOnce() {
      if (stopped) return Promise.resolve({ kind: 'error', error: new AuditError('AUDIT_ERR_SHUTDOWN', 'the relay was shut down') });
      const exporter = idleExporters.pop() ?? newExporter();
      return pass(exporter).finally(() => idleExporters.push(exporter));
    },
    stats: () => ({ ...stats }),
  };
}

/** Row ids grouped by their note, so each distinct note costs one UPDATE. */
function idsByNote(items: Array<{ id: string; note: string | null }>): Map<string | null, string[]> {
  const out = new Map<string | null, string[]>();
  for (const item of items) {
    let list = out.get(item.note);
    if (!list) out.set(item.note, (list = []));
    list.push(item.id);
  }
  return out;
}
