/**
 * One request's order-free work, from raw bytes to a {@link PreparedBatch}: gzip inflate, OTLP
 * decode (protobuf or JSON), then prepare-stage.ts (classify, validate + normalize, tenant binding,
 * canonicalize) and packing with the event digest. Pure: the pipeline's worker threads run it
 * (prepare-worker.ts), and the pipeline runs it inline when configured without workers.
 */
import { AUDIT_ERROR_CODES, type AuditError, type AuditErrorCode } from '@otel-audit/core';
import type { IngestContext } from '../contracts.ts';
import { inflateGzipSync } from '../http/read-body.ts';
import type { EncodedLogsRequest } from '../otlp/encoded-consumer.ts';
import { decodeLogsJson } from '../otlp/json-decoder.ts';
import { decodeLogsProtobuf } from '../otlp/protobuf-decoder.ts';
import { prepareBatch } from './prepare-stage.ts';
import type { PreparedBatch } from './prepared-batch.ts';

/** What a worker is asked to do. */
export interface PrepareTask extends Omit<EncodedLogsRequest, 'transferable'> {
  context: IngestContext;
  nonAudit: 'drop' | 'reject';
  /** Tenant of records without `audit.tenant.id` when the token is not bound to one (pipeline config). */
  defaultTenantId?: string | undefined;
  /** Build each record's storage row for the WAL (pipeline config `storageRows`). */
  storageRows?: boolean;
}

/**
 * The outcome: prepared records, or why the body is not a request (with the HTTP status the
 * transports answer: 400 undecodable / corrupt gzip, 413 inflated past `maxBytes`). Plain data, so
 * it crosses threads; the AuditError is rebuilt by the receiving side.
 */
export type PrepareOutcome =
  | { ok: true; records: number; bytes: number; batch: PreparedBatch }
  | {
      ok: false;
      stage: 'inflate' | 'decode';
      status: 400 | 413;
      code: AuditErrorCode;
      detail: string;
      path?: string;
      details?: Record<string, unknown>;
      bytes: number;
    };

/** The part of an AuditError's message after the registry text, so the receiver rebuilds the same message. */
function detailOf(e: AuditError): string {
  const base = `${AUDIT_ERROR_CODES[e.code]}: `;
  return e.message.startsWith(base) ? e.message.slice(base.length) : e.message;
}

/** Run the task. Never throws for bad input (it becomes `ok: false`). */
export function runPrepareTask(task: PrepareTask): PrepareOutcome {
  let body = Buffer.from(task.body.buffer, task.body.byteOffset, task.body.byteLength);
  if (task.encoding === 'gzip') {
    const inflated = inflateGzipSync(body, task.maxBytes);
    if (!inflated.ok) {
      const e = inflated.error;
      return {
        ok: false,
        stage: 'inflate',
        status: inflated.status === 413 ? 413 : 400,
        code: e.code,
        detail: detailOf(e),
        ...(e.details ? { details: e.details as Record<string, unknown> } : {}),
        bytes: 0,
      };
    }
    body = inflated.body;
  }
  const decoded = task.format === 'protobuf' ? decodeLogsProtobuf(body) : decodeLogsJson(body);
  if (!decoded.ok) {
    const e = decoded.error;
    return {
      ok: false,
      stage: 'decode',
      status: 400,
      code: e.code,
      detail: detailOf(e),
      ...(e.path !== undefined ? { path: e.path } : {}),
      bytes: body.length,
    };
  }
  const batch = prepareBatch(decoded.logs, task.context, task.nonAudit, task.defaultTenantId, body.length, task.storageRows === true);
  return { ok: true, records: decoded.recordCount, bytes: body.length, batch };
}

/** The ArrayBuffers of an outcome that can be transferred instead of copied. */
export function outcomeTransferList(outcome: PrepareOutcome): ArrayBuffer[] {
  if (!outcome.ok) return [];
  const { meta, digests, payload, rows } = outcome.batch;
  const list = [meta.buffer as ArrayBuffer, digests.buffer as ArrayBuffer, payload.buffer as ArrayBuffer];
  if (rows.byteLength > 0) list.push(rows.buffer as ArrayBuffer);
  return list;
}
