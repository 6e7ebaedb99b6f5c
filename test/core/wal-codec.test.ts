import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { decodeWalEntry, encodeWalEntry, encodeWalEntryBytes, isAuditError, type WalEntry } from '@otel-audit/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuditPipeline } from '../../receiver/pipeline/index.ts';
import { readWalEntries } from '../../receiver/wal/read-entries.ts';
import { makeEntries } from '../exporters/clickhouse/fixtures.ts';
import { eventToRecord, makeEvent, request } from '../receiver/pipeline/fixtures.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'wal-codec-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('WAL entry codec', () => {
  it('round-trips event entries (string and bytes) and checks the record lsn', () => {
    const entries = makeEntries({ count: 20, tenants: ['acme', 'globex'] });
    for (const e of entries) {
      const text = encodeWalEntry(e);
      expect(decodeWalEntry(text, e.lsn)).toEqual({ ok: true, entry: e });
      expect(decodeWalEntry(encodeWalEntryBytes(e), e.lsn)).toEqual({ ok: true, entry: e });
      const wrongLsn = decodeWalEntry(text, e.lsn + 1);
      expect(wrongLsn.ok).toBe(false);
      if (!wrongLsn.ok) expect(wrongLsn.error).toMatchObject({ code: 'AUDIT_ERR_WAL_CORRUPT', path: 'lsn' });
    }
  });

  it('reads what the receiver writes: every entry of a real WAL decodes and re-encodes to itself', async () => {
    const pipeline = createAuditPipeline({ dataDir: dir, instanceId: 'codec-1' });
    await pipeline.start();
    const events = Array.from({ length: 30 }, (_, i) => makeEvent({ tenant: { id: i % 2 ? 'acme' : 'globex' } }));
    const r = await pipeline.consume(request(events.map((e) => eventToRecord(e, { 'app.extra': i(e) }))), { transport: 'http' });
    expect(r.status).toBe('success');
    await pipeline.shutdown();
    const read: WalEntry[] = [];
    // readWalEntries decodes each record with decodeWalEntry (and the record header's lsn).
    for await (const e of readWalEntries(path.join(dir, 'wal'))) read.push(e as WalEntry);
    const eventEntries = read.filter((e) => e.kind === 'event');
    expect(eventEntries.map((e) => e.event.eventId).sort()).toEqual(events.map((e) => e.eventId).sort());
    for (const e of read) expect(decodeWalEntry(encodeWalEntry(e), e.lsn)).toEqual({ ok: true, entry: e });
  });

  it('reports what is wrong with a payload that is not an entry', () => {
    const [good] = makeEntries({ count: 1 });
    const cases: Array<[unknown, string | undefined]> = [
      [{ ...good, kind: 'other' }, 'kind'],
      [{ ...good, lsn: 0 }, 'lsn'],
      [{ ...good, lsn: '7' }, 'lsn'],
      [{ ...good, chainId: '' }, 'chainId'],
      [{ ...good, seq: 1.5 }, 'seq'],
      [{ ...good, hash: 'ABC' }, 'hash'],
      [{ ...good, prevHash: undefined }, 'prevHash'],
      [{ ...good, receivedAtNanos: 17 }, 'receivedAtNanos'],
      [{ ...good, event: [] }, 'event'],
      [{ ...good, resource: { attributes: {} } }, 'resource'],
      [{ ...good, scope: { name: 'x' } }, 'scope'],
      [{ ...good, extraAttributes: null }, 'extraAttributes'],
      [{ kind: 'checkpoint', lsn: 3, chainId: 'acme/r', tenantId: 'acme', checkpoint: 'x' }, 'checkpoint'],
      [[1, 2], undefined],
    ];
    for (const [value, pathName] of cases) {
      const r = decodeWalEntry(JSON.stringify(value));
      expect(r.ok, JSON.stringify(value).slice(0, 80)).toBe(false);
      if (!r.ok) {
        expect(isAuditError(r.error, 'AUDIT_ERR_WAL_CORRUPT')).toBe(true);
        expect(r.error.path).toBe(pathName);
      }
    }
    const notJson = decodeWalEntry(Buffer.from([0x7b, 0xff, 0xfe]));
    expect(notJson.ok).toBe(false);
    if (!notJson.ok) expect(notJson.error.message).toMatch(/not UTF-8 JSON/);
    const checkpoint = { kind: 'checkpoint', lsn: 3, chainId: 'acme/r', tenantId: 'acme', checkpoint: { version: 1 } };
    expect(decodeWalEntry(JSON.stringify(checkpoint))).toEqual({ ok: true, entry: checkpoint });
  });
});

function i(e: { eventId: string }): string {
  return e.eventId.slice(0, 8);
}
