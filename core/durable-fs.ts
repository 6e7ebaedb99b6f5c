/**
 * File-system helpers with the durability steps spelled out, shared by the WAL, the SDK spool and
 * the exporters: directory fsync (so a created, renamed or removed name is itself durable, not only
 * the file's contents), atomic replace (write temp + fsync + rename + fsync directory), and the
 * exclusive-create lock file that keeps two processes off one data directory.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/** Called after every fsync with its kind and duration in milliseconds (metrics). */
export type FsyncObserver = (kind: 'data' | 'file' | 'dir', millis: number) => void;

/**
 * Error codes of a directory fsync on platforms that cannot fsync a directory (Windows, some
 * network file systems). There the data fsync is all there is; any other error is real.
 */
const DIR_FSYNC_UNSUPPORTED = new Set(['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP']);

/** fsync a directory so entries created, renamed or removed in it survive a crash. */
export async function fsyncDir(dir: string, observer?: FsyncObserver): Promise<void> {
  const t0 = performance.now();
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    if (!DIR_FSYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await fh.close();
  }
  observer?.('dir', performance.now() - t0);
}

/** Synchronous {@link fsyncDir}, for code paths that are synchronous by design (spool open). */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } catch (err) {
    if (!DIR_FSYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Replace `file` with `data` atomically and durably: readers see the old or the new content, never
 * a mix, and after this resolves the new content survives a crash.
 */
export async function atomicWriteFile(file: string, data: string | Uint8Array, observer?: FsyncObserver): Promise<void> {
  // Unique per call: two writers of one file in a process must not share a temp file.
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    const t0 = performance.now();
    await fh.sync();
    observer?.('file', performance.now() - t0);
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(file), observer);
}

/** True when a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Outcome of {@link acquireLockFile}. */
export type LockResult =
  | { status: 'acquired'; file: string; release(): void }
  /** Another live process holds the lock. */
  | { status: 'busy'; file: string; ownerPid: number };

/**
 * Take `file` as an exclusive lock: created with O_CREAT|O_EXCL holding this process's pid, so of
 * two processes racing for it exactly one wins. A lock left by a dead process (crash, SIGKILL) is
 * stale and taken over; a lock already held by this process is busy too (two components of one
 * process must not share a directory). Other I/O errors (read-only, missing directory) throw.
 */
export function acquireLockFile(file: string): LockResult {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      fsyncDirSync(path.dirname(file));
      return { status: 'acquired', file, release: () => releaseLockFile(file) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: number;
    try {
      owner = Number(fs.readFileSync(file, 'utf8').trim());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile: try again
      throw err;
    }
    if (Number.isInteger(owner) && owner > 0 && pidAlive(owner)) return { status: 'busy', file, ownerPid: owner };
    // The owner died (or the file is not a pid file we wrote): stale, remove and race again.
    fs.rmSync(file, { force: true });
  }
  const owner = Number(fs.readFileSync(file, 'utf8').trim());
  return { status: 'busy', file, ownerPid: Number.isInteger(owner) ? owner : 0 };
}

/** Remove a lock file this process holds; a lock of another process is left alone. */
export function releaseLockFile(file: string): void {
  let owner: number;
  try {
    owner = Number(fs.readFileSync(file, 'utf8').trim());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (owner === process.pid) fs.rmSync(file, { force: true });
}
