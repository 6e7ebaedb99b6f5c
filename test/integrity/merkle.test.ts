import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  arrayLeafSource,
  consistencyProof,
  EMPTY_ROOT,
  hashToHex,
  inclusionProof,
  leafHash,
  merkleRoot,
  nodeHash,
  rootFromInclusionProof,
  TreeState,
  tiledLeafSource,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from '../../integrity/index.ts';
import { isHashHex, sha256 } from '../../integrity/merkle.ts';
import { MerkleTree } from './helpers/merkle-tree.ts';

interface Vectors {
  hasher: { emptyRoot: string; emptyLeafHash: string; leafHashOf_L123456: string; nodeHashOf_N123_N456: string };
  leaves: string[];
  nodeHashes: string[][];
  rootsBySize: string[];
  inclusionProofs: Array<{ leaf: number; size: number; proof: string[] }>;
  consistencyProofs: Array<{ size1: number; size2: number; proof: string[] }>;
  consistencyHappyPathBase64: { size1: number; size2: number; root1: string; root2: string; proof: string[] };
}

const vectors = JSON.parse(readFileSync(new URL('./vectors/rfc6962-transparency-dev.json', import.meta.url), 'utf8')) as Vectors;
const hb = (hex: string): Buffer => Buffer.from(hex, 'hex');
const leaves = vectors.leaves.map(hb);

/** Entry-like leaves: 32-byte hashes, as otel-audit uses them. */
function entryLeaves(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => sha256(Buffer.from(`entry ${i}`)));
}

/** Naive RFC 6962 §2.1 MTH by direct recursion — the reference the optimized code is checked against. */
function referenceRoot(list: Uint8Array[]): Buffer {
  if (list.length === 0) return sha256(new Uint8Array(0));
  if (list.length === 1) return leafHash(list[0]!);
  let k = 1;
  while (k * 2 < list.length) k *= 2;
  return nodeHash(referenceRoot(list.slice(0, k)), referenceRoot(list.slice(k)));
}

