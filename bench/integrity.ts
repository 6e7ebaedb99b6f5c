/**
 * Benchmark of the integrity library, store-independent:
 *
 * - chain verification: events/s of `verifyChainEntries` over an in-memory chain with checkpoints
 *   every 10,000 entries (entry-hash recomputation with RFC 8785 JCS + SHA-256, seq/link checks,
 *   RFC 6962 tree rebuild, root comparison, checkpoint signatures and consistency proofs), and the
 *   two halves alone (entry hashes; Merkle leaf+node hashing);
 * - proofs over a 1,000,000-leaf tree: build time of the in-memory tree (all perfect-subtree hashes
 *   kept), inclusion and consistency proof latency (median / p99 / max) from that node cache through
 *   the generic `LeafSource` path, from leaves + recorded tile hashes (what a store-backed prover
 *   has), the O(n) cost without any cache, and offline verification of a proof bundle (path +
 *   Ed25519 signature).
 *
 * `run({ quick })` returns the numbers; bench/run.ts prints them.
 */
import { availableParallelism } from 'node:os';
import type { AuditEvent } from '@otel-audit/schema';
import { GENESIS_HASH } from '../integrity/chain-hash.ts';
import {
  arrayLeafSource,
  type ChainEntryInput,
  type CheckpointRecord,
  consistencyProof,
  createCheckpointer,
  fastEntryHash,
  generateNoteKeyPair,
  inclusionProof,
  parseSignerKey,
  proveEntry,
  TreeState,
  tiledLeafSource,
  verifyChainEntries,
  verifyProofBundle,
} from '../integrity/index.ts';
import { sha256 } from '../integrity/merkle.ts';
import { MerkleTree } from '../test/integrity/helpers/merkle-tree.ts';
import { withParallelEntryHashes } from '../test/integrity/helpers/parallel-hash.ts';

/** Options of {@link run}. */
export interface IntegrityBenchOptions {
  /** Smaller sizes (CI smoke). */
  quick?: boolean;
  /** Chain length for verification (default 500,000; quick 50,000). */
  events?: number;
  /** Leaves of the proof tree (default 1,000,000; quick 100,000). */
  leaves?: number;
}

/** Latency summary in milliseconds. */
export interface Latency {
  samples: number;
  medianMs: number;
  p99Ms: number;
  maxMs: number;
}

/** Result of {@link run}. */
export interface IntegrityBenchResult {
  scenario: 'integrity';
  verify: {
    events: number;
    checkpoints: number;
    seconds: number;
    /** Whole verifyChainEntries: the headline number (aim ≥ 500,000). */
    eventsPerSecond: number;
    /** Same, per second of CPU time of this process (robust against a busy machine). */
    eventsPerCpuSecond: number;
    /** Entry-hash recomputation alone (fast JCS + SHA-256). */
    entryHashesPerSecond: number;
    /** RFC 6962 tree rebuild alone (leaf + node hashing). */
    merkleLeavesPerSecond: number;
    ok: boolean;
    /** verifyChainEntries fed through withParallelEntryHashes (hashes recomputed in worker threads). */
    parallel: { workers: number; eventsPerSecond: number; ok: boolean };
  };
  /** Ingest-side cost: CPU µs per `checkpointer.append`, including the checkpoints it triggers (every 10,000). */
  checkpointerAppendCpuMicros: number;
  proofs: {
    leaves: number;
    /** Building the in-memory tree with every perfect-subtree hash. */
    treeBuildSeconds: number;
    /** Inclusion proof of a random leaf, through the LeafSource path with a node cache (aim ≤ 50 ms). */
    inclusion: Latency;
    /** Consistency proof between two random sizes, same path. */
    consistency: Latency;
    /**
     * Inclusion proof of a random leaf from a store-like source that has only the leaves and the
     * tile hashes recorded in checkpoint records (reads ≤ 256 leaves + n/256 tile hashes).
     */
    inclusionFromTiles: Latency;
    /** One inclusion proof from a plain leaf source without node cache (O(n) hashing). */
    inclusionWithoutCacheMs: number;
    /** verifyProofBundle: entry hash, path, Ed25519 signature. */
    verifyBundle: Latency;
  };
}

