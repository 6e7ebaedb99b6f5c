/**
 * Object stores behind the cold archive: a local directory (atomic writes) and S3. Both speak the
 * same small interface; expected failures are results, classified retryable or permanent.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { AuditError, atomicWriteFile, type OperationResult } from '@otel-audit/core';
import type { S3BackendConfig } from './config.ts';

/** One listed object. */
export interface StoredObjectInfo {
  key: string;
  size: number;
}

/** What the exporter, reader and replay need from a store. */
export interface ObjectStore {
  /** Human-readable location, for messages (`s3://bucket/prefix`, a directory). */
  readonly location: string;
  /** The key prefix this store's archive lives under ('' = root). */
  readonly prefix: string;
  /** Write an object whole. `sha256` is the hex SHA-256 of `bytes` (sent for server-side verification). */
  put(key: string, bytes: Uint8Array, sha256: string): Promise<OperationResult>;
  /** Read an object; `value` undefined when it does not exist. */
  get(key: string): Promise<OperationResult<Uint8Array | undefined>>;
  /** List objects under a key prefix (recursively), sorted by key. */
  list(keyPrefix: string): Promise<OperationResult<StoredObjectInfo[]>>;
}

/** Hex SHA-256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function ioError(err: unknown, what: string): { status: 'retryable'; error: AuditError } | { status: 'failure'; error: AuditError } {
  const code = (err as NodeJS.ErrnoException).code;
  // Full disk, too many open files, I/O errors can clear up; permissions and bad paths do not.
  const retryable = code === 'ENOSPC' || code === 'EMFILE' || code === 'ENFILE' || code === 'EIO' || code === 'EAGAIN' || code === 'EBUSY';
  const error = new AuditError('AUDIT_ERR_STORE_UNAVAILABLE', `${what}: ${(err as Error).message}`, { cause: err, retryable });
  return retryable ? { status: 'retryable', error } : { status: 'failure', error };
}

/**
 * Write a file atomically and durably: temp file + fsync + rename + fsync of the directory, so a
 * reader (or a crash) sees the old content or the whole new content, never a torn file.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await atomicWriteFile(path, bytes);
}

/** fsync a directory so a rename/creation in it survives a power loss (the shared helper of @otel-audit/core). */
export { fsyncDir } from '@otel-audit/core';

/** A local directory as an object store: keys are relative paths. */
export class LocalDirectoryStore implements ObjectStore {
  readonly location: string;
  readonly prefix: string;
  readonly root: string;

  constructor(root: string, prefix = '') {
    this.root = root;
    this.prefix = prefix;
    this.location = root;
  }

  /** Absolute path of a key. Throws `AUDIT_ERR_INVALID_ARGUMENT` for a key that would leave the root. */
  pathOf(key: string): string {
    const path = join(this.root, key);
    if (relative(this.root, path).split(sep).includes('..'))
      throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `key escapes the archive: ${key}`);
    return path;
  }

  async put(key: string, bytes: Uint8Array, sha256: string): Promise<OperationResult> {
    if (sha256Hex(bytes) !== sha256) {
      return { status: 'failure', error: new AuditError('AUDIT_ERR_INTEGRITY', `checksum mismatch writing ${key}`) };
    }
    const path = this.pathOf(key); // throws for a key leaving the root: a programming error, not a store failure
    try {
      await writeFileAtomic(path, bytes);
      return { status: 'success', value: undefined };
    } catch (err) {
      return ioError(err, `cannot write ${path}`);
    }
  }

  async get(key: string): Promise<OperationResult<Uint8Array | undefined>> {
    const path = this.pathOf(key);
    try {
      return { status: 'success', value: new Uint8Array(await readFile(path)) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'success', value: undefined };
      return ioError(err, `cannot read ${path}`);
    }
  }

  async list(keyPrefix: string): Promise<OperationResult<StoredObjectInfo[]>> {
    const out: StoredObjectInfo[] = [];
    // List the deepest existing directory of the prefix and filter by the full prefix.
    const dirKey = keyPrefix.includes('/') ? keyPrefix.slice(0, keyPrefix.lastIndexOf('/')) : '';
    const walk = async (dir: string): Promise<void> => {
      let names: import('node:fs').Dirent[];
      try {
        names = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const d of names) {
        const full = join(dir, d.name);
        if (d.isDirectory()) await walk(full);
        else if (d.isFile()) {
          const key = relative(this.root, full).split(sep).join('/');
          if (key.startsWith(keyPrefix) && !/\.tmp-\d+-[a-z0-9]+$/.test(key)) out.push({ key, size: (await stat(full)).size });
        }
      }
    };
    try {
      await walk(this.pathOf(dirKey));
    } catch (err) {
      return ioError(err, `cannot list ${this.root}`);
    }
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { status: 'success', value: out };
  }

  /** Remove a directory tree (retention). */
  async removeTree(key: string): Promise<void> {
    await rm(this.pathOf(key), { recursive: true, force: true });
  }
}

const RETRYABLE_S3_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'BadDigest',
  'XAmzContentSHA256Mismatch',
  'TimeoutError',
  'RequestTimeoutException',
]);

