/**
 * Parquet encoding of {@link AuditRow}s for cold storage (writer: hyparquet-writer, reader:
 * hyparquet; zstd through Node's built-in `zlib.zstdCompressSync`, see docs/decisions.md).
 *
 * Column types are chosen so ClickHouse (`s3()`/`file()`, and so chDB) and DuckDB read the files
 * back into the types of `audit_events` without casts:
 * - DateTime64(9) columns (`Timestamp`, `ReceivedAt`) → INT64 TIMESTAMP(NANOS, UTC);
 *   `TimestampTime` (DateTime) → INT64 TIMESTAMP(MILLIS, UTC) holding whole seconds.
 * - Map(String, String) → Parquet MAP<UTF8, UTF8> (ClickHouse `Map(String, String)`, DuckDB `MAP`);
 *   JSON text would read back as String and need `JSONExtract` on every query.
 * - Array(String) → Parquet 3-level LIST of required UTF8.
 * - UInt8 / Int32 / UInt64 → INT32 UINT_8 / INT32 / INT64 UINT_64.
 * Every column is REQUIRED (the row has no nulls: '' stands for absent), so readers do not turn
 * them into Nullable.
 */
import { constants as zlibConstants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { AUDIT_ROW_COLUMNS, type AuditRow, dateTime64ToNanos } from '@otel-audit/schema/audit-row';
import type { FileMetaData, SchemaElement } from 'hyparquet';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import type { ColumnSource } from 'hyparquet-writer';
import { ByteWriter, ParquetWriter, parquetWrite } from 'hyparquet-writer';

/** Parquet files start and end with these four bytes. */
export const PARQUET_MAGIC = 'PAR1';

/** Prefix of every key-value metadata key this project writes. */
export const METADATA_KEY_PREFIX = 'otel_audit.';

type ColumnKind = 'string' | 'ts-nanos' | 'ts-seconds' | 'uint8' | 'int32' | 'uint64' | 'map' | 'list';

const KIND: Record<(typeof AUDIT_ROW_COLUMNS)[number], ColumnKind> = {
  Timestamp: 'ts-nanos',
  TimestampTime: 'ts-seconds',
  TraceId: 'string',
  SpanId: 'string',
  TraceFlags: 'uint8',
  SeverityText: 'string',
  SeverityNumber: 'uint8',
  ServiceName: 'string',
  Body: 'string',
  ResourceSchemaUrl: 'string',
  ResourceAttributes: 'map',
  ScopeSchemaUrl: 'string',
  ScopeName: 'string',
  ScopeVersion: 'string',
  ScopeAttributes: 'map',
  LogAttributes: 'map',
  EventName: 'string',
  EventId: 'string',
  SchemaVersion: 'string',
  TenantId: 'string',
  TenantName: 'string',
  Action: 'string',
  Outcome: 'string',
  ActorId: 'string',
  ActorType: 'string',
  ActorName: 'string',
  ActorAuthMethod: 'string',
  ActorImpersonatorId: 'string',
  TargetType: 'string',
  TargetId: 'string',
  TargetTypes: 'list',
  TargetIds: 'list',
  TargetNames: 'list',
  Reason: 'string',
  SessionId: 'string',
  RequestId: 'string',
  SourceIp: 'string',
  UserAgent: 'string',
  HttpMethod: 'string',
  UrlPath: 'string',
  ChangesBefore: 'string',
  ChangesAfter: 'string',
  ChainId: 'string',
  Seq: 'uint64',
  PrevHash: 'string',
  Hash: 'string',
  ReceivedAt: 'ts-nanos',
  ChainVersion: 'uint8',
};

function schemaFor(name: string, kind: ColumnKind): SchemaElement[] {
  switch (kind) {
    case 'string':
      return [{ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' }];
    case 'ts-nanos':
      return [
        { name, type: 'INT64', repetition_type: 'REQUIRED', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'NANOS' } },
      ];
    case 'ts-seconds':
      return [
        {
          name,
          type: 'INT64',
          repetition_type: 'REQUIRED',
          converted_type: 'TIMESTAMP_MILLIS',
          logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
        },
      ];
    case 'uint8':
      return [{ name, type: 'INT32', repetition_type: 'REQUIRED', converted_type: 'UINT_8' }];
    case 'int32':
      return [{ name, type: 'INT32', repetition_type: 'REQUIRED' }];
    case 'uint64':
      return [{ name, type: 'INT64', repetition_type: 'REQUIRED', converted_type: 'UINT_64' }];
    case 'map':
      return [
        { name, repetition_type: 'REQUIRED', converted_type: 'MAP', num_children: 1 },
        { name: 'key_value', repetition_type: 'REPEATED', num_children: 2 },
        { name: 'key', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
        { name: 'value', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      ];
    case 'list':
      return [
        { name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
      ];
  }
}

/** The Parquet schema of an audit row file (root + columns in {@link AUDIT_ROW_COLUMNS} order). */
export const AUDIT_PARQUET_SCHEMA: SchemaElement[] = [
  { name: 'audit_row', num_children: AUDIT_ROW_COLUMNS.length },
  ...AUDIT_ROW_COLUMNS.flatMap((c) => schemaFor(c, KIND[c])),
];

const NS_PER_S = 1_000_000_000n;

/** `YYYY-MM-DD hh:mm:ss[.fffffffff]` (UTC) → Unix nanoseconds; a fast path for the row's own format. */
function dateTime64ToNanosFast(v: string): bigint {
  const ms = Date.parse(`${v.slice(0, 10)}T${v.slice(11, 19)}Z`);
  if (Number.isNaN(ms) || (v.length > 19 && v[19] !== '.')) return dateTime64ToNanos(v);
  const frac = v.length > 20 ? Number(v.slice(20).padEnd(9, '0').slice(0, 9)) : 0;
  return BigInt(ms / 1000) * NS_PER_S + BigInt(frac);
}

/** Unix nanoseconds → `YYYY-MM-DD hh:mm:ss.fffffffff`; seconds prefixes are cached (rows share seconds). */
function nanosFormatter(): (n: bigint) => string {
  const cache = new Map<bigint, string>();
  return (n) => {
    let secs = n / NS_PER_S;
    let sub = n % NS_PER_S;
    if (sub < 0n) {
      sub += NS_PER_S;
      secs -= 1n;
    }
    let base = cache.get(secs);
    if (base === undefined) {
      if (cache.size > 10_000) cache.clear();
      base = new Date(Number(secs) * 1000).toISOString().slice(0, 19).replace('T', ' ');
      cache.set(secs, base);
    }
    return `${base}.${sub.toString().padStart(9, '0')}`;
  };
}

function columnValues(rows: readonly AuditRow[], name: (typeof AUDIT_ROW_COLUMNS)[number]): unknown[] {
  const kind = KIND[name];
  const out = new Array<unknown>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const v = (rows[i] as unknown as Record<string, unknown>)[name];
    switch (kind) {
      case 'ts-nanos':
        out[i] = dateTime64ToNanosFast(v as string);
        break;
      case 'ts-seconds':
        out[i] = BigInt(Date.parse(`${(v as string).slice(0, 10)}T${(v as string).slice(11, 19)}Z`));
        break;
      case 'uint64':
        out[i] = BigInt(v as number);
        break;
      default:
        out[i] = v;
    }
  }
  return out;
}

/**
 * Encodings chosen per column instead of hyparquet-writer's dictionary trial: values unique per row
 * (ids, hashes, free text) go PLAIN — a dictionary attempt on them costs a third of the encode
 * time for nothing — and the monotonic integers (Seq, event and receive times) go
 * DELTA_BINARY_PACKED, which shrinks them to a few bits per row. Everything else keeps the
 * writer's choice (dictionaries for tenant, action, actor type, attribute keys…).
 */
const COLUMN_ENCODING: Partial<Record<(typeof AUDIT_ROW_COLUMNS)[number], 'PLAIN' | 'DELTA_BINARY_PACKED'>> = {
  Timestamp: 'DELTA_BINARY_PACKED',
  TimestampTime: 'DELTA_BINARY_PACKED',
  ReceivedAt: 'DELTA_BINARY_PACKED',
  Seq: 'DELTA_BINARY_PACKED',
  EventId: 'PLAIN',
  Hash: 'PLAIN',
  PrevHash: 'PLAIN',
  RequestId: 'PLAIN',
  TraceId: 'PLAIN',
  SpanId: 'PLAIN',
  Body: 'PLAIN',
};

/** Options of {@link encodeParquet}. */
export interface EncodeParquetOptions {
  /** `zstd` (default) or `none`. */
  compression?: 'zstd' | 'none';
  /** zstd level (1–19); 3 is zstd's default, a good speed/size balance. */
  zstdLevel?: number;
  /** Key-value metadata written into the footer. */
  metadata?: Record<string, string>;
  /** Rows per row group (default 100 000). */
  rowGroupSize?: number;
}

/** The columns of `rows` as hyparquet-writer sources (encodings and statistics per column). */
function auditColumnData(rows: readonly AuditRow[]): ColumnSource[] {
  return AUDIT_ROW_COLUMNS.map((name) => ({
    name,
    data: columnValues(rows, name),
    nullable: false,
    ...(COLUMN_ENCODING[name] ? { encoding: COLUMN_ENCODING[name] } : {}),
    // Hashes, ids and free text do not repeat: statistics on them only bloat the footer.
    statistics: name === 'Timestamp' || name === 'Seq' || name === 'TenantId' || name === 'Action' || name === 'ChainId',
  }));
}

function zstdOf(level: number): (input: Uint8Array) => Uint8Array {
  return (input) => zstdCompressSync(input, { params: { [zlibConstants.ZSTD_c_compressionLevel]: level } });
}

const CREATED_BY = 'otel-audit coldstore (hyparquet-writer)';

/** Encode rows as a Parquet file. Rows must be non-empty (an empty object is never written). */
export function encodeParquet(rows: readonly AuditRow[], options: EncodeParquetOptions = {}): Uint8Array {
  const writer = new ByteWriter();
  parquetWrite({
    writer,
    columnData: auditColumnData(rows),
    schema: AUDIT_PARQUET_SCHEMA,
    codec: options.compression === 'none' ? 'UNCOMPRESSED' : 'ZSTD',
    compressors: { ZSTD: zstdOf(options.zstdLevel ?? 3) },
    rowGroupSize: options.rowGroupSize ?? 100_000,
    kvMetadata: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    createdBy: CREATED_BY,
  });
  return new Uint8Array(writer.getBuffer());
}

/**
 * The same file as {@link encodeParquet}, written one row group at a time, so the caller holds one
 * group's rows, not the object's: the cold-storage builder streams a sealed file through it when no
 * embedded engine writes Parquet (a ClickHouse server by URL, or none). The footer's key-value
 * metadata is given at {@link AuditParquetWriter.finish}, once every row has been seen.
 */
export class AuditParquetWriter {
  private readonly out = new ByteWriter();
  private readonly parquet: ParquetWriter;
  private rows = 0;

  constructor(options: Pick<EncodeParquetOptions, 'compression' | 'zstdLevel'> = {}) {
    this.parquet = new ParquetWriter({
      writer: this.out,
      schema: AUDIT_PARQUET_SCHEMA,
      codec: options.compression === 'none' ? 'UNCOMPRESSED' : 'ZSTD',
      compressors: { ZSTD: zstdOf(options.zstdLevel ?? 3) },
      createdBy: CREATED_BY,
    });
  }

  /** Rows written so far. */
  get rowCount(): number {
    return this.rows;
  }

  /** Write `rows` (non-empty) as one row group. */
  writeRowGroup(rows: readonly AuditRow[]): void {
    if (rows.length === 0) return;
    void this.parquet.write({ columnData: auditColumnData(rows), rowGroupSize: rows.length });
    this.rows += rows.length;
  }

  /** Write the footer with `metadata` and return the file (at least one row group must be written). */
  finish(metadata: Record<string, string>): Uint8Array {
    if (this.rows === 0) throw new Error('a Parquet object needs at least one row');
    this.parquet.kvMetadata = Object.entries(metadata).map(([key, value]) => ({ key, value }));
    this.parquet.finish();
    return new Uint8Array(this.out.getBuffer());
  }
}

/** Whether `bytes` has the Parquet magic at both ends (a cheap truncation/foreign-file check). */
export function hasParquetMagic(bytes: Uint8Array): boolean {
  if (bytes.length < 12) return false;
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, 4).toString('latin1');
  const tail = Buffer.from(bytes.buffer, bytes.byteOffset + bytes.length - 4, 4).toString('latin1');
  return head === PARQUET_MAGIC && tail === PARQUET_MAGIC;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** Parse the footer of a Parquet file. Throws on a malformed footer. */
export function readParquetFooter(bytes: Uint8Array): { metadata: FileMetaData; kv: Record<string, string> } {
  const metadata = parquetMetadata(toArrayBuffer(bytes));
  const kv: Record<string, string> = {};
  for (const { key, value } of metadata.key_value_metadata ?? []) if (value !== undefined) kv[key] = value;
  return { metadata, kv };
}

const zstdDecompress = (input: Uint8Array, outputLength: number): Uint8Array => {
  const out = zstdDecompressSync(input);
  // hyparquet checks nothing about the length; a mismatch means a corrupt page.
  if (out.length !== outputLength) throw new Error(`zstd page decompressed to ${out.length} bytes, expected ${outputLength}`);
  return out;
};

/** Decode the rows of an audit Parquet file (throws on malformed data; callers turn that into a result). */
export async function decodeParquet(bytes: Uint8Array): Promise<AuditRow[]> {
  const file = toArrayBuffer(bytes);
  const raw = await parquetReadObjects({
    file,
    compressors: { ZSTD: zstdDecompress },
    // Keep nanosecond precision: hyparquet's default turns timestamps into Date (milliseconds).
    parsers: {
      timestampFromNanoseconds: (n: bigint) => n,
      timestampFromMilliseconds: (n: bigint) => n * 1_000_000n,
      timestampFromMicroseconds: (n: bigint) => n * 1_000n,
    },
  });
  const fmt = nanosFormatter();
  return raw.map((r) => {
    const row: Record<string, unknown> = {};
    for (const name of AUDIT_ROW_COLUMNS) {
      const v = r[name];
      switch (KIND[name]) {
        case 'ts-nanos':
          row[name] = fmt(BigInt(v as bigint));
          break;
        case 'ts-seconds':
          row[name] = fmt(BigInt(v as bigint)).slice(0, 19);
          break;
        case 'uint64':
        case 'uint8':
        case 'int32':
          // A column added later is absent from older files: ChainVersion then means chain format 1.
          row[name] = v === undefined || v === null ? (name === 'ChainVersion' ? 1 : 0) : Number(v);
          break;
        case 'map':
          row[name] = mapValue(v);
          break;
        case 'list':
          row[name] = Array.isArray(v) ? v.map(String) : [];
          break;
        default:
          row[name] = v === undefined || v === null ? '' : String(v);
      }
    }
    return row as unknown as AuditRow;
  });
}

/** The columns a reader needs to check an object's chain facts without decoding whole rows. */
export interface IntegrityRow {
  TenantId: string;
  ChainId: string;
  Seq: number;
  PrevHash: string;
  Hash: string;
}

/** Decode only {@link IntegrityRow} columns (a fraction of the cost of whole rows). */
export async function decodeParquetIntegrity(bytes: Uint8Array): Promise<IntegrityRow[]> {
  const raw = await parquetReadObjects({
    file: toArrayBuffer(bytes),
    columns: ['TenantId', 'ChainId', 'Seq', 'PrevHash', 'Hash'],
    compressors: { ZSTD: zstdDecompress },
  });
  return raw.map((r) => ({
    TenantId: String(r.TenantId),
    ChainId: String(r.ChainId),
    Seq: Number(r.Seq),
    PrevHash: String(r.PrevHash),
    Hash: String(r.Hash),
  }));
}

function mapValue(v: unknown): Record<string, string> {
  if (v === null || v === undefined) return {};
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, val]) => [String(k), String(val)]));
  if (Array.isArray(v)) return Object.fromEntries(v.map((e: { key: unknown; value: unknown }) => [String(e.key), String(e.value)]));
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, val]) => [k, String(val)]));
}
