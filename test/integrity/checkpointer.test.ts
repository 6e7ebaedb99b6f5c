import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type CheckpointRecord,
  createCheckpointer,
  createCheckpointPolicy,
  hashToHex,
  openCheckpoint,
  verifyCheckpointRecord,
  verifyConsistency,
} from '../../integrity/index.ts';
import { MerkleTree } from './helpers/merkle-tree.ts';
import { clone, makeChain, newSigner } from './helpers.ts';

describe('checkpoint policy', () => {
  it('is due after M entries or N ms with something new, never when idle', () => {
    const p = createCheckpointPolicy({ everyEntries: 100, everyMillis: 5000 });
    expect(p.isDue({ pendingEntries: 0, millisSinceLast: 1e9 })).toBe(false);
    expect(p.isDue({ pendingEntries: 99, millisSinceLast: 4999 })).toBe(false);
    expect(p.isDue({ pendingEntries: 100, millisSinceLast: 0 })).toBe(true);
    expect(p.isDue({ pendingEntries: 1, millisSinceLast: 5000 })).toBe(true);
    expect(() => createCheckpointPolicy({ everyEntries: 0 })).toThrow(/everyEntries/);
  });
});

describe('checkpointer', () => {
  const signer = newSigner();
  const chain = makeChain(300);

  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-11-22T12:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('produces signed, consistent checkpoint records every M entries', async () => {
    const cp = createCheckpointer({ signer, policy: { everyEntries: 100, everyMillis: 60_000 } });
    const tree = new MerkleTree();
    const records: CheckpointRecord[] = [];
    for (const e of chain) {
      tree.append(e.hash);
      const { due } = cp.append(e);
      if (due) records.push(...(await cp.checkpointDue()));
    }
    expect(records.map((r) => r.treeSize)).toEqual([100, 200, 300]);
    const [first, second] = records as [CheckpointRecord, CheckpointRecord];
    expect(first).toMatchObject({
      version: 1,
      chainId: 'acme/host-1',
      origin: 'otel-audit/host-1/acme',
      firstSeq: 1,
      lastSeq: 100,
      previousTreeSize: 0,
      consistencyProof: [],
      keyName: 'otel-audit/host-1',
      keyId: signer.keyIdHex,
      createdAt: '2026-11-22T12:00:00.000Z',
      lastEntryHash: chain[99]!.hash,
    });
    expect(first.rootHash).toBe(hashToHex(tree.root(100)));
    expect(second).toMatchObject({ firstSeq: 101, lastSeq: 200, previousTreeSize: 100, previousRootHash: first.rootHash });
    expect(second.consistencyProof).toEqual(tree.consistencyProof(100, 200).map(hashToHex));
    // Plain JSON, and verifiable on its own and against its predecessor.
    expect(clone(second)).toEqual(second);
    expect(verifyCheckpointRecord(first, [signer.verifierKey])).toEqual({ ok: true });
    expect(verifyCheckpointRecord(second, [signer.verifierKey], { previous: first })).toEqual({ ok: true });
    expect(verifyCheckpointRecord(records[2]!, [signer.verifierKey], { previous: second })).toEqual({ ok: true });
    const opened = openCheckpoint(second.note, [signer.verifierKey]);
    expect(opened).toMatchObject({ ok: true, checkpoint: { origin: 'otel-audit/host-1/acme', treeSize: 200 } });
  });

  it('checkpoints every N seconds when something is new (fake timers)', async () => {
    const got: CheckpointRecord[] = [];
    const cp = createCheckpointer({
      signer,
      policy: { everyEntries: 1_000_000, everyMillis: 5_000 },
      onCheckpoint: (r) => void got.push(r),
    });
    cp.start();
    for (const e of chain.slice(0, 10)) cp.append(e);
    await vi.advanceTimersByTimeAsync(4_000);
    expect(got).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(got.map((r) => r.treeSize)).toEqual([10]);
    // Idle: no new checkpoint.
    await vi.advanceTimersByTimeAsync(20_000);
    expect(got).toHaveLength(1);
    // After an idle period longer than everyMillis, the next entry is checkpointed at the next tick.
    for (const e of chain.slice(10, 15)) cp.append(e);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(got.map((r) => r.treeSize)).toEqual([10, 15]);
    expect(got[1]!.createdAt).toBe('2026-11-22T12:00:26.000Z');
    for (const e of chain.slice(15, 17)) cp.append(e);
    const flushed = await cp.stop();
    expect(flushed.map((r) => r.treeSize)).toEqual([17]);
    expect(got.map((r) => r.treeSize)).toEqual([10, 15, 17]);
    expect(verifyCheckpointRecord(got[2]!, [signer.verifierKey], { previous: got[1]! })).toEqual({ ok: true });
  });

  it('records the tiles completed since the previous checkpoint', async () => {
    const long = makeChain(1000);
    const tree = new MerkleTree(long.map((e) => e.hash));
    const cp = createCheckpointer({ signer, policy: { everyEntries: 300, everyMillis: 1e9 } });
    const records: CheckpointRecord[] = [];
    for (const e of long) if (cp.append(e).due) records.push(...(await cp.checkpointDue()));
    records.push(...(await cp.stop()));
    expect(records.map((r) => r.treeSize)).toEqual([300, 600, 900, 1000]);
    expect(records.map((r) => r.tiles?.first)).toEqual([0, 1, 2, undefined]);
    const all = records.flatMap((r) => r.tiles?.hashes ?? []);
    expect(all).toEqual([0, 1, 2].map((i) => hashToHex(tree.getSubtreeHash(8, i)!)));
  });

  it('keeps chains apart and rejects out-of-order seqs', async () => {
    const other = makeChain(5, 'globex/host-1');
    const cp = createCheckpointer({ signer });
    for (let i = 0; i < 5; i++) {
      cp.append(chain[i]!);
      cp.append(other[i]!);
    }
    expect(() => cp.append(chain[6]!)).toThrow(/expected seq 6, got 7/);
    const a = await cp.checkpoint('acme/host-1');
    const b = await cp.checkpoint('globex/host-1');
    expect(a!.origin).toBe('otel-audit/host-1/acme');
    expect(b!.origin).toBe('otel-audit/host-1/globex');
    expect(a!.rootHash).not.toBe(b!.rootHash);
    expect(await cp.checkpoint('acme/host-1')).toBeUndefined();
  });

  it('resumes from its last record after a restart and stays consistent', async () => {
    const first = createCheckpointer({ signer });
    for (const e of chain.slice(0, 37)) first.append(e);
    const r1 = (await first.checkpoint('acme/host-1'))!;
    const restarted = createCheckpointer({ signer, resume: [clone(r1)] });
    expect(() => restarted.append(chain[0]!)).toThrow(/expected seq 38/);
    for (const e of chain.slice(37, 120)) restarted.append(e);
    const r2 = (await restarted.checkpoint('acme/host-1'))!;
    expect(r2.treeSize).toBe(120);
    expect(verifyCheckpointRecord(r2, [signer.verifierKey], { previous: r1 })).toEqual({ ok: true });
    expect(
      verifyConsistency(
        37,
        120,
        Buffer.from(r1.rootHash, 'hex'),
        Buffer.from(r2.rootHash, 'hex'),
        r2.consistencyProof.map((h) => Buffer.from(h, 'hex')),
      ),
    ).toEqual({ ok: true });
    const bad = clone(r1);
    bad.treeState.nodes[0] = '00'.repeat(32);
    expect(() => createCheckpointer({ signer, resume: [bad] })).toThrow(/does not reproduce the root/);
  });

  it('detects an inconsistent successor and a checkpoint signed by another key', async () => {
    const cp = createCheckpointer({ signer });
    for (const e of chain.slice(0, 50)) cp.append(e);
    const r1 = (await cp.checkpoint('acme/host-1'))!;
    for (const e of chain.slice(50, 80)) cp.append(e);
    const r2 = (await cp.checkpoint('acme/host-1'))!;
    // A fork: a different history of the same chain, signed with the same key.
    const forkChain = makeChain(80, 'acme/host-1').map((e, i) => (i === 10 ? { ...e, hash: 'ab'.repeat(32) } : e));
    const fork = createCheckpointer({ signer });
    for (const e of forkChain.slice(0, 80)) fork.append(e);
    const f2 = (await fork.checkpoint('acme/host-1'))!;
    const forged = { ...f2, previousTreeSize: 50, previousRootHash: r1.rootHash, consistencyProof: r2.consistencyProof };
    const res = verifyCheckpointRecord(forged, [signer.verifierKey], { previous: r1 });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.problems[0]!.kind).toBe('inconsistent-checkpoint');
    const other = newSigner();
    const res2 = verifyCheckpointRecord(r2, [other.verifierKey]);
    expect(res2).toMatchObject({ ok: false, problems: [{ kind: 'unknown-key' }] });
    const tampered = { ...r2, note: r2.note.replace('\n80\n', '\n81\n') };
    expect(verifyCheckpointRecord(tampered, [signer.verifierKey])).toMatchObject({ ok: false, problems: [{ kind: 'bad-signature' }] });
  });
});
