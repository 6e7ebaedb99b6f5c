/**
 * End to end, tampering in ClickHouse is detected and located: `ALTER TABLE … UPDATE` of one field,
 * a deleted row, a forged inserted row, two rows with swapped seq. The receiver runs in a child
 * process; afterwards this process opens the embedded engine (chDB: one engine per path per
 * process) and tampers with a copy of `audit_events` per test, so each test starts from intact data.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openArchiveView, openClickHouseView } from '../../cli/integrity/stores.ts';
import { compareStores, type VerifyProblem, verifyStore } from '../../cli/integrity/verify-store.ts';
import { type ClickHouseHandle, openClickHouse, parseClickHouseConfig } from '../../exporters/clickhouse/index.ts';
import { LocalDirectoryStore } from '../../exporters/coldstore/index.ts';
import { loadVerifierKeys } from '../../integrity/keys.ts';
import type { VerifierSet } from '../../integrity/note.ts';
import { type IntegrityFixture, runIntegrityReceiverInChild } from './e2e-helpers.ts';

let fx: IntegrityFixture;
let ch: ClickHouseHandle;
let keys: VerifierSet;
let copies = 0;
const CHAIN = 'acme/rcv-test';

beforeAll(async () => {
  fx = await runIntegrityReceiverInChild({ prefix: 'e2e-ch' });
  ch = openClickHouse(parseClickHouseConfig({ dataDir: fx.dataDir }));
  keys = await loadVerifierKeys(fx.key.verifierKey);
}, 60_000);

afterAll(async () => {
  await ch?.close();
  if (fx) rmSync(fx.dataDir, { recursive: true, force: true });
});

/** A fresh copy of audit_events (same schema), tampered with by `sql` (`{T}` = the copy's name). */
async function tampered(...sql: string[]): Promise<string> {
  const table = `tampered_${++copies}`;
  await ch.client.command({ query: `CREATE TABLE otel_audit.${table} AS otel_audit.audit_events` });
  await ch.client.command({ query: `INSERT INTO otel_audit.${table} SELECT * FROM otel_audit.audit_events` });
  for (const q of sql)
    await ch.client.command({ query: q.replaceAll('{T}', `otel_audit.${table}`), clickhouse_settings: { mutations_sync: '2' } });
  return table;
}

async function verify(table: string): Promise<VerifyProblem[]> {
  const view = openClickHouseView(ch.client, { database: 'otel_audit', table, checkpointsTable: 'audit_checkpoints' });
  const report = await verifyStore(view, { verifierKeys: keys });
  expect(report.stats.chains).toBe(2);
  return report.problems;
}

describe('ClickHouse tampering is detected and located', () => {
  it('intact copy verifies', async () => {
    expect(await verify(await tampered())).toEqual([]);
  });

  it('ALTER TABLE … UPDATE of one field: modified at that seq', async () => {
    const t = await tampered(`ALTER TABLE {T} UPDATE ActorId = 'mallory' WHERE ChainId = '${CHAIN}' AND Seq = 42`);
    const problems = await verify(t);
    expect(problems.map((p) => [p.kind, p.chainId, p.seq])).toContainEqual(['modified', CHAIN, 42]);
    expect(problems.some((p) => p.kind === 'root-mismatch' && p.chainId === CHAIN && p.seq! <= 42 && p.seqTo! >= 42)).toBe(true);
    expect(problems.every((p) => p.chainId === CHAIN)).toBe(true);
  });

  it('a deleted row: missing at that seq', async () => {
    const t = await tampered(`ALTER TABLE {T} DELETE WHERE ChainId = '${CHAIN}' AND Seq = 100`);
    const problems = await verify(t);
    expect(problems.find((p) => p.kind === 'missing')).toMatchObject({ chainId: CHAIN, seq: 100 });
  });

  it('a forged inserted row: inserted (same seq twice) and named', async () => {
    const t = await tampered(
      `INSERT INTO {T} SELECT * REPLACE (generateUUIDv7() AS EventId, 'forged.action' AS Action) FROM otel_audit.audit_events WHERE ChainId = '${CHAIN}' AND Seq = 7`,
    );
    const problems = await verify(t);
    expect(problems.some((p) => p.kind === 'inserted' && p.chainId === CHAIN && p.seq === 7)).toBe(true);
  });

  it('two rows with swapped seq: reordered, both named', async () => {
    const t = await tampered(`ALTER TABLE {T} UPDATE Seq = if(Seq = 10, 11, 10) WHERE ChainId = '${CHAIN}' AND Seq IN (10, 11)`);
    const problems = await verify(t);
    const reordered = problems.find((p) => p.kind === 'reordered');
    expect(reordered).toMatchObject({ chainId: CHAIN, seq: 10, seqTo: 11 });
    expect(reordered!.message).toMatch(/stored at seq 10 belongs at seq 11/);
  });

  it('--compare clickhouse,archive names the row edited and the row deleted in ClickHouse', async () => {
    const t = await tampered(
      `ALTER TABLE {T} UPDATE ActorId = 'mallory' WHERE ChainId = '${CHAIN}' AND Seq = 42`,
      `ALTER TABLE {T} DELETE WHERE ChainId = '${CHAIN}' AND Seq = 100`,
    );
    const clickhouse = openClickHouseView(ch.client, { database: 'otel_audit', table: t, checkpointsTable: 'audit_checkpoints' });
    const archive = await openArchiveView(new LocalDirectoryStore(join(fx.dataDir, 'archive')));
    const intact = await compareStores(
      openClickHouseView(ch.client, { database: 'otel_audit', table: 'audit_events', checkpointsTable: 'audit_checkpoints' }),
      archive,
    );
    expect(intact).toMatchObject({ ok: true, problems: [], stats: { chains: 2, compared: 600 } });
    const report = await compareStores(clickhouse, archive);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => [p.kind, p.chainId, p.seq])).toEqual([
      ['differs', CHAIN, 42],
      ['only-in-archive', CHAIN, 100],
    ]);
  });
});
