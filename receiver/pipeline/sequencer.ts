/**
 * The sequencer: the synchronous block of the pipeline — dedupe lookup → seq + chain link (v2: one
 * 64-byte SHA-256) → WAL append — over a packed batch, and the bookkeeping of what it appended and
 * is not durable yet: the in-flight ids (a concurrent duplicate waits for its original's commit),
 * and the undo log that a failed WAL write rolls back exactly (chain heads, dedupe inserts) and that
 * feeds `onSequenced` once the entries are durable.
 *
 * Race freedom: {@link Sequencer.append} contains no `await`, and JavaScript runs one block at a
 * time, so it is the single writer of every chain by construction.
 */
import { AuditError } from '@otel-audit/core';
import { CURRENT_CHAIN_VERSION, linkHashV2Trusted } from '../../integrity/chain-hash.ts';
import type { DedupeWindow } from '../wal/dedupe-window.ts';
import { RECORD_TYPE_EVENT, RECORD_TYPE_EVENT_WITH_ROW, ROW_TRAILER_BYTES } from '../wal/format.ts';
import type { Wal } from '../wal/wal.ts';
import type { ChainRegistry, ChainState } from './chain-registry.ts';
import type { PipelineHooks } from './pipeline.ts';
import { META, type PreparedBatch } from './prepared-batch.ts';

/**
 * An event sequenced and appended to the WAL but not yet durable: what the sequencer changed for
 * it, so a failed write can be undone exactly (chain head, dedupe insert, in-flight id), and what
 * the `onSequenced` hook gets once it is durable.
 */
interface Unsynced {
  lsn: number;
  chain: ChainState;
  seq: number;
  prevHash: string;
  hash: string;
  eventId: string;
  w0: number;
  w1: number;
  w2: number;
  w3: number;
}

/** What {@link Sequencer.append} did with a batch. */
export interface SequencedBatch {
  /** The LSN to wait for before answering (the last appended, or a duplicate's in-flight original); 0 = none. */
  waitLsn: number;
  accepted: number;
  duplicates: number;
  /** A dedupe lookup failed: the rest of the batch was not sequenced. */
  dedupeError: AuditError | undefined;
}

/** Dedupe → sequence → link → WAL append, and its in-flight and undo bookkeeping. */
export class Sequencer {
  private readonly dedupe: DedupeWindow;
  private readonly registry: ChainRegistry;
  private readonly onSequenced: PipelineHooks['onSequenced'];
  private inflight = new Map<string, number>();
  /**
   * Queues consumed from a head index; a consumed slot is cleared at once (not only when the array is
   * compacted), so an entry dies young: entries held until compaction lived past a scavenge, were
   * promoted, and made the main thread's scavenges several times longer at high rates.
   */
  private inflightQueue: Array<{ lsn: number; id: string } | undefined> = [];
  private inflightHead = 0;
  /** Appended, not yet durable, in LSN order (see {@link Unsynced}); consumed from `unsyncedHead`. */
  private unsynced: Array<Unsynced | undefined> = [];
  private unsyncedHead = 0;
  private readonly words = new Uint32Array(4);
  private readonly trailerBytes = new Uint8Array(ROW_TRAILER_BYTES);
  private readonly trailer = new DataView(this.trailerBytes.buffer);

  constructor(dedupe: DedupeWindow, registry: ChainRegistry, onSequenced: PipelineHooks['onSequenced']) {
    this.dedupe = dedupe;
    this.registry = registry;
    this.onSequenced = onSequenced;
  }

