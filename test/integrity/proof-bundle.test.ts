import { describe, expect, it } from 'vitest';
import {
  type CheckpointRecord,
  createCheckpointer,
  createProofBundle,
  createVerifierSet,
  type ProofBundle,
  proveEntry,
  tiledLeafSource,
  verifyProofBundle,
} from '../../integrity/index.ts';
import { MerkleTree } from './helpers/merkle-tree.ts';
import { checkpointsAt, clone, makeChain, newSigner } from './helpers.ts';

const signer = newSigner();
const keys = [signer.verifierKey];

async function bundleFor(size: number, seq: number): Promise<{ bundle: ProofBundle; record: CheckpointRecord }> {
  const chain = makeChain(size);
  const [record] = await checkpointsAt(chain, [size], signer);
  const tree = new MerkleTree(chain.map((e) => e.hash));
  const entry = chain[seq - 1]!;
  const bundle = await proveEntry({ event: entry.event, entry, checkpoint: record!, leaves: tree });
  return { bundle, record: record! };
}

/** Flip one character of a string to another valid-looking one. */
function flipChar(s: string, i: number): string {
  const c = s[i]!;
  const replacement = c === 'a' ? 'b' : c === '0' ? '1' : /[0-9]/.test(c) ? '0' : /[a-z]/.test(c) ? 'a' : /[A-Z]/.test(c) ? 'A' : 'x';
  return s.slice(0, i) + replacement + s.slice(i + 1);
}

