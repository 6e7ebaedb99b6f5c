/**
 * Chain format versions (docs/integrity.md, "Entry hash"): format 2 is
 * SHA-256(prevHash ‖ SHA-256(JCS(event))), format 1 SHA-256(prevHash ‖ JCS(event)); each entry names
 * its format (absent = 1), and one chain may hold both (a receiver upgraded in place).
 */
import { readFileSync } from 'node:fs';
import type { AuditEvent } from '@otel-audit/schema';
import { walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { describe, expect, it } from 'vitest';
import { decodeParquet, encodeParquet } from '../../exporters/coldstore/parquet-codec.ts';
import {
  type ChainEntryInput,
  canonicalEventJson,
  checkpointOrigin,
  computeEntryHash,
  createProofBundle,
  eventDigest,
  fastEntryHash,
  GENESIS_HASH,
  linkHashV2,
  noteSignerFromSeed,
  signCheckpoint,
  verifyChainEntries,
  verifyProofBundle,
} from '../../integrity/index.ts';
import { sha256 } from '../../integrity/merkle.ts';
import { auditRowToChainEntry } from '../../integrity/store-entries.ts';
import { MerkleTree } from './helpers/merkle-tree.ts';
import { withParallelEntryHashes } from './helpers/parallel-hash.ts';

const doc = readFileSync(new URL('../../docs/integrity.md', import.meta.url), 'utf8');

const E1 =
  '{"action":"grant.issue","actor":{"id":"u-1","type":"user"},"details":{"days":30,"scope":"reports"},"eventId":"0193a1b2-c3d4-7e5f-8a9b-00000000000a","occurredAt":"2026-11-22T10:00:01.500Z","outcome":"success","schemaVersion":"1.0","targets":[{"id":"g-7","type":"grant"}],"tenant":{"id":"acme"},"trace":{"spanId":"00f067aa0ba902b7","traceFlags":0,"traceId":"4bf92f3577b34da6a3ce929d0e0e4736"}}';
const E2 =
  '{"action":"grant.revoke","actor":{"id":"u-2","type":"user"},"eventId":"0193a1b2-c3d4-7e5f-8a9b-00000000000b","occurredAt":"2026-11-22T10:00:02.000001Z","outcome":"denied","reason":"not the owner","schemaVersion":"1.0","tenant":{"id":"acme"}}';
const ev = (json: string) => JSON.parse(json) as AuditEvent;

function event(i: number): AuditEvent {
  return {
    eventId: `0193a1b2-c3d4-7e5f-8a9b-${i.toString(16).padStart(12, '0')}`,
    schemaVersion: '1.0',
    occurredAt: `2026-11-22T10:00:${String(i % 60).padStart(2, '0')}.000Z`,
    action: 'user.login',
    outcome: 'success',
    actor: { id: `u-${i}`, type: 'user' },
    tenant: { id: 'acme' },
  } as AuditEvent;
}

/** A chain whose first `v1Count` entries are format 1 (no chainVersion) and the rest format 2. */
function mixedChain(n: number, v1Count: number): ChainEntryInput[] {
  let prev = GENESIS_HASH;
  return Array.from({ length: n }, (_, i) => {
    const e = event(i + 1);
    const version = i < v1Count ? 1 : 2;
    const hash = computeEntryHash(prev, e, version);
    const entry: ChainEntryInput = {
      chainId: 'acme/r1',
      seq: i + 1,
      prevHash: prev,
      hash,
      event: e,
      ...(version === 2 ? { chainVersion: 2 } : {}),
    };
    prev = hash;
    return entry;
  });
}

describe('chain format 2', () => {
  it('matches the test vectors of docs/integrity.md, by definition and with standard primitives', () => {
    expect(canonicalEventJson(ev(E1))).toBe(E1);
    const d1 = eventDigest(E1).toString('hex');
    expect(d1).toBe(sha256(Buffer.from(E1)).toString('hex'));
    const h1 = linkHashV2(GENESIS_HASH, eventDigest(E1));
    expect(h1).toBe(sha256(Buffer.concat([Buffer.alloc(32), sha256(Buffer.from(E1))])).toString('hex'));
    const h2 = computeEntryHash(h1, ev(E2), 2);
    const v1 = computeEntryHash(GENESIS_HASH, ev(E1), 1);
    const mixed = computeEntryHash(v1, ev(E2), 2);
    for (const value of [d1, h1, eventDigest(E2).toString('hex'), h2, mixed]) expect(doc).toContain(value);
    expect([h1, h2]).toEqual([
      'f14ab51c6f617195cffc336c148313c4afd72c4926aa51bad112807ba8a098a0',
      'f4d6878fab171efbc82e585f572e4224d1cc0fb8548404fd4a1d13babe4c478f',
    ]);
    // The format 1 vectors are unchanged; without a version, computeEntryHash computes the format
    // new entries are written in (2).
    expect(v1).toBe('3752631a96704449889e51f22ac9995ab0cdc7b6b17a39b885e40273608412a5');
    expect(computeEntryHash(GENESIS_HASH, ev(E1))).toBe(h1);
    expect(computeEntryHash(v1, ev(E2), 1)).toBe('bc24fe3f2717e9aa073306bc8b700557a723c13fc0c7420ac664b202b23a51fe');
    expect(fastEntryHash(GENESIS_HASH, ev(E1), 2)).toBe(h1);
    expect(fastEntryHash(GENESIS_HASH, ev(E1), 1)).toBe(v1);
  });

  it('verifies a chain switching from format 1 to 2, sequentially and with parallel hashing', async () => {
    const chain = mixedChain(600, 250);
    const opts = { checkpoints: [], verifierKeys: [] };
    expect((await verifyChainEntries(chain, opts)).problems).toEqual([]);
    expect((await verifyChainEntries(withParallelEntryHashes(chain, { workers: 2, batchSize: 128 }), opts)).problems).toEqual([]);
  });

  it('detects an entry whose chainVersion was changed, and refuses unknown versions', async () => {
    const opts = { checkpoints: [], verifierKeys: [] };
    const flipped = mixedChain(20, 10);
    delete flipped[15]!.chainVersion; // a format 2 entry claimed as format 1
    const r1 = await verifyChainEntries(flipped, opts);
    expect(r1.problems.map((p) => [p.kind, p.seq])).toEqual([['modified', 16]]);
    const claimed = mixedChain(20, 10);
    claimed[3]!.chainVersion = 2; // a format 1 entry claimed as format 2
    expect((await verifyChainEntries(claimed, opts)).problems.map((p) => [p.kind, p.seq])).toEqual([['modified', 4]]);
    const unknown = mixedChain(20, 10);
    unknown[12]!.chainVersion = 3;
    const r3 = await verifyChainEntries(unknown, opts);
    expect(r3.problems.some((p) => p.kind === 'malformed-entry' && p.seq === 13 && /chainVersion 3/.test(p.message))).toBe(true);
  });

  it('keeps the version through the storage row and the Parquet archive; rows without it read as format 1', async () => {
    const chain = mixedChain(4, 2);
    const walEntries = chain.map((c, i) => ({
      kind: 'event' as const,
      lsn: i + 1,
      chainId: c.chainId,
      tenantId: 'acme',
      seq: c.seq,
      prevHash: c.prevHash,
      hash: c.hash,
      ...(c.chainVersion === 2 ? { chainVersion: 2 as const } : {}),
      receivedAtNanos: '1795000000000000000',
      event: c.event,
      resource: { attributes: { 'service.name': 'billing' }, schemaUrl: '' },
      scope: { name: 'otel-audit', version: '1' },
      extraAttributes: {},
    }));
    const rows = walEntries.map(walEntryToAuditRow);
    expect(rows.map((r) => r.ChainVersion)).toEqual([1, 1, 2, 2]);
    const back = await decodeParquet(encodeParquet(rows));
    expect(back.map((r) => r.ChainVersion)).toEqual([1, 1, 2, 2]);
    const entries = back.map(auditRowToChainEntry);
    expect((await verifyChainEntries(entries, { checkpoints: [], verifierKeys: [] })).problems).toEqual([]);
    // A row from before the column existed (ClickHouse DEFAULT / an older Parquet file): format 1.
    const { ChainVersion: _dropped, ...old } = rows[0]!;
    expect(auditRowToChainEntry(old).chainVersion).toBe(1);
  });

  it('proof bundles: format 2 entries get bundle version 2 and verify; format 1 bundles stay version 1', () => {
    const chain = mixedChain(3, 1);
    const tree = new MerkleTree(chain.map((e) => e.hash));
    const signer = noteSignerFromSeed('otel-audit/r1', sha256(Buffer.from('chain-version test key')));
    const note = signCheckpoint({ origin: checkpointOrigin('acme/r1'), treeSize: 3, rootHash: tree.root() }, signer);
    const v1 = createProofBundle({ event: chain[0]!.event, entry: chain[0]!, inclusionPath: tree.inclusionProof(0, 3), checkpoint: note });
    const v2 = createProofBundle({ event: chain[1]!.event, entry: chain[1]!, inclusionPath: tree.inclusionProof(1, 3), checkpoint: note });
    expect([v1.version, v1.entry.chainVersion, v2.version, v2.entry.chainVersion]).toEqual([1, undefined, 2, 2]);
    expect(verifyProofBundle(v1, [signer.verifierKey])).toMatchObject({ ok: true, seq: 1 });
    expect(verifyProofBundle(v2, [signer.verifierKey])).toMatchObject({ ok: true, seq: 2 });
    const tampered = { ...v2, event: { ...v2.event, action: 'user.logout' } };
    expect(verifyProofBundle(tampered, [signer.verifierKey])).toMatchObject({ ok: false, problems: [{ kind: 'event-modified' }] });
  });
});
