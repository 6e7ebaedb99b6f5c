/**
 * The hash chain definition (docs/integrity.md, "Entry hash"), the one place it is computed:
 *
 *   hash(seq) = SHA-256( prevHash(seq) ‖ UTF-8( JCS(event) ) )
 *
 * where `prevHash(1)` is 32 zero bytes, `prevHash(n)` is the raw 32-byte `hash(n-1)`, `‖` is byte
 * concatenation and JCS is the JSON Canonicalization Scheme of RFC 8785 applied to the normalized
 * event (schema/audit-event.ts `normalizeAuditEvent`). Hashes are written as 64 lower-case hex digits.
 */
import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { AuditError } from '@otel-audit/core';
import type { AuditEvent } from '@otel-audit/schema';

/** The `prevHash` of the first entry of every chain: 32 zero bytes, as hex. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * RFC 8785 canonical JSON of an event. Throws `AUDIT_ERR_INVALID_EVENT` for values JCS cannot
 * represent (lone UTF-16 surrogates, non-finite numbers), which validation should already exclude.
 */
export function canonicalEventJson(event: AuditEvent): string {
  try {
    const text = canonicalize(event);
    if (text === undefined) throw new Error('event is not serializable');
    return text;
  } catch (err) {
    throw new AuditError('AUDIT_ERR_INVALID_EVENT', `cannot canonicalize event (RFC 8785): ${(err as Error).message}`, { cause: err });
  }
}

const HEX64 = /^[0-9a-f]{64}$/;
/** Reused input buffer (prevHash bytes, then the UTF-8 JSON): one one-shot hash call per entry, no per-entry allocation. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * Compute an entry's hash from the previous entry's hash (hex) and the event's canonical JSON.
 * This is the ingest hot path: the input is assembled in a reused buffer and hashed with one
 * `crypto.hash` call (measured ~1.3 µs vs ~2.4 µs for createHash().update().update().digest()).
 */
export function computeEntryHashFromCanonical(prevHashHex: string, canonicalJson: string): string {
  if (!HEX64.test(prevHashHex)) {
    throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', `prevHash must be 64 lower-case hex digits, got "${prevHashHex.slice(0, 80)}"`);
  }
  // A UTF-16 code unit encodes to at most 3 UTF-8 bytes, so this bound always fits.
  const bound = 32 + canonicalJson.length * 3;
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(Math.max(bound, scratch.length * 2));
  scratch.write(prevHashHex, 0, 'hex');
  const n = scratch.write(canonicalJson, 32, 'utf8');
  return hash('sha256', scratch.subarray(0, 32 + n), 'hex');
}

/** Compute an entry's hash: `SHA-256(prevHash ‖ JCS(event))`, hex. */
export function computeEntryHash(prevHashHex: string, event: AuditEvent): string {
  return computeEntryHashFromCanonical(prevHashHex, canonicalEventJson(event));
}
