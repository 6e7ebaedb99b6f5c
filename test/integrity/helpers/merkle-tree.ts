/**
 * Test oracle: an in-memory RFC 6962 Merkle tree that keeps every perfect subtree hash, an
 * implementation independent of the receiver's streaming `TreeState` and of the proof functions
 * over a `LeafSource`, against which the tests check roots and proofs. Not shipped: production
 * code builds trees with `TreeState` and proves from `tiledLeafSource`.
 */
import { AuditError } from '@otel-audit/core';
import {
  consistencyProofRanges,
  EMPTY_ROOT,
  HASH_SIZE,
  hexToHash,
  inclusionProofRanges,
  type LeafInput,
  type LeafSource,
  leafHash,
  nodeHash,
  splitPoint,
} from '../../../integrity/merkle.ts';

function leafBytes(leaf: LeafInput, index: number): Uint8Array {
  return typeof leaf === 'string' ? hexToHash(leaf, `leaf ${index}`) : leaf;
}

function isPowerOfTwo(n: number): boolean {
  return n >= 1 && 2 ** Math.round(Math.log2(n)) === n;
}

function log2Exact(n: number): number {
  return Math.round(Math.log2(n));
}

/**
 * An in-memory Merkle tree that keeps every perfect subtree hash (about 2n hashes, 64 bytes per
 * leaf), so roots and proofs for any tree size ≤ n cost O(log n). Also a {@link LeafSource} with a
 * node cache. Build cost: O(n) hashing.
 */
export class MerkleTree implements LeafSource {
  /** levels[l] holds the perfect subtree hashes of height l, 32 bytes each, contiguous. */
  readonly #levels: Buffer[] = [];
  readonly #leaves: Uint8Array[] = [];
  #size = 0;

  /** Build from leaf inputs (raw bytes or 64-hex entry hashes). */
  constructor(leaves: Iterable<LeafInput> = []) {
    for (const leaf of leaves) this.append(leaf);
  }

  /** Number of leaves. */
  get size(): number {
    return this.#size;
  }

  /** Append one leaf input. Amortized O(1) hashing. */
  append(leaf: LeafInput): void {
    const bytes = leafBytes(leaf, this.#size);
    this.#leaves.push(bytes);
    let h = leafHash(bytes);
    let level = 0;
    let index = this.#size;
    for (;;) {
      this.#put(level, index, h);
      if (index % 2 === 0) break;
      h = nodeHash(this.#get(level, index - 1), h);
      index = (index - 1) / 2;
      level++;
    }
    this.#size++;
  }

  #put(level: number, index: number, h: Uint8Array): void {
    let buf = this.#levels[level];
    const need = (index + 1) * HASH_SIZE;
    if (buf === undefined || buf.length < need) {
      const grown = Buffer.alloc(Math.max(need, (buf?.length ?? 0) * 2, 64 * HASH_SIZE));
      if (buf !== undefined) buf.copy(grown);
      buf = grown;
      this.#levels[level] = buf;
    }
    buf.set(h, index * HASH_SIZE);
  }

  #get(level: number, index: number): Buffer {
    return this.#levels[level]!.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  }

  /** {@link LeafSource.getLeaves}: the stored leaf inputs. */
  getLeaves(start: number, end: number): Uint8Array[] {
    return this.#leaves.slice(start, end);
  }

  /** {@link LeafSource.getSubtreeHash}: every complete perfect subtree is cached. */
  getSubtreeHash(level: number, index: number): Uint8Array | undefined {
    const width = 2 ** level;
    if (level >= this.#levels.length || (index + 1) * width > this.#size) return undefined;
    return Buffer.from(this.#get(level, index));
  }

  /** MTH(D[start:end]), synchronously, O(log n). */
  rangeRoot(start: number, end: number): Buffer {
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start <= end && end <= this.#size)) {
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `range [${start}, ${end}) is not within the tree of size ${this.#size}`);
    }
    const n = end - start;
    if (n === 0) return Buffer.from(EMPTY_ROOT);
    if (isPowerOfTwo(n) && start % n === 0) return Buffer.from(this.#get(log2Exact(n), start / n));
    const k = splitPoint(n);
    return nodeHash(this.rangeRoot(start, start + k), this.rangeRoot(start + k, end));
  }

  /** MTH of the first `size` leaves (default: all). */
  root(size: number = this.#size): Buffer {
    return this.rangeRoot(0, size);
  }

  /** Inclusion proof of leaf `index` in the tree of the first `size` leaves (default: all). */
  inclusionProof(index: number, size: number = this.#size): Buffer[] {
    this.#checkTreeSize(size);
    return inclusionProofRanges(index, size).map(([s, e]) => this.rangeRoot(s, e));
  }

  /** Consistency proof from the first `first` leaves to the first `second` (default: all). */
  consistencyProof(first: number, second: number = this.#size): Buffer[] {
    this.#checkTreeSize(second);
    return consistencyProofRanges(first, second).map(([s, e]) => this.rangeRoot(s, e));
  }

  #checkTreeSize(size: number): void {
    if (size > this.#size) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `tree size ${size} exceeds the ${this.#size} leaves held`);
  }
}
