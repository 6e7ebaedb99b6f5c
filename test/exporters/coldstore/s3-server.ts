/** An s3rver instance on 127.0.0.1, port 0, with one bucket, for the cold-storage tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error s3rver ships no types
import S3rver from 's3rver';

/** A running test S3 server. */
export interface TestS3 {
  endpoint: string;
  port: number;
  bucket: string;
  directory: string;
  stop(): Promise<void>;
  /** Start again on the same port and directory (after stop). */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/** Start s3rver with `bucket` configured. */
export async function startS3(bucket = 'audit-archive'): Promise<TestS3> {
  const directory = mkdtempSync(join(tmpdir(), 'coldstore-s3rver-'));
  let port = 0;
  let server: { run(): Promise<AddressInfo>; close(): Promise<void> } | undefined;
  const start = async (): Promise<void> => {
    server = new S3rver({ address: '127.0.0.1', port, silent: true, directory, configureBuckets: [{ name: bucket }], vhostBuckets: false });
    const addr = await server!.run();
    port = addr.port;
  };
  await start();
  const t: TestS3 = {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket,
    directory,
    async stop() {
      await server?.close();
      server = undefined;
    },
    restart: start,
    async dispose() {
      await server?.close().catch(() => {});
      rmSync(directory, { recursive: true, force: true });
    },
  };
  return t;
}

/** Credentials s3rver accepts. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
