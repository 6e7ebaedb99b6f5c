/**
 * Read-only views of the three stores for `otel-audit verify` and `otel-audit prove`
 * (docs/integrity.md "Verify and prove"): the WAL (`<dataDir>/wal`), ClickHouse `audit_events` +
 * `audit_checkpoints`, and the cold archive (objects + `checkpoints/…`). Each view lists its chains
 * and checkpoints, streams a chain's entries in seq order as {@link ChainEntryInput}s (rows rebuilt
 * with `auditRowToChainEntry`, so an edited column is a hash mismatch), finds an event by id, and
 * reads leaf hashes for proofs. What a store cannot deliver (a WAL record whose checksum fails, an
 * archive object that fails its checks) is a {@link StoreProblem}, never a throw.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { AuditError } from '@otel-audit/core';
import type { AuditRow } from '@otel-audit/schema/audit-row';
import { checkpointRowToRecord } from '../../exporters/clickhouse/checkpoints.ts';
import { listArchivedCheckpoints } from '../../exporters/coldstore/checkpoints.ts';
import { type ColdObjectRef, coldObjectRows, listColdObjects, readColdObject } from '../../exporters/coldstore/reader.ts';
import type { ObjectStore } from '../../exporters/coldstore/store.ts';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';
import { auditRowToChainEntry } from '../../integrity/store-entries.ts';
import type { ChainEntryInput } from '../../integrity/verify-chain.ts';
import type { WalEntry, WalEventEntry } from '../../receiver/contracts.ts';
import {
  decodeSegmentHeader,
  parseRecord,
  parseSegmentFileName,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
} from '../../receiver/wal/format.ts';

/** Which store. */
export type StoreSource = 'wal' | 'clickhouse' | 'archive';

/** Something a store could not deliver (besides what chain verification finds). */
export interface StoreProblem {
  kind: 'corrupt-record' | 'bad-object' | 'bad-checkpoint-file' | 'store-error';
  /** WAL segment file and byte offset, archive object key, or checkpoint file key. */
  object: string;
  chainId?: string;
  seq?: number;
  seqTo?: number;
  message: string;
}

/** A chain entry plus what `prove` needs. */
export interface StoredEntry extends ChainEntryInput {
  tenantId: string;
  /** Event time (RFC 3339). */
  occurredAt: string;
}

/** Filters common to every store. */
export interface StoreFilter {
  tenant?: string;
  chain?: string;
  since?: Date;
  until?: Date;
}

/** A read-only view of one store. */
export interface StoreView {
  readonly source: StoreSource;
  /** Where it reads from, for messages. */
  readonly location: string;
  /** Chains (after the filter), with their tenant and last stored seq. */
  chains(): Promise<Array<{ chainId: string; tenantId: string; maxSeq: number }>>;
  /** Every checkpoint record of a chain, as stored. */
  checkpoints(chainId: string): Promise<CheckpointRecord[]>;
  /** Seq range of a chain's entries whose event time lies in [since, until); undefined when none. */
  seqRangeForTime(chainId: string, since: Date | undefined, until: Date | undefined): Promise<{ min: number; max: number } | undefined>;
  /** The chain's entries with seq in [fromSeq, toSeq], in seq order, in batches. */
  entries(chainId: string, fromSeq: number, toSeq: number): AsyncIterable<StoredEntry[]>;
  /** Find an event by id. */
  findEvent(eventId: string): Promise<StoredEntry | undefined>;
  /** Stored entry hashes of seq start+1 .. end (leaf indexes [start, end)), for proofs. */
  leafHashes(chainId: string, start: number, end: number): Promise<string[]>;
  /** Problems met while reading so far. */
  problems(): StoreProblem[];
  close(): Promise<void>;
}

function eventEntry(e: WalEventEntry): StoredEntry {
  return {
    chainId: e.chainId,
    tenantId: e.tenantId,
    seq: e.seq,
    prevHash: e.prevHash,
    hash: e.hash,
    chainVersion: e.chainVersion ?? 1,
    event: e.event,
    occurredAt: e.event?.occurredAt ?? '',
  };
}

function inTime(occurredAt: string, since: Date | undefined, until: Date | undefined): boolean {
  const t = Date.parse(occurredAt);
  if (since !== undefined && !(t >= since.getTime())) return false;
  if (until !== undefined && !(t < until.getTime())) return false;
  return true;
}

function chainSelected(filter: StoreFilter, chainId: string, tenantId: string): boolean {
  return (filter.chain === undefined || filter.chain === chainId) && (filter.tenant === undefined || filter.tenant === tenantId);
}

