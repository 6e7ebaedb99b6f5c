/**
 * The storage row ({@link AuditRow}) in ClickHouse's RowBinary format: what the receiver's prepare
 * workers write once per event next to its canonical JSON in the WAL, so the exporters insert and
 * archive rows without parsing JSON or mapping the event again.
 *
 * RowBinary (ClickHouse docs, interfaces/formats/RowBinary) writes a row as its columns in table
 * order, each as:
 *   - `String`, `LowCardinality(String)`: VarUInt (LEB128) byte length, then the UTF-8 bytes;
 *   - `UInt8`: 1 byte; `UInt64`: 8 bytes little-endian;
 *   - `DateTime('UTC')`: UInt32 Unix seconds; `DateTime64(9, 'UTC')`: Int64 nanoseconds;
 *   - `Array(T)`: VarUInt element count, then the elements;
 *   - `Map(K, V)`: VarUInt pair count, then key, value, key, value, …
 *
 * A row splits into two runs of bytes at a fixed column: the **event columns** (everything up to
 * `ChangesAfter`), which depend only on the event and are built in parallel by the workers, and the
 * **chain columns** (`ChainId`, `Seq`, `PrevHash`, `Hash`, `ReceivedAt`, `ChainVersion`), which
 * only the ordered sequencer knows and which an exporter writes from the WAL entry's head. The two
 * concatenated are exactly {@link writeAuditRowBinary} of the whole row.
 */
import { AUDIT_ROW_COLUMNS, type AuditRow, type AuditRowEventPart } from './audit-row.ts';
import { type ClickHouseBinaryBuffer, readVarUInt } from './binary-buffer.ts';

/** How a column is written in RowBinary (the ClickHouse type, with `LowCardinality` left out: RowBinary writes it as its inner type). */
export type AuditRowBinaryKind = 'String' | 'UInt8' | 'UInt64' | 'DateTime' | 'DateTime64' | 'Array(String)' | 'Map(String, String)';

/** The RowBinary kind of every row column (checked against the `audit_events` DDL by the tests). */
export const AUDIT_ROW_BINARY_KINDS: Readonly<Record<keyof AuditRow, AuditRowBinaryKind>> = {
  Timestamp: 'DateTime64',
  TimestampTime: 'DateTime',
  TraceId: 'String',
  SpanId: 'String',
  TraceFlags: 'UInt8',
  SeverityText: 'String',
  SeverityNumber: 'UInt8',
  ServiceName: 'String',
  Body: 'String',
  ResourceSchemaUrl: 'String',
  ResourceAttributes: 'Map(String, String)',
  ScopeSchemaUrl: 'String',
  ScopeName: 'String',
  ScopeVersion: 'String',
  ScopeAttributes: 'Map(String, String)',
  LogAttributes: 'Map(String, String)',
  EventName: 'String',
  EventId: 'String',
  SchemaVersion: 'String',
  TenantId: 'String',
  TenantName: 'String',
  Action: 'String',
  Outcome: 'String',
  ActorId: 'String',
  ActorType: 'String',
  ActorName: 'String',
  ActorAuthMethod: 'String',
  ActorImpersonatorId: 'String',
  TargetType: 'String',
  TargetId: 'String',
  TargetTypes: 'Array(String)',
  TargetIds: 'Array(String)',
  TargetNames: 'Array(String)',
  Reason: 'String',
  SessionId: 'String',
  RequestId: 'String',
  SourceIp: 'String',
  UserAgent: 'String',
  HttpMethod: 'String',
  UrlPath: 'String',
  ChangesBefore: 'String',
  ChangesAfter: 'String',
  ChainId: 'String',
  Seq: 'UInt64',
  PrevHash: 'String',
  Hash: 'String',
  ReceivedAt: 'DateTime64',
  ChainVersion: 'UInt8',
};

/** The chain columns of a row as the WAL entry's head holds them. */
export interface AuditRowChainFields {
  chainId: string;
  seq: number;
  prevHash: string;
  hash: string;
  /** Unix nanoseconds as decimal text (the WAL's `receivedAtNanos`). */
  receivedAtNanos: string;
  /** Chain format; entries written before the field existed are 1. */
  chainVersion: number;
}

