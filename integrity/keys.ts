/**
 * Checkpoint signing keys on disk. A key pair is two files in Go sumdb/note format
 * (integrity/note.ts):
 *
 *   <name>-<keyid>.key   the signer key `PRIVATE+KEY+…` — secret, file mode 0600
 *   <name>-<keyid>.pub   the verifier key `<name>+<keyid>+<base64>` — public, give it to auditors
 *
 * (`/` in the key name becomes `_` in file names.) Rotation: generate a new pair, point the receiver
 * at the new `.key`, and keep every old `.pub` in the verifiers' key list so old checkpoints stay
 * verifiable. Missing files and bad contents throw `AUDIT_ERR_KEY` with the path and the problem.
 */
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { AuditError } from '@otel-audit/core';
import {
  createVerifierSet,
  generateNoteKeyPair,
  isValidKeyName,
  type NoteSigner,
  type NoteVerifier,
  parseSignerKey,
  parseVerifierKey,
  type VerifierSet,
} from './note.ts';

/** Default key name: `otel-audit/<hostname>` (spaces and '+' replaced by '-'). */
export function defaultKeyName(): string {
  const host = hostname().replace(/[\s+]/g, '-') || 'localhost';
  return `otel-audit/${host}`;
}

/** Result of {@link generateKeyFiles}. */
export interface GeneratedKeyFiles {
  /** Absolute path of the private signer key file (mode 0600). */
  signerPath: string;
  /** Absolute path of the public verifier key file. */
  verifierPath: string;
  /** The verifier key string (public). */
  verifierKey: string;
  /** Key ID, 8 hex digits. */
  keyIdHex: string;
  /** Key name. */
  name: string;
}

