/**
 * A faster RFC 8785 (JCS) serializer for validated audit events, byte-for-byte equal to
 * `canonicalEventJson` of integrity/chain-hash.ts (the `canonicalize` package), which stays the
 * definition. It writes UTF-8 straight into a growable byte buffer ({@link CanonicalWriter}) — the
 * prepare stage's WAL payload — instead of concatenating strings: no cons-strings to flatten and
 * encode afterwards, and the SHA-256 event digest is taken over the bytes in place.
 *
 * Where its speed comes from, and why each shortcut is exact:
 * - Strings: one loop copies printable ASCII (U+0020–U+007F except `"` and `\`) byte by byte, which
 *   is what JSON.stringify and JCS emit verbatim for those characters. Any other character sends the
 *   string to the slow path: the native `isWellFormed()` (JCS refuses lone surrogates, RFC 8785
 *   §3.2.2.2), then `JSON.stringify` when it needs escaping (for well-formed strings JCS escaping is
 *   ECMAScript's QuoteJSONString, RFC 8785 §3.2.2.2), else a native UTF-8 write.
 * - Numbers: ECMAScript Number::toString (RFC 8785 §3.2.2.3), as `String(v)`.
 * - Object keys: JCS sorts members by their names' UTF-16 code units (§3.2.3), the order of
 *   JavaScript's `<` on strings and of the default `Array.prototype.sort`. Free JSON (`details`,
 *   `bodyValue`, `changes.*`) sorts `Object.keys` with an insertion sort for small objects: same order,
 *   without the temporary arrays `sort` allocates. The event's own fixed-shape objects (the event,
 *   actor, tenant, targets, session, request, trace, changes) are written in a member order sorted
 *   once at load ({@link writeCanonicalEvent}); that requires a validated event, whose keys are a
 *   subset of the schema's (zod strict objects and schema/fast-validate.ts refuse unknown keys).
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

/** Buffer's undocumented fast write/slice methods (what `write()`/`toString()` dispatch to, without argument normalisation). */
interface FastBuffer extends Buffer {
  utf8Write(s: string, offset: number, length: number): number;
  latin1Write(s: string, offset: number, length: number): number;
  utf8Slice(start: number, end: number): string;
}

function newBuffer(bytes: number): FastBuffer {
  // An ArrayBuffer of its own (not the shared pool), so the payload can be transferred; not
  // zero-filled, since only [0, off) is ever read.
  return Buffer.allocUnsafeSlow(bytes) as FastBuffer;
}

/** Strings longer than this take the regex + native-write fast path (see CanonicalWriter.asciiStr). */
const NATIVE_ASCII_MIN = 40;
/** Strings JSON.stringify and JCS copy verbatim, when ASCII: printable, no `"` or `\`. */
const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Objects shorter than this sort their keys with an insertion sort (no temporary arrays). */
const INSERTION_SORT_MAX = 24;

/**
 * A growable byte buffer that RFC 8785 JSON and plain JSON are written into. `buf` is replaced
 * (contents copied) when it grows, so callers keep offsets, not views, across writes. Not
 * thread-safe; single-threaded use per instance.
 */
export class CanonicalWriter {
  /** The bytes; valid in [0, off). Backed by its own ArrayBuffer (transferable). */
  buf: FastBuffer;
  /** Write position (bytes). */
  off = 0;

  /** @param capacity initial size in bytes (grows on demand). */
  constructor(capacity = 4096) {
    this.buf = newBuffer(Math.max(64, capacity));
  }

  /** Make room for `more` bytes after `off`. */
  ensure(more: number): void {
    if (this.off + more > this.buf.length) this.grow(more);
  }

  private grow(more: number): void {
    const bigger = newBuffer(Math.max(this.off + more, this.buf.length * 2));
    this.buf.copy(bigger, 0, 0, this.off);
    this.buf = bigger;
  }

