/**
 * A cold object = a data file (Parquet or NDJSON.gz) of the rows of one chain in one event-time
 * hour, plus a manifest beside it. Both are a pure function of the rows (no wall-clock fields), so
 * re-building an object after a crash yields the same bytes, the same SHA-256 and the same key.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { AUDIT_ROW_COLUMNS, type AuditRow, nanosToDateTime64 } from '@otel-audit/schema/audit-row';
import { dateTime64TextToNanos, readAuditRowBinaryString, readAuditRowBinaryTimestamp } from '@otel-audit/schema/audit-row-binary';
import { type FORMAT_EXTENSIONS, objectKey, partitionOf } from './keys.ts';
import {
  decodeParquet,
  decodeParquetIntegrity,
  encodeParquet,
  hasParquetMagic,
  type IntegrityRow,
  METADATA_KEY_PREFIX,
  readParquetFooter,
} from './parquet-codec.ts';
import { sha256Hex } from './store.ts';

/** Version of the cold object layout (key scheme, metadata keys, manifest). */
export const COLD_FORMAT_VERSION = '1';

/**
 * Version of the row columns ({@link AUDIT_ROW_COLUMNS}). Columns are only ever added, so a reader
 * of version N reads every file of version ≤ N (missing columns default to '' / 0 / empty).
 */
export const ROW_SCHEMA_VERSION = '2';

/** The integrity facts of one object, in Parquet key-value metadata and in the manifest. */
export interface ColdObjectMetadata {
  formatVersion: string;
  rowSchemaVersion: string;
  tenantId: string;
  chainId: string;
  /** Event-time partition: `YYYY-MM-DD` and `HH` (UTC). */
  date: string;
  hour: string;
  firstSeq: number;
  lastSeq: number;
  rowCount: number;
  /** `PrevHash` of the first row: links the object to the chain before it. */
  firstPrevHash: string;
  /** `Hash` of the last row: what the next object's first `PrevHash` must be if contiguous. */
  lastHash: string;
  /** Smallest and largest `Timestamp` (DateTime64(9) text, UTC). */
  minTimestamp: string;
  maxTimestamp: string;
  /** Audit event schema versions present (sorted). */
  eventSchemaVersions: string[];
}

/** The manifest object (`<data key>.manifest.json`). */
export interface ColdObjectManifest extends ColdObjectMetadata {
  /** Key of the data object (relative to the bucket / archive root). */
  key: string;
  format: keyof typeof FORMAT_EXTENSIONS;
  /** Hex SHA-256 and size of the data object's bytes. */
  sha256: string;
  sizeBytes: number;
  /** Column names in file order. */
  columns: string[];
}

/** A built object ready to upload. */
export interface BuiltColdObject {
  key: string;
  bytes: Uint8Array;
  sha256: string;
  manifest: ColdObjectManifest;
  manifestBytes: Uint8Array;
}

/** The columns of a row that the metadata reads of its first and last rows. */
type MetadataRowFields = Pick<AuditRow, 'Timestamp' | 'TenantId' | 'ChainId' | 'Seq' | 'PrevHash' | 'Hash'>;

/**
 * The metadata of rows of one chain and one partition, computed one row at a time (rows in seq
 * order), holding no row: what a streamed build (one block or row group at a time) needs.
 */
export class RowMetadataAccumulator {
  private first: MetadataRowFields | undefined;
  private last: MetadataRowFields | undefined;
  private rows = 0;
  private min = '';
  private max = '';
  /** `min` and `max` as nanoseconds, once a RowBinary row needed them (undefined: not computed). */
  private minNanos: bigint | undefined;
  private maxNanos: bigint | undefined;
  private readonly versions = new Set<string>();

  /** Rows added so far. */
  get rowCount(): number {
    return this.rows;
  }

  add(row: AuditRow): void {
    if (this.first === undefined) {
      this.first = row;
      this.min = row.Timestamp;
      this.max = row.Timestamp;
    }
    // Timestamps are fixed-width DateTime64 text: string order is time order.
    if (row.Timestamp < this.min) {
      this.min = row.Timestamp;
      this.minNanos = undefined;
    }
    if (row.Timestamp > this.max) {
      this.max = row.Timestamp;
      this.maxNanos = undefined;
    }
    this.versions.add(row.SchemaVersion);
    this.last = row;
    this.rows++;
  }