const NANOS_PER_SECOND = 1_000_000_000n;

/** The last seconds prefix parsed by {@link dateTime64TextToNanos} (rows of a batch share seconds). */
let lastHead = '';
let lastSecondsNanos = 0n;
let lastSeconds = 0;

/** Unix seconds of a `YYYY-MM-DD hh:mm:ss` head, or NaN; the last one is remembered. */
function secondsOfHead(head: string): number {
  if (head === lastHead) return lastSeconds;
  const ms = Date.parse(`${head.slice(0, 10)}T${head.slice(11, 19)}Z`);
  if (Number.isNaN(ms) || head.length !== 19 || head[10] !== ' ') return Number.NaN;
  lastHead = head;
  lastSeconds = ms / 1000;
  lastSecondsNanos = BigInt(lastSeconds) * NANOS_PER_SECOND;
  return lastSeconds;
}

/** A DateTime64(9) UTC literal (`YYYY-MM-DD hh:mm:ss[.f{1,9}]`) as Int64 nanoseconds. Throws for anything else. */
export function dateTime64TextToNanos(value: string): bigint {
  const seconds = secondsOfHead(value.slice(0, 19));
  if (Number.isNaN(seconds) || (value.length > 19 && (value[19] !== '.' || value.length > 29)))
    throw new Error(`not a DateTime64 value: ${JSON.stringify(value)}`);
  const frac = value.length > 20 ? value.slice(20) : '';
  if (!/^\d*$/.test(frac)) throw new Error(`not a DateTime64 value: ${JSON.stringify(value)}`);
  return lastSecondsNanos + BigInt(frac.padEnd(9, '0'));
}

/** A DateTime UTC literal (`YYYY-MM-DD hh:mm:ss`) as Unix seconds. Throws for anything else. */
function dateTimeTextToSeconds(value: string): number {
  const seconds = value.length === 19 ? secondsOfHead(value) : Number.NaN;
  if (Number.isNaN(seconds) || seconds < 0 || seconds > 0xffff_ffff) throw new Error(`not a DateTime value: ${JSON.stringify(value)}`);
  return seconds;
}

function writeMap(out: ClickHouseBinaryBuffer, m: Record<string, string>): void {
  const keys = Object.keys(m);
  out.varUInt(keys.length);
  for (const k of keys) {
    out.string(k);
    out.string(m[k]!);
  }
}

function writeStrings(out: ClickHouseBinaryBuffer, values: ReadonlyArray<string>): void {
  out.varUInt(values.length);
  for (const v of values) out.string(v);
}

/** Int64 nanoseconds, little-endian two's complement. */
function writeInt64(out: ClickHouseBinaryBuffer, v: bigint): void {
  out.int64(v);
}

/**
 * Append the event columns of `row` (every column before `ChainId`) in RowBinary. Throws for a
 * value its column cannot hold (a malformed time), leaving a partial row in `out`.
 */
export function writeAuditRowBinaryEventColumns(row: AuditRowEventPart, out: ClickHouseBinaryBuffer): void {
  writeInt64(out, dateTime64TextToNanos(row.Timestamp));
  out.uint32(dateTimeTextToSeconds(row.TimestampTime));
  out.string(row.TraceId);
  out.string(row.SpanId);
  out.uint8(row.TraceFlags);
  out.string(row.SeverityText);
  out.uint8(row.SeverityNumber);
  out.string(row.ServiceName);
  out.string(row.Body);
  out.string(row.ResourceSchemaUrl);
  writeMap(out, row.ResourceAttributes);
  out.string(row.ScopeSchemaUrl);
  out.string(row.ScopeName);
  out.string(row.ScopeVersion);
  writeMap(out, row.ScopeAttributes);
  writeMap(out, row.LogAttributes);
  out.string(row.EventName);
  out.string(row.EventId);
  out.string(row.SchemaVersion);
  out.string(row.TenantId);
  out.string(row.TenantName);
  out.string(row.Action);
  out.string(row.Outcome);
  out.string(row.ActorId);
  out.string(row.ActorType);
  out.string(row.ActorName);
  out.string(row.ActorAuthMethod);
  out.string(row.ActorImpersonatorId);
  out.string(row.TargetType);
  out.string(row.TargetId);
  writeStrings(out, row.TargetTypes);
  writeStrings(out, row.TargetIds);
  writeStrings(out, row.TargetNames);
  out.string(row.Reason);
  out.string(row.SessionId);
  out.string(row.RequestId);
  out.string(row.SourceIp);
  out.string(row.UserAgent);
  out.string(row.HttpMethod);
  out.string(row.UrlPath);
  out.string(row.ChangesBefore);
  out.string(row.ChangesAfter);
}

