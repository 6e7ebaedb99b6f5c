/**
 * Scheduling priority of the calling thread. Exporters' builder threads run at a lower priority
 * than the threads that acknowledge ingest, so on a machine with few cores a burst of exporting
 * delays the export (the WAL holds the backlog; back-pressure bounds it) instead of the acks.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Nice value of the exporters' builder threads (ClickHouse Native blocks, cold objects): 5 gives
 * them about a third of the CPU share of an ingest thread while both want a core, and all of any
 * idle CPU. chDB's own insert threads keep the process's priority.
 */
export const EXPORTER_THREAD_NICE = 5;

/**
 * Set the nice value of the calling thread (Linux: `setpriority(PRIO_PROCESS, tid)` applies to one
 * thread; the thread id comes from `/proc/thread-self`). Raising the nice value needs no privilege.
 * Returns what was done: `applied`, or `unsupported` (another platform, no /proc) with the reason —
 * the thread then keeps the process's priority, which is only slower for ingest, never unsafe.
 */
export function setThreadNice(nice: number): { status: 'applied'; threadId: number } | { status: 'unsupported'; reason: string } {
  if (process.platform !== 'linux') return { status: 'unsupported', reason: `per-thread priority is Linux-only (${process.platform})` };
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isSafeInteger(threadId) || threadId <= 0) return { status: 'unsupported', reason: 'no thread id in /proc/thread-self' };
    setPriority(threadId, nice);
    return { status: 'applied', threadId };
  } catch (err) {
    return { status: 'unsupported', reason: (err as Error).message };
  }
}
