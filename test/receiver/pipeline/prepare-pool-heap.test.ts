/**
 * The prepare pool's heap bound (`pipeline.prepareWorkerHeap`): a request whose decoding needs more
 * than a worker's old generation kills that worker only — the request is answered with an error
 * (nothing of it was sequenced; the pipeline answers it retryable), the worker is replaced, and
 * the pool keeps preparing.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAuditError } from '@otel-audit/core';
import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../../receiver/pipeline/config.ts';
import { createAuditPipeline } from '../../../receiver/pipeline/index.ts';
import { PreparePool } from '../../../receiver/pipeline/prepare-pool.ts';
import type { PrepareTask } from '../../../receiver/pipeline/prepare-task.ts';
import { auditRequestJson } from '../../e2e/helpers/receiver-process.ts';

function task(records: number): PrepareTask {
  const ids = Array.from({ length: records }, () => randomUUID());
  const body = new TextEncoder().encode(JSON.stringify(auditRequestJson(ids, { service: 'heap', actorId: 'a', tenants: ['acme'] })));
  return { body, format: 'json', encoding: 'identity', maxBytes: 1 << 30, context: { transport: 'http' }, nonAudit: 'drop' };
}

describe('prepare pool heap bound', () => {
  it('defaults to a bounded heap per worker, configurable under pipeline.prepareWorkerHeap', () => {
    expect(parsePipelineConfig({}).prepareWorkerHeap).toEqual({ maxOldGenerationSizeMb: 1024, maxYoungGenerationSizeMb: 16 });
    expect(parsePipelineConfig({ prepareWorkerHeap: { maxOldGenerationSizeMb: 64 } }).prepareWorkerHeap).toEqual({
      maxOldGenerationSizeMb: 64,
      maxYoungGenerationSizeMb: 16,
    });
    expect(() => parsePipelineConfig({ prepareWorkerHeap: { maxOldGenerationSizeMb: 8 } })).toThrow(
      /prepareWorkerHeap\.maxOldGenerationSizeMb/,
    );
    expect(() => parsePipelineConfig({ prepareWorkerHeap: { oldMb: 64 } })).toThrow(/prepareWorkerHeap/);
  });

  it('a request past the bound fails alone; the worker is replaced and later requests are prepared', async () => {
    const pool = new PreparePool(1, undefined, { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 });
    await pool.start();
    try {
      const before = await pool.run(task(10));
      expect(before.ok && before.records).toBe(10);
      // ~80,000 records decoded into objects: past a 32 MiB old generation.
      const err = await pool.run(task(80_000)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isAuditError(err) && err.code).toBe('AUDIT_ERR_INTERNAL');
      expect(String((err as Error).message)).toMatch(/prepare worker/);
      // The replacement starts asynchronously; the next request waits for no one and succeeds.
      let after: Awaited<ReturnType<PreparePool['run']>> | undefined;
      for (let i = 0; i < 50 && after === undefined; i++) {
        after = await pool.run(task(10)).catch(async () => {
          await new Promise((r) => setTimeout(r, 100));
          return undefined;
        });
      }
      expect(after?.ok && after.records).toBe(10);
    } finally {
      await pool.shutdown();
    }
  }, 180_000);

  it('answers the requests of a worker that died retryable (503), not as a failure, and keeps ingesting', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-heap-pipeline-'));
    const pipeline = createAuditPipeline({
      dataDir,
      prepareWorkers: 1,
      prepareWorkerHeap: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 },
    });
    await pipeline.start();
    try {
      const request = (n: number) => {
        const { body, format, encoding, maxBytes, context } = task(n);
        return pipeline.consumeEncoded({ body, format, encoding, maxBytes }, context);
      };
      const lost = await request(80_000);
      expect(lost.decoded).toBe(true);
      if (!lost.decoded) return;
      expect(lost.result.status).toBe('retryable');
      if (lost.result.status !== 'retryable') return;
      expect(lost.result.error.code).toBe('AUDIT_ERR_INTERNAL');
      expect(lost.result.error.message).toMatch(/prepare worker/);
      expect(lost.result.retryAfterMillis).toBeGreaterThan(0);
      // The replacement worker prepares the next requests; nothing of the lost one was sequenced.
      let accepted = 0;
      for (let i = 0; i < 50 && accepted === 0; i++) {
        const r = await request(10);
        if (r.decoded && r.result.status === 'success') accepted = r.result.accepted;
        else await new Promise((res) => setTimeout(res, 100));
      }
      expect(accepted).toBe(10);
      expect(pipeline.status().counters.accepted).toBe(10);
    } finally {
      await pipeline.shutdown();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
