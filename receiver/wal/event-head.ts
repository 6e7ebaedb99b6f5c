/**
 * The head of a WAL event entry — everything the sequencer writes before `"event":` (docs/wal.md):
 * `{"kind":"event","lsn":…,"chainId":…,"tenantId":…,"seq":…,"prevHash":…,"hash":…,
 * "chainVersion":…,"receivedAtNanos":…,"event":<canonical event>,…}` — read without parsing the
 * event. The exporters' one reader of it: cold staging routes entries by chain and seq
 * ({@link walEventChain}); an exporter that has the entry's storage row (docs/wal.md, "Storage
 * rows") completes the row from the chain fields ({@link walEventHead}).
 *
 * Inside a JSON string every `"` is escaped, so the first literal `,"event":{` is the key of the
 * entry object, never text inside one of the head's values. Anything not in the sequencer's layout
 * reads as undefined and the caller parses the whole entry: an optimisation, never a second
 * definition of the format.
 */
import type { AuditRowChainFields } from '@otel-audit/schema/audit-row-binary';

/** The fields of a WAL event entry's head. */
export interface WalEventHead extends AuditRowChainFields {
  tenantId: string;
}

const EVENT_PREFIX = Buffer.from('{"kind":"event",', 'latin1');
const EVENT_KEY = Buffer.from(',"event":{', 'latin1');
const HEAD_START = Buffer.from('{"kind":"event","lsn":', 'latin1');
const CHAIN_KEY = Buffer.from(',"chainId":"', 'latin1');
const TENANT_KEY = Buffer.from('","tenantId":"', 'latin1');
const SEQ_KEY = Buffer.from('","seq":', 'latin1');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/** Whether `b` holds `part` at `at`. */
function hasAt(b: Buffer, at: number, part: Buffer): boolean {
  if (at + part.length > b.length) return false;
  for (let i = 0; i < part.length; i++) if (b[at + i] !== part[i]) return false;
  return true;
}

/** Whether `buf[start..end)` starts as an event entry in the sequencer's layout (`{"kind":"event",`). */
export function startsAsWalEvent(buf: Buffer, start: number, end: number): boolean {
  return end - start >= EVENT_PREFIX.length && hasAt(buf, start, EVENT_PREFIX);
}

/** Offset of the event object's `{` from where the head ends (its `,"event":{`). */
export const WAL_EVENT_OBJECT_OFFSET = EVENT_KEY.length - 1;

/**
 * Where the head of the event entry `buf[start..end)` ends: the offset of its `,"event":{` (the
 * event object opens {@link WAL_EVENT_OBJECT_OFFSET} bytes later), or -1.
 */
export function walEventHeadEnd(buf: Buffer, start: number, end: number): number {
  if (!startsAsWalEvent(buf, start, end)) return -1;
  const at = buf.subarray(start, end).indexOf(EVENT_KEY);
  return at < 0 ? -1 : start + at;
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
 * Chain, tenant and seq of the event entry whose head is `buf[start..headEnd)` (`headEnd` from
 * {@link walEventHeadEnd}), or undefined when the head is not the sequencer's. Read off the bytes
 * (`{"kind":"event","lsn":<digits>,"chainId":"…","tenantId":"…","seq":<digits>,`) without
 * `JSON.parse` — cold staging does this for every exported event on the receiver's main thread —
 * and parsed as JSON only when an id has an escape or the seq has 16 digits or more.
 */
export function walEventChain(buf: Buffer, start: number, headEnd: number): { chainId: string; tenantId: string; seq: number } | undefined {
  const fast = chainFromBytes(buf, start, headEnd);
  if (fast !== undefined) return fast;
  let h: { chainId?: unknown; tenantId?: unknown; seq?: unknown };
  try {
    h = JSON.parse(`${buf.toString('utf8', start, headEnd)}}`) as typeof h;
  } catch {
    return undefined;
  }
  const { chainId, tenantId, seq } = h;
  if (typeof chainId !== 'string' || typeof tenantId !== 'string' || typeof seq !== 'number') return undefined;
  return { chainId, tenantId, seq };
}

function chainFromBytes(b: Buffer, start: number, headEnd: number): { chainId: string; tenantId: string; seq: number } | undefined {
  if (!hasAt(b, start, HEAD_START)) return undefined;
  let p = start + HEAD_START.length;
  while (p < headEnd && b[p]! >= 0x30 && b[p]! <= 0x39) p++;
  if (p === start + HEAD_START.length || !hasAt(b, p, CHAIN_KEY)) return undefined;
  const c0 = p + CHAIN_KEY.length;
  const c1 = plainStringEnd(b, c0, headEnd);
  if (c1 < 0 || !hasAt(b, c1, TENANT_KEY)) return undefined;
  const t0 = c1 + TENANT_KEY.length;
  const t1 = plainStringEnd(b, t0, headEnd);
  if (t1 < 0 || !hasAt(b, t1, SEQ_KEY)) return undefined;
  const s0 = t1 + SEQ_KEY.length;
  let q = s0;
  let seq = 0;
  while (q < headEnd && b[q]! >= 0x30 && b[q]! <= 0x39) {
    seq = seq * 10 + (b[q]! - 0x30);
    q++;
  }
  // JSON allows no leading zero; 15 digits stay exact in a double.
  if (q === s0 || q - s0 > 15 || (b[s0] === 0x30 && q - s0 > 1) || b[q] !== COMMA) return undefined;
  return { chainId: b.toString('utf8', c0, c1), tenantId: b.toString('utf8', t0, t1), seq };
}

/**
 * The head of the event entry `buf[start..end)` (UTF-8 JSON), or undefined when the bytes are not
 * an event entry whose head has the sequencer's fields (the caller then parses the whole entry).
 */
export function walEventHead(buf: Buffer, start: number, end: number): WalEventHead | undefined {
  const at = walEventHeadEnd(buf, start, end);
  if (at < 0) return undefined;
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(`${buf.toString('utf8', start, at)}}`) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const { chainId, tenantId, seq, prevHash, hash, receivedAtNanos } = h;
  const chainVersion = h.chainVersion ?? 1;
  if (
    typeof chainId !== 'string' ||
    typeof tenantId !== 'string' ||
    typeof seq !== 'number' ||
    typeof prevHash !== 'string' ||
    typeof hash !== 'string' ||
    typeof receivedAtNanos !== 'string' ||
    typeof chainVersion !== 'number'
  )
    return undefined;
  return { chainId, tenantId, seq, prevHash, hash, receivedAtNanos, chainVersion };
}