  /** One byte (ASCII). */
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.off++] = b;
  }

  /** Bytes as they are. */
  bytes(b: Uint8Array): void {
    const n = b.length;
    this.ensure(n);
    const buf = this.buf;
    const at = this.off;
    // A loop beats TypedArray#set's call overhead for the short keys and separators written here.
    if (n > 32) buf.set(b, at);
    else for (let i = 0; i < n; i++) buf[at + i] = b[i]!;
    this.off = at + n;
  }

  /** A string as UTF-8 (the caller knows it is well-formed JSON text or a part of it). */
  utf8(s: string): void {
    this.ensure(s.length * 3);
    this.off += this.buf.utf8Write(s, this.off, this.buf.length - this.off);
  }

  /**
   * A JSON string literal with JCS's rules: a lone surrogate throws AUDIT_ERR_INVALID_EVENT.
   * `jsonStr` is the same with JSON.stringify's (a lone surrogate is escaped).
   */
  str(s: string): void {
    if (!this.asciiStr(s)) this.slowStr(s, true);
  }

  /** A JSON string literal exactly as `JSON.stringify(s)` writes it. */
  jsonStr(s: string): void {
    if (!this.asciiStr(s)) this.slowStr(s, false);
  }

  /**
   * Fast path: printable ASCII without `"` or `\`, copied byte by byte (short strings) or checked
   * with one regex and written natively (long ones, where that is cheaper: measured crossover
   * ~40 characters). False (nothing written) otherwise.
   */
  private asciiStr(s: string): boolean {
    const n = s.length;
    this.ensure(n + 2);
    const buf = this.buf;
    const at = this.off + 1;
    if (n > NATIVE_ASCII_MIN) {
      if (!PLAIN_ASCII.test(s)) return false;
      buf.latin1Write(s, at, n);
      buf[at - 1] = 0x22;
      buf[at + n] = 0x22;
      this.off = at + n + 1;
      return true;
    }
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7f || c === 0x22 || c === 0x5c) return false;
      buf[at + i] = c;
    }
    buf[at - 1] = 0x22;
    buf[at + n] = 0x22;
    this.off = at + n + 1;
    return true;
  }

  private slowStr(s: string, jcs: boolean): void {
    if (!isWellFormed.call(s)) {
      if (jcs) throw invalid('Lone surrogate is not allowed');
      this.utf8(JSON.stringify(s));
    } else if (NEEDS_ESCAPE.test(s)) {
      this.utf8(JSON.stringify(s));
    } else {
      this.ensure(s.length * 3 + 2);
      const buf = this.buf;
      buf[this.off++] = 0x22;
      this.off += buf.utf8Write(s, this.off, buf.length - this.off);
      buf[this.off++] = 0x22;
    }
  }

  /** A number as JCS writes it (throws AUDIT_ERR_INVALID_EVENT for NaN and ±Infinity). */
  num(v: number): void {
    if (Number.isNaN(v)) throw invalid('NaN is not allowed');
    if (!Number.isFinite(v)) throw invalid('Infinity is not allowed');
    // ECMAScript Number::toString, as JSON.stringify and JCS use (-0 becomes "0" in both).
    this.latin1(String(v));
  }

  /** An ASCII string known to need no escaping (number text, literals). */
  latin1(s: string): void {
    const n = s.length;
    this.ensure(n);
    const buf = this.buf;
    const at = this.off;
    for (let i = 0; i < n; i++) buf[at + i] = s.charCodeAt(i);
    this.off = at + n;
  }

  /**
   * Any plain JSON value in RFC 8785 form. Throws AUDIT_ERR_INVALID_EVENT for values JCS cannot
   * represent and the internal NotPlain for values that are not plain JSON (the caller defers).
   */
  value(v: unknown): void {
    switch (typeof v) {
      case 'string':
        this.str(v);
        return;
      case 'number':
        this.num(v);
        return;
      case 'boolean':
        this.latin1(v ? 'true' : 'false');
        return;
      case 'object':
        if (v === null) this.latin1('null');
        else if (Array.isArray(v)) this.array(v);
        else this.object(v);
        return;
      default:
        throw NOT_PLAIN;
    }
  }

  private array(v: unknown[]): void {
    this.byte(0x5b);
    for (let i = 0; i < v.length; i++) {
      if (i > 0) this.byte(0x2c);
      const x: unknown = v[i];
      if (x === undefined) this.latin1('null');
      else this.value(x);
    }
    this.byte(0x5d);
  }

  private object(v: object): void {
    const proto = Object.getPrototypeOf(v);
    if ((proto !== Object.prototype && proto !== null) || typeof (v as { toJSON?: unknown }).toJSON === 'function') throw NOT_PLAIN;
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    const n = keys.length;
    if (n > INSERTION_SORT_MAX) keys.sort();
    else {
      for (let i = 1; i < n; i++) {
        const k = keys[i]!;
        let j = i - 1;
        while (j >= 0 && keys[j]! > k) {
          keys[j + 1] = keys[j]!;
          j--;
        }
        keys[j + 1] = k;
      }
    }
    this.byte(0x7b);
    let first = true;
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      const x = o[k];
      if (x === undefined) continue;
      if (typeof x === 'symbol' || typeof x === 'function' || typeof x === 'bigint') throw NOT_PLAIN;
      if (!first) this.byte(0x2c);
      this.str(k);
      this.byte(0x3a);
      this.value(x);
      first = false;
    }
    this.byte(0x7d);
  }

  /** The text of bytes [start, end). */
  text(start: number, end: number): string {
    return this.buf.utf8Slice(start, end);
  }
}

// ---------------------------------------------------------------------------------------------
// The event's fixed shape, in JCS member order.

/** Member names of the event's fixed-shape objects, as the schema declares them (schema/audit-event.ts). */
export const EVENT_SHAPE = {
  event: [
    'eventId',
    'eventIdDerived',
    'schemaVersion',
    'occurredAt',
    'action',
    'outcome',
    'actor',
    'tenant',
    'targets',
    'reason',
    'session',
    'request',
    'changes',
    'details',
    'message',
    'bodyValue',
    'trace',
  ],
  actor: ['id', 'type', 'name', 'authMethod', 'impersonatorId'],
  tenant: ['id', 'name'],
  target: ['type', 'id', 'name'],
  session: ['id'],
  request: ['id', 'ip', 'userAgent', 'method', 'path'],
  changes: ['before', 'after'],
  trace: ['traceId', 'spanId', 'traceFlags'],
} as const;

