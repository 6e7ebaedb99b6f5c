/** Error classification of the S3 store and the local store's key safety (no servers needed). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyS3Error, LocalDirectoryStore, sha256Hex } from '../../../exporters/coldstore/index.ts';

const root = mkdtempSync(join(tmpdir(), 'coldstore-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const s3err = (name: string, status?: number): unknown =>
  Object.assign(new Error(`${name} happened`), { name, ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }) });

describe('S3 error classification', () => {
  it('network errors, 5xx, throttling and bad digests are retryable', () => {
    for (const e of [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
      s3err('TimeoutError'),
      s3err('InternalError', 500),
      s3err('ServiceUnavailable', 503),
      s3err('SlowDown', 503),
      s3err('ThrottlingException', 400),
      s3err('TooManyRequests', 429),
      s3err('RequestTimeout', 400),
      s3err('BadDigest', 400),
    ]) {
      expect(classifyS3Error(e, 'op').status, String((e as Error).name)).toBe('retryable');
    }
  });

  it('auth and validation errors are permanent, with a hint', () => {
    const denied = classifyS3Error(s3err('AccessDenied', 403), 'cannot upload s3://b/k');
    expect(denied.status).toBe('failure');
    expect(denied.error.message).toMatch(
      /^store unavailable: cannot upload s3:\/\/b\/k: AccessDenied \(HTTP 403\).*check the S3 credentials/,
    );
    expect(classifyS3Error(s3err('InvalidAccessKeyId', 403), 'op').status).toBe('failure');
    const bucket = classifyS3Error(s3err('NoSuchBucket', 404), 'op');
    expect(bucket.status).toBe('failure');
    expect(bucket.error.message).toContain('the bucket does not exist');
    expect(classifyS3Error(s3err('InvalidRequest', 400), 'op').status).toBe('failure');
  });
});

describe('local directory store', () => {
  it('writes atomically, verifies the checksum it is given, and refuses keys leaving the root', async () => {
    const store = new LocalDirectoryStore(root);
    const bytes = Buffer.from('hello');
    expect(await store.put('a/b/c.bin', bytes, sha256Hex(bytes))).toEqual({ status: 'success', value: undefined });
    expect((await store.put('a/b/d.bin', bytes, sha256Hex(Buffer.from('x')))).status).toBe('failure');
    const got = await store.get('a/b/c.bin');
    expect(got.status === 'success' && Buffer.from(got.value!).toString()).toBe('hello');
    expect(await store.get('a/b/none.bin')).toEqual({ status: 'success', value: undefined });
    await expect(store.put('../escape.bin', bytes, sha256Hex(bytes))).rejects.toThrow(/escapes the archive/);
    const listed = await store.list('a/');
    expect(listed.status === 'success' && listed.value.map((o) => o.key)).toEqual(['a/b/c.bin']);
  });
});
