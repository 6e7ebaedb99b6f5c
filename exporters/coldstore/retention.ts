/**
 * Retention of the local archive: whole event-date partitions older than `retentionDays` are
 * removed (`tenant=*\/date=YYYY-MM-DD` directories), never single objects, so what remains of a day
 * is always complete. S3 is never pruned by the receiver: lifecycle rules and Object Lock do that
 * there (docs/coldstore.md).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalDirectoryStore } from './store.ts';

/** What a retention pass did. */
export interface RetentionReport {
  /** Keys of removed partition directories (`<prefix>/tenant=…/date=…`). */
  removedPartitions: string[];
  keptPartitions: number;
}

/**
 * Remove date partitions whose whole day ended more than `retentionDays` days before `now`.
 * A partition dated D is kept while `now < D + 1 day + retentionDays days`.
 */
export async function applyRetention(store: LocalDirectoryStore, retentionDays: number, now: Date = new Date()): Promise<RetentionReport> {
  const report: RetentionReport = { removedPartitions: [], keptPartitions: 0 };
  if (retentionDays <= 0) return report;
  const base = store.prefix === '' ? '' : store.prefix.replace(/\/+$/, '');
  const baseDir = base === '' ? store.root : store.pathOf(base);
  const list = async (dir: string): Promise<string[]> => {
    try {
      return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      return [];
    }
  };
  const cutoff = now.getTime() - retentionDays * 86_400_000;
  for (const tenantDir of (await list(baseDir)).filter((n) => n.startsWith('tenant='))) {
    for (const dateDir of await list(join(baseDir, tenantDir))) {
      const m = /^date=(\d{4}-\d{2}-\d{2})$/.exec(dateDir);
      if (!m) continue;
      const dayEnd = Date.parse(`${m[1]}T00:00:00.000Z`) + 86_400_000;
      const key = [base, tenantDir, dateDir].filter((s) => s !== '').join('/');
      if (dayEnd <= cutoff) {
        await store.removeTree(key);
        report.removedPartitions.push(key);
      } else {
        report.keptPartitions++;
      }
    }
  }
  return report;
}
