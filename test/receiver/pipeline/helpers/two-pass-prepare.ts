/**
 * The two-pass prepare stage the receiver used before `prepareBatch` (prepare-stage.ts): stages 1–4
 * into per-record strings (`prepareRequest`), then packed into a batch (`packPreparedRequest`). It is
 * no longer on any receiver path; it stays here as the oracle the one-pass writer must equal byte
 * for byte (prepare-batch.test.ts).
 */
import { hash } from 'node:crypto';
import type { AuditEvent } from '@otel-audit/schema';
import { AUDIT_ATTR, isAuditRecord, type LogRecordMappingOptions, logRecordToAuditEvent } from '@otel-audit/schema';
import { canonicalWithDerivedId } from '@otel-audit/schema/event-id';
import type { DecodedLogs, IngestContext } from '../../../../receiver/contracts.ts';
import { fastCanonicalEventJson } from '../../../../receiver/pipeline/fast-jcs.ts';
import { attrReplacer, extraAttributesJson, type Rejection } from '../../../../receiver/pipeline/prepare-stage.ts';
import { META, type PreparedBatch } from '../../../../receiver/pipeline/prepared-batch.ts';
import { uuidToWords } from '../../../../receiver/wal/format.ts';

/** Resource and scope JSON of a record, built once per resourceLogs/scopeLogs and shared. */
export interface RecordContext {
  resourceJson: string;
  scopeJson: string;
}

/** A record that passed stages 1–4, ready for the sequencer. */
export interface PreparedRecord {
  /** RFC 8785 JCS of the normalized event: hashed and stored verbatim. */
  canonical: string;
  eventId: string;
  tenantId: string;
  /** Event id as four big-endian u32 words (dedupe key and WAL header). */
  w0: number;
  w1: number;
  w2: number;
  w3: number;
  ctx: RecordContext;
  /** JSON of the attributes the mapping does not consume (kept, not hashed). */
  extraJson: string;
}

/** Output of {@link prepareRequest}. */
export interface PreparedRequest {
  prepared: PreparedRecord[];
  rejections: Rejection[];
  /** Records in the request. */
  received: number;
  /** Records without `audit.schema_version` (dropped or rejected). */
  nonAudit: number;
  /** Non-audit records dropped under `nonAudit: 'drop'` (they are not rejections). */
  nonAuditDropped: number;
}

const words = new Uint32Array(4);

/**
 * Run stages 1–4 over one request. Never throws for bad records: they become rejections. A pure
 * function of its arguments: `defaultTenantId` is the pipeline's configured default tenant.
 */
export function prepareRequest(
  logs: DecodedLogs,
  context: IngestContext,
  nonAudit: 'drop' | 'reject',
  defaultTenantId?: string,
): PreparedRequest {
  const out: PreparedRequest = { prepared: [], rejections: [], received: 0, nonAudit: 0, nonAuditDropped: 0 };
  // The mapping derives missing ids from the canonical JSON of the event without its id, computed
  // with the fast serializer (byte-equal to the definition's); it is kept so the event's own
  // canonical JSON is that text with the id inserted, not a second serialization.
  let derivedFrom: string | undefined;
  const mapping: LogRecordMappingOptions = {
    defaultTenantId: context.boundTenantId ?? defaultTenantId,
    canonicalJson: (event) => (derivedFrom = fastCanonicalEventJson(event as AuditEvent)),
  };
  let index = 0;
  for (const rl of logs.resourceLogs) {
    let resourceJson: string | undefined;
    const resource = { attributes: rl.resource.attributes, schemaUrl: rl.schemaUrl };
    for (const sl of rl.scopeLogs) {
      let ctx: RecordContext | undefined;
      for (const record of sl.logRecords) {
        const i = index++;
        out.received++;
        let code = 'AUDIT_ERR_INVALID_EVENT';
        let reason: string | undefined;
        if (!isAuditRecord(record)) {
          out.nonAudit++;
          if (nonAudit === 'drop') {
            out.nonAuditDropped++;
            continue;
          }
          reason = `not an audit record (no ${AUDIT_ATTR.schemaVersion} attribute)`;
        } else {
          derivedFrom = undefined;
          const v = logRecordToAuditEvent(record, mapping);
          if (!v.ok) {
            code = v.error.code;
            reason = v.error.message;
          } else if (context.boundTenantId !== undefined && v.event.tenant.id !== context.boundTenantId) {
            code = 'AUDIT_ERR_FORBIDDEN';
            reason = `tenant "${v.event.tenant.id}" is not allowed for this token (bound to tenant "${context.boundTenantId}")`;
          } else {
            let canonical: string | undefined;
            try {
              canonical =
                derivedFrom !== undefined ? canonicalWithDerivedId(derivedFrom, v.event.eventId) : fastCanonicalEventJson(v.event);
            } catch (err) {
              reason = (err as Error).message;
            }
            if (canonical !== undefined && !uuidToWords(v.event.eventId, words)) reason = `eventId: not a UUID: ${v.event.eventId}`;
            if (canonical !== undefined && reason === undefined) {
              resourceJson ??= JSON.stringify(resource, attrReplacer);
              ctx ??= { resourceJson, scopeJson: JSON.stringify({ name: sl.scope.name, version: sl.scope.version }) };
              out.prepared.push({
                canonical,
                eventId: v.event.eventId,
                tenantId: v.event.tenant.id,
                w0: words[0]!,
                w1: words[1]!,
                w2: words[2]!,
                w3: words[3]!,
                ctx,
                extraJson: extraAttributesJson(record.attributes),
              });
              continue;
            }
          }
        }
        out.rejections.push({ index: i, code, reason: reason!, record, resource, scope: sl.scope });
      }
    }
  }
  return out;
}

