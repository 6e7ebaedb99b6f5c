import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import {
  type ChainEntryInput,
  type ChainProblem,
  type CheckpointRecord,
  computeEntryHash,
  fastCanonicalJson,
  fastEntryHash,
  verifyChainEntries,
} from '../../integrity/index.ts';
import { checkpointsAt, clone, makeChain, makeEvent, newSigner, type TestEntry } from './helpers.ts';

const signer = newSigner();
const keys = [signer.verifierKey];

async function* feed(entries: ReadonlyArray<ChainEntryInput>): AsyncIterable<ChainEntryInput> {
  for (const e of entries) yield e;
}

async function setup(n = 40, sizes = [10, 25, 40]): Promise<{ chain: TestEntry[]; checkpoints: CheckpointRecord[] }> {
  const chain = makeChain(n);
  return { chain, checkpoints: await checkpointsAt(chain, sizes, signer) };
}

function summary(problems: ChainProblem[]): string[] {
  return problems.map((p) => `${p.kind}@${p.seq ?? p.treeSize ?? '-'}${p.seqTo !== undefined && p.seqTo !== p.seq ? `..${p.seqTo}` : ''}`);
}

describe('verifyChainEntries', () => {
  it('intact chains verify, all checkpoints checked', async () => {
    const { chain, checkpoints } = await setup();
    const other = makeChain(12, 'globex/host-1');
    const otherCps = await checkpointsAt(other, [12], signer);
    const res = await verifyChainEntries(feed([...chain, ...other]), { checkpoints: [...checkpoints, ...otherCps], verifierKeys: keys });
    expect(res.problems).toEqual([]);
    expect(res.ok).toBe(true);
    expect(res.stats).toMatchObject({
      chains: 2,
      entries: 52,
      checkpoints: 4,
      checkpointsVerified: 4,
      checkpointsUnchecked: 0,
      uncoveredEntries: 0,
      problemCount: 0,
    });
    const tail = await verifyChainEntries(feed(chain), { checkpoints: checkpoints.slice(0, 2), verifierKeys: keys });
    expect(tail.stats.uncoveredEntries).toBe(15);

    // The same from a plain array and from an async feed of batches.
    const all = [...chain, ...other];
    expect((await verifyChainEntries(all, { checkpoints: [...checkpoints, ...otherCps], verifierKeys: keys })).ok).toBe(true);
    async function* batches(): AsyncIterable<ChainEntryInput[]> {
      for (let i = 0; i < all.length; i += 7) yield all.slice(i, i + 7);
    }
    const viaBatches = await verifyChainEntries(batches(), { checkpoints: [...checkpoints, ...otherCps], verifierKeys: keys });
    expect(viaBatches).toMatchObject({ ok: true, stats: { entries: 52, checkpointsVerified: 4 } });
  });

  it('an edited event is "modified" at its seq (and breaks the signed root of its range)', async () => {
    const { chain, checkpoints } = await setup();
    const tampered = clone(chain);
    (tampered[16]!.event as { action: string }).action = 'grant.revoke';
    const res = await verifyChainEntries(feed(tampered), { checkpoints, verifierKeys: keys });
    expect(summary(res.problems)).toEqual(['modified@17', 'root-mismatch@11..25']);
    expect(res.problems[0]!.message).toMatch(/seq 17: stored hash .* but the event hashes to/);
  });

  it('an edited and re-hashed event is located by the broken link after it', async () => {
    const { chain, checkpoints } = await setup();
    const tampered = clone(chain);
    (tampered[16]!.event as { outcome: string }).outcome = 'failure';
    tampered[16]!.hash = computeEntryHash(tampered[16]!.prevHash, tampered[16]!.event);
    const res = await verifyChainEntries(feed(tampered), { checkpoints, verifierKeys: keys });
    expect(summary(res.problems)).toEqual(['root-mismatch@11..25', 'bad-prev-link@18']);
    expect(res.problems[1]!.message).toMatch(/seq 17 was modified and re-hashed, or the prevHash of seq 18 was altered/);
  });

  it('a deleted entry is "missing"; a deleted tail is "truncated"', async () => {
    const { chain, checkpoints } = await setup();
    const res = await verifyChainEntries(feed(chain.filter((e) => e.seq !== 12)), { checkpoints, verifierKeys: keys });
    expect(summary(res.problems)).toEqual(['missing@12']);
    // Checkpoint 25 cannot be recomputed after the gap; verification resumes from its signed frontier, so 40 is checked.
    expect(res.stats.checkpointsVerified).toBe(2);
    const res2 = await verifyChainEntries(feed(chain.slice(0, 33)), { checkpoints, verifierKeys: keys });
    expect(summary(res2.problems)).toEqual(['truncated@34..40']);
    const res3 = await verifyChainEntries(feed(chain.filter((e) => e.seq < 5 || e.seq > 7)), { checkpoints, verifierKeys: keys });
    expect(summary(res3.problems)).toEqual(['missing@5..7']);
    expect(res3.problems[0]!.message).toBe('seq 5..7 are missing (3 entries)');
  });

  it('a forged entry inserted with an existing seq is "inserted", whichever order the store returns', async () => {
    const { chain, checkpoints } = await setup();
    const forgedEvent = makeEvent(999);
    const forged = {
      chainId: 'acme/host-1',
      seq: 20,
      prevHash: chain[18]!.hash,
      hash: computeEntryHash(chain[18]!.hash, forgedEvent),
      event: forgedEvent,
    };
    for (const before of [true, false]) {
      const list = [...chain];
      list.splice(before ? 19 : 20, 0, forged);
      const res = await verifyChainEntries(feed(list), { checkpoints, verifierKeys: keys });
      expect(summary(res.problems)).toEqual(['inserted@20']);
      expect(res.problems[0]!.message).toContain(forged.hash);
    }
  });

  it('two entries with swapped seq are "reordered" and named', async () => {
    const { chain, checkpoints } = await setup();
    const list = clone(chain);
    list[14]!.seq = 16; // the entry of seq 15 now claims 16
    list[15]!.seq = 15; // and the one of 16 claims 15
    list.sort((a, b) => a.seq - b.seq);
    const res = await verifyChainEntries(feed(list), { checkpoints, verifierKeys: keys });
    expect(summary(res.problems)).toEqual(['root-mismatch@11..25', 'reordered@15..16']);
    expect(res.problems[1]!.message).toBe(
      'entries are out of order (by their hash links): the entry stored at seq 16 belongs at seq 15; the entry stored at seq 15 belongs at seq 16',
    );
    // Far apart too.
    const far = clone(chain);
    far[4]!.seq = 30;
    far[29]!.seq = 5;
    far.sort((a, b) => a.seq - b.seq);
    const res2 = await verifyChainEntries(feed(far), { checkpoints, verifierKeys: keys });
    // Only the ranges holding a moved entry mismatch: verification continues from each signed frontier.
    expect(summary(res2.problems)).toEqual(['root-mismatch@1..10', 'root-mismatch@26..40', 'reordered@5..30']);
  });

  it('checkpoint problems: bad signature, another key, inconsistent, forked, missing', async () => {
    const { chain, checkpoints } = await setup();
    const [c10, c25, c40] = checkpoints as [CheckpointRecord, CheckpointRecord, CheckpointRecord];
    const cut = c25.note.lastIndexOf(' ') + 12;
    const badSig = { ...c25, note: c25.note.slice(0, cut) + (c25.note[cut] === 'A' ? 'B' : 'A') + c25.note.slice(cut + 1) };
    let res = await verifyChainEntries(feed(chain), { checkpoints: [c10, badSig, c40], verifierKeys: keys });
    expect(summary(res.problems)).toEqual(['bad-signature@25']);
    const other = newSigner();
    const [byOther] = await checkpointsAt(chain, [25], other);
    res = await verifyChainEntries(feed(chain), { checkpoints: [c10, byOther!, c40], verifierKeys: keys });
    expect(summary(res.problems)).toEqual(['unknown-key@25']);
    // Rotation: with both keys trusted, checkpoints of both verify.
    res = await verifyChainEntries(feed(chain), {
      checkpoints: [
        c10,
        { ...byOther!, previousTreeSize: 10, previousRootHash: c10.rootHash, consistencyProof: c25.consistencyProof },
        c40,
      ],
      verifierKeys: [signer.verifierKey, other.verifierKey],
    });
    expect(res.ok).toBe(true);
    // A checkpoint of a different history (fork), properly signed.
    const forkChain = makeChain(40).map((e) => (e.seq === 3 ? { ...e, hash: 'cd'.repeat(32) } : e));
    const [, f25] = await checkpointsAt(forkChain, [10, 25], signer);
    res = await verifyChainEntries(feed(chain), { checkpoints: [c10, f25!, c40], verifierKeys: keys });
    expect(summary(res.problems)).toEqual(['inconsistent-checkpoint@25', 'root-mismatch@11..25']);
    res = await verifyChainEntries(feed(chain), { checkpoints: [c10, c25, f25!, c40], verifierKeys: keys });
    expect(summary(res.problems)).toContain('inconsistent-checkpoint@25');
    res = await verifyChainEntries(feed(chain), { checkpoints: [c10, c40], verifierKeys: keys });
    expect(summary(res.problems)).toEqual(['missing-checkpoint@25']);
    // Wrong origin: a checkpoint of another chain presented for this one.
    const wrongChain = { ...c10, chainId: 'globex/host-1' };
    res = await verifyChainEntries(feed([]), { checkpoints: [wrongChain], verifierKeys: keys });
    expect(summary(res.problems)).toEqual(['origin-mismatch@10']);
  });

  it('range verification starts from a checkpoint frontier and reports nothing before it', async () => {
    const { chain, checkpoints } = await setup();
    const res = await verifyChainEntries(feed(chain.slice(25)), { checkpoints, verifierKeys: keys, fromSeq: 26 });
    expect(res.problems).toEqual([]);
    expect(res.stats.checkpointsVerified).toBe(1);
    const tampered = clone(chain.slice(25));
    tampered[0]!.prevHash = 'ee'.repeat(32);
    tampered[0]!.hash = computeEntryHash(tampered[0]!.prevHash, tampered[0]!.event);
    const res2 = await verifyChainEntries(feed(tampered), { checkpoints, verifierKeys: keys, fromSeq: 26 });
    expect(summary(res2.problems)).toEqual(['root-mismatch@26..40', 'bad-prev-link@26', 'bad-prev-link@27']);
  });
});

