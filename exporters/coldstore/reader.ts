/**
 * Reading the cold archive back: list objects with partition pruning, and read one object with
 * every check that can be made offline (manifest SHA-256 and size, Parquet magic and footer,
 * embedded metadata, row count, first/last seq and hashes). A bad object is a result, never a throw.
 */
import type { AuditRow } from '@otel-audit/schema/audit-row';
import { isCheckpointKey } from './checkpoints.ts';
import { MANIFEST_SUFFIX, manifestKey, type ObjectKeyParts, parseObjectKey, partitionPrefix } from './keys.ts';
import { type ColdObjectManifest, type ColdObjectMetadata, decodeColdFile } from './object-format.ts';
import type { IntegrityRow } from './parquet-codec.ts';
import { type ObjectStore, sha256Hex } from './store.ts';

/** Filters of {@link listColdObjects}. Time bounds select whole hour partitions that overlap `[since, until)`. */
export interface ColdObjectFilter {
  tenant?: string;
  since?: Date;
  until?: Date;
}

/** A listed data object. */
export interface ColdObjectRef extends ObjectKeyParts {
  key: string;
  size: number;
  /** Whether a manifest object exists beside it. */
  hasManifest: boolean;
}

/** A listed file that is not an otel-audit object (reported, never read). */
export interface SkippedColdFile {
  key: string;
  reason: string;
}

/** What {@link listColdObjects} found. */
export interface ColdObjectListing {
  objects: ColdObjectRef[];
  skipped: SkippedColdFile[];
}

const HOUR_MS = 3_600_000;

function hourStartMillis(p: { date: string; hour: string }): number {
  return Date.parse(`${p.date}T${p.hour}:00:00.000Z`);
}

/**
 * List the data objects of an archive, pruned by tenant (listing only that tenant's key prefix)
 * and by event hour. Unknown files (not matching the key scheme) are reported in `skipped`.
 */
export async function listColdObjects(
  store: ObjectStore,
  filter: ColdObjectFilter = {},
): Promise<
  { status: 'success'; value: ColdObjectListing } | { status: 'retryable' | 'failure'; error: import('@otel-audit/core/errors').AuditError }
> {
  const root =
    filter.tenant === undefined
      ? store.prefix === ''
        ? ''
        : `${store.prefix.replace(/\/+$/, '')}/`
      : `${partitionPrefix(store.prefix, filter.tenant)}/`;
  const listed = await store.list(root);
  if (listed.status !== 'success') return listed;
  const keys = new Set(listed.value.map((o) => o.key));
  const objects: ColdObjectRef[] = [];
  const skipped: SkippedColdFile[] = [];
  const since = filter.since?.getTime();
  const until = filter.until?.getTime();
  for (const o of listed.value) {
    if (o.key.endsWith(MANIFEST_SUFFIX)) {
      if (!keys.has(o.key.slice(0, -MANIFEST_SUFFIX.length))) skipped.push({ key: o.key, reason: 'manifest without its data object' });
      continue;
    }
    if (isCheckpointKey(store.prefix, o.key)) continue; // signed checkpoints beside the objects (checkpoints.ts)
    const parts = parseObjectKey(o.key);
    if (!parts) {
      skipped.push({ key: o.key, reason: 'not an otel-audit object key (foreign file)' });
      continue;
    }
    const start = hourStartMillis(parts);
    if (since !== undefined && start + HOUR_MS <= since) continue;
    if (until !== undefined && start >= until) continue;
    objects.push({ ...parts, key: o.key, size: o.size, hasManifest: keys.has(manifestKey(o.key)) });
  }
  return { status: 'success', value: { objects, skipped } };
}

/** A successfully read and checked object. */
export interface ColdObjectRead {
  ok: true;
  key: string;
  format: ObjectKeyParts['format'];
  /** The object's bytes, exactly as checked. */
  bytes: Uint8Array;
  /** Whole rows; undefined when read with `{ rows: false }` (then decode later with {@link coldObjectRows}). */
  rows: AuditRow[] | undefined;
  /** Tenant, chain, seq and hashes of every row. */
  integrity: IntegrityRow[];
  /** Hex SHA-256 of the object bytes as read. */
  sha256: string;
  metadata: ColdObjectMetadata;
  manifest: ColdObjectManifest | undefined;
  /** Non-fatal findings (e.g. no manifest: the object is still self-consistent). */
  warnings: string[];
}

/** An object that failed a check: skipped by replay, reported to the user. */
export interface ColdObjectProblem {
  ok: false;
  key: string;
  /** Whether retrying may help (store unreachable) as opposed to a bad object. */
  retryable: boolean;
  reason: string;
}

