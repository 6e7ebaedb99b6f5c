/**
 * The pipeline with records as log shippers send them: no `audit.event_id` (a derived id, so a
 * resent batch is deduplicated and stored once) and no `audit.tenant.id` (the token's bound tenant,
 * else `defaultTenantId`, else rejected with a dead letter as before). The WAL is read back and
 * every chain recomputed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { isAuditError } from '@otel-audit/core';
import type { LogRecordView } from '@otel-audit/schema';
import { deriveEventId } from '@otel-audit/schema';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IngestResult } from '../../../receiver/contracts.ts';
import { readDeadLetters } from '../../../receiver/dead-letter/index.ts';
import {
  type AuditPipeline,
  createAuditPipeline,
  type PipelineConfigInput,
  parsePipelineConfig,
} from '../../../receiver/pipeline/index.ts';
import { checkWal, request } from './fixtures.ts';

let dir: string;
const open: AuditPipeline[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pipeline-idless-'));
});
afterEach(async () => {
  for (const p of open.splice(0)) await p.shutdown();
  await rm(dir, { recursive: true, force: true });
});

async function start(config: PipelineConfigInput = {}): Promise<AuditPipeline> {
  const p = createAuditPipeline({ dataDir: dir, instanceId: 'idless-1', ...config });
  open.push(p);
  await p.start();
  return p;
}

function success(r: IngestResult) {
  if (r.status !== 'success') throw new Error(`expected success, got ${JSON.stringify(r)}`);
  return r;
}

/** A Fluent Bit-like record: text body, flat attributes, no event id; `tenant` undefined = no tenant attribute. */
function shipped(i: number, tenant?: string): LogRecordView {
  const attributes: Record<string, unknown> = {
    'audit.schema_version': '1.0',
    'audit.action': 'user.login',
    'audit.outcome': 'success',
    'audit.actor.id': `user-${i}`,
    'audit.actor.type': 'user',
    'log.file.path': '/var/log/app/audit.log',
  };
  if (tenant !== undefined) attributes['audit.tenant.id'] = tenant;
  return {
    timeUnixNano: 1_795_341_600_000_000_000n + BigInt(i),
    observedTimeUnixNano: 0n,
    severityNumber: 0,
    severityText: '',
    eventName: '',
    body: `user-${i} logged in`,
    attributes,
    traceId: '',
    spanId: '',
    flags: 0,
  };
}

describe('pipeline: id-less and tenant-less records', () => {
  it('stores a resent id-less batch once, with derived ids that recompute from the WAL', async () => {
    const p = await start();
    const batch = Array.from({ length: 20 }, (_, i) => shipped(i, 'acme'));
    expect([success(await p.consume(request(batch), { transport: 'http' })).accepted]).toEqual([20]);
    const again = success(await p.consume(request(Array.from({ length: 20 }, (_, i) => shipped(i, 'acme'))), { transport: 'http' }));
    expect([again.accepted, again.duplicates, again.rejected]).toEqual([0, 20, 0]);
    await p.shutdown();
    const { entries, problems } = await checkWal(dir);
    expect(problems).toEqual([]);
    expect(entries).toHaveLength(20);
    for (const e of entries) {
      expect(e.event.eventIdDerived).toBe(true);
      expect(e.event.message).toMatch(/^user-\d+ logged in$/);
      expect(deriveEventId(e.event)).toBe(e.event.eventId);
    }
  });

  it('takes the bound tenant first, then defaultTenantId; without either the record is rejected and dead-lettered', async () => {
    let p = await start({ defaultTenantId: 'fallback' });
    const r = success(
      await p.consume(request([shipped(1), shipped(2, 'acme')]), { transport: 'http', boundTenantId: 'acme', principal: 'acme-token' }),
    );
    expect([r.accepted, r.rejected]).toEqual([2, 0]);
    const r2 = success(await p.consume(request([shipped(3)]), { transport: 'grpc' }));
    expect([r2.accepted, r2.rejected]).toEqual([1, 0]);
    // The bound token still refuses another tenant.
    const r3 = success(await p.consume(request([shipped(4, 'globex')]), { transport: 'http', boundTenantId: 'acme' }));
    expect([r3.accepted, r3.rejected]).toEqual([0, 1]);
    await p.shutdown();
    let wal = await checkWal(dir);
    expect(wal.problems).toEqual([]);
    expect(wal.entries.map((e) => [e.event.actor.id, e.tenantId])).toEqual([
      ['user-1', 'acme'],
      ['user-2', 'acme'],
      ['user-3', 'fallback'],
    ]);

    open.length = 0;
    p = await start();
    const r4 = success(await p.consume(request([shipped(5)]), { transport: 'http' }));
    expect([r4.accepted, r4.rejected]).toEqual([0, 1]);
    expect(r4.message).toMatch(/record 0: .*tenant\.id/);
    await p.shutdown();
    const letters = await readDeadLetters(dir);
    expect(letters.map((l) => l.code)).toEqual(['AUDIT_ERR_FORBIDDEN', 'AUDIT_ERR_INVALID_EVENT']);
    wal = await checkWal(dir);
    expect(wal.entries).toHaveLength(3);
  });

  it('validates defaultTenantId in the config, naming the key', () => {
    expect(parsePipelineConfig({ defaultTenantId: 'acme' }).defaultTenantId).toBe('acme');
    expect(parsePipelineConfig({}).defaultTenantId).toBeUndefined();
    try {
      parsePipelineConfig({ defaultTenantId: '' });
      throw new Error('accepted an empty tenant');
    } catch (err) {
      expect(isAuditError(err, 'AUDIT_ERR_INVALID_CONFIG')).toBe(true);
      expect((err as Error).message).toContain('defaultTenantId');
    }
  });
});