  /**
   * Sequence `batch` into `wal` in one synchronous block and start the group commit. The caller
   * waits for `waitLsn` to be durable before answering.
   */
  append(batch: PreparedBatch, wal: Wal, nowSec: number, receivedAtNanos: string, instanceId: string): SequencedBatch {
    let waitLsn = 0;
    let accepted = 0;
    let duplicates = 0;
    const w = this.words;
    let dedupeError: AuditError | undefined;
    const { meta, digests, payload, rows, tenants, eventIds } = batch;
    for (let i = 0; i < batch.count; i++) {
      const m = i * META;
      let duplicate: boolean;
      try {
        duplicate = this.dedupe.checkAndInsert(meta[m]!, meta[m + 1]!, meta[m + 2]!, meta[m + 3]!, nowSec, nowSec, wal.nextLsn);
      } catch (err) {
        // A run page failed its checksum (AUDIT_ERR_DEDUPE_CORRUPT) or could not be read: the rest
        // of the request is not sequenced; what was appended is still made durable below.
        dedupeError =
          err instanceof AuditError
            ? err
            : new AuditError('AUDIT_ERR_INTERNAL', `dedupe lookup: ${(err as Error).message}`, { cause: err });
        break;
      }
      if (duplicate) {
        duplicates++;
        const pending = this.inflight.get(eventIds[i]!);
        if (pending !== undefined && pending > waitLsn) waitLsn = pending;
        continue;
      }
      const tenantId = tenants[meta[m + 4]!]!;
      const chain = this.registry.forTenant(tenantId, instanceId);
      const seq = chain.seq + 1;
      const prevHash = chain.hash;
      // Chain format v2: the worker hashed the canonical event; only the 64-byte link is hashed here.
      const hash = linkHashV2Trusted(prevHash, digests.subarray(i * 32, i * 32 + 32));
      const lsn = wal.nextLsn;
      w[0] = meta[m]!;
      w[1] = meta[m + 1]!;
      w[2] = meta[m + 2]!;
      w[3] = meta[m + 3]!;
      const at = meta[m + 5]!;
      const head = `{"kind":"event","lsn":${lsn},${chain.jsonPrefix},"seq":${seq},"prevHash":"${prevHash}","hash":"${hash}","chainVersion":${CURRENT_CHAIN_VERSION},"receivedAtNanos":"${receivedAtNanos}","event":`;
      const tail = payload.subarray(at, at + meta[m + 6]!);
      const rowBytes = meta[m + 8]!;
      if (rowBytes === 0) wal.appendRecord(RECORD_TYPE_EVENT, lsn, w, nowSec, [head, tail]);
      else {
        // The storage row's event columns follow the JSON, then their length (wal/format.ts).
        const rowAt = meta[m + 7]!;
        this.trailer.setUint32(0, rowBytes, true);
        wal.appendRecord(RECORD_TYPE_EVENT_WITH_ROW, lsn, w, nowSec, [
          head,
          tail,
          rows.subarray(rowAt, rowAt + rowBytes),
          this.trailerBytes,
        ]);
      }
      chain.seq = seq;
      chain.hash = hash;
      // onSequenced runs once this entry is durable (onDurable); a failed write undoes it.
      this.unsynced.push({
        lsn,
        chain,
        seq,
        prevHash,
        hash,
        eventId: eventIds[i]!,
        w0: meta[m]!,
        w1: meta[m + 1]!,
        w2: meta[m + 2]!,
        w3: meta[m + 3]!,
      });
      this.inflight.set(eventIds[i]!, lsn);
      this.inflightQueue.push({ lsn, id: eventIds[i]! });
      waitLsn = lsn;
      accepted++;
    }

    if (accepted > 0) wal.startFlush();
    return { waitLsn, accepted, duplicates, dedupeError };
  }

  /** Entries up to `durable` are on disk: hand them to `onSequenced` (the checkpointer) in order. */
  onDurable(durable: number): void {
    const q = this.unsynced;
    let h = this.unsyncedHead;
    const hook = this.onSequenced;
    while (h < q.length && q[h]!.lsn <= durable) {
      const e = q[h]!;
      q[h] = undefined;
      hook?.({ chainId: e.chain.chainId, seq: e.seq, hash: e.hash, lsn: e.lsn, recovered: false });
      h++;
    }
    if (h === q.length) {
      this.unsynced = [];
      h = 0;
    } else if (h > 4096 && h * 2 > q.length) {
      this.unsynced = q.slice(h);
      h = 0;
    }
    this.unsyncedHead = h;
  }

  /**
   * The WAL discarded every record from `fromLsn` on (a failed write, docs/wal.md "A full disk"):
   * undo the sequencer's work for them, newest first — chain heads step back (no seq gap), their
   * ids leave the dedupe index (a retry is not mistaken for a duplicate) and the in-flight map.
   */
  onRollback(fromLsn: number): void {
    const q = this.unsynced;
    while (q.length > this.unsyncedHead && q[q.length - 1]!.lsn >= fromLsn) {
      const e = q.pop()!;
      e.chain.seq = e.seq - 1;
      e.chain.hash = e.prevHash;
      this.dedupe.remove(e.w0, e.w1, e.w2, e.w3);
      if (this.inflight.get(e.eventId) === e.lsn) this.inflight.delete(e.eventId);
    }
    const iq = this.inflightQueue;
    while (iq.length > this.inflightHead && iq[iq.length - 1]!.lsn >= fromLsn) iq.pop();
  }

  /** Ids durable up to `durable` leave the in-flight map (a duplicate of them need not wait any more). */
  purgeInflight(durable: number): void {
    const q = this.inflightQueue;
    let h = this.inflightHead;
    while (h < q.length && q[h]!.lsn <= durable) {
      const { lsn, id } = q[h]!;
      q[h] = undefined;
      if (this.inflight.get(id) === lsn) this.inflight.delete(id);
      h++;
    }
    if (h === q.length) {
      this.inflightQueue = [];
      h = 0;
    } else if (h > 4096 && h * 2 > q.length) {
      this.inflightQueue = q.slice(h);
      h = 0;
    }
    this.inflightHead = h;
  }
}