/** Append the chain columns (`ChainId` … `ChainVersion`) in RowBinary, from the WAL entry's head fields. */
export function writeAuditRowBinaryChainColumns(c: AuditRowChainFields, out: ClickHouseBinaryBuffer): void {
  out.string(c.chainId);
  out.uint64(c.seq);
  out.string(c.prevHash);
  out.string(c.hash);
  writeInt64(out, BigInt(c.receivedAtNanos));
  out.uint8(c.chainVersion);
}

/** Append a whole row in RowBinary (event columns, then chain columns). */
export function writeAuditRowBinary(row: AuditRow, out: ClickHouseBinaryBuffer): void {
  writeAuditRowBinaryEventColumns(row, out);
  out.string(row.ChainId);
  out.uint64(row.Seq);
  out.string(row.PrevHash);
  out.string(row.Hash);
  writeInt64(out, dateTime64TextToNanos(row.ReceivedAt));
  out.uint8(row.ChainVersion);
}

/** Bytes of a fixed-width kind; -1 for the variable-width ones. */
const FIXED_WIDTH: Readonly<Record<AuditRowBinaryKind, number>> = {
  String: -1,
  UInt8: 1,
  UInt64: 8,
  DateTime: 4,
  DateTime64: 8,
  'Array(String)': -1,
  'Map(String, String)': -1,
};

/** Where the last {@link readVarUInt} ended. */
const cursor = { end: 0 };

/** Position after the value of kind `kind` at `row[pos..)`. */
function skipValue(row: Uint8Array, pos: number, kind: AuditRowBinaryKind): number {
  const w = FIXED_WIDTH[kind];
  if (w >= 0) return pos + w;
  const n = readVarUInt(row, pos, cursor);
  if (kind === 'String') return cursor.end + n;
  let p = cursor.end;
  const strings = kind === 'Array(String)' ? n : n * 2;
  for (let i = 0; i < strings; i++) {
    const len = readVarUInt(row, p, cursor);
    p = cursor.end + len;
  }
  return p;
}

/**
 * The value of the `String` column `column` in a row's RowBinary bytes (the event columns, or a
 * whole row), found by skipping the columns before it. Throws when the bytes end first.
 */
export function readAuditRowBinaryString(row: Uint8Array, column: keyof AuditRow): string {
  let p = 0;
  for (const c of AUDIT_ROW_COLUMNS) {
    if (c === column) {
      if (AUDIT_ROW_BINARY_KINDS[c] !== 'String') throw new Error(`column ${c} is not a String`);
      const n = readVarUInt(row, p, cursor);
      if (cursor.end + n > row.length) throw new Error('RowBinary row ends inside a value');
      return Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('utf8', cursor.end, cursor.end + n);
    }
    p = skipValue(row, p, AUDIT_ROW_BINARY_KINDS[c]);
  }
  throw new Error(`no column ${String(column)}`);
}

/** The `Timestamp` (first column) of a row's RowBinary bytes, as Int64 nanoseconds. */
export function readAuditRowBinaryTimestamp(row: Uint8Array): bigint {
  if (row.length < 8) throw new Error('RowBinary row ends inside a value');
  return new DataView(row.buffer, row.byteOffset, 8).getBigInt64(0, true);
}
