/**
 * Read-only access to a WAL on disk without opening it for writing (verify tools, tests): streams
 * every record of every segment in LSN order. A torn tail is reported by stopping; damage
 * elsewhere throws AUDIT_ERR_WAL_CORRUPT.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { AuditError, decodeWalEntryOrThrow } from '@otel-audit/core';
import type { AuditEvent } from '@otel-audit/schema';
import type { CheckpointRecord } from '../../integrity/checkpointer.ts';
import type { WalEntry } from '../contracts.ts';
import { decodeSegmentHeader, parseSegmentFileName, SEGMENT_HEADER_BYTES } from './format.ts';
import { FrameReader } from './frame-reader.ts';
import { closeFd, openFd, readAt } from './fs-util.ts';

/** Iterate the entries of the WAL in `walDir` (`<dataDir>/wal`), oldest first. */
export async function* readWalEntries(walDir: string): AsyncGenerator<WalEntry> {
  const segDir = path.join(walDir, 'segments');
  let names: string[];
  try {
    names = (await fsp.readdir(segDir)).filter((n) => parseSegmentFileName(n) !== undefined).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const n of names) {
    const file = path.join(segDir, n);
    const fd = await openFd(file, 'r');
    try {
      const size = (await fsp.stat(file)).size;
      const head = Buffer.alloc(SEGMENT_HEADER_BYTES);
      const got = await readAt(fd, head, 0, SEGMENT_HEADER_BYTES, 0);
      const h = decodeSegmentHeader(head.subarray(0, got));
      if (!h.ok) {
        if (size <= SEGMENT_HEADER_BYTES) return;
        throw new AuditError('AUDIT_ERR_WAL_CORRUPT', `segment ${file} at offset 0: ${h.reason}`);
      }
      const r = new FrameReader(fd, SEGMENT_HEADER_BYTES);
      for (;;) {
        const x = await r.next(size);
        if (x.kind === 'end') break;
        if (x.kind !== 'record') return; // torn tail (a running receiver truncates it on recovery)
        yield decodeWalEntryOrThrow<AuditEvent, CheckpointRecord>(x.record.payload, x.record.lsn);
      }
    } finally {
      await closeFd(fd);
    }
  }
}
