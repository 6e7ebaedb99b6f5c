/**
 * The receiver: OTLP/HTTP + OTLP/gRPC transports → pipeline (validate, dedupe, chain, WAL + fsync)
 * → exporters (ClickHouse, cold storage), plus the operational and query endpoints on the HTTP port.
 *
 * Start order matters: the HTTP port comes up first so `/healthz` and `/readyz` answer during WAL
 * recovery (ingest answers 503 + Retry-After until the pipeline is ready), then the pipeline
 * recovers and starts its exporters, then gRPC. Shutdown runs in reverse: stop accepting on both
 * transports (in-flight requests finish), then the pipeline fsyncs and stops the exporters.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AuditError, type Logger, silentLogger } from '@otel-audit/core';
import { type ClickHouseHandle, createClickHouseExporter, openClickHouse, parseClickHouseConfig } from '../exporters/clickhouse/index.ts';
import { chdbParquetEngine, createColdStoreExporter, parseColdStoreConfig } from '../exporters/coldstore/index.ts';
import { createWebhookExporter } from '../exporters/webhook/index.ts';
import {
  type CheckpointingStatus,
  createReceiverCheckpointing,
  type ReceiverCheckpointing,
  type StoredEntriesReader,
  walDirOf,
} from './checkpointing.ts';
import { parseReceiverConfig, type ReceiverConfig, type ReceiverConfigInput } from './config/receiver-config.ts';
import { type MountedConsole, mountConsoleRoutes } from './console/index.ts';
import type { AuditExporter, DecodedLogs, IngestContext, IngestResult } from './contracts.ts';
import { ENDPOINT_FILE, type ReceiverEndpointFile } from './endpoint-file.ts';
import { createGrpcServer, type GrpcServer } from './grpc/index.ts';
import { createHttpServer, type HttpServer } from './http/index.ts';
import { mountOperationalRoutes } from './operational-routes.ts';
import type { EncodedIngestResult, EncodedLogsConsumer, EncodedLogsRequest } from './otlp/encoded-consumer.ts';
import { type AuditPipeline, createAuditPipeline, type PipelineHooks, type PipelineStatus } from './pipeline/index.ts';
import { mountQueryRoutes } from './query-routes.ts';
import { createTransportMetrics } from './transport-metrics.ts';

/** Where a started receiver listens. */
export interface ReceiverAddresses {
  /** `http://host:port` of OTLP/HTTP and the other HTTP endpoints, when enabled. */
  http?: string;
  /** `host:port` of OTLP/gRPC, when enabled. */
  grpc?: string;
}

/** A running otel-audit receiver. */
export interface Receiver {
  /** The validated configuration. */
  readonly config: ReceiverConfig;
  /**
   * Recover the WAL, start exporters and listen. Resolves with the bound addresses.
   * @throws AuditError on a port in use, a corrupt WAL, an unusable store configuration.
   */
  start(): Promise<ReceiverAddresses>;
  /** Stop accepting, finish in-flight requests, fsync, stop exporters, close stores. Idempotent. */
  shutdown(): Promise<void>;
  /** Pipeline status (chain heads, WAL, exporter cursors and lag, counters). */
  status(): PipelineStatus;
  /** Signed checkpoints (`integrity` section): key, checkpoints written, problems. */
  integrityStatus(): CheckpointingStatus;
}

/** Options that are not user configuration (tests, embedding). */
export interface ReceiverOptions {
  /** Extra exporters (e.g. a webhook, or a test exporter), registered beside the configured ones. */
  extraExporters?: AuditExporter[];
  /** Pipeline hooks (fsync observer, clock, disk probe). */
  pipelineHooks?: PipelineHooks;
  /**
   * The structured logger (`otel-audit start` passes one writing JSON lines to standard error).
   * Every component gets a child with its `component` field: `pipeline`, `wal`, `dedupe`,
   * `exporter:<name>`, `http`, `grpc`, `checkpointing`, `console`. Default: silent.
   */
  logger?: Logger;
}

/**
 * Create a receiver from configuration (validated here, once).
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming the bad key.
 */
