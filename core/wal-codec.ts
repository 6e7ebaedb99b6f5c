/**
 * The one codec of WAL entries (the payload of a WAL record, docs/wal.md "File format"): UTF-8
 * JSON of a {@link WalEntry}. Every writer encodes with {@link encodeWalEntry} and every reader
 * decodes with {@link decodeWalEntry}, which checks the entry's shape instead of casting, so a
 * record that passes its CRC but does not hold an entry (a bug, a foreign file, a format from a
 * newer version) is reported with what is wrong rather than failing later in an exporter.
 *
 * The event and checkpoint payloads are checked to be JSON objects only: the event was validated
 * against the schema when it was accepted and is covered by the entry hash (verifiers recompute
 * it), the checkpoint by its signature.
 */
import type { JsonObject, WalCheckpointEntry, WalEntry, WalEventEntry } from './contracts.ts';
import { AuditError } from './errors.ts';

const HEX64 = /^[0-9a-f]{64}$/;
const DECIMAL = /^(0|[1-9][0-9]*)$/;
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Outcome of {@link decodeWalEntry}: the entry, or an `AUDIT_ERR_WAL_CORRUPT` error naming the field. */
export type DecodeWalEntryResult<E extends object = JsonObject, C extends object = JsonObject> =
  | { ok: true; entry: WalEntry<E, C> }
  | { ok: false; error: AuditError };

/**
 * Encode an entry as the payload of a WAL record (UTF-8 JSON text). Key order follows the entry
 * object; readers never depend on it.
 */
export function encodeWalEntry(entry: WalEntry<object, object>): string {
  return JSON.stringify(entry);
}

/** {@link encodeWalEntry} as bytes, ready to frame. */
export function encodeWalEntryBytes(entry: WalEntry<object, object>): Buffer {
  return Buffer.from(encodeWalEntry(entry), 'utf8');
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPositiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/**
 * Decode and check one WAL record payload. `expectedLsn`, when given (the LSN of the record
 * header), must equal the entry's `lsn`.
 *
 * The type parameters name the payload types the caller's schema guarantees (see the module
 * comment): they are not re-validated here.
 */
export function decodeWalEntry<E extends object = JsonObject, C extends object = JsonObject>(
  payload: Uint8Array | string,
  expectedLsn?: number,
): DecodeWalEntryResult<E, C> {
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : decoder.decode(payload));
  } catch (cause) {
    return fail(`payload is not UTF-8 JSON (${(cause as Error).message})`, undefined, cause);
  }
  const problem = checkEntry(value);
  if (problem !== undefined) return fail(problem.message, problem.path);
  const entry = value as WalEntry<E, C>;
  if (expectedLsn !== undefined && entry.lsn !== expectedLsn) {
    return fail(`entry lsn ${entry.lsn} does not match its record's lsn ${expectedLsn}`, 'lsn');
  }
  return { ok: true, entry };
}

/**
 * {@link decodeWalEntry} for readers that treat a bad entry as corruption: returns the entry or
 * throws the `AUDIT_ERR_WAL_CORRUPT` error.
 */
export function decodeWalEntryOrThrow<E extends object = JsonObject, C extends object = JsonObject>(
  payload: Uint8Array | string,
  expectedLsn?: number,
): WalEntry<E, C> {
  const r = decodeWalEntry<E, C>(payload, expectedLsn);
  if (!r.ok) throw r.error;
  return r.entry;
}

function fail(message: string, path?: string, cause?: unknown): { ok: false; error: AuditError } {
  return { ok: false, error: new AuditError('AUDIT_ERR_WAL_CORRUPT', `WAL entry: ${message}`, { path, cause }) };
}

function checkEntry(v: unknown): { path: string | undefined; message: string } | undefined {
  if (!isObject(v)) return { path: undefined, message: 'not a JSON object' };
  if (!isPositiveInt(v.lsn)) return { path: 'lsn', message: `lsn must be a positive integer, got ${JSON.stringify(v.lsn)}` };
  for (const key of ['chainId', 'tenantId'] as const) {
    if (typeof v[key] !== 'string' || v[key] === '') return { path: key, message: `${key} must be a non-empty string` };
  }
  if (v.kind === 'event') return checkEvent(v as Partial<WalEventEntry>);
  if (v.kind === 'checkpoint') return checkCheckpoint(v as Partial<WalCheckpointEntry>);
  return { path: 'kind', message: `kind must be "event" or "checkpoint", got ${JSON.stringify(v.kind)}` };
}

function checkEvent(v: Partial<WalEventEntry>): { path: string; message: string } | undefined {
  if (!isPositiveInt(v.seq)) return { path: 'seq', message: 'seq must be a positive integer' };
  for (const key of ['prevHash', 'hash'] as const) {
    if (typeof v[key] !== 'string' || !HEX64.test(v[key])) return { path: key, message: `${key} must be 64 lower-case hex digits` };
  }
  if (v.chainVersion !== undefined && v.chainVersion !== 1 && v.chainVersion !== 2) {
    return { path: 'chainVersion', message: `chainVersion must be 1 or 2 when present, got ${JSON.stringify(v.chainVersion)}` };
  }
  if (typeof v.receivedAtNanos !== 'string' || !DECIMAL.test(v.receivedAtNanos)) {
    return { path: 'receivedAtNanos', message: 'receivedAtNanos must be a decimal string of Unix nanoseconds' };
  }
  if (!isObject(v.event)) return { path: 'event', message: 'event must be a JSON object' };
  if (!isObject(v.resource) || !isObject(v.resource.attributes) || typeof v.resource.schemaUrl !== 'string') {
    return { path: 'resource', message: 'resource must be { attributes: object, schemaUrl: string }' };
  }
  if (!isObject(v.scope) || typeof v.scope.name !== 'string' || typeof v.scope.version !== 'string') {
    return { path: 'scope', message: 'scope must be { name: string, version: string }' };
  }
  if (!isObject(v.extraAttributes)) return { path: 'extraAttributes', message: 'extraAttributes must be a JSON object' };
  return undefined;
}

function checkCheckpoint(v: Partial<WalCheckpointEntry>): { path: string; message: string } | undefined {
  if (!isObject(v.checkpoint)) return { path: 'checkpoint', message: 'checkpoint must be a JSON object' };
  return undefined;
}
