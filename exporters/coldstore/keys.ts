/**
 * Object keys of the cold archive: event-time partitions, Hive style, so ClickHouse, DuckDB, Spark
 * and Athena prune by path:
 *
 *   <prefix>/tenant=<tenant>/date=YYYY-MM-DD/hour=HH/<chain>-<firstSeq>-<lastSeq>.<ext>
 *
 * `date`/`hour` come from the event's `occurredAt` (UTC), never the receiver clock, so a late or
 * replayed event lands where a time-range query looks for it. Keys are a pure function of the
 * object's content (tenant, event hour, chain, seq range), so a retried upload overwrites the
 * same object instead of adding a second copy.
 *
 * Escaping (tenant and chain ids are producer/receiver strings and may hold anything): every byte
 * of the UTF-8 form outside `[A-Za-z0-9_.-]` is written `%XX` (upper-case hex), as Hive escapes
 * partition values; `%` itself is escaped, so decoding is unambiguous, and `/` never survives, so
 * an id cannot add path segments. A value made only of dots (`.`, `..`) is escaped whole (`%2E`)
 * so no segment is a relative-path name on a local file system.
 */

/** Escape a tenant or chain id for one key segment. */
export function escapeKeySegment(value: string): string {
  if (/^\.+$/.test(value)) return value.replace(/\./g, '%2E');
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Inverse of {@link escapeKeySegment}. */
export function unescapeKeySegment(value: string): string {
  return Buffer.from(
    value.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
    'latin1',
  ).toString('utf8');
}

/** File extensions per format. */
export const FORMAT_EXTENSIONS = { parquet: '.parquet', 'ndjson.gz': '.ndjson.gz' } as const;

/** Suffix of the manifest object written beside each data object. */
export const MANIFEST_SUFFIX = '.manifest.json';

/** The identity of one data object. */
export interface ObjectKeyParts {
  tenantId: string;
  /** `YYYY-MM-DD` (UTC event date). */
  date: string;
  /** `HH` (UTC event hour). */
  hour: string;
  chainId: string;
  firstSeq: number;
  lastSeq: number;
  format: keyof typeof FORMAT_EXTENSIONS;
}

/** Event-time partition of a DateTime64 row timestamp (`YYYY-MM-DD hh:…`). */
export function partitionOf(timestamp: string): { date: string; hour: string } {
  return { date: timestamp.slice(0, 10), hour: timestamp.slice(11, 13) };
}

function joinKey(prefix: string, rest: string): string {
  return prefix === '' ? rest : `${prefix.replace(/\/+$/, '')}/${rest}`;
}

/** Key of the partition directory `<prefix>/tenant=…/date=…/hour=…`. */
export function partitionPrefix(prefix: string, tenantId: string, date?: string, hour?: string): string {
  let key = `tenant=${escapeKeySegment(tenantId)}`;
  if (date !== undefined) key += `/date=${date}`;
  if (date !== undefined && hour !== undefined) key += `/hour=${hour}`;
  return joinKey(prefix, key);
}

/** The data object key. */
export function objectKey(prefix: string, p: ObjectKeyParts): string {
  return `${partitionPrefix(prefix, p.tenantId, p.date, p.hour)}/${escapeKeySegment(p.chainId)}-${p.firstSeq}-${p.lastSeq}${FORMAT_EXTENSIONS[p.format]}`;
}

/** The manifest key of a data object key. */
export function manifestKey(dataKey: string): string {
  return `${dataKey}${MANIFEST_SUFFIX}`;
}

const KEY_RE = /(?:^|\/)tenant=([^/]+)\/date=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/([^/]+)-(\d+)-(\d+)(\.parquet|\.ndjson\.gz)$/;

/** Parse a data object key (relative to the store root, prefix included); undefined for any other key. */
export function parseObjectKey(key: string): ObjectKeyParts | undefined {
  const m = KEY_RE.exec(key);
  if (!m) return undefined;
  return {
    tenantId: unescapeKeySegment(m[1]!),
    date: m[2]!,
    hour: m[3]!,
    chainId: unescapeKeySegment(m[4]!),
    firstSeq: Number(m[5]),
    lastSeq: Number(m[6]),
    format: m[7] === '.parquet' ? 'parquet' : 'ndjson.gz',
  };
}
