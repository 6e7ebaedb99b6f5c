/**
 * The compact form in which prepared records travel from the order-free stages (decode, classify,
 * validate + normalize, map, canonicalize, event digest — run in worker threads) to the ordered
 * sequencer on the main thread: a few typed arrays and strings, no per-record objects.
 *
 * For record `i`:
 *   meta[i*META + 0..3]  event id as four big-endian u32 words (dedupe key, WAL header)
 *   meta[i*META + 4]     index into `tenants`
 *   meta[i*META + 5..6]  byte offset and length of its payload tail in `payload`
 *   meta[i*META + 7..8]  byte offset and length of its storage row's event columns in `rows`
 *                        (RowBinary, @otel-audit/schema/audit-row-binary); length 0 = no row
 *   digests[i*32 ..+32]  SHA-256 of the UTF-8 canonical event (the chain v2 event digest)
 *   payload tail         UTF-8 of `JCS(event),"resource":…,"scope":…,"extraAttributes":…}` — the
 *                        WAL entry after `"event":`; the sequencer only prepends the ordered head
 *                        (`{"kind":"event","lsn":…,"seq":…,"prevHash":…,"hash":…,…,"event":`).
 *
 * All four buffers are plain ArrayBuffers so a worker transfers them without copying.
 */
import { hash } from 'node:crypto';
import { ClickHouseBinaryBuffer } from '@otel-audit/schema/binary-buffer';
import { CanonicalWriter } from './fast-jcs.ts';
import type { Rejection } from './prepare-stage.ts';

/** u32 words of metadata per record in {@link PreparedBatch.meta}. */
export const META = 9;

/** Prepared records of one request, ready for the sequencer (see the module comment). */
export interface PreparedBatch {
  /** Number of prepared (accepted for sequencing) records. */
  count: number;
  meta: Uint32Array;
  digests: Uint8Array;
  payload: Uint8Array;
  /** Storage rows' event columns (RowBinary), referenced from `meta`; empty when rows are not built. */
  rows: Uint8Array;
  /** Distinct tenant ids of the batch (referenced by index from `meta`). */
  tenants: string[];
  /** Event ids in text form, one per record (the in-flight duplicate map's key). */
  eventIds: string[];
  rejections: Rejection[];
  /** Records in the request. */
  received: number;
  /** Records without `audit.schema_version`. */
  nonAudit: number;
  /** Non-audit records dropped under `nonAudit: 'drop'`. */
  nonAuditDropped: number;
}

/**
 * Builds a {@link PreparedBatch} record by record, with each record's payload written straight into
 * the batch's byte buffer (see `prepareBatch` in prepare-stage.ts): the caller writes the record's
 * payload tail (canonical event, context, extra attributes, `}`) at {@link PreparedBatchBuilder.writer}'s
 * position, then calls {@link PreparedBatchBuilder.add}.
 */
export class PreparedBatchBuilder {
  /** The payload buffer; the canonical event of the next record is written at its `off`. */
  readonly writer: CanonicalWriter;
  /**
   * The rows buffer (present when rows are built): a record's row is written here before
   * {@link add}, which takes what was written since the previous record as its row (none: no row).
   */
  readonly rows: ClickHouseBinaryBuffer | undefined;
  private rowStart = 0;
  private meta: Uint32Array;
  private digests: Uint8Array;
  private count = 0;
  private readonly tenants: string[] = [];
  private readonly tenantIndex = new Map<string, number>();
  private readonly eventIds: string[] = [];

  /**
   * @param maxRecords records the request holds (an upper bound of those added)
   * @param payloadBytes initial payload capacity in bytes (grows by copying when exceeded)
   * @param rowBytes initial rows capacity in bytes; undefined = rows are not built
   */
  constructor(maxRecords: number, payloadBytes: number, rowBytes?: number) {
    this.meta = new Uint32Array(maxRecords * META);
    this.digests = new Uint8Array(maxRecords * 32);
    this.writer = new CanonicalWriter(Math.max(1024, payloadBytes));
    // Sized past the pool threshold so the buffer owns its ArrayBuffer (it is transferred).
    this.rows = rowBytes === undefined ? undefined : new ClickHouseBinaryBuffer(Math.max(8192, rowBytes));
  }

  /**
   * Record a prepared record whose WAL payload tail the caller wrote at [`start`, `writer.off`), with
   * its canonical event at [`start`, `canonicalEnd`): digest the canonical bytes and store the
   * metadata.
   */
  add(start: number, canonicalEnd: number, eventId: string, tenantId: string, words: Uint32Array): void {
    const w = this.writer;
    const i = this.count++;
    if (i * META >= this.meta.length) this.growMeta();
    // The digest as a 32-character 'binary' (latin1) string (one char per byte, lossless) is copied out: about
    // twice as fast as asking for a Buffer, whose own ArrayBuffer per call dominates the hash of a
    // ~600-byte event (measured in bench/prepare.ts's process).
    const d = hash('sha256', w.buf.subarray(start, canonicalEnd), 'binary');
    const digests = this.digests;
    const at = i * 32;
    for (let j = 0; j < 32; j++) digests[at + j] = d.charCodeAt(j);
    const m = i * META;
    const meta = this.meta;
    meta[m] = words[0]!;
    meta[m + 1] = words[1]!;
    meta[m + 2] = words[2]!;
    meta[m + 3] = words[3]!;
    let t = this.tenantIndex.get(tenantId);
    if (t === undefined) {
      t = this.tenants.length;
      this.tenants.push(tenantId);
      this.tenantIndex.set(tenantId, t);
    }
    meta[m + 4] = t;
    meta[m + 5] = start;
    meta[m + 6] = w.off - start;
    const rowEnd = this.rows === undefined ? 0 : this.rows.length;
    meta[m + 7] = this.rowStart;
    meta[m + 8] = rowEnd - this.rowStart;
    this.rowStart = rowEnd;
    this.eventIds.push(eventId);
  }

  private growMeta(): void {
    const meta = new Uint32Array(Math.max(META * 16, this.meta.length * 2));
    meta.set(this.meta);
    this.meta = meta;
    const digests = new Uint8Array((meta.length / META) * 32);
    digests.set(this.digests);
    this.digests = digests;
  }

  /** The batch (the builder must not be used afterwards). */
  finish(counts: { rejections: Rejection[]; received: number; nonAudit: number; nonAuditDropped: number }): PreparedBatch {
    const n = this.count;
    return {
      count: n,
      meta: n * META === this.meta.length ? this.meta : new Uint32Array(this.meta.buffer, 0, n * META),
      digests: n * 32 === this.digests.length ? this.digests : new Uint8Array(this.digests.buffer, 0, n * 32),
      payload: new Uint8Array(this.writer.buf.buffer, 0, this.writer.off),
      rows: this.rows === undefined ? new Uint8Array(0) : this.rows.detach(),
      tenants: this.tenants,
      eventIds: this.eventIds,
      rejections: counts.rejections,
      received: counts.received,
      nonAudit: counts.nonAudit,
      nonAuditDropped: counts.nonAuditDropped,
    };
  }
}
