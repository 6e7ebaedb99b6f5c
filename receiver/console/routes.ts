/**
 * The operator console on the OTLP/HTTP port (docs/console.md): the built single-page app at `/ui/`
 * and the read APIs it calls, besides `GET /v1/audit/events` (receiver/query-routes.ts):
 *
 * - `GET /v1/audit/console/session`           who the token is, the tenants it may see, the receiver's verifier keys
 * - `GET /v1/audit/events/<eventId>`          one event with its chain neighbours and storage context
 * - `GET /v1/audit/events/<eventId>/proof`    its proof bundle (the same as `otel-audit prove`)
 * - `GET /v1/audit/export?format=csv|ndjson`  the filtered events, streamed (same filters as the listing)
 * - `GET /v1/audit/console/chains`            chains with head and last signed checkpoint
 * - `GET /v1/audit/console/verify`            verification of a chain's seq range, streamed as NDJSON progress
 * - `GET /v1/audit/console/status`            pipeline status, sampled lag history, dead letters
 *
 * Access: every route needs a bearer token when `auth` is configured (sent as a header, never in a
 * URL); a tenant-bound token sees only its tenant, everywhere (other tenants' events answer 404, as
 * if absent). Without `auth`, only loopback clients are answered unless `ui.allowRemoteWithoutAuth`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuditError, type Logger, silentLogger } from '@otel-audit/core';
import type { AuditRow } from '@otel-audit/schema/audit-row';
import { proveFromStore } from '../../cli/commands/prove.ts';
import { openClickHouseView } from '../../cli/integrity/stores.ts';
import { readEventFilterParams, rowToEventRecord } from '../../exporters/clickhouse/events-query.ts';
import { type AuditEventFilters, type ClickHouseHandle, listAuditEvents } from '../../exporters/clickhouse/index.ts';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';
import { loadSigner, loadVerifierKeys } from '../../integrity/keys.ts';
import { createVerifierSet, type VerifierSet } from '../../integrity/note.ts';
import { verifyChainEntries } from '../../integrity/verify-chain.ts';
import type { CheckpointingStatus } from '../checkpointing.ts';
import { readDeadLetters } from '../dead-letter/index.ts';
import type { HttpServer, RouteContext, RouteHandler } from '../http/index.ts';
import { isLoopbackAddress, sendJson, sendResponse } from '../http/index.ts';
import type { PipelineStatus } from '../pipeline/index.ts';
import type { ConsoleConfig } from './config.ts';
import { csvHeader, csvRow, ndjsonRow } from './export-format.ts';
import { CONSOLE_SECURITY_HEADERS, createStaticHandler, escapeHtml } from './static-files.ts';

/** Where the console reads from. */
export interface ConsoleSources {
  config: ConsoleConfig;
  /** Where failures of background sampling and optional lookups are logged. Default: silent. */
  logger?: Logger;
  /** True when bearer tokens are configured. */
  authEnabled: boolean;
  dataDir: string;
  status(): PipelineStatus;
  integrityStatus(): CheckpointingStatus;
  /** The `integrity` config section (for the receiver's own verifier keys). */
  integrity: { enabled: boolean; signingKeyFile?: string | undefined; verifierKeyFiles: string[] };
  /** The events store; absent when the ClickHouse exporter is disabled (the event views answer 503). */
  clickhouse?: { handle: ClickHouseHandle; database: string; table: string; checkpointsTable: string };
}

/** The mounted console; `close()` stops the lag sampler. */
export interface MountedConsole {
  close(): void;
}

/** One sample of the Status page's chart. */
export interface ConsoleSample {
  /** Unix milliseconds. */
  t: number;
  backlogBytes: number;
  backpressure: boolean;
  exporters: Array<{ name: string; lagEntries: number; lagBytes: number }>;
}

function sendError(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(req, res, { error: code, message }, status);
}