describe('RFC 6962 hashing — published vectors (transparency-dev/merkle)', () => {
  it('hasher vectors', () => {
    expect(hashToHex(EMPTY_ROOT)).toBe(vectors.hasher.emptyRoot);
    expect(hashToHex(leafHash(new Uint8Array(0)))).toBe(vectors.hasher.emptyLeafHash);
    expect(hashToHex(leafHash(Buffer.from('L123456')))).toBe(vectors.hasher.leafHashOf_L123456);
    expect(hashToHex(nodeHash(Buffer.from('N123'), Buffer.from('N456')))).toBe(vectors.hasher.nodeHashOf_N123_N456);
  });

  it('roots for every tree size 0..8 (batch, incremental and in-memory tree)', async () => {
    const state = new TreeState();
    const tree = new MerkleTree(leaves);
    for (let size = 0; size <= 8; size++) {
      expect(hashToHex(merkleRoot(leaves.slice(0, size)))).toBe(vectors.rootsBySize[size]);
      expect(hashToHex(state.root())).toBe(vectors.rootsBySize[size]);
      expect(hashToHex(tree.root(size))).toBe(vectors.rootsBySize[size]);
      expect(hashToHex(await treeRoot(arrayLeafSource(leaves), size))).toBe(vectors.rootsBySize[size]);
      if (size < 8) state.append(leaves[size]!);
    }
  });

  it('node hashes of all perfect subtrees', () => {
    const tree = new MerkleTree(leaves);
    vectors.nodeHashes.forEach((level, l) => {
      level.forEach((h, i) => {
        expect(hashToHex(tree.getSubtreeHash(l, i)!)).toBe(h);
      });
    });
  });

  it('inclusion proofs: generated equal the published ones and verify', async () => {
    const tree = new MerkleTree(leaves);
    for (const v of vectors.inclusionProofs) {
      const index = v.leaf - 1;
      expect(tree.inclusionProof(index, v.size).map(hashToHex)).toEqual(v.proof);
      expect((await inclusionProof(arrayLeafSource(leaves), index, v.size)).map(hashToHex)).toEqual(v.proof);
      const root = hb(vectors.rootsBySize[v.size]!);
      expect(verifyInclusion(index, v.size, leafHash(leaves[index]!), v.proof.map(hb), root)).toEqual({ ok: true });
    }
  });

  it('consistency proofs: generated equal the published ones and verify', async () => {
    const tree = new MerkleTree(leaves);
    for (const v of vectors.consistencyProofs) {
      expect(tree.consistencyProof(v.size1, v.size2).map(hashToHex)).toEqual(v.proof);
      expect((await consistencyProof(arrayLeafSource(leaves), v.size1, v.size2)).map(hashToHex)).toEqual(v.proof);
      const r1 = hb(vectors.rootsBySize[v.size1]!);
      const r2 = hb(vectors.rootsBySize[v.size2]!);
      expect(verifyConsistency(v.size1, v.size2, r1, r2, v.proof.map(hb))).toEqual({ ok: true });
    }
    const b = vectors.consistencyHappyPathBase64;
    const b64 = (s: string) => Buffer.from(s, 'base64');
    expect(verifyConsistency(b.size1, b.size2, b64(b.root1), b64(b.root2), b.proof.map(b64))).toEqual({ ok: true });
  });

  it('corrupted inclusion proofs fail (probes of verify_test.go corruptInclusionProof)', () => {
    const someHash = hb('abacaba000000000000000000000000000000000000000000060061e00123456');
    for (const v of vectors.inclusionProofs.slice(1)) {
      const index = v.leaf - 1;
      const proof = v.proof.map(hb);
      const root = hb(vectors.rootsBySize[v.size]!);
      const lh = leafHash(leaves[index]!);
      const probes: Array<[number, number, Buffer, Buffer[], Buffer]> = [
        [index - 1, v.size, lh, proof, root],
        [index + 1, v.size, lh, proof, root],
        [index ^ 2, v.size, lh, proof, root],
        [index, v.size * 2, lh, proof, root],
        [index, Math.floor(v.size / 2), lh, proof, root],
        [index, v.size, sha256(Buffer.from('WrongLeaf')), proof, root],
        [index, v.size, lh, proof, EMPTY_ROOT],
        [index, v.size, lh, proof, someHash],
        [index, v.size, lh, [...proof, root], root],
        [index, v.size, lh, [root, ...proof], root],
        [index, v.size, lh, proof.slice(0, -1), root],
      ];
      proof.forEach((_, i) => {
        const wrong = proof.map((p) => Buffer.from(p));
        wrong[i]![0]! ^= 8;
        probes.push([index, v.size, lh, wrong, root]);
      });
      for (const [i, s, l, p, r] of probes) expect(verifyInclusion(i, s, l, p, r).ok).toBe(false);
    }
  });

  it('corrupted consistency proofs fail (probes of verify_test.go corruptConsistencyProof)', () => {
    for (const v of vectors.consistencyProofs.filter((c) => c.proof.length > 0)) {
      const proof = v.proof.map(hb);
      const r1 = hb(vectors.rootsBySize[v.size1]!);
      const r2 = hb(vectors.rootsBySize[v.size2]!);
      const probes: Array<[number, number, Buffer, Buffer, Buffer[]]> = [
        [v.size1 - 1, v.size2, r1, r2, proof],
        [v.size1 + 1, v.size2, r1, r2, proof],
        [v.size1 ^ 2, v.size2, r1, r2, proof],
        [v.size1, v.size2 * 2, r1, r2, proof],
        [v.size1, Math.floor(v.size2 / 2), r1, r2, proof],
        [v.size1, v.size2, sha256(Buffer.from('WrongRoot')), r2, proof],
        [v.size1, v.size2, r1, sha256(Buffer.from('WrongRoot')), proof],
        [v.size1, v.size2, r2, r1, proof],
        [v.size1, v.size2, r1, r2, []],
        [v.size1, v.size2, r1, r2, [...proof, r1]],
        [v.size1, v.size2, r1, r2, [...proof, r2]],
        [v.size1, v.size2, r1, r2, [r1, ...proof]],
        [v.size1, v.size2, r1, r2, [r2, ...proof]],
        [v.size1, v.size2, r1, r2, [proof[0]!, ...proof]],
        [v.size1, v.size2, r1, r2, proof.slice(0, -1)],
      ];
      proof.forEach((_, i) => {
        const wrong = proof.map((p) => Buffer.from(p));
        wrong[i]![0]! ^= 16;
        probes.push([v.size1, v.size2, r1, r2, wrong]);
      });
      for (const [s1, s2, a, b, p] of probes) expect(verifyConsistency(s1, s2, a, b, p).ok).toBe(false);
    }
  });

  it('special cases of consistency (verify_test.go TestVerifyConsistency)', () => {
    const a = sha256(Buffer.from("don't care 1"));
    const b = sha256(Buffer.from("don't care 2"));
    expect(verifyConsistency(0, 0, a, b, []).ok).toBe(false);
    expect(verifyConsistency(1, 1, a, b, []).ok).toBe(false);
    expect(verifyConsistency(0, 0, a, a, []).ok).toBe(true);
    expect(verifyConsistency(0, 1, a, b, []).ok).toBe(true);
    expect(verifyConsistency(1, 1, b, b, []).ok).toBe(true);
    expect(verifyConsistency(1, 0, a, b, []).ok).toBe(false);
    expect(verifyConsistency(2, 1, a, b, []).ok).toBe(false);
    expect(verifyConsistency(1, 2, a, b, []).ok).toBe(false);
    expect(verifyConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]).ok).toBe(false);
    expect(verifyConsistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]).ok).toBe(false);
    expect(verifyConsistency(1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]).ok).toBe(false);
  });
});