/** Options of {@link readColdObject}. */
export interface ReadColdObjectOptions {
  /** Decode whole rows (default true); false decodes only the integrity columns (faster, for replay). */
  rows?: boolean;
}

/** Whole rows of a checked object (decoded now if it was read with `{ rows: false }`). */
export async function coldObjectRows(read: ColdObjectRead): Promise<AuditRow[]> {
  if (read.rows) return read.rows;
  const decoded = await decodeColdFile(read.bytes, read.format, true);
  return decoded.rows!;
}

/** Read and check one data object (and its manifest). */
export async function readColdObject(
  store: ObjectStore,
  key: string,
  options: ReadColdObjectOptions = {},
): Promise<ColdObjectRead | ColdObjectProblem> {
  const problem = (reason: string, retryable = false): ColdObjectProblem => ({ ok: false, key, retryable, reason });
  const parts = parseObjectKey(key);
  if (!parts) return problem('not an otel-audit object key (foreign file)');
  const data = await store.get(key);
  if (data.status !== 'success') return problem(data.error.message, data.status === 'retryable');
  if (data.value === undefined) return problem('object does not exist');
  const bytes = data.value;
  const sha256 = sha256Hex(bytes);
  const warnings: string[] = [];

  let manifest: ColdObjectManifest | undefined;
  const m = await store.get(manifestKey(key));
  if (m.status !== 'success') return problem(m.error.message, m.status === 'retryable');
  if (m.value === undefined) {
    warnings.push('no manifest beside the object: checked against its embedded metadata only');
  } else {
    try {
      manifest = JSON.parse(Buffer.from(m.value).toString('utf8')) as ColdObjectManifest;
    } catch (err) {
      return problem(`manifest is not valid JSON: ${(err as Error).message}`);
    }
    if (manifest.sha256 !== sha256 || manifest.sizeBytes !== bytes.length) {
      return problem(
        `checksum mismatch: manifest says ${manifest.sizeBytes} bytes sha256 ${manifest.sha256}, object has ${bytes.length} bytes sha256 ${sha256} (truncated or modified)`,
      );
    }
  }

  let rows: AuditRow[] | undefined;
  let integrity: IntegrityRow[];
  let embedded: ColdObjectMetadata | undefined;
  try {
    ({ rows, integrity, embedded } = await decodeColdFile(bytes, parts.format, options.rows ?? true));
  } catch (err) {
    return problem(`unreadable ${parts.format} object: ${(err as Error).message}`);
  }
  const metadata = embedded ?? manifest;
  if (!metadata) return problem('no metadata: NDJSON object without a manifest');
  if (integrity.length === 0) return problem('object holds no rows');
  const first = integrity[0]!;
  const last = integrity[integrity.length - 1]!;
  let sorted = true;
  for (let i = 1; i < integrity.length; i++) if (integrity[i]!.Seq <= integrity[i - 1]!.Seq) sorted = false;
  const checks: Array<[boolean, string]> = [
    [integrity.length === metadata.rowCount, `row count ${integrity.length} ≠ metadata ${metadata.rowCount}`],
    [sorted, 'rows are not in strictly increasing Seq order'],
    [
      first.Seq === metadata.firstSeq && last.Seq === metadata.lastSeq,
      `seq range ${first.Seq}-${last.Seq} ≠ metadata ${metadata.firstSeq}-${metadata.lastSeq}`,
    ],
    [
      first.Seq === parts.firstSeq && last.Seq === parts.lastSeq,
      `seq range ${first.Seq}-${last.Seq} ≠ key ${parts.firstSeq}-${parts.lastSeq}`,
    ],
    [first.PrevHash === metadata.firstPrevHash, 'first PrevHash differs from metadata'],
    [last.Hash === metadata.lastHash, 'last Hash differs from metadata'],
    [metadata.chainId === parts.chainId && metadata.tenantId === parts.tenantId, 'tenant/chain differ from the key'],
    [integrity.every((r) => r.ChainId === parts.chainId && r.TenantId === parts.tenantId), 'rows of another tenant or chain'],
  ];
  if (manifest && embedded) {
    checks.push([
      manifest.firstSeq === embedded.firstSeq && manifest.lastSeq === embedded.lastSeq && manifest.lastHash === embedded.lastHash,
      'manifest and embedded metadata disagree',
    ]);
  }
  const failed = checks.filter(([ok]) => !ok).map(([, why]) => why);
  if (failed.length > 0) return problem(`inconsistent object: ${failed.join('; ')}`);
  return { ok: true, key, format: parts.format, bytes, rows, integrity, sha256, metadata, manifest, warnings };
}
