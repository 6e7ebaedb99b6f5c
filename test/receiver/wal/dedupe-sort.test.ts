import { describe, expect, it } from 'vitest';
import { compareIds } from '../../../receiver/wal/dedupe-run.ts';
import { sortIds } from '../../../receiver/wal/dedupe-window.ts';

/** A deterministic 32-bit generator (xorshift), so a failure reproduces. */
function words(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Ids as 5-word records (4 id words + seen second), built by `make(i)`. */
function table(n: number, make: (i: number) => [number, number, number, number]): Uint32Array {
  const ids = new Uint32Array(n * 5);
  for (let i = 0; i < n; i++) {
    ids.set(make(i), i * 5);
    ids[i * 5 + 4] = 1000 + i;
  }
  return ids;
}

/** The reference: a stable comparison sort by compareIds. */
function expected(ids: Uint32Array, order: Uint32Array): number[] {
  const w = (i: number, k: number) => ids[i * 5 + k]!;
  return Array.from(order).sort((x, y) => compareIds(w(x, 0), w(x, 1), w(x, 2), w(x, 3), w(y, 0), w(y, 1), w(y, 2), w(y, 3)));
}

function check(ids: Uint32Array, order: Uint32Array): void {
  const want = expected(ids, order);
  sortIds(ids, order);
  expect(Array.from(order)).toEqual(want);
}

describe('sortIds', () => {
  it('orders random ids as compareIds does (unsigned, word by word)', () => {
    const r = words(7);
    for (const n of [0, 1, 2, 100, 511, 512, 5000]) {
      const ids = table(n, () => [r(), r(), r(), r()]);
      check(
        ids,
        Uint32Array.from({ length: n }, (_, i) => i),
      );
    }
  });

  it('orders ids that share all but their last bits (UUIDv7 ids of one millisecond, a counter in the low bits)', () => {
    const r = words(11);
    // The load generator's shape: one prefix, the last 48 bits varying; some with the top bit set.
    const ids = table(20_000, () => [0x0190f3a0, 0x00007000, 0x80000000 | (r() & 0xffff), r()]);
    check(
      ids,
      Uint32Array.from({ length: 20_000 }, (_, i) => 19_999 - i),
    );
  });

  it('sorts a subset given by `order` and keeps equal ids in their given order', () => {
    const r = words(3);
    const ids = table(3000, (i) => (i % 3 === 0 ? [5, 6, 7, 8] : [r(), 0xffffffff, r() & 1, r()]));
    const order = Uint32Array.from({ length: 1500 }, (_, k) => 2 * k);
    check(ids, order);
    // The equal ids [5,6,7,8] come out in their input order (the reference sort is stable).
    const equal = Array.from(order).filter((i) => ids[i * 5] === 5 && ids[i * 5 + 1] === 6);
    expect(equal).toEqual([...equal].sort((a, b) => a - b));
  });
});
