/**
 * Signed checkpoints in the cold archive, beside the objects they cover (docs/integrity.md):
 *
 *   <prefix>/checkpoints/tenant=<tenant>/<chain>/<treeSize, 20 digits>.json   the CheckpointRecord
 *   <prefix>/checkpoints/tenant=<tenant>/<chain>/<treeSize, 20 digits>.note   its signed C2SP note
 *
 * Keys are a pure function of (tenant, chain, tree size), so a re-written checkpoint overwrites the
 * same bytes. The tree size is zero-padded so a listing is in tree-size order. The exporter writes a
 * checkpoint only after every object holding seqs it covers is uploaded, so an archive reader that
 * sees a checkpoint also sees its entries (unless they were removed afterwards: that is what
 * verification reports).
 */
import type { AuditError } from '@otel-audit/core';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';
import { escapeKeySegment, unescapeKeySegment } from './keys.ts';
import type { ObjectStore } from './store.ts';

/** The key segment under the archive prefix that holds checkpoints. */
export const CHECKPOINTS_DIR = 'checkpoints';

function joinKey(prefix: string, rest: string): string {
  return prefix === '' ? rest : `${prefix.replace(/\/+$/, '')}/${rest}`;
}

/** Key prefix of the checkpoints of one tenant (and chain), or of all. */
export function checkpointKeyPrefix(prefix: string, tenantId?: string, chainId?: string): string {
  let rest = CHECKPOINTS_DIR;
  if (tenantId !== undefined) rest += `/tenant=${escapeKeySegment(tenantId)}`;
  if (tenantId !== undefined && chainId !== undefined) rest += `/${escapeKeySegment(chainId)}`;
  return joinKey(prefix, rest);
}

/** Keys of one checkpoint: the record (`.json`) and the signed note (`.note`). */
export function checkpointKeys(prefix: string, tenantId: string, chainId: string, treeSize: number): { record: string; note: string } {
  const base = `${checkpointKeyPrefix(prefix, tenantId, chainId)}/${String(treeSize).padStart(20, '0')}`;
  return { record: `${base}.json`, note: `${base}.note` };
}

const CHECKPOINT_KEY_RE = /(?:^|\/)checkpoints\/tenant=([^/]+)\/([^/]+)\/(\d{20})\.json$/;

/** Whether a key lies in the checkpoints area of an archive with `prefix`. */
export function isCheckpointKey(prefix: string, key: string): boolean {
  return key.startsWith(`${checkpointKeyPrefix(prefix)}/`);
}

/** Parse a checkpoint record key; undefined for any other key. */
export function parseCheckpointKey(key: string): { tenantId: string; chainId: string; treeSize: number } | undefined {
  const m = CHECKPOINT_KEY_RE.exec(key);
  if (!m) return undefined;
  return { tenantId: unescapeKeySegment(m[1]!), chainId: unescapeKeySegment(m[2]!), treeSize: Number(m[3]) };
}

/** A checkpoint read back from the archive, or why one could not be read. */
export type ArchivedCheckpoint = { ok: true; key: string; record: CheckpointRecord } | { ok: false; key: string; reason: string };

/**
 * Read every checkpoint record of an archive (optionally one tenant), in key order. An unreadable
 * or unparsable record is reported, not thrown; a store that cannot be listed is a result.
 */
export async function listArchivedCheckpoints(
  store: ObjectStore,
  filter: { tenant?: string } = {},
): Promise<{ status: 'success'; value: ArchivedCheckpoint[] } | { status: 'retryable' | 'failure'; error: AuditError }> {
  const listed = await store.list(`${checkpointKeyPrefix(store.prefix, filter.tenant)}/`);
  if (listed.status !== 'success') return listed;
  const out: ArchivedCheckpoint[] = [];
  for (const o of listed.value) {
    const parts = parseCheckpointKey(o.key);
    if (!parts) continue;
    const got = await store.get(o.key);
    if (got.status !== 'success') return got;
    if (got.value === undefined) continue;
    try {
      const record = JSON.parse(Buffer.from(got.value).toString('utf8')) as CheckpointRecord;
      out.push({ ok: true, key: o.key, record });
    } catch (err) {
      out.push({ ok: false, key: o.key, reason: `not valid JSON: ${(err as Error).message}` });
    }
  }
  return { status: 'success', value: out };
}
