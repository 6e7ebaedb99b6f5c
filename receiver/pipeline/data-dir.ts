/**
 * The receiver's data directory: its lock (a pid file) and the persistent instance id that forms
 * the second half of every chain id.
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { AuditError } from '@otel-audit/core';
import { atomicWriteFile } from '../wal/fs-util.ts';

/**
 * The instance id: the configured one, else the one kept in `<dataDir>/instance-id`, else a new
 * `rcv-<12 hex>` written there (atomically) so it survives restarts.
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` when the file holds an invalid id.
 */
export async function readOrCreateInstanceId(dataDir: string, configured: string | undefined): Promise<string> {
  if (configured) return configured;
  const file = path.join(dataDir, 'instance-id');
  try {
    const id = (await fsp.readFile(file, 'utf8')).trim();
    if (/^[A-Za-z0-9._-]{1,64}$/.test(id)) return id;
    throw new AuditError('AUDIT_ERR_INVALID_CONFIG', `${file} holds an invalid instance id`, { path: 'instanceId' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = `rcv-${randomBytes(6).toString('hex')}`;
  await atomicWriteFile(file, `${id}\n`);
  return id;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Take `<dataDir>/LOCK` (a pid file); a live other owner means the data dir is in use. Unlike
 * core's `acquireLockFile`, a lock naming this process is taken over (a pipeline opened again in
 * the same process whose earlier instance never shut down), so this stays the receiver's own.
 * @throws AuditError `AUDIT_ERR_DATA_DIR_LOCKED` naming the owner's pid.
 */
export async function acquireDataDirLock(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'LOCK');
  try {
    const pid = Number((await fsp.readFile(file, 'utf8')).trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
      throw new AuditError('AUDIT_ERR_DATA_DIR_LOCKED', `data dir ${dataDir} is in use by process ${pid} (${file})`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await atomicWriteFile(file, `${process.pid}\n`);
  return file;
}
