/**
 * Finding the verifier key for `verify`, `prove` and `verify-proof` when `--public-key` is not given
 * (docs/integrity.md "Verify and prove"), and finding the receiver that runs on a data dir. Kept
 * free of store clients (chDB, S3) so `verify-proof`, which reads no store, starts fast.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AuditError } from '@otel-audit/core';
import { dataDirKeysDir, dataDirVerifierKeyFiles, loadVerifierKeys } from '../../integrity/keys.ts';
import type { VerifierSet } from '../../integrity/note.ts';
import { configFromEnv, mergeConfig, readConfigFile } from '../../receiver/config/load-config.ts';
import { ENDPOINT_FILE, type ReceiverEndpointFile, VERIFIER_KEY_PATH } from '../../receiver/endpoint-file.ts';

/** Where the integrity commands look (their common flags). */
export interface KeyLocationOptions {
  dataDir?: string;
  config?: string;
  /** A receiver (or ClickHouse server) URL; its origin is asked for the verifier key. */
  url?: string;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The merged configuration (file ← `OTEL_AUDIT_*` environment) and data dir of the integrity commands. */
export function loadIntegrityConfig(o: KeyLocationOptions): { config: Record<string, unknown>; dataDir: string } {
  const config = mergeConfig(readConfigFile(o.config ?? 'otel-audit.yaml', o.config !== undefined), configFromEnv(process.env));
  const dataDir = resolve(o.dataDir ?? (config.dataDir as string | undefined) ?? './otel-audit-data');
  return { config, dataDir };
}

/** The pid in `<dataDir>/LOCK` when that process is alive (a receiver holds the data dir), else undefined. */
export function lockHolder(dataDir: string): number | undefined {
  let pid = 0;
  try {
    pid = Number(readFileSync(join(dataDir, 'LOCK'), 'utf8').trim());
  } catch {
    return undefined;
  }
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid) ? pid : undefined;
}

/** Where the receiver running on `dataDir` listens (`<dataDir>/receiver.json` of a live process), if one does. */
export function runningReceiver(dataDir: string): ReceiverEndpointFile | undefined {
  try {
    const info = JSON.parse(readFileSync(join(dataDir, ENDPOINT_FILE), 'utf8')) as ReceiverEndpointFile;
    if (typeof info.http !== 'string' || !Number.isInteger(info.pid) || info.pid === process.pid || !pidAlive(info.pid)) return undefined;
    return info;
  } catch {
    return undefined;
  }
}

/**
 * The trusted keys, first found of:
 * 1. `--public-key` values (pinned by the caller: proves authenticity);
 * 2. the configured key: `integrity.signingKeyFile`'s `.pub` and `integrity.verifierKeyFiles`;
 * 3. the `.pub` files in `<dataDir>/keys` (the key the receiver created itself);
 * 4. the running receiver's `GET /v1/audit/verifier-key` (`--url`, else `<dataDir>/receiver.json`).
 * A key found by 3 or 4 comes from the same place as the data it checks, so `onNote` gets one line
 * saying so: it proves consistency, not authenticity against whoever controls the receiver.
 * A bad key is an argument error; no key anywhere is one too.
 */
export async function resolveVerifierKeys(
  specs: string[],
  location: KeyLocationOptions,
  onNote: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<VerifierSet> {
  let list = specs;
  let found: string | undefined;
  if (list.length === 0) {
    const { config, dataDir } = loadIntegrityConfig(location);
    const integrity = (config.integrity ?? {}) as { signingKeyFile?: string; verifierKeyFiles?: string[] };
    list = [
      ...(integrity.signingKeyFile ? [integrity.signingKeyFile.replace(/\.key$/, '.pub')] : []),
      ...(integrity.verifierKeyFiles ?? []),
    ];
    if (list.length === 0) {
      list = await dataDirVerifierKeyFiles(dataDir);
      if (list.length > 0) found = `${dataDirKeysDir(dataDir)}`;
    }
    if (list.length === 0) {
      const origin = location.url !== undefined ? new URL(location.url).origin : runningReceiver(dataDir)?.http;
      if (origin !== undefined) {
        const key = await fetchVerifierKey(origin);
        list = [key];
        found = `the receiver at ${origin}`;
      }
    }
    if (list.length === 0) {
      throw new AuditError(
        'AUDIT_ERR_INVALID_ARGUMENT',
        `--public-key is required: no verifier key in ${dataDirKeysDir(dataDir)} and no running receiver to ask (give the key printed at receiver start or by otel-audit keys generate, or its .pub file)`,
      );
    }
  }
  let keys: VerifierSet;
  try {
    keys = await loadVerifierKeys(list);
  } catch (err) {
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `--public-key: ${(err as Error).message}`, { cause: err });
  }
  if (found !== undefined) {
    onNote(
      `note: verifier key ${keys.verifiers.map((v) => v.verifierKey).join(', ')} taken from ${found}: this proves consistency, not authenticity against someone who controls the receiver (pin the key with --public-key for that)`,
    );
  }
  return keys;
}

/** The verifier key a receiver serves at `GET /v1/audit/verifier-key`. */
async function fetchVerifierKey(origin: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`${origin}${VERIFIER_KEY_PATH}`, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new AuditError(
      'AUDIT_ERR_INVALID_ARGUMENT',
      `no --public-key given and the receiver at ${origin} cannot be asked for its verifier key: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const text = (await res.text()).trim();
  if (!res.ok)
    throw new AuditError(
      'AUDIT_ERR_INVALID_ARGUMENT',
      `no --public-key given and the receiver at ${origin} has no verifier key (${res.status}: ${text})`,
    );
  return text;
}