/** Answer a failure of the store as the query routes do: retryable → 503, bad input → 400, else 500. */
function sendStoreError(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const e = err instanceof AuditError ? err : new AuditError('AUDIT_ERR_QUERY_FAILED', (err as Error)?.message ?? String(err));
  const status = e.code === 'AUDIT_ERR_INVALID_ARGUMENT' ? 400 : e.code === 'AUDIT_ERR_STORE_UNAVAILABLE' ? 503 : 500;
  sendError(req, res, status, e.code, e.message);
}

const EVENT_ID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * Mount the console's static files and APIs on the HTTP server. Call once; `close()` on shutdown.
 */
export function mountConsoleRoutes(http: HttpServer, sources: ConsoleSources): MountedConsole {
  const log = sources.logger ?? silentLogger;
  const { config } = sources;
  const serveStatic = createStaticHandler({ mountPath: '/ui/', ...(config.distDir !== undefined ? { distDir: config.distDir } : {}) });

  /** Wraps a handler with the loopback rule (auth itself is the router's `authenticate: true`). */
  const guarded =
    (handler: RouteHandler, html = false): RouteHandler =>
    (req, res, ctx) => {
      if (!sources.authEnabled && !config.allowRemoteWithoutAuth && !isLoopbackAddress(req.socket.remoteAddress)) {
        const message =
          'the console answers only loopback clients while no auth tokens are configured (set auth.tokens, or ui.allowRemoteWithoutAuth)';
        if (html)
          sendResponse(
            req,
            res,
            403,
            'text/html; charset=utf-8',
            `<!doctype html><title>Forbidden</title><p>${escapeHtml(message)}</p>\n`,
            CONSOLE_SECURITY_HEADERS,
          );
        else sendError(req, res, 403, 'AUDIT_ERR_FORBIDDEN', message);
        return;
      }
      return handler(req, res, ctx);
    };
  const api = (path: string, handler: RouteHandler, prefix = false) =>
    http.addRoute('GET', path, guarded(handler), { authenticate: true, prefix });

  // --- static files. The page itself carries no data: it is served without a token (the token is
  // entered in the page and sent by its API calls), but under the same loopback rule.
  http.addRoute(
    'GET',
    '/ui',
    guarded((req, res) => sendResponse(req, res, 308, 'text/plain; charset=utf-8', 'see /ui/\n', { location: '/ui/' }), true),
  );
  http.addRoute(
    'GET',
    '/ui/',
    guarded((req, res, ctx) => serveStatic(req, res, ctx.url.pathname), true),
    { prefix: true },
  );

  // --- lag sampler for the Status chart.
  const samples: ConsoleSample[] = [];
  const sample = () => {
    try {
      const s = sources.status();
      samples.push({
        t: Date.now(),
        backlogBytes: s.wal.backlogBytes,
        backpressure: s.backpressure.active,
        exporters: s.exporters.map((e) => ({ name: e.name, lagEntries: e.lagEntries, lagBytes: e.lagBytes })),
      });
      if (samples.length > config.maxSamples) samples.splice(0, samples.length - config.maxSamples);
    } catch {
      // The pipeline is not started yet (or is stopping): no sample this time.
    }
  };
  const timer = setInterval(sample, config.sampleIntervalMillis);
  timer.unref();

  // --- the receiver's own verifier keys (loaded once, on first use).
  let receiverKeys: Promise<VerifierSet> | undefined;
  const loadReceiverKeys = (): Promise<VerifierSet> => {
    receiverKeys ??= (async () => {
      const keys: string[] = [];
      if (sources.integrity.enabled && sources.integrity.signingKeyFile !== undefined) {
        keys.push((await loadSigner(sources.integrity.signingKeyFile, { onWarning: () => undefined })).verifierKey);
      }
      if (sources.integrity.verifierKeyFiles.length > 0)
        keys.push(...(await loadVerifierKeys(sources.integrity.verifierKeyFiles)).verifiers.map((v) => v.verifierKey));
      return createVerifierSet(keys);
    })();
    // The rejection reaches the caller (its request answers the error); this only allows a retry.
    receiverKeys.catch(() => (receiverKeys = undefined));
    return receiverKeys;
  };

  /** Tenants visible to the caller: the bound one, or every chain's tenant. */
  const visibleTenants = (ctx: RouteContext): string[] => {
    const bound = ctx.identity.boundTenantId;
    if (bound !== undefined) return [bound];
    return [...new Set(sources.status().chains.map((c) => c.tenantId))].sort();
  };
  const mayRead = (ctx: RouteContext, tenantId: string) =>
    ctx.identity.boundTenantId === undefined || ctx.identity.boundTenantId === tenantId;

  api('/v1/audit/console/session', async (req, res, ctx) => {
    const integrity = sources.integrityStatus();
    let verifierKeys: string[] = [];
    let keyError: string | undefined;
    try {
      verifierKeys = (await loadReceiverKeys()).verifiers.map((v) => v.verifierKey);
    } catch (err) {
      keyError = (err as Error).message;
    }
    sendJson(req, res, {
      authEnabled: sources.authEnabled,
      principal: ctx.identity.principal ?? null,
      boundTenantId: ctx.identity.boundTenantId ?? null,
      tenants: visibleTenants(ctx),
      instanceId: sources.status().instanceId,
      eventsAvailable: sources.clickhouse !== undefined,
      integrity: {
        enabled: integrity.enabled,
        keyName: integrity.keyName ?? null,
        keyId: integrity.keyId ?? null,
        verifierKeys,
        ...(keyError ? { keyError } : {}),
      },
    });
  });

  // --- one event, its proof.
  const store = sources.clickhouse;
  const queryRows = async <T>(query: string, params: Record<string, unknown>): Promise<T[]> => {
    const rs = await store!.handle.client.query({ query, query_params: params, format: 'JSONEachRow' });
    return (await rs.json()) as T[];
  };
  const events = store ? `${store.database}.${store.table}` : '';

  api(
    '/v1/audit/events/',
    async (req, res, ctx) => {
      const rest = ctx.url.pathname.slice('/v1/audit/events/'.length);
      const [id, sub, ...more] = rest.split('/');
      if (id === undefined || !EVENT_ID.test(id) || more.length > 0 || (sub !== undefined && sub !== 'proof')) {
        sendError(
          req,
          res,
          404,
          'AUDIT_ERR_NOT_FOUND',
          `no such endpoint: ${ctx.url.pathname} (GET /v1/audit/events/<eventId> or /v1/audit/events/<eventId>/proof)`,
        );
        return;
      }
      if (!store) {
        sendError(req, res, 503, 'AUDIT_ERR_STORE_UNAVAILABLE', 'the ClickHouse exporter is disabled: events cannot be read');
        return;
      }
      const eventId = id.toLowerCase();
      let row: AuditRow | undefined;
      try {
        [row] = await queryRows<AuditRow>(`SELECT * FROM ${events} WHERE EventId = {id:String} ORDER BY Seq LIMIT 1`, { id: eventId });
      } catch (err) {
        sendStoreError(req, res, err);
        return;
      }
      // Another tenant's event is answered exactly like a missing one.
      if (row === undefined || !mayRead(ctx, row.TenantId)) {
        sendError(req, res, 404, 'AUDIT_ERR_NOT_FOUND', `event ${eventId} is not stored (or not yet exported to ClickHouse)`);
        return;
      }
      if (sub === 'proof') {
        await sendProof(req, res, eventId);
        return;
      }
      const seq = Number(row.Seq);
      const around = await queryRows<{ Seq: string | number; EventId: string }>(
        `SELECT Seq, any(EventId) AS EventId FROM ${events} WHERE ChainId = {chain:String} AND Seq IN ({prev:UInt64}, {next:UInt64}) GROUP BY Seq`,
        { chain: row.ChainId, prev: Math.max(0, seq - 1), next: seq + 1 },
      ).catch((err: unknown) => {
        // The neighbours are a convenience link of the event page: show it without them.
        log.warn({ err, chainId: row.ChainId, seq }, 'console: neighbouring events not found');
        return [];
      });
      const neighbour = (s: number) => {
        const r = around.find((a) => Number(a.Seq) === s);
        return r ? { seq: s, eventId: r.EventId } : null;
      };
      sendJson(req, res, {
        record: rowToEventRecord(row),
        neighbours: { prev: seq > 1 ? neighbour(seq - 1) : null, next: neighbour(seq + 1) },
        storage: {
          serviceName: row.ServiceName,
          eventName: row.EventName,
          severityText: row.SeverityText,
          resourceAttributes: row.ResourceAttributes,
          scope: { name: row.ScopeName, version: row.ScopeVersion, attributes: row.ScopeAttributes },
          logAttributes: row.LogAttributes,
        },
      });
    },
    true,
  );

  async function sendProof(req: IncomingMessage, res: ServerResponse, eventId: string): Promise<void> {
    const view = openClickHouseView(store!.handle.client, {
      database: store!.database,
      table: store!.table,
      checkpointsTable: store!.checkpointsTable,
    });
    try {
      const bundle = await proveFromStore(view, eventId);
      sendJson(req, res, bundle);
    } catch (err) {
      const e = err as AuditError;
      // Not covered by a checkpoint yet (or integrity off): a state, not an error of the request.
      if (e.code === 'AUDIT_ERR_INVALID_ARGUMENT') sendError(req, res, 409, 'AUDIT_ERR_NOT_COVERED', e.message);
      else if (e.code === 'AUDIT_ERR_INTEGRITY') sendError(req, res, 409, 'AUDIT_ERR_INTEGRITY', e.message);
      else sendStoreError(req, res, err);
    } finally {
      await view.close();
    }
  }

  // --- export.
  api('/v1/audit/export', async (req, res, ctx) => {
    const format = ctx.url.searchParams.get('format') ?? 'csv';
    if (format !== 'csv' && format !== 'ndjson') {
      sendError(req, res, 400, 'AUDIT_ERR_INVALID_ARGUMENT', `format must be csv or ndjson, got "${format.slice(0, 20)}"`);
      return;
    }
    const filters = readFilters(req, res, ctx);
    if (!filters) return;
    if (!store) {
      sendError(req, res, 503, 'AUDIT_ERR_STORE_UNAVAILABLE', 'the ClickHouse exporter is disabled: events cannot be exported');
      return;
    }
    const table = { database: store.database, table: store.table };
    // The first page decides the status code; then the rows stream (a later failure cuts the body short).
    let page = await listAuditEvents(store.handle.client, { ...filters, limit: 1000 }, table);
    if (page.status !== 'success') {
      sendError(
        req,
        res,
        page.status === 'retryable' ? 503 : page.error.code === 'AUDIT_ERR_INVALID_ARGUMENT' ? 400 : 500,
        page.error.code,
        page.error.message,
      );
      return;
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const name = `otel-audit-${filters.tenantId.replace(/[^A-Za-z0-9_.-]/g, '_')}-${stamp}.${format}`;
    res.writeHead(200, {
      'content-type': format === 'csv' ? 'text/csv; charset=utf-8; header=present' : 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="${name}"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    const write = async (chunk: string) => {
      if (!res.write(chunk))
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.once('drain', done);
          res.once('close', done);
        });
    };
    if (format === 'csv') await write(csvHeader());
    let rows = 0;
    for (;;) {
      let chunk = '';
      for (const r of page.value.events) {
        if (rows >= config.maxExportRows) break;
        chunk += format === 'csv' ? csvRow(r) : ndjsonRow(r);
        rows++;
      }
      if (chunk !== '') await write(chunk);
      if (res.destroyed || rows >= config.maxExportRows || page.value.nextCursor === undefined) break;
      const next = await listAuditEvents(store.handle.client, { ...filters, limit: 1000, cursor: page.value.nextCursor }, table);
      if (next.status !== 'success') {
        // Headers are gone: end without the rest so the client sees a truncated transfer, not a complete file.
        res.destroy(next.error);
        return;
      }
      page = next;
    }
    res.end();
  });

  function readFilters(req: IncomingMessage, res: ServerResponse, ctx: RouteContext): AuditEventFilters | undefined {
    const { filters, unknown } = readEventFilterParams(ctx.url.searchParams, { other: ['format'], withCursor: false });
    if (unknown.length > 0) {
      sendError(req, res, 400, 'AUDIT_ERR_INVALID_ARGUMENT', `unknown query parameter(s): ${unknown.join(', ')}`);
      return undefined;
    }
    const bound = ctx.identity.boundTenantId;
    if (bound !== undefined) {
      if (filters.tenantId !== undefined && filters.tenantId !== bound) {
        sendError(req, res, 403, 'AUDIT_ERR_FORBIDDEN', `this token may only read tenant "${bound}"`);
        return undefined;
      }
      filters.tenantId = bound;
    }
    if (filters.tenantId === undefined) {
      sendError(req, res, 400, 'AUDIT_ERR_INVALID_ARGUMENT', 'the tenant query parameter is required');
      return undefined;
    }
    return filters as AuditEventFilters;
  }

  // --- integrity: chains and range verification.
  const checkpointsOf = async (chainId: string): Promise<CheckpointRecord[]> => {
    if (!store) return [];
    const view = openClickHouseView(store.handle.client, {
      database: store.database,
      table: store.table,
      checkpointsTable: store.checkpointsTable,
    });
    return (await view.checkpoints(chainId)).filter((r) => Number.isSafeInteger(r.treeSize)).sort((a, b) => a.treeSize - b.treeSize);
  };

  api('/v1/audit/console/chains', async (req, res, ctx) => {
    const heads = sources.status().chains.filter((c) => mayRead(ctx, c.tenantId));
    try {
      const chains = [];
      for (const head of heads) {
        const cps = await checkpointsOf(head.chainId);
        const last = cps[cps.length - 1];
        chains.push({
          chainId: head.chainId,
          tenantId: head.tenantId,
          head: { seq: head.seq, hash: head.hash },
          checkpoints: cps.length,
          lastCheckpoint: last
            ? {
                treeSize: last.treeSize,
                rootHash: last.rootHash,
                origin: last.origin,
                createdAt: last.createdAt,
                keyName: last.keyName,
                keyId: last.keyId,
                note: last.note,
              }
            : null,
        });
      }
      sendJson(req, res, { chains, integrity: sources.integrityStatus() });
    } catch (err) {
      sendStoreError(req, res, err);
    }
  });

  api('/v1/audit/console/verify', async (req, res, ctx) => {
    const chainId = ctx.url.searchParams.get('chain') ?? '';
    const head = sources.status().chains.find((c) => c.chainId === chainId);
    if (head === undefined || !mayRead(ctx, head.tenantId)) {
      sendError(req, res, 404, 'AUDIT_ERR_NOT_FOUND', `no chain "${chainId.slice(0, 200)}"`);
      return;
    }
    if (!store) {
      sendError(req, res, 503, 'AUDIT_ERR_STORE_UNAVAILABLE', 'the ClickHouse exporter is disabled: nothing to verify');
      return;
    }
    const seqParam = (name: string, fallback: number): number | undefined => {
      const v = ctx.url.searchParams.get(name);
      if (v === null || v === '') return fallback;
      const n = Number(v);
      return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
    };
    const from = seqParam('from', 1);
    const to = seqParam('to', Math.max(1, head.seq));
    if (from === undefined || to === undefined || from > to) {
      sendError(req, res, 400, 'AUDIT_ERR_INVALID_ARGUMENT', 'from and to must be seq numbers ≥ 1 with from ≤ to');
      return;
    }
    let keys: VerifierSet;
    let checkpoints: CheckpointRecord[];
    try {
      keys = await loadReceiverKeys();
      checkpoints = await checkpointsOf(chainId);
    } catch (err) {
      sendStoreError(req, res, err);
      return;
    }
    // A root is only comparable over a whole prefix: widen to the signed tree states around the range
    // (docs/integrity.md "Chain verification": a range starts from the checkpoint at fromSeq − 1).
    let fromSeq = 1;
    for (const c of checkpoints) if (c.treeSize < from) fromSeq = c.treeSize + 1;
    const toSeq = checkpoints.find((c) => c.treeSize >= to)?.treeSize ?? Math.max(to, head.seq);
    const total = toSeq - fromSeq + 1;
    res.writeHead(200, {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    const line = (value: unknown) => res.write(`${JSON.stringify(value)}\n`);
    line({
      type: 'start',
      chainId,
      requested: { from, to },
      fromSeq,
      toSeq,
      total,
      trustedKeys: keys.verifiers.map((v) => `${v.name}+${v.keyIdHex}`),
    });
    const view = openClickHouseView(store.handle.client, {
      database: store.database,
      table: store.table,
      checkpointsTable: store.checkpointsTable,
    });
    try {
      // Stop reading the store when the client goes away (a closed tab must not keep verifying).
      const source = view.entries(chainId, fromSeq, toSeq);
      const untilClosed = async function* () {
        for await (const batch of source) {
          if (res.destroyed) return;
          yield batch;
        }
      };
      const result = await verifyChainEntries(untilClosed(), {
        checkpoints: checkpoints.filter((c) => c.treeSize >= fromSeq - 1 && c.treeSize <= toSeq),
        verifierKeys: keys,
        fromSeq,
        toSeq,
        progressEvery: Math.max(100, Math.floor(total / 50)),
        onProgress: (entries) => line({ type: 'progress', entries, total }),
      });
      for (const p of [...result.problems, ...view.problems()]) line({ type: 'problem', ...p });
      line({ type: 'done', ok: result.ok && view.problems().length === 0, stats: result.stats });
    } catch (err) {
      line({ type: 'error', message: (err as Error).message });
    }
    res.end();
  });

  // --- status.
  api('/v1/audit/console/status', async (req, res, ctx) => {
    const status = sources.status();
    const bound = ctx.identity.boundTenantId;
    let deadLetters: Array<{ time: string; transport: string; principal?: string; code: string; reason: string; recordIndex: number }> = [];
    let deadLetterError: string | undefined;
    try {
      const letters = await readDeadLetters(sources.dataDir, { limit: 200 });
      // A tenant-bound token sees only the letters of its own requests (the records may be another tenant's).
      deadLetters = letters
        .filter((d) => bound === undefined || (d.principal !== undefined && d.principal === ctx.identity.principal))
        .slice(-50)
        .reverse()
        .map((d) => ({
          time: d.time,
          transport: d.transport,
          ...(d.principal !== undefined ? { principal: d.principal } : {}),
          code: d.code,
          reason: d.reason,
          recordIndex: d.recordIndex,
        }));
    } catch (err) {
      deadLetterError = (err as Error).message;
    }
    sendJson(req, res, {
      now: Date.now(),
      sampleIntervalMillis: config.sampleIntervalMillis,
      status: {
        ...status,
        chains: status.chains.filter((c) => mayRead(ctx, c.tenantId)),
        dataDir: bound === undefined ? status.dataDir : undefined,
      },
      integrity: sources.integrityStatus(),
      samples,
      deadLetters,
      ...(deadLetterError ? { deadLetterError } : {}),
    });
  });

  sample();
  return {
    close() {
      clearInterval(timer);
    },
  };
}