export function createReceiver(input: ReceiverConfigInput = {}, options: ReceiverOptions = {}): Receiver {
  const config = parseReceiverConfig(input);
  const dataDir = resolve(config.dataDir);
  const logger = options.logger ?? options.pipelineHooks?.logger ?? silentLogger;
  const log = logger.child({ component: 'receiver' });
  const pipelineHooks: PipelineHooks = { ...options.pipelineHooks, logger };
  // Created first: an unreadable secretFile or TLS file is a config error before any store is opened.
  const webhooks = config.exporters.webhooks.flatMap((w, i) =>
    w.enabled ? [{ exporter: createWebhookExporter(w, { configPrefix: `exporters.webhooks.${i}` }), retry: w.retry }] : [],
  );
  // Signed checkpoints (docs/integrity.md): fed at sequencing time, appended to the WAL.
  const checkpointing: ReceiverCheckpointing | undefined = config.integrity.enabled
    ? createReceiverCheckpointing(
        config.integrity,
        options.pipelineHooks?.onSequenced,
        dataDir,
        logger.child({ component: 'checkpointing' }),
      )
    : undefined;
  const pipeline: AuditPipeline = createAuditPipeline(
    {
      ...config.pipeline,
      dataDir,
      shutdownTimeoutMillis: config.shutdownTimeoutMillis,
      ...(config.instanceId === undefined ? {} : { instanceId: config.instanceId }),
    },
    checkpointing ? { ...pipelineHooks, onSequenced: checkpointing.hook } : pipelineHooks,
  );

  // chDB allows one engine per data path per process: the exporter and the query endpoints share it.
  let clickhouse: ClickHouseHandle | undefined;
  const chConfig = config.exporters.clickhouse.enabled ? parseClickHouseConfig({ ...config.exporters.clickhouse, dataDir }) : undefined;
  if (chConfig) {
    clickhouse = openClickHouse(chConfig);
    pipeline.addExporter(createClickHouseExporter(chConfig, { handle: clickhouse }));
  }
  if (config.exporters.coldstore.enabled) {
    // The archive's Parquet is written by the same embedded engine when there is one.
    const chdb = clickhouse?.chdb?.chdb;
    const parquetEngine = chdb ? chdbParquetEngine((sql, o) => chdb.queryAsync(sql, o)) : undefined;
    pipeline.addExporter(
      createColdStoreExporter(parseColdStoreConfig({ ...config.exporters.coldstore, dataDir }), {
        ...(parquetEngine ? { parquetEngine } : {}),
        logger: logger.child({ component: 'exporter:coldstore' }),
      }),
    );
  }
  // Webhooks (docs/webhook.md): each its own cursor; `retry` overrides the runner's backoff.
  for (const { exporter, retry } of webhooks) pipeline.addExporter(exporter, { ...retry });
  for (const exporter of options.extraExporters ?? []) pipeline.addExporter(exporter);

  // Until recovery is done the transports must not reach the pipeline: answer retryable instead.
  const notReady = (): IngestResult => ({
    status: 'retryable',
    error: new AuditError('AUDIT_ERR_NOT_READY', 'the receiver is recovering its WAL'),
    retryAfterMillis: 1000,
  });
  const gate: EncodedLogsConsumer = {
    consume(logs: DecodedLogs, context: IngestContext): Promise<IngestResult> {
      if (!pipeline.ready) return Promise.resolve(notReady());
      return pipeline.consume(logs, context);
    },
    // The transports hand encoded requests to the pipeline's worker threads. While recovering, a
    // body is still decoded first (an undecodable one stays a 400), then answered as above.
    async consumeEncoded(request: EncodedLogsRequest, context: IngestContext): Promise<EncodedIngestResult> {
      if (pipeline.ready) return pipeline.consumeEncoded(request, context);
      const r = await pipeline.consumeEncoded(request, context);
      return r.decoded && r.result.status === 'retryable' ? { ...r, result: notReady() } : r;
    },
  };

  const auth = config.auth;
  const { enabled: httpEnabled, ...httpConfig } = config.http;
  const { enabled: grpcEnabled, ...grpcConfig } = config.grpc;
  const transportMetrics = createTransportMetrics();
  const http: HttpServer | undefined = httpEnabled
    ? createHttpServer({
        config: { ...httpConfig, ...(auth ? { auth } : {}) },
        consumer: gate,
        onRequest: transportMetrics.observer,
        logger: logger.child({ component: 'http' }),
      })
    : undefined;
  const grpc: GrpcServer | undefined = grpcEnabled
    ? createGrpcServer({
        config: { ...grpcConfig, ...(auth ? { auth } : {}) },
        consumer: gate,
        onRequest: transportMetrics.observer,
        logger: logger.child({ component: 'grpc' }),
      })
    : undefined;

  if (http) {
    mountOperationalRoutes(http, {
      // `/v1/audit/status` also shows the checkpointing (key, checkpoints written, problems).
      status: () => (checkpointing ? { ...pipeline.status(), integrity: checkpointing.status() } : pipeline.status()),
      // Not ready while ingest cannot succeed: recovering, stopping, WAL write failures, back-pressure.
      ready: () => pipeline.ready && !stopping && pipeline.unavailable === undefined,
      notReadyReason: () => (stopping ? 'shutting down' : !pipeline.ready ? 'recovering the WAL' : pipeline.unavailable),
      extraMetrics: () => transportMetrics.render(),
      verifierKey: () => checkpointing?.status().verifierKey,
    });
    if (config.query.enabled && clickhouse && chConfig) {
      mountQueryRoutes(http, {
        handle: clickhouse,
        database: chConfig.database,
        table: chConfig.table,
        path: config.query.path,
        authEnabled: auth !== undefined,
        allowRemoteWithoutAuth: config.query.allowRemoteWithoutAuth,
      });
    }
  }
  // The operator console at /ui (docs/console.md).
  const consoleUi: MountedConsole | undefined =
    http && config.ui.enabled
      ? mountConsoleRoutes(http, {
          config: config.ui,
          logger: logger.child({ component: 'console' }),
          authEnabled: auth !== undefined,
          dataDir,
          status: () => pipeline.status(),
          integrityStatus: () => checkpointing?.status() ?? { enabled: false, checkpointsWritten: 0, queuedJobs: 0, unresumable: [] },
          integrity: config.integrity,
          ...(clickhouse && chConfig
            ? {
                clickhouse: {
                  handle: clickhouse,
                  database: chConfig.database,
                  table: chConfig.table,
                  checkpointsTable: chConfig.checkpointsTable,
                },
              }
            : {}),
        })
      : undefined;

  let started = false;
  let stopping = false;
  let shutdownPromise: Promise<void> | undefined;

  return {
    config,
    async start() {
      if (started) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'the receiver was already started');
      started = true;
      const addresses: ReceiverAddresses = {};
      try {
        // No usable signing key with integrity enabled: refuse to start (AUDIT_ERR_KEY names the file).
        await checkpointing?.loadKeys();
        if (http) addresses.http = (await http.start()).url;
        await pipeline.start();
        await checkpointing?.start(
          pipeline,
          walDirOf(dataDir),
          clickhouse && chConfig ? storedEntriesFrom(clickhouse, chConfig) : undefined,
        );
        if (grpc) addresses.grpc = (await grpc.start()).target;
        if (addresses.http) await writeEndpointFile(dataDir, addresses, config.query.enabled && chConfig ? config.query.path : undefined);
      } catch (err) {
        // The start failure is the error to report; a cleanup failure after it is logged.
        await this.shutdown().catch((e: unknown) => log.warn({ err: e }, 'shutdown after a failed start failed'));
        throw err;
      }
      return addresses;
    },
    shutdown() {
      shutdownPromise ??= (async () => {
        stopping = true;
        consoleUi?.close();
        const errors: unknown[] = [];
        await Promise.all([http?.shutdown(), grpc?.shutdown()].map((p) => p?.catch((e: unknown) => errors.push(e))));
        // Nothing new can arrive now: checkpoint every chain's tail before the WAL closes.
        await checkpointing?.stop().catch((e: unknown) => errors.push(e));
        await pipeline.shutdown().catch((e: unknown) => errors.push(e));
        await clickhouse?.close().catch((e: unknown) => errors.push(e));
        if (started)
          await rm(join(dataDir, ENDPOINT_FILE), { force: true }).catch((e: unknown) =>
            // A stale endpoint file misleads `otel-audit query`/`prove` (they check the pid); say so.
            log.warn({ err: e, file: join(dataDir, ENDPOINT_FILE) }, 'cannot remove the endpoint file'),
          );
        if (errors.length > 0) throw errors[0];
      })();
      return shutdownPromise;
    },
    status: () => pipeline.status(),
    integrityStatus: () => checkpointing?.status() ?? { enabled: false, checkpointsWritten: 0, queuedJobs: 0, unresumable: [] },
  };
}

