/**
 * The readers of the WAL event entry's head in cold storage (this module only): {@link walEventRouting}
 * for staging, {@link walEventSeq} for indexing a sealed staging file.
 *
 * What staging needs of a WAL event entry — kind, chain, tenant, seq and the event time that picks
 * its hour partition — read from the entry's JSON bytes without building the whole object graph.
 *
 * Staging runs on the receiver's main thread for every exported event, and a full `JSON.parse`
 * of a ~1.3 KB entry (plus the garbage it leaves) was the largest exporter cost there. The entry
 * text is written by the receiver's sequencer as `{"kind":"event","lsn":…,"chainId":…,
 * "tenantId":…,"seq":…,…,"event":<RFC 8785 canonical event>}`: chain, tenant and seq are read off
 * the head's bytes in that layout (ids without escapes), else the head before `"event":` (a few
 * hundred bytes) is parsed with `JSON.parse`; the event's top-level `occurredAt` is found by a scan
 * over the canonical (whitespace-free) text that skips nested values without allocating.
 *
 * Anything unexpected (another writer's layout, whitespace, a value of the wrong type) returns
 * undefined and the caller falls back to the full parse, so this is an optimisation only, never a
 * second definition of the format.
 */

/** The routing fields of a WAL event entry. */
export interface WalEventRouting {
  chainId: string;
  tenantId: string;
  seq: number;
  /** The event's `occurredAt` (RFC 3339 text, as stored). */
  occurredAt: string;
}

const EVENT_PREFIX = Buffer.from('{"kind":"event",', 'latin1');

/**
 * The entry's head up to `seq`, in the order the sequencer writes the top-level keys: anchored at
 * the start and matching whole JSON strings, so a `"seq"` inside the event cannot be mistaken for it.
 * Matched on the first 512 bytes decoded as latin1 (UTF-8 bytes of non-ASCII text are ≥ 0x80, never
 * a quote or a backslash).
 */