/** Classify an AWS SDK error: network, 5xx, throttling → retryable; auth, validation → failure. */
export function classifyS3Error(
  err: unknown,
  what: string,
): { status: 'retryable'; error: AuditError } | { status: 'failure'; error: AuditError } {
  const e = err as {
    name?: string;
    Code?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? e.Code ?? '';
  const network = status === undefined; // no HTTP answer at all: refused, reset, DNS, timeout
  const retryable =
    network || status >= 500 || status === 429 || status === 408 || RETRYABLE_S3_CODES.has(name) || e.$retryable !== undefined;
  const hint =
    status === 403 || /AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken/.test(name)
      ? ' (check the S3 credentials and the bucket policy)'
      : name === 'NoSuchBucket'
        ? ' (the bucket does not exist)'
        : '';
  const error = new AuditError(
    'AUDIT_ERR_STORE_UNAVAILABLE',
    `${what}: ${name || 'error'}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}${hint}`,
    {
      cause: err,
      retryable,
      details: { httpStatusCode: status, s3Code: name },
    },
  );
  return retryable ? { status: 'retryable', error } : { status: 'failure', error };
}

/** An S3 bucket (or S3-compatible store) as an object store. */
export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  readonly prefix: string;
  readonly client: S3Client;
  private readonly config: S3BackendConfig;

  constructor(config: S3BackendConfig, client?: S3Client) {
    this.config = config;
    this.prefix = config.prefix;
    this.location = `s3://${config.bucket}/${config.prefix}`;
    this.client =
      client ??
      new S3Client({
        region: config.region,
        ...(config.endpoint ? { endpoint: config.endpoint } : {}),
        forcePathStyle: config.forcePathStyle,
        ...(config.credentials ? { credentials: config.credentials } : {}),
        // The exporter has its own retry loop over durable staging; the SDK's would only delay the verdict.
        maxAttempts: 1,
        requestHandler: { requestTimeout: config.requestTimeoutMillis, connectionTimeout: Math.min(config.requestTimeoutMillis, 5000) },
      });
  }

  async put(key: string, bytes: Uint8Array, sha256: string): Promise<OperationResult> {
    const checksum = Buffer.from(sha256, 'hex').toString('base64');
    try {
      if (bytes.length >= this.config.multipartThresholdBytes) return await this.putMultipart(key, bytes);
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.config.bucket,
          Key: key,
          Body: bytes,
          ContentLength: bytes.length,
          ContentType: contentTypeOf(key),
          // S3 recomputes SHA-256 over the received bytes and refuses the object on mismatch; Object
          // Lock buckets require a checksum (or Content-MD5) on every PUT.
          ChecksumSHA256: checksum,
          Metadata: { sha256 },
        }),
      );
      return { status: 'success', value: undefined };
    } catch (err) {
      return classifyS3Error(err, `cannot upload s3://${this.config.bucket}/${key}`);
    }
  }

  private async putMultipart(key: string, bytes: Uint8Array): Promise<OperationResult> {
    const bucket = this.config.bucket;
    const created = await this.client.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        ContentType: contentTypeOf(key),
        ChecksumAlgorithm: 'SHA256',
        Metadata: { sha256: sha256Hex(bytes) },
      }),
    );
    const uploadId = created.UploadId!;
    try {
      const parts: Array<{ PartNumber: number; ETag: string | undefined; ChecksumSHA256: string }> = [];
      const size = this.config.partSizeBytes;
      for (let i = 0, n = 1; i < bytes.length; i += size, n++) {
        const body = bytes.subarray(i, Math.min(bytes.length, i + size));
        const partChecksum = createHash('sha256').update(body).digest('base64');
        const out = await this.client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: n,
            Body: body,
            ContentLength: body.length,
            ChecksumSHA256: partChecksum,
          }),
        );
        parts.push({ PartNumber: n, ETag: out.ETag, ChecksumSHA256: partChecksum });
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      );
      return { status: 'success', value: undefined };
    } catch (err) {
      // Leave no orphaned parts behind (they cost money); a retry starts a fresh upload.
      // Best effort: the upload failure is the error to report; parts an abort could not remove stay
      // until the bucket's AbortIncompleteMultipartUpload lifecycle rule (if any) expires them.
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => {});
      throw err;
    }
  }

  async get(key: string): Promise<OperationResult<Uint8Array | undefined>> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: key }));
      return { status: 'success', value: out.Body ? await out.Body.transformToByteArray() : new Uint8Array() };
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return { status: 'success', value: undefined };
      return classifyS3Error(err, `cannot read s3://${this.config.bucket}/${key}`);
    }
  }

  async list(keyPrefix: string): Promise<OperationResult<StoredObjectInfo[]>> {
    const out: StoredObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: keyPrefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) if (o.Key !== undefined) out.push({ key: o.Key, size: Number(o.Size ?? 0) });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      return classifyS3Error(err, `cannot list s3://${this.config.bucket}/${keyPrefix}`);
    }
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { status: 'success', value: out };
  }

  /** Release sockets. */
  destroy(): void {
    this.client.destroy();
  }
}

function contentTypeOf(key: string): string {
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.gz')) return 'application/gzip';
  return 'application/vnd.apache.parquet';
}
