/**
 * Synthetic WAL entries for the ClickHouse tests and benchmark: valid events (validateAuditEvent)
 * hash-chained per tenant (computeEntryHash), exactly what the pipeline would append.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditEvent, validateAuditEvent } from '@otel-audit/schema';
import { computeEntryHash, GENESIS_HASH } from '../../../integrity/chain-hash.ts';
import type { ExportBatch, WalEventEntry } from '../../../receiver/contracts.ts';

/** A UUIDv7 for (milliseconds, counter): deterministic so tests can compare ids. */
export function uuidV7(ms: number, n: number): string {
  const t = ms.toString(16).padStart(12, '0');
  const c = n.toString(16).padStart(15, '0');
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${c.slice(0, 3)}-8${c.slice(3, 6)}-${c.slice(6, 15).padStart(12, '0')}`;
}

const ACTIONS = ['user.login', 'grant.issue', 'grant.revoke', 'document.read', 'document.update'];
const OUTCOMES = ['success', 'failure', 'denied'] as const;

/** Options of {@link makeEntries}. */
export interface EntryOptions {
  count: number;
  /** First LSN (default 1). */
  firstLsn?: number;
  tenants?: string[];
  /** Milliseconds of the first event (default 2026-11-22T10:00:00Z). */
  startMs?: number;
  /** Override fields of event i. */
  mutate?: (event: AuditEvent, i: number) => AuditEvent;
  instanceId?: string;
}

/** Build `count` chained WAL entries. */
export function makeEntries(o: EntryOptions): WalEventEntry[] {
  const tenants = o.tenants ?? ['acme', 'globex'];
  const startMs = o.startMs ?? Date.parse('2026-11-22T10:00:00Z');
  const instance = o.instanceId ?? 'r1';
  const chains = new Map<string, { seq: number; hash: string }>();
  const out: WalEventEntry[] = [];
  for (let i = 0; i < o.count; i++) {
    const tenant = tenants[i % tenants.length]!;
    const ms = startMs + i * 1000;
    let event: AuditEvent = {
      eventId: uuidV7(ms, i),
      schemaVersion: '1.0',
      occurredAt: new Date(ms)
        .toISOString()
        .replace('Z', `${String(i % 1000).padStart(3, '0')}Z`)
        .replace(/\.(\d{3})(\d{3})Z$/, '.$1$2Z'),
      action: ACTIONS[i % ACTIONS.length]!,
      outcome: OUTCOMES[i % OUTCOMES.length]!,
      actor: { id: `user-${i % 7}`, type: 'user', name: `User ${i % 7}`, authMethod: 'oidc' },
      tenant: { id: tenant },
      targets: [{ type: 'document', id: `doc-${i % 11}` }],
      session: { id: `sess-${i % 13}` },
      request: { id: `req-${i}`, ip: '10.0.0.1', userAgent: 'curl/8.5', method: 'POST', path: '/api/x' },
      details: { i, note: 'synthetic' },
    };
    if (o.mutate) event = o.mutate(event, i);
    const valid = validateAuditEvent(event);
    if (!valid.ok) throw valid.error;
    // The chain follows the (possibly mutated) event's tenant, as the pipeline's would.
    const chainTenant = valid.event.tenant.id;
    const chainId = `${chainTenant}/${instance}`;
    const prev = chains.get(chainId) ?? { seq: 0, hash: GENESIS_HASH };
    const hash = computeEntryHash(prev.hash, valid.event);
    chains.set(chainId, { seq: prev.seq + 1, hash });
    out.push({
      kind: 'event',
      lsn: (o.firstLsn ?? 1) + i,
      chainId,
      tenantId: chainTenant,
      seq: prev.seq + 1,
      prevHash: prev.hash,
      hash,
      chainVersion: 2,
      receivedAtNanos: `${BigInt(ms + 5) * 1_000_000n}`,
      event: valid.event,
      resource: { attributes: { 'service.name': 'billing' }, schemaUrl: '' },
      scope: { name: 'otel-audit-sdk', version: '0.1.0' },
      extraAttributes: {},
    });
  }
  return out;
}

/** Wrap entries as one batch. */
export function batchOf(entries: WalEventEntry[]): ExportBatch {
  return { firstLsn: entries[0]!.lsn, lastLsn: entries[entries.length - 1]!.lsn, entries };
}

const created: string[] = [];

/** A fresh temp directory for one test file's chDB engine (removed by {@link removeTempDirs}). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `otel-audit-${prefix}-`));
  created.push(dir);
  return dir;
}

/** Remove the directories made by {@link tempDir} (call after closing the engine). */
export function removeTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A unique database name per test. */
let dbCounter = 0;
export function uniqueDatabase(prefix = 'audit_test'): string {
  dbCounter++;
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${dbCounter}`;
}
