/**
 * What staging needs of a WAL event entry — kind, chain, tenant, seq and the event time that picks
 * its hour partition — read from the entry's JSON text without building the whole object graph.
 *
 * Staging runs on the receiver's main thread for every exported event, and a full `JSON.parse`
 * of a ~1.3 KB entry (plus the garbage it leaves) was the largest exporter cost there. The entry
 * text is written by the receiver's sequencer as `{"kind":"event","lsn":…,"chainId":…,
 * "tenantId":…,"seq":…,…,"event":<RFC 8785 canonical event>}`: the head before `"event":` is a
 * few hundred bytes and parsed with `JSON.parse`; the event's top-level `occurredAt` is found by a
 * scan over the canonical (whitespace-free) text that skips nested values without allocating.
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

const EVENT_PREFIX = '{"kind":"event",';
const EVENT_KEY = ',"event":{';
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * The routing fields of the event entry `text`, or undefined when `text` is not an event entry in
 * the sequencer's layout (the caller then parses it fully).
 */
export function walEventRouting(text: string): WalEventRouting | undefined {
  if (!text.startsWith(EVENT_PREFIX) || text.charCodeAt(text.length - 1) !== CLOSE_BRACE) return undefined;
  // Inside a JSON string every `"` is escaped, so the first literal `,"event":{` is the key of the
  // head object, never text inside one of the head's string values.
  const at = text.indexOf(EVENT_KEY);
  if (at < 0) return undefined;
  let head: { chainId?: unknown; tenantId?: unknown; seq?: unknown };
  try {
    head = JSON.parse(`${text.slice(0, at)}}`) as typeof head;
  } catch {
    return undefined;
  }
  const { chainId, tenantId, seq } = head;
  if (typeof chainId !== 'string' || typeof tenantId !== 'string' || typeof seq !== 'number') return undefined;
  const occurredAt = topLevelString(text, at + EVENT_KEY.length - 1, 'occurredAt');
  if (occurredAt === undefined) return undefined;
  return { chainId, tenantId, seq, occurredAt };
}

/**
 * The string value of key `key` in the object starting at `open` (a `{`) in whitespace-free JSON,
 * without escapes in the value; undefined if absent or not such a string.
 */
function topLevelString(text: string, open: number, key: string): string | undefined {
  let i = open + 1;
  const n = text.length;
  while (i < n) {
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0 || text.charCodeAt(keyEnd + 1) !== COLON) return undefined;
    const valueAt = keyEnd + 2;
    if (keyEnd - i - 1 === key.length && text.startsWith(key, i + 1)) {
      if (text.charCodeAt(valueAt) !== QUOTE) return undefined;
      const valueEnd = stringEnd(text, valueAt);
      if (valueEnd < 0) return undefined;
      const value = text.slice(valueAt + 1, valueEnd);
      return value.includes('\\') ? undefined : value;
    }
    const next = valueEnd(text, valueAt);
    if (next < 0) return undefined;
    const c = text.charCodeAt(next);
    if (c === CLOSE_BRACE) return undefined;
    if (c !== COMMA) return undefined;
    i = next + 1;
  }
  return undefined;
}

/** Index of the closing quote of the string whose opening quote is at `at`, or -1. */
function stringEnd(text: string, at: number): number {
  let i = at + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) return -1;
    // A quote preceded by an odd number of backslashes is escaped.
    let b = q - 1;
    while (b > at && text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q;
    i = q + 1;
  }
}

/** Index just past the JSON value starting at `at` (whitespace-free text), or -1. */
function valueEnd(text: string, at: number): number {
  const c = text.charCodeAt(at);
  if (c === QUOTE) {
    const e = stringEnd(text, at);
    return e < 0 ? -1 : e + 1;
  }
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    let i = at;
    const n = text.length;
    while (i < n) {
      const ch = text.charCodeAt(i);
      if (ch === QUOTE) {
        const e = stringEnd(text, i);
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
  const n = text.length;
  while (i < n) {
    const ch = text.charCodeAt(i);
    if (ch === COMMA || ch === CLOSE_BRACE || ch === CLOSE_BRACKET) return i === at ? -1 : i;
    i++;
  }
  return -1;
}
