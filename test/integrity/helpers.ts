/** Test helpers: synthetic chains, keys and checkpoints. */

import type { AuditEvent } from '@otel-audit/schema';
import { computeEntryHash, GENESIS_HASH } from '../../integrity/chain-hash.ts';
import { type CheckpointRecord, createCheckpointer } from '../../integrity/checkpointer.ts';
import { generateNoteKeyPair, type NoteSigner, parseSignerKey } from '../../integrity/note.ts';

/** A chain entry with its event. */
export interface TestEntry {
  chainId: string;
  seq: number;
  prevHash: string;
  hash: string;
  /** Chain format of `hash`: the chains built here use format 2, as the receiver writes. */
  chainVersion?: number;
  event: AuditEvent;
}

/** A deterministic, schema-shaped event number `i` of a tenant. */
export function makeEvent(i: number, tenant = 'acme'): AuditEvent {
  const n = String(i).padStart(12, '0');
  return {
    eventId: `01936f6e-8a8b-7c3d-9e4f-${n}`,
    schemaVersion: '1.0',
    occurredAt: `2026-11-22T10:00:${String(i % 60).padStart(2, '0')}.123456789Z`,
    action: i % 3 === 0 ? 'grant.issue' : 'user.login',
    outcome: i % 5 === 0 ? 'denied' : 'success',
    actor: { id: `u-${i % 17}`, type: 'user', name: 'Ada Lovelace' },
    tenant: { id: tenant },
    targets: [{ type: 'grant', id: `g-${i}` }],
    request: { id: `r-${i}`, ip: '10.0.0.1', method: 'POST', path: '/grants' },
    details: { ticket: `T-${i}`, amount: i * 1.5, flags: [true, null, 'x'] },
  } as AuditEvent;
}

/** A chain of `n` entries (seq 1..n) with correct hashes. */
export function makeChain(n: number, chainId = 'acme/host-1'): TestEntry[] {
  const out: TestEntry[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const event = makeEvent(seq, chainId.split('/')[0]);
    const hash = computeEntryHash(prev, event);
    out.push({ chainId, seq, prevHash: prev, hash, chainVersion: 2, event });
    prev = hash;
  }
  return out;
}

/** A fresh signer. */
export function newSigner(name = 'otel-audit/host-1'): NoteSigner {
  return parseSignerKey(generateNoteKeyPair(name).signerKey);
}

/** Checkpoint records of a chain at the given tree sizes (in order), produced by the real checkpointer. */
export async function checkpointsAt(
  entries: ReadonlyArray<TestEntry>,
  sizes: ReadonlyArray<number>,
  signer: NoteSigner,
): Promise<CheckpointRecord[]> {
  const cp = createCheckpointer({ signer, policy: { everyEntries: Number.MAX_SAFE_INTEGER, everyMillis: 1e12 } });
  const records: CheckpointRecord[] = [];
  let at = 0;
  for (const size of sizes) {
    for (; at < size; at++) cp.append(entries[at]!);
    const r = await cp.checkpoint(entries[0]!.chainId, { force: true });
    records.push(r!);
  }
  return records;
}

/** Deep copy through JSON. */
export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