describe('Merkle tree over 32-byte entry hashes', () => {
  it('optimized roots equal the naive RFC 6962 recursion for sizes 0..70', () => {
    const all = entryLeaves(70);
    const state = new TreeState();
    const tree = new MerkleTree();
    for (let n = 0; n <= 70; n++) {
      const want = hashToHex(referenceRoot(all.slice(0, n)));
      expect(hashToHex(state.root())).toBe(want);
      expect(hashToHex(tree.root())).toBe(want);
      if (n < 70) {
        state.append(all[n]!);
        tree.append(hashToHex(all[n]!));
      }
    }
  });

  it.each([1, 2, 3, 7, 8, 1000])('size %i: proofs for the first, middle and last leaf verify; tampered ones fail', async (size) => {
    const all = entryLeaves(size);
    const tree = new MerkleTree(all);
    const root = tree.root();
    expect(root.equals(referenceRoot(all))).toBe(true);
    for (const index of new Set([0, Math.floor(size / 2), size - 1])) {
      const path = tree.inclusionProof(index);
      const viaSource = await inclusionProof(arrayLeafSource(all), index, size);
      expect(viaSource.map(hashToHex)).toEqual(path.map(hashToHex));
      const lh = leafHash(all[index]!);
      expect(verifyInclusion(index, size, lh, path, root)).toEqual({ ok: true });
      expect(rootFromInclusionProof(index, size, lh, path)).toMatchObject({ ok: true });
      if (size > 1) expect(verifyInclusion((index + 1) % size, size, lh, path, root).ok).toBe(false);
      expect(verifyInclusion(index, size, leafHash(sha256(Buffer.from('forged'))), path, root).ok).toBe(false);
      for (let i = 0; i < path.length; i++) {
        const wrong = path.map((p) => Buffer.from(p));
        wrong[i]![31]! ^= 1;
        expect(verifyInclusion(index, size, lh, wrong, root).ok).toBe(false);
      }
    }
  });

  it('consistency proofs between every pair of sizes up to 40 verify, from a tree and from a plain source', async () => {
    const all = entryLeaves(40);
    const tree = new MerkleTree(all);
    const source = arrayLeafSource(all);
    for (let m = 0; m <= 40; m++) {
      for (let n = m; n <= 40; n++) {
        const proof = tree.consistencyProof(m, n);
        expect(verifyConsistency(m, n, tree.root(m), tree.root(n), proof)).toEqual({ ok: true });
        if (m > 0 && m < n && n % 7 === 0) {
          expect((await consistencyProof(source, m, n)).map(hashToHex)).toEqual(proof.map(hashToHex));
          // A tree whose first m leaves differ is not consistent.
          const forked = new MerkleTree([sha256(Buffer.from('fork')), ...all.slice(1, m)]);
          expect(verifyConsistency(m, n, forked.root(), tree.root(n), proof).ok).toBe(false);
        }
      }
    }
  });

  it('tree state snapshots round-trip and are validated', () => {
    const state = new TreeState();
    for (const l of entryLeaves(13)) state.append(l);
    const snap = state.snapshot();
    expect(snap.nodes).toHaveLength(3);
    const back = TreeState.fromSnapshot(JSON.parse(JSON.stringify(snap)));
    expect(back.root().equals(state.root())).toBe(true);
    expect(() => TreeState.fromSnapshot({ size: 13, nodes: snap.nodes.slice(1) })).toThrow(/needs 3 frontier node/);
  });

  it('tiles: the tree state reports every completed 256-leaf tile; proofs from tiles read ≤ 256 leaves', async () => {
    const all = entryLeaves(3000);
    const tree = new MerkleTree(all);
    const state = new TreeState();
    const tiles: string[] = [];
    state.onTile = (index, hash) => {
      expect(index).toBe(tiles.length);
      tiles.push(hashToHex(hash));
    };
    for (const l of all) state.append(l);
    expect(tiles).toHaveLength(11);
    tiles.forEach((t, i) => {
      expect(t).toBe(hashToHex(tree.getSubtreeHash(8, i)!));
    });
    let fetched = 0;
    const source = tiledLeafSource({
      getLeaves: (start, end) => {
        fetched += end - start;
        return all.slice(start, end);
      },
      getTile: (i) => tiles[i],
    });
    for (const index of [0, 255, 256, 1500, 2815, 2816, 2999]) {
      fetched = 0;
      const path = await inclusionProof(source, index, 3000);
      expect(path.map(hashToHex)).toEqual(tree.inclusionProof(index).map(hashToHex));
      expect(fetched).toBeLessThanOrEqual(256 + 184);
    }
    fetched = 0;
    expect((await consistencyProof(source, 1234, 3000)).map(hashToHex)).toEqual(tree.consistencyProof(1234, 3000).map(hashToHex));
    expect(fetched).toBeLessThanOrEqual(3 * 256);
  });

  it('a leaf source that returns the wrong number of leaves is an error', async () => {
    await expect(inclusionProof({ getLeaves: () => [] }, 0, 4)).rejects.toThrow(/returned 0 leaves/);
  });
});

describe('isHashHex', () => {
  it('accepts exactly 64 lower-case hex digits and nothing else', () => {
    const ok = '0123456789abcdef'.repeat(4);
    expect(isHashHex(ok)).toBe(true);
    expect(isHashHex(ok.toUpperCase())).toBe(false);
    expect(isHashHex(ok.slice(1))).toBe(false);
    expect(isHashHex(`${ok}0`)).toBe(false);
    expect(isHashHex(123)).toBe(false);
    expect(isHashHex(undefined)).toBe(false);
    // Every character just outside the ranges 0-9 and a-f, at every position.
    for (const bad of ['/', ':', '`', 'g', 'A', ' ', '\u0660']) {
      for (const at of [0, 31, 63]) expect(isHashHex(ok.slice(0, at) + bad + ok.slice(at + 1)), `${bad} at ${at}`).toBe(false);
    }
  });
});
