/**
 * The chain registry: the head (last seq and hash) of every hash chain, which chain each tenant
 * appends to on this instance, the last durable checkpoint of each chain, and the heads snapshot
 * (`wal/state/heads.json`) that recovery starts from before replaying the WAL after it.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { AuditError } from '@otel-audit/core';
import { GENESIS_HASH } from '../../integrity/chain-hash.ts';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';
import { atomicWriteFile, type FsyncObserver } from '../wal/fs-util.ts';

/** Head of one hash chain. */
export interface ChainHead {
  chainId: string;
  tenantId: string;
  /** Seq of the last entry (0 = empty chain). */
  seq: number;
  /** Hash of the last entry (GENESIS_HASH when empty). */
  hash: string;
}

/** The mutable head of a chain, as the sequencer advances it. */
export interface ChainState {
  chainId: string;
  tenantId: string;
  /** JSON text of `"chainId":…,"tenantId":…` reused for every entry of the chain. */
  jsonPrefix: string;
  seq: number;
  hash: string;
}

/** The heads snapshot file's content. */
interface HeadsSnapshot {
  lsn: number;
  chains: ChainHead[];
  checkpoints?: CheckpointRecord[];
}

/** Chain heads, tenant → chain, last checkpoints, and their snapshot on disk. */
export class ChainRegistry {
  /** Every chain by id. */
  readonly chains = new Map<string, ChainState>();
  /** The chain each tenant appends to on this instance (`<tenant>/<instanceId>`), resolved once. */
  private readonly tenantChain = new Map<string, ChainState>();
  private readonly checkpoints = new Map<string, CheckpointRecord>();
  /** Path of the heads snapshot. */
  readonly file: string;
  /** Last LSN the snapshot on disk covers. */
  snapshotLsn = 0;
  /** When the snapshot was last written (Unix ms). */
  savedAtMillis = 0;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'wal', 'state', 'heads.json');
  }

  /** Set (or create) a chain's head. */
  set(chainId: string, tenantId: string, seq: number, hash: string): ChainState {
    let ch = this.chains.get(chainId);
    if (!ch) {
      ch = { chainId, tenantId, jsonPrefix: `"chainId":${JSON.stringify(chainId)},"tenantId":${JSON.stringify(tenantId)}`, seq, hash };
      this.chains.set(chainId, ch);
    }
    ch.seq = seq;
    ch.hash = hash;
    return ch;
  }

  /** The chain `tenantId` appends to on instance `instanceId` (created empty on first use). */
  forTenant(tenantId: string, instanceId: string): ChainState {
    let chain = this.tenantChain.get(tenantId);
    if (!chain) {
      const chainId = `${tenantId}/${instanceId}`;
      chain = this.chains.get(chainId) ?? this.set(chainId, tenantId, 0, GENESIS_HASH);
      this.tenantChain.set(tenantId, chain);
    }
    return chain;
  }

  /** Every chain's head (plain data). */
  heads(): ChainHead[] {
    return [...this.chains.values()].map((c) => ({ chainId: c.chainId, tenantId: c.tenantId, seq: c.seq, hash: c.hash }));
  }

  /** A recovered checkpoint record (from the snapshot or the WAL): the latest one read wins. */
  recoverCheckpoint(record: CheckpointRecord): void {
    this.checkpoints.set(record.chainId, record);
  }

  /** A checkpoint made durable now: it becomes the chain's last unless a larger one already is. */
  noteCheckpoint(record: CheckpointRecord): void {
    const last = this.checkpoints.get(record.chainId);
    if (last === undefined || last.treeSize <= record.treeSize) this.checkpoints.set(record.chainId, record);
  }

  /** The last checkpoint of every chain. */
  lastCheckpoints(): CheckpointRecord[] {
    return [...this.checkpoints.values()];
  }

  /**
   * Load the snapshot (none: empty) into the registry and return the LSN it covers.
   * @throws AuditError `AUDIT_ERR_WAL_CORRUPT` when it cannot be read or parsed.
   */
  async load(): Promise<number> {
    let heads: HeadsSnapshot;
    try {
      heads = JSON.parse(await fsp.readFile(this.file, 'utf8')) as HeadsSnapshot;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new AuditError('AUDIT_ERR_WAL_CORRUPT', `cannot read ${this.file}: ${(err as Error).message}`, { cause: err });
      heads = { lsn: 0, chains: [] };
    }
    for (const h of heads.chains) this.set(h.chainId, h.tenantId, h.seq, h.hash);
    for (const cp of heads.checkpoints ?? []) this.checkpoints.set(cp.chainId, cp);
    this.snapshotLsn = heads.lsn;
    return heads.lsn;
  }

  /**
   * Write the snapshot of the heads as of `lsn` once `waitDurable(lsn)` confirms the WAL holds
   * everything up to it (a snapshot must never be ahead of the WAL). Nothing is written when the
   * snapshot already covers `lsn`, or when the WAL failed (it is retried later).
   */
  async persist(
    lsn: number,
    waitDurable: (lsn: number) => Promise<AuditError | undefined>,
    nowMillis: () => number,
    onFsync?: FsyncObserver,
  ): Promise<void> {
    if (lsn === this.snapshotLsn) return;
    const chains = this.heads();
    // The last checkpoint of each chain outlives the segment that held it.
    const checkpoints = [...this.checkpoints.values()];
    const err = await waitDurable(lsn);
    if (err) return;
    await atomicWriteFile(this.file, JSON.stringify({ lsn, chains, checkpoints }), onFsync);
    this.snapshotLsn = lsn;
    this.savedAtMillis = nowMillis();
  }
}
