/**
 * Heap bounds of the receiver's worker threads (prepare pool, ClickHouse Native builder, cold-storage
 * object builder), as one zod schema shape each owner embeds in its own config with its own defaults.
 *
 * Why: every worker thread is its own V8 isolate, and V8 sizes an isolate's heap limit from the
 * machine's memory (4 GiB on a 24 GiB host), so a thread with a high allocation rate grows its heap
 * long before it collects — five isolates at a few hundred MiB each were most of the receiver's
 * RSS (docs/performance.md, "Where the receiver's memory is"). A limit makes V8 collect earlier; the
 * young generation (V8's semi-spaces, three of them make the generation) is reserved in full once
 * used, so a large one inflates RSS by its size in every thread.
 *
 * Failure mode: a worker that needs more than `maxOldGenerationSizeMb` dies with
 * ERR_WORKER_OUT_OF_MEMORY; its owner fails that work — a request is answered `failure` with
 * nothing of it sequenced, an export batch or a cold upload is retried — and starts a new worker
 * (nothing acknowledged is lost), so each default sits above the largest unit of work its thread must
 * hold (one request at the transports' message limit, one batch, one cold object), measured below.
 */
import type { ResourceLimits } from 'node:worker_threads';
import { z } from 'zod';

/** Defaults of one worker kind (MiB). */
export interface WorkerHeapDefaults {
  maxOldGenerationSizeMb: number;
  maxYoungGenerationSizeMb: number;
}

/**
 * Strict zod schema of a worker's heap bounds with the given defaults:
 * - `maxOldGenerationSizeMb`: the old generation's limit (MiB, 32–16,384);
 * - `maxYoungGenerationSizeMb`: the young generation's limit (MiB, 3–1,024; three semi-spaces).
 */
export function workerHeapLimitsSchema(defaults: WorkerHeapDefaults) {
  return z
    .strictObject({
      maxOldGenerationSizeMb: z.number().int().min(32).max(16_384).default(defaults.maxOldGenerationSizeMb),
      maxYoungGenerationSizeMb: z.number().int().min(3).max(1024).default(defaults.maxYoungGenerationSizeMb),
    })
    .prefault({});
}

/** Parsed heap bounds of a worker (MiB). */
export type WorkerHeapLimits = WorkerHeapDefaults;

/**
 * Prepare worker (receiver/pipeline/prepare-pool.ts): its live set is the requests queued to it and
 * the one being prepared (tens of MiB at 50,000 events/s) — but one request may be as large as the
 * transports' `maxMessageBytes` (64 MiB), and decoding it takes 8–16× its size: a 61 MiB OTLP/JSON
 * request needed more than 256 MiB (not 512), a 64 MiB OTLP/protobuf one more than 512 MiB (not
 * 1,024). So the old generation stays at 1 GiB (V8's own limit here is 4 GiB), and the young
 * generation, which is what every worker keeps resident, is bounded to 16 MiB.
 */
export const PREPARE_WORKER_HEAP_DEFAULTS: WorkerHeapLimits = { maxOldGenerationSizeMb: 1024, maxYoungGenerationSizeMb: 16 };

/**
 * ClickHouse Native builder (exporters/clickhouse/native-build.ts): a batch's payload text (at most
 * the exporter's `maxBatchBytes`, 32 MiB) plus the rows of one 8,192-row block.
 */
export const NATIVE_BUILDER_HEAP_DEFAULTS: WorkerHeapLimits = { maxOldGenerationSizeMb: 384, maxYoungGenerationSizeMb: 16 };

/**
 * Cold-storage object builder (exporters/coldstore/sealed-build.ts): with the engine's Parquet
 * writer, one block of rows at a time plus an index of the sealed file (a few numbers per row); with
 * the JS encoder, a whole object's rows (up to `maxObjectBytes` of staged JSON, several times that
 * as objects) — so the JS encoder needs a larger bound or smaller objects.
 */
export const COLD_BUILDER_HEAP_DEFAULTS: WorkerHeapLimits = { maxOldGenerationSizeMb: 512, maxYoungGenerationSizeMb: 16 };

/** The `resourceLimits` option of `new Worker()` for these bounds. */
export function toResourceLimits(limits: WorkerHeapLimits): ResourceLimits {
  return { maxOldGenerationSizeMb: limits.maxOldGenerationSizeMb, maxYoungGenerationSizeMb: limits.maxYoungGenerationSizeMb };
}