describe('fast entry hash', () => {
  it('equals computeEntryHash / canonicalize on varied events and random JSON', () => {
    for (let i = 0; i < 200; i++) {
      const ev = makeEvent(i);
      expect(fastEntryHash('ab'.repeat(32), ev)).toBe(computeEntryHash('ab'.repeat(32), ev));
    }
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const strings = ['', 'a', '"q"', 'back\\slash', 'tab\tnl\n', '\u0000\u001f', 'é', '😀', '\u2028', 'Z', 'aa', '\u00e9', 'b'];
    const gen = (d: number): unknown => {
      const r = rnd();
      if (d > 3 || r < 0.3) return [1, -0, 0.1, 1e21, 1e-7, -5.5, 2 ** 53, true, false, null][Math.floor(rnd() * 10)];
      if (r < 0.5) return strings[Math.floor(rnd() * strings.length)];
      if (r < 0.7) return Array.from({ length: Math.floor(rnd() * 4) }, () => gen(d + 1));
      const o: Record<string, unknown> = {};
      for (let k = 0; k < Math.floor(rnd() * 5); k++) o[strings[Math.floor(rnd() * strings.length)]!] = gen(d + 1);
      return o;
    };
    for (let i = 0; i < 2000; i++) {
      const v = gen(0);
      expect(fastCanonicalJson(v)).toBe(canonicalize(v));
    }
    expect(fastCanonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(fastCanonicalJson({ s: '\ud800' })).toBeUndefined();
    expect(fastCanonicalJson(new Date(0))).toBeUndefined();
  });
});
