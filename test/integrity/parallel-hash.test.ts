import { describe, expect, it } from 'vitest';
import { type ChainEntryInput, verifyChainEntries } from '../../integrity/index.ts';
import { withParallelEntryHashes } from './helpers/parallel-hash.ts';
import { checkpointsAt, clone, makeChain, newSigner } from './helpers.ts';

describe('parallel entry hashes', () => {
  it('worker threads recompute the same hashes; verification results are identical', async () => {
    const signer = newSigner();
    const chain = makeChain(3000);
    const checkpoints = await checkpointsAt(chain, [1000, 3000], signer);
    const keys = [signer.verifierKey];
    const batches: ChainEntryInput[][] = [];
    for await (const b of withParallelEntryHashes(chain, { workers: 2, batchSize: 256 })) batches.push(b);
    const flat = batches.flat();
    expect(flat.map((e) => e.seq)).toEqual(chain.map((e) => e.seq));
    expect(flat.every((e, i) => e.recomputedHash === chain[i]!.hash)).toBe(true);
    expect((await verifyChainEntries(withParallelEntryHashes(chain, { workers: 2 }), { checkpoints, verifierKeys: keys })).ok).toBe(true);

    const tampered = clone(chain);
    (tampered[1500]!.event as { action: string }).action = 'x.y';
    const seq = await verifyChainEntries(tampered, { checkpoints, verifierKeys: keys });
    const par = await verifyChainEntries(withParallelEntryHashes(tampered, { workers: 2, batchSize: 100 }), {
      checkpoints,
      verifierKeys: keys,
    });
    expect(par.problems).toEqual(seq.problems);
    expect(par.problems.map((p) => p.kind)).toEqual(['modified', 'root-mismatch']);
  });
});
