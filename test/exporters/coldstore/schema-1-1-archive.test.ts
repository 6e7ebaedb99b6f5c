/**
 * Schema 1.1 events (a text `message` stored in Body, a message beside details, `bodyValue`,
 * derived ids) through cold storage: the Parquet object holds exactly the rows `walEntryToAuditRow`
 * makes, every row rebuilds the hashed event, and a replay into chDB reproduces rows whose events
 * hash to the stored chain again.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import { type AuditEvent, type LogRecordView, logRecordToAuditEvent, validateAuditEvent } from '@otel-audit/schema';
import { type AuditRow, auditRowToEvent, walEntryToAuditRow } from '@otel-audit/schema/audit-row';
import { createChdbConnection } from 'chdb/connection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClickHouseReplaySink,
  createColdStoreExporter,
  decodeParquet,
  LocalDirectoryStore,
  replayColdStorage,
  replayTableDdl,
} from '../../../exporters/coldstore/index.ts';
import { computeEntryHash, GENESIS_HASH } from '../../../integrity/chain-hash.ts';
import type { WalEventEntry } from '../../../receiver/contracts.ts';
import { batchOf } from './fixtures.ts';

const root = mkdtempSync(join(tmpdir(), 'coldstore-1-1-'));
let ch: ClickHouseClient;

beforeAll(() => {
  ch = createClient({ connection: createChdbConnection({ path: join(root, 'chdb') }) } as Parameters<typeof createClient>[0]);
});
afterAll(async () => {
  await ch.close();
  rmSync(root, { recursive: true, force: true });
});

function derived(body: unknown, i: number): AuditEvent {
  const record: LogRecordView = {
    timeUnixNano: 1_795_341_600_000_000_000n + BigInt(i) * 1_000_000_000n,
    observedTimeUnixNano: 0n,
    severityNumber: 0,
    severityText: '',
    eventName: '',
    body,
    attributes: {
      'audit.schema_version': '1.0',
      'audit.action': 'user.login',
      'audit.outcome': 'success',
      'audit.actor.id': `u-${i}`,
      'audit.actor.type': 'user',
      'audit.tenant.id': 'acme',
    },
    traceId: '',
    spanId: '',
    flags: 0,
  };
  const r = logRecordToAuditEvent(record);
  if (!r.ok) throw r.error;
  return r.event;
}

function given(i: number, extra: object): AuditEvent {
  const r = validateAuditEvent({
    eventId: `9b2f3c1e-4d5a-4b6c-8d7e-${String(i).padStart(12, '0')}`,
    schemaVersion: '1.0',
    occurredAt: `2026-11-22T10:00:0${i}.000001Z`,
    action: 'grant.issue',
    outcome: 'denied',
    actor: { id: 'u-1', type: 'user' },
    tenant: { id: 'acme' },
    ...extra,
  });
  if (!r.ok) throw r.error;
  return r.event;
}

function chain(events: AuditEvent[]): WalEventEntry[] {
  let prev = GENESIS_HASH;
  return events.map((event, i) => {
    const hash = computeEntryHash(prev, event);
    const e: WalEventEntry = {
      kind: 'event',
      lsn: i + 1,
      chainId: 'acme/r1',
      tenantId: 'acme',
      seq: i + 1,
      prevHash: prev,
      hash,
      receivedAtNanos: '1795341700000000000',
      event,
      resource: { attributes: { 'service.name': 'fluent-bit' }, schemaUrl: '' },
      scope: { name: '', version: '' },
      extraAttributes: { 'log.file.path': '/var/log/a.log', pid: 4242 },
    };
    prev = hash;
    return e;
  });
}

describe('cold storage with schema 1.1 events', () => {
  it('stores, reads back and replays them with every hash recomputing', async () => {
    const events = [
      derived('user u-0 logged in', 0),
      derived(42, 1),
      derived(['a', 2.5, new Uint8Array([1, 2])], 2),
      derived('{"json":"details"}', 3),
      given(4, { message: 'granted after review', details: { ticket: 'T-1' } }),
      given(5, { message: '{"looks":"like json"}' }),
      given(6, { details: { plain: '1.0 event' } }),
    ];
    const entries = chain(events);
    const dir = join(root, 'data');
    mkdirSync(dir, { recursive: true });
    const exporter = createColdStoreExporter({ dataDir: dir }, { buildInline: true });
    await exporter.start();
    expect(await exporter.export(batchOf(entries))).toEqual({ status: 'success' });
    expect(await exporter.flush()).toEqual({ status: 'success' });
    await exporter.shutdown();

    const files = (readdirSync(join(dir, 'archive'), { recursive: true }) as string[]).filter((f) => f.endsWith('.parquet'));
    expect(files).toHaveLength(1);
    const rows = await decodeParquet(new Uint8Array(readFileSync(join(dir, 'archive', files[0]!))));
    expect(rows).toEqual(entries.map(walEntryToAuditRow));
    expect(rows.map((r) => r.Body)).toEqual([
      'user u-0 logged in',
      '',
      '',
      '{"json":"details"}',
      '{"ticket":"T-1"}',
      '',
      '{"plain":"1.0 event"}',
    ]);
    expect(rows.map((r) => r.SchemaVersion)).toEqual(['1.1', '1.1', '1.1', '1.1', '1.1', '1.1', '1.0']);
    for (const [i, row] of rows.entries()) {
      expect(auditRowToEvent(row)).toEqual(events[i]);
      expect(computeEntryHash(row.PrevHash, auditRowToEvent(row))).toBe(row.Hash);
    }

    await ch.command({ query: 'CREATE DATABASE IF NOT EXISTS replay11' });
    await ch.command({ query: replayTableDdl('replay11.audit_events') });
    const sink = createClickHouseReplaySink({ client: ch, database: 'replay11', embedded: true });
    const r = await replayColdStorage({ source: new LocalDirectoryStore(join(dir, 'archive')), sink, tenant: 'acme' });
    expect(r.status === 'success' && r.value).toMatchObject({ objectsTotal: 1, rowsInserted: 7 });
    const rs = await ch.query({ query: 'SELECT * FROM replay11.audit_events ORDER BY Seq', format: 'JSONEachRow' });
    const replayed = await rs.json<AuditRow>();
    expect(replayed).toHaveLength(7);
    for (const [i, row] of replayed.entries()) {
      expect(row.Body).toBe(rows[i]!.Body);
      expect(row.LogAttributes).toEqual(rows[i]!.LogAttributes);
      expect(computeEntryHash(row.PrevHash, auditRowToEvent(row))).toBe(entries[i]!.hash);
    }
  });
});
