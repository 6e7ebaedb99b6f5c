/**
 * The receiver's checkpointing (docs/integrity.md "How checkpoints flow"): the
 * checkpointer (integrity/checkpointer.ts) fed with every chain entry at sequencing time through the
 * pipeline's `onSequenced` hook, and its signed checkpoints appended to the WAL through
 * `pipeline.appendCheckpoint` — after the entries they cover, so every exporter receives them in
 * WAL order and stores them beside the data (ClickHouse `audit_checkpoints`, cold storage
 * `checkpoints/…`).
 *
 * Restart: the pipeline recovers the last checkpoint of every chain (`lastCheckpoints()`, from the
 * WAL and the heads snapshot); the checkpointer resumes from it (its compact RFC 6962 tree state)
 * and is re-fed the entry hashes after it — those replayed by recovery, the older ones read from the
 * WAL segments, and those of already deleted segments from a store they were exported to
 * (ClickHouse), if they link. A chain whose entries cannot be had that way (integrity enabled on an
 * existing data dir whose early segments were deleted) is not checkpointed: it is reported in
 * `status().unresumable` and with a process warning, never guessed.
 */
import { join } from 'node:path';
import { AuditError, type Logger, silentLogger } from '@otel-audit/core';
import { GENESIS_HASH } from '../integrity/chain-hash.ts';
import { type Checkpointer, type CheckpointRecord, createCheckpointer, createCheckpointPolicy } from '../integrity/checkpointer.ts';
import { ensureDataDirKey, loadSigner, loadVerifierKeys } from '../integrity/keys.ts';
import type { NoteSigner } from '../integrity/note.ts';
import type { ReceiverConfig } from './config/receiver-config.ts';
import type { AuditPipeline, PipelineHooks } from './pipeline/index.ts';
import { readWalEntries } from './wal/read-entries.ts';

/** Status of the receiver's checkpointing. */
export interface CheckpointingStatus {
  enabled: boolean;
  keyName?: string;
  keyId?: string;
  /** The verifier key (C2SP note verifier key `<name>+<keyid>+<base64>`) of the signing key: public. */
  verifierKey?: string;
  /** The signing key file in use. */
  keyFile?: string;
  /** True when the key was created in `<dataDir>/keys` by this start. */
  keyCreated?: boolean;
  /** Checkpoints appended to the WAL since start. */
  checkpointsWritten: number;
  /**
   * Checkpoint jobs queued or running (a job waits for the WAL commit of its record). Waiting, at
   * most one per chain and one of the policy timer; plus the one running, and the final one at stop.
   */
  queuedJobs: number;
  /** Chains that cannot be checkpointed (their entries after the last checkpoint are gone). */
  unresumable: string[];
  lastError?: string;
}

/** The receiver's checkpointing: a hook for the pipeline, started after it and stopped before it. */
export interface ReceiverCheckpointing {
  /** The `onSequenced` hook to give the pipeline (wraps `inner`). */
  readonly hook: NonNullable<PipelineHooks['onSequenced']>;
  /** Load the signing key (throws `AUDIT_ERR_KEY` with the file and the problem). Call before anything listens. */
  loadKeys(): Promise<void>;
  /**
   * After `pipeline.start()`: resume from the recovered checkpoints, feed what was buffered, start
   * the timer. `storedEntries` reads entries the WAL no longer holds from a store every WAL segment
   * was exported to before deletion (the receiver passes ClickHouse); they must link to the
   * checkpoint's `lastEntryHash` and to each other, or the chain is not resumed.
   */
  start(pipeline: AuditPipeline, walDir: string, storedEntries?: StoredEntriesReader): Promise<void>;
  /** Before `pipeline.shutdown()` (transports already closed): checkpoint every chain with new entries. */
  stop(): Promise<void>;
  status(): CheckpointingStatus;
}

/** Reads a chain's entries seq `fromSeq..toSeq` (seq order; missing ones absent) from a store. */
export type StoredEntriesReader = (
  chainId: string,
  fromSeq: number,
  toSeq: number,
) => Promise<Array<{ seq: number; prevHash: string; hash: string }>>;

/** The key of the policy timer's job in `schedule` (chain ids are strings). */
const TICK = Symbol('policy tick');

interface Buffered {
  chainId: string;
  seq: number;
  hash: string;
}

/**
 * Create the checkpointing of a receiver configuration's `integrity` section. `inner` is an
 * `onSequenced` hook of the caller's, still called for every entry. Problems (a checkpoint not
 * stored, a chain that can no longer be checkpointed) are logged through `logger` and kept in status.
 */