function makeEvent(i: number): AuditEvent {
  return {
    eventId: `01936f6e-8a8b-7c3d-9e4f-${String(i).padStart(12, '0')}`,
    schemaVersion: '1.0',
    occurredAt: '2026-11-22T10:00:00.123456789Z',
    action: i % 3 === 0 ? 'grant.issue' : 'user.login',
    outcome: 'success',
    actor: { id: `u-${i % 1000}`, type: 'user', name: 'Ada Lovelace', authMethod: 'oidc' },
    tenant: { id: 'acme' },
    targets: [{ type: 'grant', id: `g-${i}` }],
    request: { id: `r-${i}`, ip: '10.0.0.1', userAgent: 'curl/8.5', method: 'POST', path: '/grants' },
    details: { ticket: `T-${i}`, amount: i * 1.5 },
  } as AuditEvent;
}

function latency(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { samples: sorted.length, medianMs: r(at(0.5)), p99Ms: r(at(0.99)), maxMs: r(sorted[sorted.length - 1]!) };
}

/** Deterministic pseudo-random integers. */
function rng(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((s / 2 ** 31) * n);
  };
}

/** Run the benchmark (see the module comment). */
export async function run(options: IntegrityBenchOptions = {}): Promise<IntegrityBenchResult> {
  const nEvents = options.events ?? (options.quick ? 50_000 : 500_000);
  const nLeaves = options.leaves ?? (options.quick ? 100_000 : 1_000_000);
  const signer = parseSignerKey(generateNoteKeyPair('otel-audit/bench').signerKey);

  // ---- Chain verification.
  const chainId = 'acme/bench-1';
  const entries: ChainEntryInput[] = new Array(nEvents);
  const checkpointer = createCheckpointer({ signer, policy: { everyEntries: 10_000, everyMillis: 1e12 } });
  const checkpoints: CheckpointRecord[] = [];
  let prev = GENESIS_HASH;
  for (let i = 0; i < nEvents; i++) {
    const event = makeEvent(i + 1);
    const hash = fastEntryHash(prev, event, 2);
    entries[i] = { chainId, seq: i + 1, prevHash: prev, hash, chainVersion: 2, event };
    if (checkpointer.append(entries[i]!).due) checkpoints.push(...(await checkpointer.checkpointDue()));
    prev = hash;
  }
  checkpoints.push(...(await checkpointer.stop()));
  // Checkpointer cost alone (the pipeline calls append for every accepted entry).
  const timed = createCheckpointer({ signer, policy: { everyEntries: 10_000, everyMillis: 1e12 } });
  const a0 = process.cpuUsage();
  for (const e of entries) if (timed.append(e).due) await timed.checkpointDue();
  const a = process.cpuUsage(a0);
  const checkpointerAppendCpuMicros = Math.round(((a.user + a.system) / nEvents) * 100) / 100;

  const c0 = process.cpuUsage();
  const v0 = performance.now();
  const result = await verifyChainEntries(entries, { checkpoints, verifierKeys: [signer.verifierKey] });
  const v1 = performance.now();
  const cpu = process.cpuUsage(c0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  if (!result.ok) throw new Error(`benchmark chain did not verify: ${JSON.stringify(result.problems.slice(0, 3))}`);
  const workers = Math.max(1, availableParallelism() - 1);
  const p0 = performance.now();
  const parallelResult = await verifyChainEntries(withParallelEntryHashes(entries, { workers }), {
    checkpoints,
    verifierKeys: [signer.verifierKey],
  });
  const p1 = performance.now();
  const h0 = performance.now();
  for (const e of entries) fastEntryHash(e.prevHash, e.event);
  const h1 = performance.now();
  const tree = new TreeState();
  const m0 = performance.now();
  for (const e of entries) tree.appendTrustedHex(e.hash);
  tree.root();
  const m1 = performance.now();

  // ---- Proofs over a large tree.
  const leaves: Buffer[] = new Array(nLeaves);
  const seedBuf = Buffer.alloc(8);
  for (let i = 0; i < nLeaves; i++) {
    seedBuf.writeDoubleBE(i);
    leaves[i] = sha256(seedBuf);
  }
  const b0 = performance.now();
  const big = new MerkleTree(leaves);
  const b1 = performance.now();
  const tiles: Buffer[] = [];
  const tileState = new TreeState();
  tileState.onTile = (_index, hash) => tiles.push(hash);
  for (const l of leaves) tileState.append(l);
  const tiled = tiledLeafSource({
    getLeaves: (start, end) => leaves.slice(start, end),
    getTile: (i) => tiles[i],
    getTiles: (start, end) => tiles.slice(start, end),
  });
  const pick = rng(7);
  const inclusionSamples: number[] = [];
  const consistencySamples: number[] = [];
  const rounds = options.quick ? 100 : 300;
  for (let i = 0; i < rounds; i++) {
    const index = pick(nLeaves);
    const t0 = performance.now();
    await inclusionProof(big, index, nLeaves);
    inclusionSamples.push(performance.now() - t0);
    const second = 1 + pick(nLeaves);
    const first = 1 + pick(second);
    const t1 = performance.now();
    await consistencyProof(big, first, second);
    consistencySamples.push(performance.now() - t1);
  }
  const tiledSamples: number[] = [];
  for (let i = 0; i < (options.quick ? 20 : 50); i++) {
    const index = pick(nLeaves);
    const t0 = performance.now();
    await inclusionProof(tiled, index, nLeaves);
    tiledSamples.push(performance.now() - t0);
  }
  const n0 = performance.now();
  await inclusionProof(arrayLeafSource(leaves), Math.floor(nLeaves / 3), nLeaves);
  const n1 = performance.now();

  // Proof bundle verification (tree of the verified chain, last checkpoint).
  const last = checkpoints[checkpoints.length - 1]!;
  const chainTree = new MerkleTree(entries.map((e) => e.hash));
  const verifySamples: number[] = [];
  for (let i = 0; i < (options.quick ? 50 : 200); i++) {
    const e = entries[pick(last.treeSize)]!;
    const bundle = await proveEntry({ event: e.event, entry: e, checkpoint: last, leaves: chainTree });
    const t0 = performance.now();
    const r = verifyProofBundle(bundle, [signer.verifierKey]);
    verifySamples.push(performance.now() - t0);
    if (!r.ok) throw new Error('benchmark proof did not verify');
  }

  const seconds = (v1 - v0) / 1000;
  return {
    scenario: 'integrity',
    verify: {
      events: nEvents,
      checkpoints: checkpoints.length,
      seconds: Math.round(seconds * 1000) / 1000,
      eventsPerSecond: Math.round(nEvents / seconds),
      eventsPerCpuSecond: Math.round(nEvents / cpuSeconds),
      entryHashesPerSecond: Math.round(nEvents / ((h1 - h0) / 1000)),
      merkleLeavesPerSecond: Math.round(nEvents / ((m1 - m0) / 1000)),
      ok: result.ok,
      parallel: { workers, eventsPerSecond: Math.round(nEvents / ((p1 - p0) / 1000)), ok: parallelResult.ok },
    },
    checkpointerAppendCpuMicros,
    proofs: {
      leaves: nLeaves,
      treeBuildSeconds: Math.round((b1 - b0) / 10) / 100,
      inclusion: latency(inclusionSamples),
      consistency: latency(consistencySamples),
      inclusionFromTiles: latency(tiledSamples),
      inclusionWithoutCacheMs: Math.round(n1 - n0),
      verifyBundle: latency(verifySamples),
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run({ quick: process.argv.includes('--quick') }), null, 2));
}
