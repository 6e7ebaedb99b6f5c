/**
 * Cold storage's readers of a WAL event entry: {@link walEventRouting} for staging,
 * {@link walEventSeq} for indexing a sealed staging file.
 *
 * What staging needs of a WAL event entry — kind, chain, tenant, seq and the event time that picks
 * its hour partition — read from the entry's JSON bytes without building the whole object graph.
 *
 * Staging runs on the receiver's main thread for every exported event, and a full `JSON.parse`
 * of a ~1.3 KB entry (plus the garbage it leaves) was the largest exporter cost there. The entry
 * text is written by the receiver's sequencer as `{"kind":"event","lsn":…,"chainId":…,
 * "tenantId":…,"seq":…,…,"event":<RFC 8785 canonical event>}`: chain, tenant and seq come from the
 * WAL's head reader (receiver/wal/event-head.ts); the event's top-level `occurredAt` is found by a
 * scan over the canonical (whitespace-free) text that skips nested values without allocating.
 *
 * Anything unexpected (another writer's layout, whitespace, a value of the wrong type) returns
 * undefined and the caller falls back to the full parse, so this is an optimisation only, never a
 * second definition of the format.
 */

import { WAL_EVENT_OBJECT_OFFSET, walEventChain, walEventHeadEnd } from '../../receiver/wal/event-head.ts';

/** The routing fields of a WAL event entry. */
export interface WalEventRouting {
  chainId: string;
  tenantId: string;
  seq: number;
  /** The event's `occurredAt` (RFC 3339 text, as stored). */
  occurredAt: string;
}

/**
 * The seq of the event entry `payload` (its UTF-8 bytes) read off its head, or undefined when the
 * head is not in the sequencer's layout (the caller then parses it). Cheaper than
 * {@link walEventRouting} when only the seq is needed (indexing a sealed staging file).
 */
export function walEventSeq(payload: Uint8Array): number | undefined {
  const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const at = walEventHeadEnd(b, 0, b.length);
  return at < 0 ? undefined : walEventChain(b, 0, at)?.seq;
}

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
  if (b[n - 1] !== CLOSE_BRACE) return undefined;
  const at = walEventHeadEnd(b, 0, n);
  if (at < 0) return undefined;
  const chain = walEventChain(b, 0, at);
  if (chain === undefined) return undefined;
  const { chainId, tenantId, seq } = chain;
  const occurredAt = topLevelString(b, at + WAL_EVENT_OBJECT_OFFSET, OCCURRED_AT);
  if (occurredAt === undefined) return undefined;
  return { chainId, tenantId, seq, occurredAt };
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
