/**
 * Test fixtures for the pipeline: realistic audit events as OTLP `LogRecordView`s, decoded
 * requests, and a WAL checker (every id once, contiguous seq, chain recomputes). Reused by the
 * crash child script and the benchmark.
 */
import { randomBytes } from 'node:crypto';
import type { AuditEvent } from '@otel-audit/schema';
import { auditEventToLogRecord, type LogRecordView } from '@otel-audit/schema';
import { computeEntryHash, GENESIS_HASH, parseChainVersion } from '../../../integrity/chain-hash.ts';
import type { DecodedLogs, WalEntry, WalEventEntry } from '../../../receiver/contracts.ts';
import { readWalEntries } from '../../../receiver/wal/read-entries.ts';

/** A UUIDv7 (time-ordered) for tests. */
export function uuidv7(nowMs = Date.now()): string {
  const b = randomBytes(16);
  b.writeUIntBE(nowMs, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A realistic audit event. */
export function makeEvent(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    eventId: uuidv7(),
    schemaVersion: '1.0',
    occurredAt: new Date().toISOString(),
    action: 'grant.issue',
    outcome: 'success',
    actor: { id: 'user-1234', type: 'user', name: 'Alice Example', authMethod: 'oidc' },
    tenant: { id: 'acme' },
    targets: [{ type: 'grant', id: 'grant-987', name: 'read:reports' }],
    request: { id: 'req-5f3a', ip: '203.0.113.7', userAgent: 'Mozilla/5.0 (X11; Linux x86_64)', method: 'POST', path: '/api/grants' },
    details: { scope: 'reports', expiresInDays: 30, approvedBy: 'user-42' },
    ...overrides,
  };
}

/** The OTLP view of an event, as a transport decoder would produce it. */
export function eventToRecord(event: AuditEvent, extraAttributes: Record<string, unknown> = {}): LogRecordView {
  const r = auditEventToLogRecord(event);
  return {
    timeUnixNano: BigInt(r.timestamp[0]) * 1_000_000_000n + BigInt(r.timestamp[1]),
    observedTimeUnixNano: 0n,
    severityNumber: r.severityNumber,
    severityText: r.severityText,
    eventName: r.eventName,
    body: r.body,
    attributes: { ...r.attributes, ...extraAttributes },
    traceId: '',
    spanId: '',
    flags: 0,
  };
}

/** A non-audit log record. */
export function plainRecord(text = 'hello'): LogRecordView {
  return {
    timeUnixNano: 1n,
    observedTimeUnixNano: 0n,
    severityNumber: 9,
    severityText: 'INFO',
    eventName: '',
    body: text,
    attributes: { 'http.route': '/x' },
    traceId: '',
    spanId: '',
    flags: 0,
  };
}

/** Wrap records into one decoded request. */
export function request(records: LogRecordView[], serviceName = 'billing'): DecodedLogs {
  return {
    resourceLogs: [
      {
        resource: { attributes: { 'service.name': serviceName } },
        schemaUrl: '',
        scopeLogs: [{ scope: { name: 'otel-audit-sdk', version: '0.1.0', attributes: {} }, schemaUrl: '', logRecords: records }],
      },
    ],
  };
}

/** Summary of a WAL check. */
export interface WalCheck {
  entries: WalEventEntry[];
  ids: Map<string, number>;
  problems: string[];
}

/**
 * Read every entry of `<dataDir>/wal` and check: LSNs contiguous, each event id once, each chain's
 * seq contiguous from its first retained entry, prevHash linkage, and every hash recomputes.
 * `fromGenesis`: chains must start at seq 1 (true when no segment was deleted).
 */
export async function checkWal(dataDir: string, fromGenesis = true): Promise<WalCheck> {
  const all: WalEntry[] = [];
  for await (const e of readWalEntries(`${dataDir}/wal`)) all.push(e);
  const problems: string[] = [];
  let lsn = all[0]?.lsn ?? 1;
  for (const e of all) {
    if (e.lsn !== lsn) problems.push(`lsn ${e.lsn} where ${lsn} expected`);
    lsn = e.lsn + 1;
  }
  // Checkpoint entries (kind 'checkpoint') take LSNs too; the chain checks are over events.
  const entries = all.filter((e): e is WalEventEntry => e.kind === 'event');
  const ids = new Map<string, number>();
  const heads = new Map<string, { seq: number; hash: string }>();
  for (const e of entries) {
    ids.set(e.event.eventId, (ids.get(e.event.eventId) ?? 0) + 1);
    const h = heads.get(e.chainId);
    if (h) {
      if (e.seq !== h.seq + 1) problems.push(`chain ${e.chainId}: seq ${e.seq} after ${h.seq}`);
      if (e.prevHash !== h.hash) problems.push(`chain ${e.chainId}: prevHash mismatch at seq ${e.seq}`);
    } else if (fromGenesis && (e.seq !== 1 || e.prevHash !== GENESIS_HASH)) {
      problems.push(`chain ${e.chainId}: first entry seq ${e.seq}`);
    }
    // Each entry names its chain format (absent = 1, entries written before formats were versioned).
    const version = parseChainVersion(e.chainVersion);
    if (version === undefined) problems.push(`chain ${e.chainId}: unknown chainVersion at seq ${e.seq}`);
    const recomputed = computeEntryHash(e.prevHash, e.event, version ?? 1);
    if (recomputed !== e.hash) problems.push(`chain ${e.chainId}: hash mismatch at seq ${e.seq}`);
    heads.set(e.chainId, { seq: e.seq, hash: e.hash });
  }
  for (const [id, n] of ids) if (n > 1) problems.push(`event ${id} stored ${n} times`);
  return { entries, ids, problems };
}

/**
 * A random JSON value (strings from `randomString`, numbers of every magnitude, booleans, null,
 * arrays and objects nested to depth ~4) for canonicalization fuzzing.
 */
export function randomJsonValue(randomString: () => string, depth = 0): unknown {
  const rnd = (n: number) => Math.floor(Math.random() * n);
  switch (rnd(depth > 2 ? 4 : 6)) {
    case 0:
      return randomString();
    case 1:
      return (Math.random() - 0.5) * 10 ** rnd(25);
    case 2:
      return rnd(2) === 0;
    case 3:
      return null;
    case 4:
      return Array.from({ length: rnd(4) }, () => randomJsonValue(randomString, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: rnd(5) }, () => [randomString(), randomJsonValue(randomString, depth + 1)]));
  }
}
