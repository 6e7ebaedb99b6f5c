/** The worked example of docs/integrity.md, computed by the library (see docs-example.test.ts). */

import type { AuditEvent } from '@otel-audit/schema';
import { canonicalEventJson, computeEntryHash, GENESIS_HASH } from '../../integrity/chain-hash.ts';
import { checkpointOrigin, createProofBundle, hashToHex, leafHash, noteSignerFromSeed, signCheckpoint } from '../../integrity/index.ts';
import { sha256 } from '../../integrity/merkle.ts';
import { MerkleTree } from './helpers/merkle-tree.ts';

/** Build the example: three events of tenant acme on receiver instance receiver-1. */
export function docsExample() {
  const chainId = 'acme/receiver-1';
  const events: AuditEvent[] = [1, 2, 3].map(
    (i) =>
      ({
        eventId: `0193a1b2-c3d4-7e5f-8a9b-00000000000${i}`,
        schemaVersion: '1.0',
        occurredAt: `2026-11-22T10:00:0${i}.000000000Z`,
        action: i === 2 ? 'grant.issue' : 'user.login',
        outcome: 'success',
        actor: { id: 'u-1', type: 'user' },
        tenant: { id: 'acme' },
      }) as AuditEvent,
  );
  let prev = GENESIS_HASH;
  const entries = events.map((event, i) => {
    // Chain format 1: the Merkle, checkpoint and proof values of the document were computed over it.
    const hash = computeEntryHash(prev, event, 1);
    const e = {
      chainId,
      seq: i + 1,
      prevHash: prev,
      hash,
      event,
      canonical: canonicalEventJson(event),
      leafHash: hashToHex(leafHash(Buffer.from(hash, 'hex'))),
    };
    prev = hash;
    return e;
  });
  const tree = new MerkleTree(entries.map((e) => e.hash));
  const signer = noteSignerFromSeed('otel-audit/receiver-1', sha256(Buffer.from('otel-audit docs example key — never use')));
  const origin = checkpointOrigin(chainId);
  const note = signCheckpoint({ origin, treeSize: 3, rootHash: tree.root() }, signer);
  const path = tree.inclusionProof(1, 3);
  const bundle = createProofBundle({ event: entries[1]!.event, entry: entries[1]!, inclusionPath: path, checkpoint: note });
  return {
    chainId,
    entries,
    root: hashToHex(tree.root()),
    origin,
    note,
    signer,
    path: path.map(hashToHex),
    bundle,
    node01: hashToHex(tree.rangeRoot(0, 2)),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const ex = docsExample();
  console.log(JSON.stringify({ ...ex, signer: { verifierKey: ex.signer.verifierKey, keyId: ex.signer.keyIdHex } }, null, 2));
}
