/**
 * Small file-system helpers with the durability steps spelled out: atomic replace (write temp +
 * fsync + rename + fsync directory) and directory fsync (so a created, renamed or deleted file
 * name is itself durable, not only its contents).
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/** Called after every fsync/fdatasync the WAL issues, with its kind and duration in milliseconds. */
export type FsyncObserver = (kind: 'data' | 'file' | 'dir', millis: number) => void;

/** fsync a directory so entries created, renamed or removed in it survive a crash. */
export async function fsyncDir(dir: string, observer?: FsyncObserver): Promise<void> {
  const t0 = performance.now();
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  observer?.('dir', performance.now() - t0);
}

/**
 * Replace `file` with `data` atomically and durably: readers see the old or the new content, never
 * a mix, and after this resolves the new content survives a crash.
 */
export async function atomicWriteFile(file: string, data: string | Uint8Array, observer?: FsyncObserver): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    const t0 = performance.now();
    await fh.sync();
    observer?.('file', performance.now() - t0);
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
  await fsyncDir(path.dirname(file), observer);
}

/** Write `len` bytes of `buf` at `position`, looping over short writes. */
export function writeFully(fd: number, buf: Buffer, offset: number, len: number, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number, left: number, pos: number) => {
      fs.write(fd, buf, off, left, pos, (err, written) => {
        if (err) return reject(err);
        if (written === left) return resolve();
        step(off + written, left - written, pos + written);
      });
    };
    step(offset, len, position);
  });
}

/** Read up to `len` bytes at `position` into `buf[offset..]`; resolves with the bytes read (0 at EOF). */
export function readAt(fd: number, buf: Buffer, offset: number, len: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, offset, len, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** fdatasync a file descriptor (data plus the metadata needed to read it back, e.g. its size). */
export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/** Open a file; resolves with its descriptor. */
export function openFd(file: string, flags: string | number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, flags, 0o644, (err, fd) => (err ? reject(err) : resolve(fd))));
}

/** Close a file descriptor, ignoring errors (used on cleanup paths). */
export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve) => fs.close(fd, () => resolve()));
}
