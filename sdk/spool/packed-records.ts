/**
 * Spool records packed for a hop between threads: payloads back to back in one buffer of its own
 * (transferable), each record's context given by index into a de-duplicated list. Used by the
 * record worker (answering a read) and the export worker transport (sending a batch).
 */
import type { SpoolRecord } from './types.ts';

/** Records as {@link packSpoolRecords} lays them out: record `i` is `data[offsets[i] .. offsets[i + 1])` under `contexts[contextOf[i]]`. */
export interface PackedSpoolRecords {
  contexts: string[];
  contextOf: Uint32Array;
  offsets: Uint32Array;
  /** Not from Node's buffer pool, so `data.buffer` can be transferred. */
  data: Buffer;
}

/** Pack `records` (one copy of their payloads). */
export function packSpoolRecords(records: readonly SpoolRecord[]): PackedSpoolRecords {
  const contexts: string[] = [];
  const index = new Map<string, number>();
  const contextOf = new Uint32Array(records.length);
  const offsets = new Uint32Array(records.length + 1);
  let total = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    let c = index.get(r.contextJson);
    if (c === undefined) {
      c = contexts.length;
      contexts.push(r.contextJson);
      index.set(r.contextJson, c);
    }
    contextOf[i] = c;
    offsets[i] = total;
    total += r.payload.length;
  }
  offsets[records.length] = total;
  // Not Buffer.concat: small results may share Node's buffer pool, which must not be transferred.
  const data = Buffer.allocUnsafeSlow(total);
  for (let i = 0; i < records.length; i++) records[i]!.payload.copy(data, offsets[i]);
  return { contexts, contextOf, offsets, data };
}

/** The records of a packed batch (payloads are views of `packed.data`). */
export function unpackSpoolRecords(packed: {
  contexts: string[];
  contextOf: Uint32Array;
  offsets: Uint32Array;
  data: Uint8Array;
}): SpoolRecord[] {
  const data = Buffer.from(packed.data.buffer, packed.data.byteOffset, packed.data.byteLength);
  const records: SpoolRecord[] = new Array(packed.contextOf.length);
  for (let i = 0; i < records.length; i++) {
    records[i] = {
      contextJson: packed.contexts[packed.contextOf[i]!]!,
      payload: data.subarray(packed.offsets[i]!, packed.offsets[i + 1]!),
    };
  }
  return records;
}