// ---------------------------------------------------------------------------------------------
// WAL

/**
 * Read every record of a WAL directory tolerantly: a record whose CRC-32 fails is reported
 * (segment, offset) and its payload still decoded when it parses, so chain verification names the
 * entry that changed; an unreadable length ends the segment (reported).
 */
async function readWalTolerant(walDir: string, onProblem: (p: StoreProblem) => void): Promise<WalEntry[]> {
  const segDir = path.join(walDir, 'segments');
  let names: string[];
  try {
    names = (await fsp.readdir(segDir)).filter((n) => parseSegmentFileName(n) !== undefined).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `no WAL at ${walDir} (expected ${segDir})`);
    throw err;
  }
  const out: WalEntry[] = [];
  for (const name of names) {
    const file = path.join(segDir, name);
    const buf = await fsp.readFile(file);
    const head = decodeSegmentHeader(buf.subarray(0, SEGMENT_HEADER_BYTES));
    if (!head.ok) {
      if (buf.length > SEGMENT_HEADER_BYTES)
        onProblem({ kind: 'corrupt-record', object: `${file}@0`, message: `segment header: ${head.reason}` });
      continue;
    }
    let off = SEGMENT_HEADER_BYTES;
    while (off < buf.length) {
      const r = parseRecord(buf, off, buf.length);
      if (r.kind === 'record') {
        out.push(JSON.parse(r.record.payload.toString('utf8')) as WalEntry);
        off += r.record.size;
        continue;
      }
      if (r.kind === 'short') {
        // A torn tail (the receiver truncates it on recovery); entries in it were never acknowledged.
        if (off + RECORD_HEADER_BYTES <= buf.length || buf.length - off > 0)
          onProblem({
            kind: 'corrupt-record',
            object: `${file}@${off}`,
            message: `record truncated (${buf.length - off} bytes left, ${r.needBytes} needed)`,
          });
        break;
      }
      // Checksum (or type) failure: the bytes of this record changed after they were written.
      const len = buf.readUInt32LE(off);
      const size = RECORD_HEADER_BYTES + len;
      if (len > 64 * 1024 * 1024 || off + size > buf.length) {
        onProblem({
          kind: 'corrupt-record',
          object: `${file}@${off}`,
          message: `${r.reason}; the record length is unreadable, rest of the segment skipped`,
        });
        break;
      }
      let decoded: WalEntry | undefined;
      try {
        decoded = JSON.parse(buf.subarray(off + RECORD_HEADER_BYTES, off + size).toString('utf8')) as WalEntry;
      } catch {
        decoded = undefined;
      }
      const where = decoded && decoded.kind === 'event' ? { chainId: decoded.chainId, seq: decoded.seq } : {};
      onProblem({
        kind: 'corrupt-record',
        object: `${file}@${off}`,
        ...where,
        message: `${r.reason}: the record was altered on disk${decoded ? ' (its content is still checked below)' : ' (its payload is unreadable)'}`,
      });
      if (decoded) out.push(decoded);
      off += size;
    }
  }
  return out;
}

