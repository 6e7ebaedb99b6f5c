/**
 * The head of a WAL event entry — everything the sequencer writes before `"event":` (docs/wal.md):
 * `{"kind":"event","lsn":…,"chainId":…,"tenantId":…,"seq":…,"prevHash":…,"hash":…,
 * "chainVersion":…,"receivedAtNanos":…,"event":<canonical event>,…}` — read without parsing the
 * event. An exporter that has the entry's storage row (docs/wal.md, "Storage rows") needs only
 * these fields to complete the row.
 */
import type { AuditRowChainFields } from '@otel-audit/schema/audit-row-binary';

/** The fields of a WAL event entry's head. */
export interface WalEventHead extends AuditRowChainFields {
  tenantId: string;
}

const EVENT_PREFIX = Buffer.from('{"kind":"event",', 'latin1');
const EVENT_KEY = Buffer.from(',"event":{', 'latin1');

/**
 * The head of the event entry `buf[start..end)` (UTF-8 JSON), or undefined when the bytes are not
 * an event entry whose head has the sequencer's fields (the caller then parses the whole entry).
 * Inside a JSON string every `"` is escaped, so the first literal `,"event":{` is the key of the
 * entry object, never text inside one of the head's values.
 */
export function walEventHead(buf: Buffer, start: number, end: number): WalEventHead | undefined {
  if (end - start < EVENT_PREFIX.length || buf.compare(EVENT_PREFIX, 0, EVENT_PREFIX.length, start, start + EVENT_PREFIX.length) !== 0)
    return undefined;
  const at = buf.indexOf(EVENT_KEY, start);
  if (at < 0 || at >= end) return undefined;
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