const RESOURCE = ',"resource":';
const SCOPE = ',"scope":';
const EXTRA = ',"extraAttributes":';

/**
 * Pack the output of `prepareRequest` (prepare-stage.ts) into a {@link PreparedBatch}: encode each
 * record's payload tail once into one buffer and compute its event digest over the canonical bytes.
 * Pure; runs in a worker thread (or inline when the pipeline has no workers).
 */
export function packPreparedRequest(prep: PreparedRequest): PreparedBatch {
  const n = prep.prepared.length;
  const meta = new Uint32Array(n * META);
  const digests = new Uint8Array(n * 32);
  const tenants: string[] = [];
  const tenantIndex = new Map<string, number>();
  const eventIds = new Array<string>(n);
  let cap = 0;
  for (let i = 0; i < n; i++) {
    const p = prep.prepared[i]!;
    cap += p.canonical.length + p.ctx.resourceJson.length + p.ctx.scopeJson.length + p.extraJson.length + 40;
  }
  // UTF-8 is at most 3 bytes per UTF-16 code unit; most audit text is ASCII, so start at 1.25× and
  // grow on demand (a copy) rather than reserve 3× for every request.
  let buf = Buffer.from(new ArrayBuffer(Math.max(1024, Math.ceil(cap * 1.25))));
  let off = 0;
  const ensure = (more: number) => {
    if (off + more <= buf.length) return;
    const bigger = Buffer.from(new ArrayBuffer(Math.max(off + more, buf.length * 2)));
    buf.copy(bigger, 0, 0, off);
    buf = bigger;
  };
  for (let i = 0; i < n; i++) {
    const p = prep.prepared[i]!;
    const m = i * META;
    meta[m] = p.w0;
    meta[m + 1] = p.w1;
    meta[m + 2] = p.w2;
    meta[m + 3] = p.w3;
    let t = tenantIndex.get(p.tenantId);
    if (t === undefined) {
      t = tenants.length;
      tenants.push(p.tenantId);
      tenantIndex.set(p.tenantId, t);
    }
    meta[m + 4] = t;
    eventIds[i] = p.eventId;
    const { resourceJson, scopeJson } = p.ctx;
    ensure((p.canonical.length + resourceJson.length + scopeJson.length + p.extraJson.length) * 3 + 40);
    const start = off;
    off += buf.write(p.canonical, off, 'utf8');
    digests.set(hash('sha256', buf.subarray(start, off), 'buffer'), i * 32);
    off += buf.write(RESOURCE, off, 'latin1');
    off += buf.write(resourceJson, off, 'utf8');
    off += buf.write(SCOPE, off, 'latin1');
    off += buf.write(scopeJson, off, 'utf8');
    off += buf.write(EXTRA, off, 'latin1');
    off += buf.write(p.extraJson, off, 'utf8');
    buf[off++] = 0x7d; // '}' closes the WAL entry object
    meta[m + 5] = start;
    meta[m + 6] = off - start;
  }
  return {
    count: n,
    meta,
    digests,
    payload: new Uint8Array(buf.buffer, 0, off),
    rows: new Uint8Array(0),
    tenants,
    eventIds,
    rejections: prep.rejections,
    received: prep.received,
    nonAudit: prep.nonAudit,
    nonAuditDropped: prep.nonAuditDropped,
  };
}