/** A view of the WAL in `<dataDir>/wal` (read without opening it for writing). */
export async function openWalView(walDir: string, filter: StoreFilter = {}): Promise<StoreView> {
  const problems: StoreProblem[] = [];
  const all = await readWalTolerant(walDir, (p) => problems.push(p));
  const byChain = new Map<string, { tenantId: string; entries: StoredEntry[]; checkpoints: CheckpointRecord[] }>();
  const chainOf = (chainId: string, tenantId: string) => {
    let c = byChain.get(chainId);
    if (c === undefined) byChain.set(chainId, (c = { tenantId, entries: [], checkpoints: [] }));
    return c;
  };
  for (const e of all) {
    if (!chainSelected(filter, e.chainId, e.tenantId)) continue;
    if (e.kind === 'event') chainOf(e.chainId, e.tenantId).entries.push(eventEntry(e));
    else if (e.kind === 'checkpoint') chainOf(e.chainId, e.tenantId).checkpoints.push(e.checkpoint);
  }
  for (const c of byChain.values()) c.entries.sort((a, b) => a.seq - b.seq);
  return {
    source: 'wal',
    location: walDir,
    async chains() {
      return [...byChain].map(([chainId, c]) => ({ chainId, tenantId: c.tenantId, maxSeq: c.entries.at(-1)?.seq ?? 0 }));
    },
    async checkpoints(chainId) {
      return byChain.get(chainId)?.checkpoints ?? [];
    },
    async seqRangeForTime(chainId, since, until) {
      const seqs = (byChain.get(chainId)?.entries ?? []).filter((e) => inTime(e.occurredAt, since, until)).map((e) => e.seq);
      return seqs.length === 0 ? undefined : { min: Math.min(...seqs), max: Math.max(...seqs) };
    },
    async *entries(chainId, fromSeq, toSeq) {
      const list = (byChain.get(chainId)?.entries ?? []).filter((e) => e.seq >= fromSeq && e.seq <= toSeq);
      for (let i = 0; i < list.length; i += 10_000) yield list.slice(i, i + 10_000);
    },
    async findEvent(eventId) {
      const id = eventId.toLowerCase();
      for (const c of byChain.values()) for (const e of c.entries) if (e.event?.eventId === id) return e;
      return undefined;
    },
    async leafHashes(chainId, start, end) {
      const bySeq = new Map((byChain.get(chainId)?.entries ?? []).map((e) => [e.seq, e.hash]));
      const out: string[] = [];
      for (let seq = start + 1; seq <= end; seq++) {
        const h = bySeq.get(seq);
        if (h === undefined) throw new AuditError('AUDIT_ERR_INTEGRITY', `chain ${chainId} seq ${seq} is not in the WAL`);
        out.push(h);
      }
      return out;
    },
    problems: () => problems,
    async close() {},
  };
}

// ---------------------------------------------------------------------------------------------
// ClickHouse

/** Where the tables are. */
export interface ClickHouseTables {
  database: string;
  table: string;
  checkpointsTable: string;
}

/** A view of ClickHouse `audit_events` and `audit_checkpoints` through a client (embedded or by URL). */
export function openClickHouseView(
  client: ClickHouseClient,
  tables: ClickHouseTables,
  filter: StoreFilter = {},
  location = 'clickhouse',
): StoreView {
  const problems: StoreProblem[] = [];
  const ev = `${tables.database}.${tables.table}`;
  const cp = `${tables.database}.${tables.checkpointsTable}`;
  const q = async <T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> => {
    const rs = await client.query({ query, query_params: params, format: 'JSONEachRow' });
    return (await rs.json()) as T[];
  };
  return {
    source: 'clickhouse',
    location,
    async chains() {
      const where: string[] = [];
      if (filter.tenant !== undefined) where.push('TenantId = {tenant:String}');
      if (filter.chain !== undefined) where.push('ChainId = {chain:String}');
      const rows = await q<{ ChainId: string; Tenant: string; maxSeq: string }>(
        `SELECT ChainId, any(TenantId) AS Tenant, max(Seq) AS maxSeq FROM ${ev} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} GROUP BY ChainId ORDER BY ChainId`,
        { tenant: filter.tenant, chain: filter.chain },
      );
      const out = rows.map((r) => ({ chainId: r.ChainId, tenantId: r.Tenant, maxSeq: Number(r.maxSeq) }));
      // Chains with checkpoints but no rows left (every row deleted) are chains too.
      const cps = await q<{ ChainId: string }>(
        `SELECT DISTINCT ChainId FROM ${cp} ${filter.chain !== undefined ? 'WHERE ChainId = {chain:String}' : ''}`,
        { chain: filter.chain },
      );
      for (const c of cps) {
        const tenantId = c.ChainId.slice(0, c.ChainId.lastIndexOf('/'));
        if (!out.some((o) => o.chainId === c.ChainId) && chainSelected(filter, c.ChainId, tenantId))
          out.push({ chainId: c.ChainId, tenantId, maxSeq: 0 });
      }
      return out;
    },
    async checkpoints(chainId) {
      const rows = await q<{ Record: string }>(`SELECT Record FROM ${cp} WHERE ChainId = {chain:String} ORDER BY TreeSize`, {
        chain: chainId,
      });
      const out: CheckpointRecord[] = [];
      for (const r of rows) {
        try {
          out.push(checkpointRowToRecord(r));
        } catch (err) {
          problems.push({
            kind: 'bad-checkpoint-file',
            object: `${cp} (ChainId ${chainId})`,
            chainId,
            message: `Record is not valid JSON: ${(err as Error).message}`,
          });
        }
      }
      return out;
    },
    async seqRangeForTime(chainId, since, until) {
      const where = ['ChainId = {chain:String}'];
      if (since) where.push('Timestamp >= parseDateTime64BestEffort({since:String}, 9)');
      if (until) where.push('Timestamp < parseDateTime64BestEffort({until:String}, 9)');
      const [r] = await q<{ mn: string; mx: string; n: string }>(
        `SELECT min(Seq) AS mn, max(Seq) AS mx, count() AS n FROM ${ev} WHERE ${where.join(' AND ')}`,
        {
          chain: chainId,
          since: since?.toISOString(),
          until: until?.toISOString(),
        },
      );
      return r && Number(r.n) > 0 ? { min: Number(r.mn), max: Number(r.mx) } : undefined;
    },
    async *entries(chainId, fromSeq, toSeq) {
      const page = 20_000;
      let from = fromSeq;
      let last: StoredEntry | undefined;
      const [top] = await q<{ mx: string }>(`SELECT max(Seq) AS mx FROM ${ev} WHERE ChainId = {chain:String}`, { chain: chainId });
      const end = Math.min(toSeq, Number(top?.mx ?? 0));
      while (from <= end) {
        const to = Math.min(end, from + page - 1);
        const rows = await q<AuditRow>(
          `SELECT * FROM ${ev} WHERE ChainId = {chain:String} AND Seq BETWEEN {from:UInt64} AND {to:UInt64} ORDER BY Seq, EventId`,
          { chain: chainId, from, to },
        );
        const batch: StoredEntry[] = [];
        for (const row of rows) {
          const e = rowEntry(row);
          // A copy the ReplacingMergeTree has not collapsed yet (a retried insert) is the same entry.
          if (
            last !== undefined &&
            last.seq === e.seq &&
            last.hash === e.hash &&
            last.prevHash === e.prevHash &&
            JSON.stringify(last.event) === JSON.stringify(e.event)
          )
            continue;
          batch.push(e);
          last = e;
        }
        if (batch.length > 0) yield batch;
        from = to + 1;
      }
    },
    async findEvent(eventId) {
      const rows = await q<AuditRow>(`SELECT * FROM ${ev} WHERE EventId = {id:String} ORDER BY Seq LIMIT 1`, { id: eventId.toLowerCase() });
      return rows[0] ? rowEntry(rows[0]) : undefined;
    },
    async leafHashes(chainId, start, end) {
      const rows = await q<{ Seq: string; Hash: string }>(
        `SELECT Seq, any(Hash) AS Hash FROM ${ev} WHERE ChainId = {chain:String} AND Seq > {start:UInt64} AND Seq <= {end:UInt64} GROUP BY Seq ORDER BY Seq`,
        {
          chain: chainId,
          start,
          end,
        },
      );
      if (rows.length !== end - start)
        throw new AuditError(
          'AUDIT_ERR_INTEGRITY',
          `chain ${chainId}: ClickHouse holds ${rows.length} of the ${end - start} entries seq ${start + 1}..${end}`,
        );
      return rows.map((r) => r.Hash);
    },
    problems: () => problems,
    async close() {},
  };
}