export function createReceiverCheckpointing(
  config: ReceiverConfig['integrity'],
  inner?: PipelineHooks['onSequenced'],
  dataDir?: string,
  logger: Logger = silentLogger,
): ReceiverCheckpointing {
  let signer: NoteSigner | undefined;
  let keyFile: string | undefined;
  let keyCreated = false;
  let checkpointer: Checkpointer | undefined;
  let pipeline: AuditPipeline | undefined;
  /** Entries sequenced before the checkpointer is ready (recovery replay, first requests). */
  let buffer: Buffered[] | undefined = [];
  const unresumable = new Set<string>();
  /** Jobs queued and not started, by what they checkpoint: a chain id, or {@link TICK} (see `schedule`). */
  const scheduled = new Set<string | typeof TICK>();
  let queue: Promise<void> = Promise.resolve();
  let timer: ReturnType<typeof setInterval> | undefined;
  let stopping = false;
  let written = 0;
  let queuedJobs = 0;
  let lastError: string | undefined;
  const policy = createCheckpointPolicy({ everyEntries: config.checkpointMaxEntries, everyMillis: config.checkpointIntervalMillis });

  /** Append a record to the WAL; retried while the pipeline answers retryable (a dropped record would break the next one's consistency link). */
  async function append(record: CheckpointRecord): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const r = await pipeline!.appendCheckpoint(record);
      if (r.status === 'success') {
        written++;
        return;
      }
      lastError = r.error.message;
      if (r.status === 'failure' || (stopping && attempt >= 3)) {
        logger.error({ err: r.error, code: r.error.code, chainId: record.chainId, treeSize: record.treeSize }, 'checkpoint not stored');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
    }
  }

  /** Run `fn` after every earlier checkpoint job: records reach the WAL in the order they were made. */
  function enqueue(fn: () => Promise<void>): Promise<void> {
    queuedJobs++;
    const run = queue
      .then(fn)
      .catch((err: unknown) => {
        lastError = (err as Error).message;
        logger.error({ err }, 'checkpointing failed');
      })
      .finally(() => {
        queuedJobs--;
      });
    queue = run;
    return run;
  }

  /**
   * Queue `fn` unless a job for `key` is already queued and not started. A chain stays due from the
   * entry that makes it due until its checkpoint is taken, which waits behind earlier jobs and a WAL
   * commit: a job per due entry (or per policy tick) made the queue grow without bound once commits
   * were slow (16 connections: +17 MiB/s of the main thread's heap, each job then writing a
   * checkpoint of a few entries). The key is cleared when the job starts, before its snapshot:
   * entries after it may make the chain due again.
   */
  function schedule(key: string | typeof TICK, fn: () => Promise<void>): void {
    if (scheduled.has(key)) return;
    scheduled.add(key);
    void enqueue(async () => {
      scheduled.delete(key);
      await fn();
    });
  }

  function feed(e: Buffered): void {
    if (unresumable.has(e.chainId)) return;
    const { due } = checkpointer!.append(e);
    if (due && !stopping)
      schedule(e.chainId, async () => {
        const record = await checkpointer!.checkpoint(e.chainId);
        if (record) await append(record);
      });
  }

  const hook: ReceiverCheckpointing['hook'] = (entry) => {
    inner?.(entry);
    const e = { chainId: entry.chainId, seq: entry.seq, hash: entry.hash };
    if (buffer !== undefined) buffer.push(e);
    else if (checkpointer !== undefined) {
      try {
        feed(e);
      } catch (err) {
        // A sequencing order the checkpointer rejects is a bug, not data: stop checkpointing the chain, loudly.
        unresumable.add(e.chainId);
        lastError = (err as Error).message;
        logger.error({ err, chainId: e.chainId }, 'chain is no longer checkpointed');
      }
    }
  };

  return {
    hook,
    async loadKeys() {
      keyFile = config.signingKeyFile;
      if (keyFile === undefined) {
        if (dataDir === undefined) {
          throw new AuditError(
            'AUDIT_ERR_KEY',
            'integrity.enabled is true but integrity.signingKeyFile is not set (create a key with: otel-audit keys generate, then set integrity.signingKeyFile to the .key file)',
          );
        }
        // Tamper-evident by default: the data dir's own key, created on the first start.
        const key = await ensureDataDirKey(dataDir);
        keyFile = key.signerPath;
        keyCreated = key.created;
      }
      signer = await loadSigner(keyFile, { onWarning: (message) => logger.warn({ code: 'OTEL_AUDIT_KEY_MODE', keyFile }, message) });
      if (config.verifierKeyFiles.length > 0) await loadVerifierKeys(config.verifierKeyFiles); // fail fast on a bad rotation list
    },
    async start(p, walDir, storedEntries) {
      if (signer === undefined) throw new AuditError('AUDIT_ERR_KEY', 'checkpointing started before its key was loaded');
      pipeline = p;
      const resume = p.lastCheckpoints();
      const heads = new Map(p.status().chains.map((c) => [c.chainId, c.seq]));
      const base = new Map(resume.map((r) => [r.chainId, r.treeSize]));
      // Hashes after each chain's last checkpoint: the buffered ones, and older ones from the WAL.
      const hashes = new Map<string, Map<number, string>>();
      const put = (chainId: string, seq: number, hash: string): void => {
        if (seq <= (base.get(chainId) ?? 0)) return;
        let m = hashes.get(chainId);
        if (m === undefined) hashes.set(chainId, (m = new Map()));
        m.set(seq, hash);
      };
      for (const e of buffer ?? []) put(e.chainId, e.seq, e.hash);
      const missingBefore = (chainId: string): boolean => {
        const from = (base.get(chainId) ?? 0) + 1;
        const m = hashes.get(chainId);
        return from <= (heads.get(chainId) ?? 0) && !(m?.has(from) ?? false);
      };
      const walPrev = new Map<string, string>();
      if ([...heads.keys()].some(missingBefore)) {
        for await (const entry of readWalEntries(walDir)) {
          if (entry.kind !== 'event') continue;
          walPrev.set(`${entry.chainId}#${entry.seq}`, entry.prevHash);
          if (!hashes.get(entry.chainId)?.has(entry.seq)) put(entry.chainId, entry.seq, entry.hash);
        }
      }
      // A recovered record whose tree state does not reproduce its root cannot be resumed from:
      // that chain is reported, the others go on.
      const usable = resume.filter((r) => {
        if (!heads.has(r.chainId)) return false;
        try {
          createCheckpointer({ signer: signer!, policy, resume: [r] });
          return true;
        } catch (err) {
          unresumable.add(r.chainId);
          logger.error({ err, chainId: r.chainId }, 'chain cannot be checkpointed: its last checkpoint in the WAL is unusable');
          return false;
        }
      });
      // Still missing (segments deleted after export): from the store, if they link up.
      if (storedEntries !== undefined) {
        for (const [chainId, head] of heads) {
          if (!missingBefore(chainId)) continue;
          const from = (base.get(chainId) ?? 0) + 1;
          const m = hashes.get(chainId);
          let to = from;
          while (to <= head && !(m?.has(to) ?? false)) to++;
          try {
            const rows = await storedEntries(chainId, from, to - 1);
            let prev = resume.find((r) => r.chainId === chainId)?.lastEntryHash ?? GENESIS_HASH;
            const linked: Array<{ seq: number; hash: string }> = [];
            for (let i = 0; i < rows.length; i++) {
              const row = rows[i]!;
              if (row.seq !== from + i || row.prevHash !== prev) break;
              linked.push(row);
              prev = row.hash;
            }
            const nextPrev = to <= head ? walPrev.get(`${chainId}#${to}`) : undefined;
            if (linked.length === to - from && (nextPrev === undefined || nextPrev === prev))
              for (const r of linked) put(chainId, r.seq, r.hash);
          } catch (err) {
            // Left missing: the chain is reported unresumable below; say why the store did not help.
            logger.warn({ err, chainId, fromSeq: from, toSeq: to - 1 }, 'cannot read chain entries back from the store');
          }
        }
      }
      checkpointer = createCheckpointer({ signer, policy, resume: usable });
      const ready = buffer ?? [];
      buffer = undefined; // from here on the hook feeds directly (this block is synchronous)
      const fedUpTo = new Map<string, number>();
      for (const [chainId, head] of heads) {
        if (unresumable.has(chainId)) continue;
        const from = (base.get(chainId) ?? 0) + 1;
        const m = hashes.get(chainId);
        let complete = true;
        for (let seq = from; seq <= head; seq++) if (!m?.has(seq)) complete = false;
        if (!complete) {
          unresumable.add(chainId);
          logger.error(
            { chainId, treeSize: from - 1, walDir },
            'chain cannot be checkpointed: entries after its last checkpoint are no longer in the WAL',
          );
          continue;
        }
        for (let seq = from; seq <= head; seq++) feed({ chainId, seq, hash: m!.get(seq)! });
        fedUpTo.set(chainId, head);
      }
      // Entries sequenced after the heads were read (none in practice: start() runs before the transports listen).
      for (const e of ready) if (!unresumable.has(e.chainId) && e.seq > (fedUpTo.get(e.chainId) ?? base.get(e.chainId) ?? 0)) feed(e);
      const tick = Math.max(10, Math.min(1000, config.checkpointIntervalMillis));
      timer = setInterval(() => {
        schedule(TICK, async () => {
          if (stopping) return;
          for (const record of await checkpointer!.checkpointDue()) await append(record);
        });
      }, tick);
      timer.unref();
    },
    async stop() {
      stopping = true;
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      if (checkpointer === undefined || pipeline === undefined) return;
      const cp = checkpointer;
      await enqueue(async () => {
        for (const record of await cp.stop()) await append(record);
      });
    },
    status() {
      return {
        enabled: true,
        ...(signer ? { keyName: signer.name, keyId: signer.keyIdHex, verifierKey: signer.verifierKey } : {}),
        ...(keyFile ? { keyFile, keyCreated } : {}),
        checkpointsWritten: written,
        queuedJobs,
        unresumable: [...unresumable],
        ...(lastError ? { lastError } : {}),
      };
    },
  };
}

/** `<dataDir>/wal`, where the pipeline keeps its WAL. */
export function walDirOf(dataDir: string): string {
  return join(dataDir, 'wal');
}
