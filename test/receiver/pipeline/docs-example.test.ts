import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { AuditEvent } from '@otel-audit/schema';
import { expect, it } from 'vitest';
import { computeEntryHash, GENESIS_HASH } from '../../../integrity/chain-hash.ts';
import { createAuditPipeline } from '../../../receiver/pipeline/index.ts';
import { checkWal, eventToRecord, request } from './fixtures.ts';

// The worked example of docs/integrity.md, "Hash chain: how the receiver sequences and normalizes".
it('produces the hashes of the docs/integrity.md worked example through consume()', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'docs-example-'));
  try {
    const p = createAuditPipeline({ dataDir: dir, instanceId: 'receiver-1' });
    await p.start();
    const e1 = {
      eventId: '0193A1B2-C3D4-7E5F-8A9B-00000000000A',
      schemaVersion: '1.0',
      occurredAt: '2026-11-22T11:00:01.5+01:00',
      action: 'grant.issue',
      outcome: 'success',
      actor: { type: 'user', id: 'u-1' },
      tenant: { id: 'acme' },
      targets: [{ type: 'grant', id: 'g-7' }],
      details: { scope: 'reports', days: 30 },
    } as AuditEvent;
    const e2 = {
      eventId: '0193a1b2-c3d4-7e5f-8a9b-00000000000b',
      schemaVersion: '1.0',
      occurredAt: '2026-11-22T10:00:02.000001Z',
      action: 'grant.revoke',
      outcome: 'denied',
      actor: { id: 'u-2', type: 'user' },
      tenant: { id: 'acme' },
      reason: 'not the owner',
    } as AuditEvent;
    const r1 = { ...eventToRecord(e1), traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };
    const r = await p.consume(request([r1, eventToRecord(e2)]), { transport: 'http' });
    expect(r).toMatchObject({ status: 'success', accepted: 2 });
    await p.shutdown();
    const { entries, problems } = await checkWal(dir);
    expect(problems).toEqual([]);
    // The receiver writes chain format 2.
    expect(entries.map((e) => [e.chainId, e.seq, e.chainVersion, e.hash])).toEqual([
      ['acme/receiver-1', 1, 2, 'f14ab51c6f617195cffc336c148313c4afd72c4926aa51bad112807ba8a098a0'],
      ['acme/receiver-1', 2, 2, 'f4d6878fab171efbc82e585f572e4224d1cc0fb8548404fd4a1d13babe4c478f'],
    ]);
    // The document's format 1 values of the same events, recomputed from what was stored.
    const v1 = computeEntryHash(GENESIS_HASH, entries[0]!.event, 1);
    expect([v1, computeEntryHash(v1, entries[1]!.event, 1)]).toEqual([
      '3752631a96704449889e51f22ac9995ab0cdc7b6b17a39b885e40273608412a5',
      'bc24fe3f2717e9aa073306bc8b700557a723c13fc0c7420ac664b202b23a51fe',
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
