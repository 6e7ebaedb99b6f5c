import { describe, expect, it } from 'vitest';
import { walEventRouting, walEventSeq } from '../../../exporters/coldstore/wal-routing.ts';
import type { WalEventEntry } from '../../../receiver/contracts.ts';
import { makeEntries } from './fixtures.ts';

/** The routing fields as a full parse reads them. */
function parsed(text: string) {
  const e = JSON.parse(text) as WalEventEntry;
  return { chainId: e.chainId, tenantId: e.tenantId, seq: e.seq, occurredAt: e.event.occurredAt };
}

describe('walEventRouting', () => {
  it('reads the same chain, tenant, seq and event time as a full parse', () => {
    const entries = [...makeEntries({ count: 40 }), ...makeEntries({ count: 10, tenantId: 'globex' })];
    for (const entry of entries) {
      const text = JSON.stringify(entry);
      expect(walEventRouting(text)).toEqual(parsed(text));
    }
  });

  it('reads a payload given as a byte view inside a larger buffer (the packed batch) the same as its text', () => {
    const entries = [...makeEntries({ count: 5, tenantId: 'Zoë ✓' })];
    const texts = entries.map((e) => JSON.stringify(e));
    const packed = Buffer.from(texts.join(''), 'utf8');
    let at = 0;
    for (const text of texts) {
      const n = Buffer.byteLength(text);
      expect(walEventRouting(packed.subarray(at, at + n))).toEqual(parsed(text));
      at += n;
    }
  });

  it('reads ids with escapes and seqs of any size the same as a full parse (the JSON fallback of the head)', () => {
    const [base] = makeEntries({ count: 1 });
    for (const patch of [
      { chainId: 'tab\there/r1', tenantId: 'tab\there' },
      { tenantId: 'unicode \u00e9 é' },
      { seq: 0 },
      { seq: 999_999_999_999_999 },
      { seq: 1_000_000_000_000_000 },
      { chainId: '' },
    ]) {
      const text = JSON.stringify({ ...base!, ...patch });
      expect(walEventRouting(text), text.slice(0, 120)).toEqual(parsed(text));
    }
  });

  it('is not misled by look-alike keys and quotes inside nested values and ids', () => {
    const [base] = makeEntries({ count: 1, tenantId: 'we "quote", and \\ backslash' });
    const entry = {
      ...base!,
      // Key order as the sequencer writes it; the event holds an `occurredAt` key deeper down, a
      // string that looks like the head's `"event":` key, escaped quotes and backslashes.
      event: {
        action: 'doc.read',
        actor: { id: 'a"}', type: 'user', occurredAt: 'not this one' },
        details: { text: ',"event":{"occurredAt":"1999-01-01T00:00:00Z"', list: [{ occurredAt: 'nor this' }, '\\', '"}]'], n: -1.5e3 },
        eventId: base!.event.eventId,
        occurredAt: '2026-11-22T10:00:00.123456Z',
        outcome: 'success',
      },
    } as unknown as WalEventEntry;
    const text = JSON.stringify(entry);
    expect(walEventRouting(text)).toEqual(parsed(text));
    expect(walEventRouting(text)?.occurredAt).toBe('2026-11-22T10:00:00.123456Z');
  });

  it('declines what it cannot read exactly, so the caller parses in full', () => {
    const [entry] = makeEntries({ count: 1 });
    // Another layout: whitespace, another key first, a checkpoint, no event time, an escaped time.
    expect(walEventRouting(JSON.stringify(entry, null, 2))).toBeUndefined();
    expect(walEventRouting(JSON.stringify({ lsn: 1, ...entry }))).toBeUndefined();
    expect(walEventRouting('{"kind":"checkpoint","lsn":2,"chainId":"c","tenantId":"t","checkpoint":{}}')).toBeUndefined();
    const { occurredAt: _dropped, ...noTime } = entry!.event;
    expect(walEventRouting(JSON.stringify({ ...entry, event: noTime }))).toBeUndefined();
    expect(
      walEventRouting(JSON.stringify({ ...entry, event: { occurredAt: '2026-11-22T10:00:00\\u005a' } }).replace('\\\\u', '\\u')),
    ).toBeUndefined();
    expect(walEventRouting(JSON.stringify({ ...entry, seq: '7' }))).toBeUndefined();
    expect(
      walEventRouting('{"kind":"event","lsn":1,"chainId":"c","tenantId":"t","seq":1,"event":{"action":"a","occurredAt":"2026-11-22T10:'),
    ).toBeUndefined();
    expect(walEventRouting('{"kind":"event",garbage,"event":{"occurredAt":"2026-11-22T10:00:00Z"}}')).toBeUndefined();
  });

  it('walEventSeq reads the same seq as a full parse, and only from the head', () => {
    for (const entry of makeEntries({ count: 20, tenantId: 'we "quote", and \\ backslash' })) {
      const text = JSON.stringify(entry);
      expect(walEventSeq(Buffer.from(text))).toBe(parsed(text).seq);
    }
    const [base] = makeEntries({ count: 1 });
    const lookAlike = { ...base!, event: { ...base!.event, details: { seq: 1, text: '"seq":999,' } } };
    expect(walEventSeq(Buffer.from(JSON.stringify(lookAlike)))).toBe(base!.seq);
    const { kind, ...rest } = base!;
    expect(walEventSeq(Buffer.from(JSON.stringify({ ...rest, kind })))).toBeUndefined(); // another key order
    expect(walEventSeq(Buffer.from('{"kind":"checkpoint","lsn":2,"chainId":"c","tenantId":"t","checkpoint":{}}'))).toBeUndefined();
  });
});