/** One member of a fixed-shape object: its name, the bytes `"name":` and `,"name":`, and the shape of its value. */
interface Member {
  key: string;
  head: Uint8Array;
  nextHead: Uint8Array;
  /** Fixed shape of the value (an object), of each element (`list`), or undefined for free JSON. */
  shape: Member[] | undefined;
  list: boolean;
}

function members(keys: readonly string[], sub: Record<string, { shape: Member[]; list?: boolean }> = {}): Member[] {
  // The default sort is by UTF-16 code units, JCS's member order (RFC 8785 §3.2.3).
  return [...keys].sort().map((key) => ({
    key,
    head: Buffer.from(`${JSON.stringify(key)}:`, 'latin1'),
    nextHead: Buffer.from(`,${JSON.stringify(key)}:`, 'latin1'),
    shape: sub[key]?.shape,
    list: sub[key]?.list ?? false,
  }));
}

const EVENT_MEMBERS = members(EVENT_SHAPE.event, {
  actor: { shape: members(EVENT_SHAPE.actor) },
  tenant: { shape: members(EVENT_SHAPE.tenant) },
  targets: { shape: members(EVENT_SHAPE.target), list: true },
  session: { shape: members(EVENT_SHAPE.session) },
  request: { shape: members(EVENT_SHAPE.request) },
  changes: { shape: members(EVENT_SHAPE.changes) },
  trace: { shape: members(EVENT_SHAPE.trace) },
});

/** {@link EVENT_MEMBERS} without `eventId`: the event as its derived id is computed (schema/event-id.ts). */
const EVENT_MEMBERS_WITHOUT_ID = EVENT_MEMBERS.filter((m) => m.key !== 'eventId');

function isFixedShape(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function writeShaped(w: CanonicalWriter, o: Record<string, unknown>, shape: Member[]): void {
  w.byte(0x7b);
  let first = true;
  for (let i = 0; i < shape.length; i++) {
    const m = shape[i]!;
    const x = o[m.key];
    if (x === undefined) continue;
    w.bytes(first ? m.head : m.nextHead);
    first = false;
    const sub = m.shape;
    if (sub === undefined) {
      w.value(x);
    } else if (!m.list) {
      if (isFixedShape(x)) writeShaped(w, x, sub);
      else w.value(x);
    } else if (Array.isArray(x)) {
      w.byte(0x5b);
      for (let j = 0; j < x.length; j++) {
        if (j > 0) w.byte(0x2c);
        const el: unknown = x[j];
        if (el === undefined) w.latin1('null');
        else if (isFixedShape(el)) writeShaped(w, el, sub);
        else w.value(el);
      }
      w.byte(0x5d);
    } else {
      w.value(x);
    }
  }
  w.byte(0x7d);
}

/**
 * Append the RFC 8785 canonical JSON of a **validated** event (equal to `canonicalEventJson(event)`)
 * to `w`; returns its start offset. The event's fixed-shape objects are written in a member order
 * sorted once, so their keys must be the schema's (true of every event that passed
 * `validateAuditEvent`/`logRecordToAuditEvent`, and of such an event without `eventId`); for other
 * objects use {@link fastCanonicalEventJson}. With `omitEventId`, the event is written as if it had
 * no `eventId` member (what a derived id is computed over). Throws AUDIT_ERR_INVALID_EVENT for
 * values JCS cannot represent (lone surrogates, non-finite numbers), with `w.off` back at the start.
 */
export function writeCanonicalEvent(w: CanonicalWriter, event: AuditEvent | Omit<AuditEvent, 'eventId'>, omitEventId = false): number {
  const start = w.off;
  try {
    writeShaped(w, event as unknown as Record<string, unknown>, omitEventId ? EVENT_MEMBERS_WITHOUT_ID : EVENT_MEMBERS);
  } catch (err) {
    w.off = start;
    if (!(err instanceof NotPlain)) throw err;
    let plain = event as AuditEvent;
    if (omitEventId) {
      const { eventId: _id, ...rest } = plain;
      plain = rest as AuditEvent;
    }
    w.utf8(canonicalEventJson(plain));
  }
  return start;
}

const scratch = new CanonicalWriter(16 * 1024);

/** {@link writeCanonicalEvent} as a string (for a validated event; see there). */
export function canonicalValidatedEventJson(event: AuditEvent | Omit<AuditEvent, 'eventId'>): string {
  scratch.off = 0;
  writeCanonicalEvent(scratch, event);
  return scratch.text(0, scratch.off);
}

/**
 * RFC 8785 canonical JSON of an event-shaped object (any plain keys); equal to
 * `canonicalEventJson(event)`. Throws AUDIT_ERR_INVALID_EVENT for values JCS cannot represent
 * (lone surrogates, non-finite numbers).
 */
export function fastCanonicalEventJson(event: AuditEvent): string {
  scratch.off = 0;
  try {
    scratch.value(event);
  } catch (err) {
    if (err instanceof NotPlain) return canonicalEventJson(event);
    throw err;
  }
  return scratch.text(0, scratch.off);
}
