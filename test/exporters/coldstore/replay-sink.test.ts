/** replayColdStorage against fake sinks: a refused object is reported and skipped, an unreachable sink stops the replay. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditError } from '@otel-audit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createColdStoreExporter, LocalDirectoryStore, type ReplaySink, replayColdStorage } from '../../../exporters/coldstore/index.ts';
import { batchOf, makeEntries } from './fixtures.ts';

const root = mkdtempSync(join(tmpdir(), 'coldstore-sink-'));
let store: LocalDirectoryStore;
beforeAll(async () => {
  const exporter = createColdStoreExporter({ dataDir: root }, { buildInline: true });
  await exporter.start();
  await exporter.export(batchOf([...makeEntries({ count: 5 }), ...makeEntries({ tenantId: 'bad', count: 3 })]));
  await exporter.flush();
  await exporter.shutdown();
  store = new LocalDirectoryStore(join(root, 'archive'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('replay with a sink that refuses', () => {
  it('skips and reports an object the sink refuses for good, and goes on', async () => {
    const seen: string[] = [];
    const sink: ReplaySink = {
      async write(obj) {
        if (obj.tenantId === 'bad') return { status: 'failure', error: new AuditError('AUDIT_ERR_QUERY_FAILED', 'Cannot parse input') };
        expect((await obj.rows()).map((r) => r.Seq)).toEqual(obj.seqs);
        return { status: 'success', value: { inserted: obj.seqs.length, alreadyPresent: 0 } };
      },
    };
    const r = await replayColdStorage({ source: store, sink, onSkip: (s) => seen.push(s.reason) });
    expect(r.status === 'success' && r.value).toMatchObject({ objectsTotal: 2, rowsInserted: 5, skipped: 1 });
    expect(seen).toEqual(['query failed: Cannot parse input']);
  });

  it('stops with retryable when the sink is unreachable', async () => {
    const sink: ReplaySink = {
      write: async () => ({
        status: 'retryable',
        error: new AuditError('AUDIT_ERR_STORE_UNAVAILABLE', 'connect ECONNREFUSED', { retryable: true }),
      }),
    };
    const r = await replayColdStorage({ source: store, sink });
    expect(r.status).toBe('retryable');
  });
});
