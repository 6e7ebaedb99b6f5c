/** Synthetic, correctly hash-chained WAL entries for the cold-storage tests and benchmark. */
import { createHash } from 'node:crypto';
import { validateAuditEvent } from '@otel-audit/schema';
import { computeEntryHash, GENESIS_HASH } from '../../../integrity/chain-hash.ts';
import type { ExportBatch, WalEventEntry } from '../../../receiver/contracts.ts';

/** Options of {@link makeEntries}. */
export interface MakeEntriesOptions {
  tenantId?: string;
  instanceId?: string;
  count: number;
  /** First event time (ISO); each next event is `stepMillis` later. */
  startAt?: string;
  stepMillis?: number;
  firstLsn?: number;
  /** Continue an existing chain: seq and prevHash of the entry before the first. */
  after?: { seq: number; hash: string };
}

/** Build `count` valid, chained entries of one chain. */
export function makeEntries(o: MakeEntriesOptions): WalEventEntry[] {
  const tenantId = o.tenantId ?? 'acme';
  const chainId = `${tenantId}/${o.instanceId ?? 'r1'}`;
  const start = Date.parse(o.startAt ?? '2026-11-22T10:00:00.000Z');
  const step = o.stepMillis ?? 1000;
  let prev = o.after?.hash ?? GENESIS_HASH;
  const firstSeq = (o.after?.seq ?? 0) + 1;
  const out: WalEventEntry[] = [];
  const h = createHash('sha1').update(chainId).digest('hex');
  for (let i = 0; i < o.count; i++) {
    const seq = firstSeq + i;
    const ms = start + i * step;
    const v = validateAuditEvent({
      eventId: `01936f6e-8a8b-7${h.slice(0, 3)}-9${h.slice(3, 6)}-${seq.toString(16).padStart(12, '0')}`,
      schemaVersion: '1.0',
      // Microsecond precision, to check that sub-millisecond digits survive the round trip.
      occurredAt: new Date(ms).toISOString().replace('Z', `${String(seq % 1000).padStart(3, '0')}Z`),
      action: i % 3 === 0 ? 'grant.issue' : 'user.login',
      outcome: i % 5 === 0 ? 'denied' : 'success',
      actor: { id: `u-${i % 17}`, type: 'user', name: `User ${i % 17}` },
      tenant: { id: tenantId },
      targets:
        i % 2 === 0
          ? [
              { type: 'grant', id: `g-${i}` },
              { type: 'user', id: `u-${i % 7}`, name: 'Bob' },
            ]
          : undefined,
      request: { id: `req-${seq}`, ip: '10.0.0.1', method: 'POST', path: '/grants' },
      changes: i % 4 === 0 ? { before: null, after: { role: 'admin', n: i } } : undefined,
      details: { i, note: 'synthetic', tags: ['a', 'b'] },
    });
    if (!v.ok) throw v.error;
    const hash = computeEntryHash(prev, v.event);
    out.push({
      kind: 'event',
      lsn: (o.firstLsn ?? 1) + i,
      chainId,
      tenantId,
      seq,
      prevHash: prev,
      hash,
      chainVersion: 2,
      receivedAtNanos: `${BigInt(ms + 5) * 1_000_000n + 123n}`,
      event: v.event,
      resource: { attributes: { 'service.name': 'billing', 'host.name': 'h1' }, schemaUrl: '' },
      scope: { name: 'otel-audit-sdk', version: '0.1.0' },
      extraAttributes: { 'custom.flag': true },
    });
    prev = hash;
  }
  return out;
}

/** Wrap entries as an export batch. */
export function batchOf(entries: WalEventEntry[]): ExportBatch {
  return { firstLsn: entries[0]!.lsn, lastLsn: entries[entries.length - 1]!.lsn, entries };
}