/** The detail of a nested AUDIT_ERR_KEY error, without its registry prefix. */
function innerDetail(err: unknown): string {
  const message = (err as Error).message;
  const prefix = 'signing key problem: ';
  return message.startsWith(prefix) ? message.slice(prefix.length) : message;
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Generate an Ed25519 key pair and write it to `outDir` (created with mode 0700 if missing). Never
 * overwrites: throws `AUDIT_ERR_KEY` when a file exists or cannot be written, or for an invalid name.
 */
export async function generateKeyFiles(options: { name?: string; outDir: string }): Promise<GeneratedKeyFiles> {
  const name = options.name ?? defaultKeyName();
  if (!isValidKeyName(name))
    throw new AuditError(
      'AUDIT_ERR_KEY',
      `invalid key name "${name}": it must be non-empty and contain no spaces, '+' or control characters (e.g. otel-audit/host-1)`,
    );
  const dir = resolve(options.outDir);
  const pair = generateNoteKeyPair(name);
  const base = `${name.replace(/\//g, '_')}-${pair.keyIdHex}`;
  const signerPath = join(dir, `${base}.key`);
  const verifierPath = join(dir, `${base}.pub`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(signerPath, `${pair.signerKey}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(signerPath, 0o600);
    await writeFile(verifierPath, `${pair.verifierKey}\n`, { mode: 0o644, flag: 'wx' });
  } catch (err) {
    const code = errorCode(err);
    const detail =
      code === 'EEXIST'
        ? 'a key file with this name and key ID already exists'
        : code === 'EACCES'
          ? 'permission denied'
          : (err as Error).message;
    throw new AuditError('AUDIT_ERR_KEY', `cannot write key files in ${dir}: ${detail}`, { cause: err });
  }
  return { signerPath, verifierPath, verifierKey: pair.verifierKey, keyIdHex: pair.keyIdHex, name };
}

/** Key lines of a key file: trimmed, without blank lines and `#` comments. */
function keyLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
}

/**
 * Load the checkpoint signer from a key file written by `otel-audit keys generate`. Throws
 * `AUDIT_ERR_KEY` when the file is missing, unreadable, empty, holds more than one key, or the key
 * is malformed (the message names the path, never the secret). When group or others can access the
 * file, `onWarning` is called (default: `process.emitWarning`).
 */
export async function loadSigner(path: string, options: { onWarning?: (message: string) => void } = {}): Promise<NoteSigner> {
  const file = resolve(path);
  let text: string;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new AuditError('AUDIT_ERR_KEY', `signing key ${file} is not a file`);
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      const message = `signing key file ${file} is accessible by group or others (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}); restrict it with: chmod 600 ${file}`;
      (options.onWarning ?? ((m: string) => process.emitWarning(m, { code: 'OTEL_AUDIT_KEY_MODE' })))(message);
    }
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof AuditError) throw err;
    const code = errorCode(err);
    if (code === 'ENOENT')
      throw new AuditError('AUDIT_ERR_KEY', `signing key file not found: ${file} (create one with: otel-audit keys generate)`, {
        cause: err,
      });
    if (code === 'EACCES') throw new AuditError('AUDIT_ERR_KEY', `cannot read signing key file ${file}: permission denied`, { cause: err });
    throw new AuditError('AUDIT_ERR_KEY', `cannot read signing key file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const lines = keyLines(text);
  if (lines.length === 0) throw new AuditError('AUDIT_ERR_KEY', `signing key file ${file} is empty`);
  if (lines.length > 1)
    throw new AuditError('AUDIT_ERR_KEY', `signing key file ${file} holds ${lines.length} keys; it must hold exactly one`);
  try {
    return parseSignerKey(lines[0]!);
  } catch (err) {
    throw new AuditError('AUDIT_ERR_KEY', `${file}: ${innerDetail(err)}`, { cause: err });
  }
}

/**
 * Verifier keys from specs, each either a verifier key string or the path of a file with one key per
 * line (`#` comments allowed; a `.pub` written by `keys generate`, or a list of current and retired
 * keys). Throws `AUDIT_ERR_KEY` naming the spec that is neither, or the file line that is malformed.
 */
export async function loadVerifierKeys(specs: string | ReadonlyArray<string>): Promise<VerifierSet> {
  const list = typeof specs === 'string' ? [specs] : specs;
  if (list.length === 0) throw new AuditError('AUDIT_ERR_KEY', 'no verifier key given');
  const verifiers: NoteVerifier[] = [];
  for (const spec of list) {
    const trimmed = spec.trim();
    const looksLikeKey = /^[^\s+]+\+[0-9a-fA-F]{8}\+\S+$/.test(trimmed);
    if (looksLikeKey) {
      verifiers.push(parseVerifierKey(trimmed));
      continue;
    }
    let text: string;
    try {
      text = await readFile(resolve(trimmed), 'utf8');
    } catch (err) {
      const code = errorCode(err);
      throw new AuditError(
        'AUDIT_ERR_KEY',
        code === 'ENOENT'
          ? `"${trimmed}" is neither a verifier key (<name>+<keyid>+<base64>) nor an existing file`
          : `cannot read verifier key file ${trimmed}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const lines = keyLines(text);
    if (lines.length === 0) throw new AuditError('AUDIT_ERR_KEY', `verifier key file ${trimmed} holds no key`);
    lines.forEach((line, i) => {
      try {
        verifiers.push(parseVerifierKey(line));
      } catch (err) {
        throw new AuditError('AUDIT_ERR_KEY', `${trimmed}, key ${i + 1}: ${innerDetail(err)}`, { cause: err });
      }
    });
  }
  return createVerifierSet(verifiers);
}

/** `<dataDir>/keys`: where the receiver keeps the signing key it created itself. */
export function dataDirKeysDir(dataDir: string): string {
  return join(resolve(dataDir), 'keys');
}

/** Result of {@link ensureDataDirKey}. */
export interface DataDirKey {
  /** The signer key file (mode 0600). */
  signerPath: string;
  /** True when this call created the key pair (first start on this data dir). */
  created: boolean;
}

/**
 * The signing key of a receiver without a configured key: the one `.key` file in
 * `<dataDir>/keys`, created on first use (Ed25519, default key name, `.key` mode 0600 and `.pub`,
 * written with exclusive create so an existing key is never overwritten). Throws `AUDIT_ERR_KEY`
 * when the directory holds more than one `.key` file (which one signs is then the operator's call:
 * set `integrity.signingKeyFile`) or cannot be read or written.
 */
export async function ensureDataDirKey(dataDir: string, options: { name?: string } = {}): Promise<DataDirKey> {
  const dir = dataDirKeysDir(dataDir);
  let keys: string[];
  try {
    keys = (await readdir(dir)).filter((f) => f.endsWith('.key')).sort();
  } catch (err) {
    if (errorCode(err) !== 'ENOENT')
      throw new AuditError('AUDIT_ERR_KEY', `cannot read key directory ${dir}: ${(err as Error).message}`, { cause: err });
    keys = [];
  }
  if (keys.length > 1) {
    throw new AuditError(
      'AUDIT_ERR_KEY',
      `${dir} holds ${keys.length} signing keys (${keys.join(', ')}); set integrity.signingKeyFile to the one to sign with`,
    );
  }
  if (keys.length === 1) return { signerPath: join(dir, keys[0]!), created: false };
  const generated = await generateKeyFiles({ outDir: dir, ...(options.name ? { name: options.name } : {}) });
  return { signerPath: generated.signerPath, created: true };
}

/** The verifier key files (`*.pub`) in `<dataDir>/keys`, current and retired; empty when there are none. */
export async function dataDirVerifierKeyFiles(dataDir: string): Promise<string[]> {
  const dir = dataDirKeysDir(dataDir);
  try {
    return (await readdir(dir))
      .filter((f) => f.endsWith('.pub'))
      .sort()
      .map((f) => join(dir, f));
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return [];
    throw new AuditError('AUDIT_ERR_KEY', `cannot read key directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
}
