/**
 * A faster RFC 8785 (JCS) serializer for validated audit events, byte-for-byte equal to
 * `canonicalEventJson` of integrity/chain-hash.ts (the `canonicalize` package), which stays the
 * definition. It is faster because it checks strings with the native `isWellFormed()` instead of a
 * per-character JavaScript loop, skips `JSON.stringify` for strings that need no escaping, and
 * needs no cycle bookkeeping (validated events are trees of plain JSON values).
 *
 * Anything that is not plain JSON (toJSON objects, bigint, functions, symbols, non-plain
 * prototypes) makes it defer to `canonicalEventJson`, so the result can only differ from the
 * definition if JSON.stringify and this file disagree on a plain string or number — which the
 * equivalence test (test/receiver/pipeline/fast-jcs.test.ts) checks over edge cases and random events.
 */
import { AuditError } from '@otel-audit/core';
import type { AuditEvent } from '@otel-audit/schema';
import { canonicalEventJson } from '../../integrity/chain-hash.ts';

/** Characters JSON.stringify escapes in a well-formed string: quote, backslash, C0 controls. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

class NotPlain extends Error {}
const NOT_PLAIN = new NotPlain();

function invalid(what: string): AuditError {
  return new AuditError('AUDIT_ERR_INVALID_EVENT', `cannot canonicalize event (RFC 8785): ${what}`);
}

/** `String.prototype.isWellFormed` (ES2024, native in Node ≥ 20; the project's TS lib is ES2023). */
const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;

function str(s: string): string {
  if (!isWellFormed.call(s)) throw invalid('Lone surrogate is not allowed');
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

function value(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return str(v);
    case 'number':
      if (Number.isNaN(v)) throw invalid('NaN is not allowed');
      if (!Number.isFinite(v)) throw invalid('Infinity is not allowed');
      // ECMAScript Number::toString, as JSON.stringify and JCS use (-0 becomes "0" in both).
      return String(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) {
          if (i > 0) out += ',';
          const x: unknown = v[i];
          out += x === undefined ? 'null' : value(x);
        }
        return out + ']';
      }
      const proto = Object.getPrototypeOf(v);
      if ((proto !== Object.prototype && proto !== null) || typeof (v as { toJSON?: unknown }).toJSON === 'function') throw NOT_PLAIN;
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).sort();
      let out = '{';
      let first = true;
      for (const k of keys) {
        const x = o[k];
        if (x === undefined) continue;
        if (typeof x === 'symbol' || typeof x === 'function' || typeof x === 'bigint') throw NOT_PLAIN;
        out += first ? str(k) : `,${str(k)}`;
        out += ':';
        out += value(x);
        first = false;
      }
      return out + '}';
    }
    default:
      throw NOT_PLAIN;
  }
}

/**
 * RFC 8785 canonical JSON of a validated event; equal to `canonicalEventJson(event)`. Throws
 * AUDIT_ERR_INVALID_EVENT for values JCS cannot represent (lone surrogates, non-finite numbers).
 */
export function fastCanonicalEventJson(event: AuditEvent): string {
  try {
    return value(event);
  } catch (err) {
    if (err instanceof NotPlain) return canonicalEventJson(event);
    throw err;
  }
}