const EVENT_SEQ_PREFIX = /^\{"kind":"event","lsn":\d+,"chainId":"(?:[^"\\]|\\.)*","tenantId":"(?:[^"\\]|\\.)*","seq":(\d+),/;

/**
 * The seq of the event entry `payload` (its UTF-8 bytes) read off its head, or undefined when the
 * head is not in the sequencer's layout within its first 512 bytes (the caller then parses it).
 * Cheaper than {@link walEventRouting} when only the seq is needed (indexing a sealed staging file).
 */
export function walEventSeq(payload: Uint8Array): number | undefined {
  const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const m = EVENT_SEQ_PREFIX.exec(b.toString('latin1', 0, Math.min(512, b.length)));
  return m ? Number(m[1]) : undefined;
}
const EVENT_KEY = Buffer.from(',"event":{', 'latin1');
const OCCURRED_AT = Buffer.from('occurredAt', 'latin1');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * The routing fields of the event entry `payload` (its UTF-8 bytes, or its text), or undefined
 * when it is not an event entry in the sequencer's layout (the caller then parses it fully).
 * Works on the bytes: the receiver reads WAL payloads as bytes and stages them as they are, so
 * only the head (a few hundred bytes) and the event time are ever decoded.
 */
export function walEventRouting(payload: Uint8Array | string): WalEventRouting | undefined {
  const b =
    typeof payload === 'string'
      ? Buffer.from(payload, 'utf8')
      : Buffer.isBuffer(payload)
        ? payload
        : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const n = b.length;
  if (n < EVENT_PREFIX.length || b[n - 1] !== CLOSE_BRACE) return undefined;
  for (let i = 0; i < EVENT_PREFIX.length; i++) if (b[i] !== EVENT_PREFIX[i]) return undefined;
  // Inside a JSON string every `"` is escaped, so the first literal `,"event":{` is the key of the
  // head object, never text inside one of the head's string values.
  const at = b.indexOf(EVENT_KEY);
  if (at < 0) return undefined;
  let head: { chainId?: unknown; tenantId?: unknown; seq?: unknown } | undefined = headFields(b, at);
  if (head === undefined) {
    try {
      head = JSON.parse(`${b.toString('utf8', 0, at)}}`) as { chainId?: unknown; tenantId?: unknown; seq?: unknown };
    } catch {
      return undefined;
    }
  }
  const { chainId, tenantId, seq } = head;
  if (typeof chainId !== 'string' || typeof tenantId !== 'string' || typeof seq !== 'number') return undefined;
  const occurredAt = topLevelString(b, at + EVENT_KEY.length - 1, OCCURRED_AT);
  if (occurredAt === undefined) return undefined;
  return { chainId, tenantId, seq, occurredAt };
}

const HEAD_START = Buffer.from('{"kind":"event","lsn":', 'latin1');
const CHAIN_KEY = Buffer.from(',"chainId":"', 'latin1');
const TENANT_KEY = Buffer.from('","tenantId":"', 'latin1');
const SEQ_KEY = Buffer.from('","seq":', 'latin1');

/** Whether `b` holds `part` at `at`. */
function hasAt(b: Buffer, at: number, part: Buffer): boolean {
  if (at + part.length > b.length) return false;
  for (let i = 0; i < part.length; i++) if (b[at + i] !== part[i]) return false;
  return true;
}

/** The closing quote of the JSON string whose text starts at `from`, if it has no escape and closes before `limit`; else -1. */
function plainStringEnd(b: Buffer, from: number, limit: number): number {
  for (let i = from; i < limit; i++) {
    const c = b[i];
    if (c === QUOTE) return i;
    if (c === BACKSLASH) return -1;
  }
  return -1;
}

/**
 * Chain, tenant and seq read off the head's bytes without `JSON.parse` (it ran for every exported
 * event on the receiver's main thread): `{"kind":"event","lsn":<digits>,"chainId":"…","tenantId":"…",
 * "seq":<digits>,` before `at`. Ids with a backslash (an escape), a seq of 16 digits or more, or any
 * other layout return undefined, and the caller parses the head as JSON instead.
 */
function headFields(b: Buffer, at: number): { chainId: string; tenantId: string; seq: number } | undefined {
  if (!hasAt(b, 0, HEAD_START)) return undefined;
  let p = HEAD_START.length;
  while (p < at && b[p]! >= 0x30 && b[p]! <= 0x39) p++;
  if (p === HEAD_START.length || !hasAt(b, p, CHAIN_KEY)) return undefined;
  const c0 = p + CHAIN_KEY.length;
  const c1 = plainStringEnd(b, c0, at);
  if (c1 < 0 || !hasAt(b, c1, TENANT_KEY)) return undefined;
  const t0 = c1 + TENANT_KEY.length;
  const t1 = plainStringEnd(b, t0, at);
  if (t1 < 0 || !hasAt(b, t1, SEQ_KEY)) return undefined;
  const s0 = t1 + SEQ_KEY.length;
  let q = s0;
  let seq = 0;
  while (q < at && b[q]! >= 0x30 && b[q]! <= 0x39) {
    seq = seq * 10 + (b[q]! - 0x30);
    q++;
  }
  // JSON allows no leading zero; 15 digits stay exact in a double.
  if (q === s0 || q - s0 > 15 || (b[s0] === 0x30 && q - s0 > 1) || b[q] !== COMMA) return undefined;
  return { chainId: b.toString('utf8', c0, c1), tenantId: b.toString('utf8', t0, t1), seq };
}

/**
 * The string value of key `key` in the object starting at `open` (a `{`) in whitespace-free JSON,
 * without escapes in the value; undefined if absent or not such a string.
 */
function topLevelString(b: Buffer, open: number, key: Buffer): string | undefined {
  let i = open + 1;
  const n = b.length;
  while (i < n) {
    if (b[i] !== QUOTE) return undefined;
    const keyEnd = stringEnd(b, i);
    if (keyEnd < 0 || b[keyEnd + 1] !== COLON) return undefined;
    const valueAt = keyEnd + 2;
    if (keyEnd - i - 1 === key.length && b.compare(key, 0, key.length, i + 1, keyEnd) === 0) {
      if (b[valueAt] !== QUOTE) return undefined;
      const valueEnd = stringEnd(b, valueAt);
      if (valueEnd < 0) return undefined;
      const backslashAt = b.indexOf(BACKSLASH, valueAt + 1);
      if (backslashAt >= 0 && backslashAt < valueEnd) return undefined;
      return b.toString('utf8', valueAt + 1, valueEnd);
    }
    const next = valueEnd(b, valueAt);
    if (next < 0) return undefined;
    const c = b[next];
    if (c === CLOSE_BRACE) return undefined;
    if (c !== COMMA) return undefined;
    i = next + 1;
  }
  return undefined;
}

/** Index of the closing quote of the string whose opening quote is at `at`, or -1. */
function stringEnd(b: Buffer, at: number): number {
  let i = at + 1;
  for (;;) {
    const q = b.indexOf(QUOTE, i);
    if (q < 0) return -1;
    // A quote preceded by an odd number of backslashes is escaped.
    let k = q - 1;
    while (k > at && b[k] === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q;
    i = q + 1;
  }
}

/** Index just past the JSON value starting at `at` (whitespace-free text), or -1. */
function valueEnd(b: Buffer, at: number): number {
  const c = b[at];
  if (c === QUOTE) {
    const e = stringEnd(b, at);
    return e < 0 ? -1 : e + 1;
  }
  const n = b.length;
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    let i = at;
    while (i < n) {
      const ch = b[i];
      if (ch === QUOTE) {
        const e = stringEnd(b, i);
        if (e < 0) return -1;
        i = e + 1;
        continue;
      }
      if (ch === OPEN_BRACE || ch === OPEN_BRACKET) depth++;
      else if (ch === CLOSE_BRACE || ch === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
  // A number, true, false or null: up to the next delimiter.
  let i = at;
  while (i < n) {
    const ch = b[i];
    if (ch === COMMA || ch === CLOSE_BRACE || ch === CLOSE_BRACKET) return i === at ? -1 : i;
    i++;
  }
  return -1;
}