describe('proof bundles', () => {
  it.each([1, 2, 3, 7, 8, 1000])('tree of size %i: first, middle and last leaf verify offline', async (size) => {
    for (const seq of new Set([1, Math.ceil(size / 2), size])) {
      const { bundle, record } = await bundleFor(size, seq);
      // The test chains are chain format 2, so the bundles are version 2 and name the format.
      expect(bundle).toMatchObject({
        format: 'otel-audit.proof-bundle',
        version: 2,
        entry: { chainVersion: 2 },
        leafIndex: seq - 1,
        treeSize: size,
      });
      const res = verifyProofBundle(clone(bundle), keys);
      expect(res).toEqual({
        ok: true,
        chainId: 'acme/host-1',
        seq,
        eventId: bundle.event.eventId,
        leafIndex: seq - 1,
        treeSize: size,
        rootHash: record.rootHash,
        origin: 'otel-audit/host-1/acme',
        signedBy: [`${signer.name}+${signer.keyIdHex}`],
      });
    }
  });

  it('altering any byte of the event fails with event-modified', async () => {
    const { bundle } = await bundleFor(7, 4);
    const text = JSON.stringify(bundle.event);
    let checked = 0;
    for (let i = 0; i < text.length; i++) {
      const altered = flipChar(text, i);
      if (altered === text) continue;
      let event: unknown;
      try {
        event = JSON.parse(altered);
      } catch {
        continue; // not JSON any more: not a meaningful tampering of the event
      }
      if (JSON.stringify(event) === text) continue;
      const res = verifyProofBundle({ ...clone(bundle), event }, keys);
      expect(res.ok, `byte ${i}`).toBe(false);
      if (!res.ok) expect(res.problems.map((p) => p.kind)).toContain('event-modified');
      checked++;
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('altering any byte of the inclusion path fails', async () => {
    const { bundle } = await bundleFor(1000, 500);
    expect(bundle.inclusionPath.length).toBe(10);
    for (let p = 0; p < bundle.inclusionPath.length; p++) {
      for (let i = 0; i < 64; i++) {
        const b = clone(bundle);
        b.inclusionPath[p] = flipChar(b.inclusionPath[p]!, i);
        if (b.inclusionPath[p] === bundle.inclusionPath[p]) continue;
        const res = verifyProofBundle(b, keys);
        expect(res.ok).toBe(false);
        if (!res.ok) expect(res.problems.map((x) => x.kind)).toEqual(['root-mismatch']);
      }
    }
    const shorter = clone(bundle);
    shorter.inclusionPath.pop();
    expect(verifyProofBundle(shorter, keys)).toMatchObject({ ok: false, problems: [{ kind: 'inclusion-proof-invalid' }] });
  });

  it('altering any byte of the checkpoint fails', async () => {
    const { bundle } = await bundleFor(8, 3);
    const note = bundle.checkpoint;
    for (let i = 0; i < note.length; i++) {
      const altered = flipChar(note, i);
      if (altered === note) continue;
      const res = verifyProofBundle({ ...clone(bundle), checkpoint: altered }, keys);
      expect(res.ok, `char ${i} (${JSON.stringify(note[i])})`).toBe(false);
    }
  });

  it('entry metadata, position and size tampering are named', async () => {
    const { bundle } = await bundleFor(8, 3);
    const kinds = (b: unknown) => {
      const r = verifyProofBundle(b, keys);
      return r.ok ? [] : r.problems.map((p) => p.kind);
    };
    expect(kinds({ ...clone(bundle), leafIndex: 3 })).toContain('leaf-index-mismatch');
    expect(kinds({ ...clone(bundle), entry: { ...bundle.entry, seq: 4 } })).toContain('leaf-index-mismatch');
    expect(kinds({ ...clone(bundle), entry: { ...bundle.entry, prevHash: 'ab'.repeat(32) } })).toEqual(['event-modified']);
    expect(kinds({ ...clone(bundle), entry: { ...bundle.entry, chainId: 'acme/host-2' } })).toEqual(['origin-mismatch']);
    expect(kinds({ ...clone(bundle), treeSize: 9 })).toEqual(expect.arrayContaining(['tree-size-mismatch']));
    expect(kinds({ ...clone(bundle), version: 3 })).toEqual(['unsupported-version']);
    // Version 2 names the chain format in the entry: without it, or with it in a version 1 bundle,
    // the bundle is malformed; claiming format 1 for a format 2 entry makes the hash recompute differently.
    const { chainVersion: _v, ...entryWithout } = clone(bundle).entry;
    expect(kinds({ ...clone(bundle), entry: entryWithout })).toEqual(['malformed-bundle']);
    expect(kinds({ ...clone(bundle), version: 1 })).toEqual(['malformed-bundle']);
    expect(kinds({ ...clone(bundle), entry: { ...clone(bundle).entry, chainVersion: 1 } })).toEqual(['event-modified']);
    expect(kinds({ ...clone(bundle), entry: { ...clone(bundle).entry, chainVersion: 3 } })).toEqual(['malformed-bundle']);
    expect(kinds('nope')).toEqual(['malformed-bundle']);
    expect(kinds({ ...clone(bundle), inclusionPath: ['zz'] })).toEqual(['malformed-bundle']);
  });

  it('a checkpoint signed by another key, or with a bad signature, fails; rotation keeps old proofs valid', async () => {
    const { bundle } = await bundleFor(8, 3);
    const other = newSigner();
    expect(verifyProofBundle(bundle, [other.verifierKey])).toMatchObject({ ok: false, problems: [{ kind: 'unknown-key' }] });
    const sigLine = bundle.checkpoint.split('\n').find((l) => l.startsWith('\u2014'))!;
    const sig = sigLine.split(' ')[2]!;
    const badSig = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11);
    expect(verifyProofBundle({ ...bundle, checkpoint: bundle.checkpoint.replace(sig, badSig) }, keys)).toMatchObject({
      ok: false,
      problems: [{ kind: 'bad-signature' }],
    });
    // Rotation: a verifier set holding the new and the old key still accepts proofs signed by the old one.
    expect(verifyProofBundle(bundle, createVerifierSet([other.verifierKey, signer.verifierKey])).ok).toBe(true);
  });

  it('createProofBundle assembles a bundle from parts (as the prove command will)', async () => {
    const chain = makeChain(5);
    const [record] = await checkpointsAt(chain, [5], signer);
    const tree = new MerkleTree(chain.map((e) => e.hash));
    const e = chain[1]!;
    const bundle = createProofBundle({ event: e.event, entry: e, inclusionPath: tree.inclusionProof(1, 5), checkpoint: record!.note });
    expect(bundle.treeSize).toBe(5);
    expect(verifyProofBundle(bundle, keys).ok).toBe(true);
    await expect(proveEntry({ event: e.event, entry: { ...e, seq: 6 }, checkpoint: record!, leaves: tree })).rejects.toThrow(/not covered/);
  });

  it('end to end like a store: checkpoint records with tiles + stored hashes → proof → offline verification', async () => {
    const chain = makeChain(1500);
    const cp = createCheckpointer({ signer, policy: { everyEntries: 400, everyMillis: 1e9 } });
    const records: CheckpointRecord[] = [];
    for (const e of chain) if (cp.append(e).due) records.push(...(await cp.checkpointDue()));
    records.push(...(await cp.stop()));
    // What a store keeps: entry hashes by seq, and the tile hashes of all records.
    const storedHashes = chain.map((e) => e.hash);
    const tiles: string[] = [];
    for (const r of records)
      if (r.tiles)
        r.tiles.hashes.forEach((h, i) => {
          tiles[r.tiles!.first + i] = h;
        });
    let leavesRead = 0;
    const source = tiledLeafSource({
      getLeaves: (start, end) => {
        leavesRead += end - start;
        return storedHashes.slice(start, end);
      },
      getTile: (i) => tiles[i],
    });
    const last = records[records.length - 1]!;
    for (const seq of [1, 700, 1024, 1500]) {
      leavesRead = 0;
      const e = chain[seq - 1]!;
      const bundle = await proveEntry({ event: e.event, entry: e, checkpoint: last, leaves: source });
      expect(leavesRead).toBeLessThanOrEqual(256 + 256);
      expect(verifyProofBundle(JSON.parse(JSON.stringify(bundle)), keys)).toMatchObject({ ok: true, seq, treeSize: 1500 });
    }
  });
});