async function writeEndpointFile(dataDir: string, addresses: ReceiverAddresses, queryPath: string | undefined): Promise<void> {
  const info: ReceiverEndpointFile = { pid: process.pid, http: addresses.http!, ...(queryPath ? { queryPath } : {}) };
  await writeFile(join(dataDir, ENDPOINT_FILE), `${JSON.stringify(info)}\n`);
}

/**
 * Entries of a chain from ClickHouse, for a checkpointer resuming after WAL segments were deleted
 * (a segment is deleted only once every exporter, ClickHouse included, has passed it).
 */
function storedEntriesFrom(handle: ClickHouseHandle, config: { database: string; table: string }): StoredEntriesReader {
  return async (chainId, fromSeq, toSeq) => {
    if (toSeq < fromSeq) return [];
    const rs = await handle.client.query({
      query: `SELECT Seq, PrevHash, Hash FROM ${config.database}.${config.table} WHERE ChainId = {chain:String} AND Seq BETWEEN {from:UInt64} AND {to:UInt64} ORDER BY Seq LIMIT 1 BY Seq`,
      query_params: { chain: chainId, from: fromSeq, to: toSeq },
      format: 'JSONEachRow',
    });
    const rows = (await rs.json()) as Array<{ Seq: string | number; PrevHash: string; Hash: string }>;
    return rows.map((r) => ({ seq: Number(r.Seq), prevHash: r.PrevHash, hash: r.Hash }));
  };
}