  /**
   * Add a row given as its event columns in RowBinary and the chain fields of its WAL entry's head
   * (a line staged with its storage row): the same metadata as {@link add} of the whole row, read
   * off the bytes (`Timestamp` is the first column; `SchemaVersion` is found by skipping).
   */
  addRowBinary(eventColumns: Uint8Array, head: { chainId: string; tenantId: string; seq: number; prevHash: string; hash: string }): void {
    const nanos = readAuditRowBinaryTimestamp(eventColumns);
    const fields: MetadataRowFields = {
      Timestamp: '',
      TenantId: head.tenantId,
      ChainId: head.chainId,
      Seq: head.seq,
      PrevHash: head.prevHash,
      Hash: head.hash,
    };
    if (this.first === undefined) {
      fields.Timestamp = nanosToDateTime64(nanos);
      this.first = fields;
      this.min = fields.Timestamp;
      this.max = fields.Timestamp;
      this.minNanos = nanos;
      this.maxNanos = nanos;
    }
    this.minNanos ??= dateTime64TextToNanos(this.min);
    this.maxNanos ??= dateTime64TextToNanos(this.max);
    if (nanos < this.minNanos) {
      this.minNanos = nanos;
      this.min = nanosToDateTime64(nanos);
    }
    if (nanos > this.maxNanos) {
      this.maxNanos = nanos;
      this.max = nanosToDateTime64(nanos);
    }
    this.versions.add(readAuditRowBinaryString(eventColumns, 'SchemaVersion'));
    this.last = fields;
    this.rows++;
  }

  /** The metadata of the rows added (at least one). */
  result(): ColdObjectMetadata {
    const first = this.first!;
    const last = this.last!;
    const { date, hour } = partitionOf(first.Timestamp);
    return {
      formatVersion: COLD_FORMAT_VERSION,
      rowSchemaVersion: ROW_SCHEMA_VERSION,
      tenantId: first.TenantId,
      chainId: first.ChainId,
      date,
      hour,
      firstSeq: first.Seq,
      lastSeq: last.Seq,
      rowCount: this.rows,
      firstPrevHash: first.PrevHash,
      lastHash: last.Hash,
      minTimestamp: this.min,
      maxTimestamp: this.max,
      eventSchemaVersions: [...this.versions].sort(),
    };
  }
}

/** Compute the metadata of rows of one chain and one partition (sorted by Seq). */
export function metadataOfRows(rows: readonly AuditRow[]): ColdObjectMetadata {
  const m = new RowMetadataAccumulator();
  for (const r of rows) m.add(r);
  return m.result();
}

/** Metadata as Parquet key-value pairs (`otel_audit.<field>` → string). */
export function metadataToKeyValues(m: ColdObjectMetadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) out[`${METADATA_KEY_PREFIX}${k}`] = Array.isArray(v) ? v.join(',') : String(v);
  return out;
}

/** Parse Parquet key-value metadata back; undefined when this is not an otel-audit file. */
export function metadataFromKeyValues(kv: Record<string, string>): ColdObjectMetadata | undefined {
  const g = (k: string): string | undefined => kv[`${METADATA_KEY_PREFIX}${k}`];
  const required = ['formatVersion', 'tenantId', 'chainId', 'firstSeq', 'lastSeq', 'rowCount', 'firstPrevHash', 'lastHash'];
  if (required.some((k) => g(k) === undefined)) return undefined;
  return {
    formatVersion: g('formatVersion')!,
    rowSchemaVersion: g('rowSchemaVersion') ?? '1',
    tenantId: g('tenantId')!,
    chainId: g('chainId')!,
    date: g('date') ?? '',
    hour: g('hour') ?? '',
    firstSeq: Number(g('firstSeq')),
    lastSeq: Number(g('lastSeq')),
    rowCount: Number(g('rowCount')),
    firstPrevHash: g('firstPrevHash')!,
    lastHash: g('lastHash')!,
    minTimestamp: g('minTimestamp') ?? '',
    maxTimestamp: g('maxTimestamp') ?? '',
    eventSchemaVersions: (g('eventSchemaVersions') ?? '').split(',').filter((s) => s !== ''),
  };
}

