/**
 * Small file-system helpers with the durability steps spelled out: atomic replace (write temp +
 * fsync + rename + fsync directory) and directory fsync (so a created, renamed or deleted file
 * name is itself durable, not only its contents).
 */
import * as fs from 'node:fs';

// Directory fsync and atomic replace are the shared durable-file helpers of @otel-audit/core.
export { atomicWriteFile, type FsyncObserver, fsyncDir } from '@otel-audit/core';

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
