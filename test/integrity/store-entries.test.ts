import { normalizeAuditEvent } from '@otel-audit/schema';
import { walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { describe, expect, it } from 'vitest';
import { auditRowToChainEntry, computeEntryHash, GENESIS_HASH, verifyChainEntries, walEntryToChainEntry } from '../../integrity/index.ts';
import type { WalEventEntry } from '../../receiver/contracts.ts';
import { checkpointsAt, makeEvent, newSigner } from './helpers.ts';

function walChain(n: number): WalEventEntry[] {
  const out: WalEventEntry[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const event = normalizeAuditEvent(makeEvent(seq));
    const hash = computeEntryHash(prev, event);
    out.push({
      kind: 'event',
      lsn: seq,
      chainId: 'acme/host-1',
      tenantId: 'acme',
      seq,
      prevHash: prev,
      hash,
      chainVersion: 2,
      receivedAtNanos: '1795000000000000000',
      event,
      resource: { attributes: { 'service.name': 'billing' }, schemaUrl: '' },
      scope: { name: 'otel-audit-sdk', version: '1' },
      extraAttributes: {},
    });
    prev = hash;
  }
  return out;
}

describe('store adapters', () => {
  it('WAL entries and stored rows verify; an edited column is "modified"', async () => {
    const signer = newSigner();
    const wal = walChain(30);
    const checkpoints = await checkpointsAt(wal.map(walEntryToChainEntry), [30], signer);
    const keys = [signer.verifierKey];
    expect((await verifyChainEntries(wal.map(walEntryToChainEntry), { checkpoints, verifierKeys: keys })).ok).toBe(true);
    const rows = wal.map(walEntryToAuditRow);
    const fromRows = await verifyChainEntries(rows.map(auditRowToChainEntry), { checkpoints, verifierKeys: keys });
    expect(fromRows.problems).toEqual([]);
    rows[9]!.Outcome = 'failure';
    const tampered = await verifyChainEntries(rows.map(auditRowToChainEntry), { checkpoints, verifierKeys: keys });
    expect(tampered.problems.map((p) => `${p.kind}@${p.seq}`)).toEqual(['modified@10', 'root-mismatch@1']);
  });
});