/** Options of {@link buildColdObject}. */
export interface BuildOptions {
  prefix: string;
  format: keyof typeof FORMAT_EXTENSIONS;
  zstdLevel?: number;
}

/** Build the data object and manifest of rows (one chain, one partition, sorted by Seq, non-empty). */
export function buildColdObject(rows: readonly AuditRow[], o: BuildOptions): BuiltColdObject {
  const metadata = metadataOfRows(rows);
  const bytes =
    o.format === 'parquet'
      ? encodeParquet(rows, { metadata: metadataToKeyValues(metadata), zstdLevel: o.zstdLevel })
      : encodeNdjsonGz(rows);
  return assembleColdObject(bytes, metadata, o);
}

/**
 * The object (key, checksum, manifest) around data bytes already encoded — by {@link buildColdObject}
 * or by another encoder (the embedded engine's Parquet writer) — whose footer carries `metadata`.
 */
export function assembleColdObject(
  bytes: Uint8Array,
  metadata: ColdObjectMetadata,
  o: Pick<BuildOptions, 'prefix' | 'format'>,
): BuiltColdObject {
  const key = objectKey(o.prefix, { ...metadata, format: o.format });
  const sha256 = sha256Hex(bytes);
  const manifest: ColdObjectManifest = {
    key,
    format: o.format,
    sha256,
    sizeBytes: bytes.length,
    columns: [...AUDIT_ROW_COLUMNS],
    ...metadata,
  };
  return { key, bytes, sha256, manifest, manifestBytes: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) };
}

/** NDJSON (one `AuditRow` JSON per line, ClickHouse JSONEachRow-ready), gzip-compressed. */
export function encodeNdjsonGz(rows: readonly AuditRow[]): Uint8Array {
  return new Uint8Array(gzipSync(rows.map((r) => JSON.stringify(r)).join('\n') + '\n', { level: 6 }));
}

/** Decode NDJSON.gz rows (throws on malformed data). */
export function decodeNdjsonGz(bytes: Uint8Array): AuditRow[] {
  const text = gunzipSync(bytes).toString('utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditRow);
}

/** The facts a reader establishes about a data file's bytes. */
export interface DecodedColdFile {
  /** Whole rows (undefined when only the integrity columns were decoded). */
  rows: AuditRow[] | undefined;
  /** Tenant, chain, seq and hashes of every row, in file order. */
  integrity: IntegrityRow[];
  /** From the Parquet footer (undefined for NDJSON, whose metadata lives only in the manifest). */
  embedded: ColdObjectMetadata | undefined;
}

function integrityOf(rows: readonly AuditRow[]): IntegrityRow[] {
  return rows.map((r) => ({ TenantId: r.TenantId, ChainId: r.ChainId, Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash }));
}

/**
 * Decode and self-check a data file. Throws an Error with a human-readable reason (bad magic,
 * no otel-audit metadata, row count mismatch…); {@link readColdObject} turns it into a result.
 */
export async function decodeColdFile(
  bytes: Uint8Array,
  format: keyof typeof FORMAT_EXTENSIONS,
  wholeRows = true,
): Promise<DecodedColdFile> {
  if (format === 'ndjson.gz') {
    if (bytes.length < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) throw new Error('not a gzip file (bad magic: truncated or foreign)');
    const rows = decodeNdjsonGz(bytes);
    return { rows, integrity: integrityOf(rows), embedded: undefined };
  }
  if (!hasParquetMagic(bytes)) throw new Error('not a Parquet file (missing PAR1 magic at start or end: truncated or foreign)');
  const { kv } = readParquetFooter(bytes);
  const embedded = metadataFromKeyValues(kv);
  if (!embedded) throw new Error('Parquet file without otel-audit key-value metadata (foreign file)');
  const rows = wholeRows ? await decodeParquet(bytes) : undefined;
  const integrity = rows ? integrityOf(rows) : await decodeParquetIntegrity(bytes);
  if (integrity.length !== embedded.rowCount)
    throw new Error(`row count ${integrity.length} differs from metadata rowCount ${embedded.rowCount}`);
  return { rows, integrity, embedded };
}