function rowEntry(row: AuditRow): StoredEntry {
  let entry: ChainEntryInput;
  try {
    entry = auditRowToChainEntry(row);
  } catch {
    entry = {
      chainId: row.ChainId,
      seq: Number(row.Seq),
      prevHash: row.PrevHash,
      hash: row.Hash,
      chainVersion: row.ChainVersion === undefined ? 1 : Number(row.ChainVersion),
      event: {} as ChainEntryInput['event'],
    };
  }
  return { ...entry, tenantId: row.TenantId, occurredAt: entry.event?.occurredAt ?? '' };
}

// ---------------------------------------------------------------------------------------------
// Cold archive

/** A view of a cold archive (S3 or local directory): objects + checkpoint files. */
export async function openArchiveView(store: ObjectStore, filter: StoreFilter = {}): Promise<StoreView> {
  const problems: StoreProblem[] = [];
  const listed = await listColdObjects(store, filter.tenant === undefined ? {} : { tenant: filter.tenant });
  if (listed.status !== 'success') throw listed.error;
  const objects = new Map<string, ColdObjectRef[]>();
  for (const o of listed.value.objects) {
    if (!chainSelected(filter, o.chainId, o.tenantId)) continue;
    const list = objects.get(o.chainId) ?? [];
    list.push(o);
    objects.set(o.chainId, list);
  }
  for (const list of objects.values()) list.sort((a, b) => a.firstSeq - b.firstSeq || a.lastSeq - b.lastSeq);
  const cps = await listArchivedCheckpoints(store, filter.tenant === undefined ? {} : { tenant: filter.tenant });
  if (cps.status !== 'success') throw cps.error;
  const checkpoints = new Map<string, { tenantId: string; records: CheckpointRecord[] }>();
  for (const c of cps.value) {
    if (!c.ok) {
      problems.push({ kind: 'bad-checkpoint-file', object: c.key, message: c.reason });
      continue;
    }
    const chainId = String(c.record.chainId);
    const tenantId = chainId.slice(0, chainId.lastIndexOf('/'));
    if (!chainSelected(filter, chainId, tenantId)) continue;
    const entry = checkpoints.get(chainId) ?? { tenantId, records: [] };
    entry.records.push(c.record);
    checkpoints.set(chainId, entry);
  }
  const cache = new Map<string, StoredEntry[] | undefined>();
  const reported = new Set<string>();
  async function readObject(o: ColdObjectRef): Promise<StoredEntry[] | undefined> {
    if (cache.has(o.key)) return cache.get(o.key);
    const read = await readColdObject(store, o.key);
    let rows: StoredEntry[] | undefined;
    if (!read.ok) {
      if (!reported.has(o.key))
        problems.push({ kind: 'bad-object', object: o.key, chainId: o.chainId, seq: o.firstSeq, seqTo: o.lastSeq, message: read.reason });
      reported.add(o.key);
    } else {
      rows = (await coldObjectRows(read)).map(rowEntry);
    }
    if (cache.size > 64) cache.clear();
    cache.set(o.key, rows);
    return rows;
  }
  const view: StoreView = {
    source: 'archive',
    location: store.location,
    async chains() {
      const ids = new Set([...objects.keys(), ...checkpoints.keys()]);
      return [...ids].sort().map((chainId) => ({
        chainId,
        tenantId: objects.get(chainId)?.[0]?.tenantId ?? checkpoints.get(chainId)!.tenantId,
        maxSeq: Math.max(0, ...(objects.get(chainId) ?? []).map((o) => o.lastSeq)),
      }));
    },
    async checkpoints(chainId) {
      return checkpoints.get(chainId)?.records ?? [];
    },
    async seqRangeForTime(chainId, since, until) {
      let min = Infinity;
      let max = -Infinity;
      for (const o of objects.get(chainId) ?? []) {
        const start = Date.parse(`${o.date}T${o.hour}:00:00.000Z`);
        if (since !== undefined && start + 3_600_000 <= since.getTime()) continue;
        if (until !== undefined && start >= until.getTime()) continue;
        min = Math.min(min, o.firstSeq);
        max = Math.max(max, o.lastSeq);
      }
      return Number.isFinite(min) ? { min, max } : undefined;
    },
    async *entries(chainId, fromSeq, toSeq) {
      // Objects are per event hour, so a late event puts seqs of one chain into objects whose seq
      // ranges overlap: merge them (objects sorted by first seq; emit what no later object can precede).
      const list = (objects.get(chainId) ?? []).filter((o) => o.lastSeq >= fromSeq && o.firstSeq <= toSeq);
      let pending: StoredEntry[] = [];
      for (let i = 0; i < list.length; i++) {
        const rows = await readObject(list[i]!);
        if (rows !== undefined) for (const e of rows) if (e.seq >= fromSeq && e.seq <= toSeq) pending.push(e); // a bad object is reported; its seqs show up as missing
        const next = list[i + 1]?.firstSeq ?? Infinity;
        pending.sort((a, b) => a.seq - b.seq);
        let cut = 0;
        while (cut < pending.length && pending[cut]!.seq < next) cut++;
        if (cut > 0) {
          yield pending.slice(0, cut);
          pending = pending.slice(cut);
        }
      }
      if (pending.length > 0) yield pending;
    },
    async findEvent(eventId) {
      const id = eventId.toLowerCase();
      for (const list of objects.values()) {
        for (const o of list) {
          const rows = await readObject(o);
          const hit = rows?.find((e) => e.event?.eventId === id);
          if (hit) return hit;
        }
      }
      return undefined;
    },
    async leafHashes(chainId, start, end) {
      const bySeq = new Map<number, string>();
      for await (const batch of view.entries(chainId, start + 1, end)) for (const e of batch) bySeq.set(e.seq, e.hash);
      const out: string[] = [];
      for (let seq = start + 1; seq <= end; seq++) {
        const h = bySeq.get(seq);
        if (h === undefined) throw new AuditError('AUDIT_ERR_INTEGRITY', `chain ${chainId} seq ${seq} is not in the archive`);
        out.push(h);
      }
      return out;
    },
    problems: () => problems,
    async close() {},
  };
  return view;
}
