/**
 * Stages 1–4 of the pipeline, pure and per record (no shared state, so they need no ordering):
 *
 *   1. classify     — audit when the record carries `audit.schema_version`; others are dropped
 *                     (counted) or rejected per `nonAudit`
 *   2. validate     — `logRecordToAuditEvent` (OTLP mapping + zod schema) and `normalizeAuditEvent`
 *                     (1.x labels normalized); a record without `audit.tenant.id` takes the token's
 *                     bound tenant, else `defaultTenantId`; one without `audit.event_id` gets an id
 *                     derived from its content (schema/event-id.ts)
 *   3. tenant       — with `IngestContext.boundTenantId`, records of another tenant are rejected
 *   4. canonicalize — RFC 8785 JCS of the normalized event (the hash input and the WAL's `event`)
 *
 * Stages 5–7 (dedupe, sequence + hash chain, WAL append) need the chain state and run in the
 * pipeline's synchronous sequencer (pipeline.ts).
 */

import { hash } from 'node:crypto';
import { AuditError } from '@otel-audit/core';
import type { AuditEvent } from '@otel-audit/schema';
import { AUDIT_ATTR, isAuditRecord, type LogRecordMappingOptions, type LogRecordView, logRecordToAuditEvent } from '@otel-audit/schema';
import { walEntryEventColumns } from '@otel-audit/schema/audit-row';
import { writeAuditRowBinaryEventColumns } from '@otel-audit/schema/audit-row-binary';
import type { ClickHouseBinaryBuffer } from '@otel-audit/schema/binary-buffer';
import { DERIVED_EVENT_ID_DOMAIN } from '@otel-audit/schema/event-id';
import type { DecodedLogs, IngestContext, ScopeView } from '../contracts.ts';
import { uuidToWords } from '../wal/format.ts';
import { CanonicalWriter, writeCanonicalEvent } from './fast-jcs.ts';
import { type PreparedBatch, PreparedBatchBuilder } from './prepared-batch.ts';

/** A record refused by stages 1–4, with what the dead-letter store keeps. */
export interface Rejection {
  /** Position in the request, flattened over resource and scope logs. */
  index: number;
  code: string;
  reason: string;
  record: LogRecordView;
  resource: { attributes: Record<string, unknown>; schemaUrl: string };
  scope: ScopeView;
}

const MAPPED_KEYS = new Set<string>(Object.values(AUDIT_ATTR));

/** JSON replacer for OTLP attribute values: bigint → number when safe else decimal text; bytes → base64. */
export function attrReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint')
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

/**
 * JSON of the attributes that the OTLP mapping does not consume (`{}` when none). A `__proto__`
 * attribute is left out: assigning it would set the rebuilt object's prototype (so JSON.stringify
 * never wrote it, and a bytes value made the replacer throw).
 */
export function extraAttributesJson(attrs: Record<string, unknown>): string {
  let extra: Record<string, unknown> | undefined;
  for (const k in attrs) {
    if (MAPPED_KEYS.has(k) || k === '__proto__') continue;
    (extra ??= {})[k] = attrs[k];
  }
  return extra === undefined ? '{}' : JSON.stringify(extra, attrReplacer);
}

const words = new Uint32Array(4);

/**
 * Append `extraAttributesJson(attrs)` to `w`, byte-identical, writing the common attribute values
 * (strings, numbers, booleans, null, int64 bigints and flat arrays of those) directly instead of
 * building an object and a string; anything else (kvlists, bytes, nested arrays) falls back to
 * {@link extraAttributesJson}. Key order is `for…in`'s, as the object that function builds and
 * JSON.stringify see it; `__proto__` is skipped as there.
 */
export function writeExtraAttributes(w: CanonicalWriter, attrs: Record<string, unknown>): void {
  const start = w.off;
  w.byte(0x7b);
  let first = true;
  let pos = 0;
  for (const k in attrs) {
    const e = pos < EXTRA_KEY_SLOTS ? extraKey(k, pos) : undefined;
    pos++;
    if (e !== undefined ? e.skip : MAPPED_KEYS.has(k) || k === '__proto__') continue;
    if (!first) w.byte(0x2c);
    first = false;
    if (e !== undefined) w.bytes(e.head);
    else {
      w.jsonStr(k);
      w.byte(0x3a);
    }
    if (!writeExtraValue(w, attrs[k])) {
      w.off = start;
      w.utf8(extraAttributesJson(attrs));
      return;
    }
  }
  w.byte(0x7d);
}

/** What {@link writeExtraAttributes} needs of one attribute key: skipped or not, and its `"key":` bytes. */
interface ExtraKey {
  key: string;
  skip: boolean;
  head: Uint8Array;
}

/** Attribute positions whose last key is remembered (records of one producer repeat keys in order). */
const EXTRA_KEY_SLOTS = 64;
const extraKeys = new Array<ExtraKey | undefined>(EXTRA_KEY_SLOTS);

function extraKey(k: string, pos: number): ExtraKey {
  const cached = extraKeys[pos];
  if (cached !== undefined && cached.key === k) return cached;
  const e = { key: k, skip: MAPPED_KEYS.has(k) || k === '__proto__', head: Buffer.from(`${JSON.stringify(k)}:`, 'utf8') };
  extraKeys[pos] = e;
  return e;
}

/** An attribute value as JSON.stringify(…, attrReplacer) writes it; false (partial output) when it is not simple. */
function writeExtraValue(w: CanonicalWriter, v: unknown): boolean {
  if (!Array.isArray(v)) return writeSimpleJson(w, v);
  w.byte(0x5b);
  for (let i = 0; i < v.length; i++) {
    if (i > 0) w.byte(0x2c);
    const x: unknown = v[i];
    // JSON.stringify writes null for an undefined array element (a hole).
    if (x === undefined) w.latin1('null');
    else if (!writeSimpleJson(w, x)) return false;
  }
  w.byte(0x5d);
  return true;
}

/** A primitive as JSON.stringify(…, attrReplacer) writes it; false for anything else. */
function writeSimpleJson(w: CanonicalWriter, v: unknown): boolean {
  switch (typeof v) {
    case 'string':
      w.jsonStr(v);
      return true;
    case 'number':
      // JSON.stringify writes non-finite numbers as null.
      w.latin1(Number.isFinite(v) ? String(v) : 'null');
      return true;
    case 'boolean':
      w.latin1(v ? 'true' : 'false');
      return true;
    case 'bigint':
      if (v >= MIN_SAFE && v <= MAX_SAFE) w.latin1(String(Number(v)));
      else w.jsonStr(v.toString());
      return true;
    case 'object':
      if (v !== null) return false;
      w.latin1('null');
      return true;
    default:
      return false;
  }
}

/** Value of a hex digit's char code, or -1. */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
}

/** Hex digits [from, to) of `s` as a number (at most 8 digits), or -1 when one is not a hex digit. */
function hexWord(s: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const d = hexDigit(s.charCodeAt(i));
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/**
 * `uuidToWords` (wal/format.ts) for a UUID made only of hex digits and dashes in 8-4-4-4-12 form,
 * without substrings; false (words untouched) for anything else, which then goes to `uuidToWords`
 * so its result stays the definition.
 */
function hexUuidToWords(id: string, out: Uint32Array): boolean {
  if (
    id.length !== 36 ||
    id.charCodeAt(8) !== 0x2d ||
    id.charCodeAt(13) !== 0x2d ||
    id.charCodeAt(18) !== 0x2d ||
    id.charCodeAt(23) !== 0x2d
  )
    return false;
  const a = hexWord(id, 0, 8);
  const b1 = hexWord(id, 9, 13);
  const b2 = hexWord(id, 14, 18);
  const c1 = hexWord(id, 19, 23);
  const c2 = hexWord(id, 24, 28);
  const d = hexWord(id, 28, 36);
  if (a < 0 || b1 < 0 || b2 < 0 || c1 < 0 || c2 < 0 || d < 0) return false;
  out[0] = a;
  out[1] = b1 * 0x10000 + b2;
  out[2] = c1 * 0x10000 + c2;
  out[3] = d;
  return true;
}

/** Scratch for id derivation: `DERIVED_EVENT_ID_DOMAIN ‖ JCS(event without eventId)` as bytes. */
const derivation = new CanonicalWriter(16 * 1024);
const DOMAIN_BYTES = Buffer.from(DERIVED_EVENT_ID_DOMAIN, 'utf8');
const DERIVED_MARK_BYTES = Buffer.from('"eventIdDerived":true', 'latin1');

/**
 * The derived id of a validated event (schema/event-id.ts `deriveEventIdFromCanonical` over the
 * canonical JSON without `eventId`, the same construction), computed over bytes written once into
 * `d`, which keeps them for {@link writeWithDerivedId}. Throws AUDIT_ERR_INVALID_EVENT where JCS does.
 */
function deriveEventIdInto(d: CanonicalWriter, event: AuditEvent): string {
  d.off = 0;
  d.bytes(DOMAIN_BYTES);
  writeCanonicalEvent(d, event, true);
  const hex = hash('sha256', d.buf.subarray(0, d.off), 'hex');
  // Octet 6 high nibble = version 8; octet 8 top bits = 10 (variant), keeping its low 6 bits.
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * `canonicalWithDerivedId` (schema/event-id.ts) on bytes: the canonical JSON kept in `d` with
 * `"eventId":"<id>",` inserted before the last `"eventIdDerived":true`, appended to `w`.
 */
function writeWithDerivedId(w: CanonicalWriter, d: CanonicalWriter, eventId: string): void {
  const from = DOMAIN_BYTES.length;
  const at = d.buf.lastIndexOf(DERIVED_MARK_BYTES, d.off - DERIVED_MARK_BYTES.length);
  if (at < from) throw new AuditError('AUDIT_ERR_INVALID_ARGUMENT', 'not the canonical JSON of a derived-id event (no eventIdDerived)');
  w.bytes(d.buf.subarray(from, at));
  w.latin1(`"eventId":"${eventId}",`);
  w.bytes(d.buf.subarray(at, d.off));
}

/** What the row of a record is built from, besides the event: its context as the WAL stores it. */
interface RowContext {
  /** `JSON.parse` of the resource JSON written to the WAL (once per `resourceLogs`). */
  resource: { attributes: Record<string, unknown>; schemaUrl: string };
  /** `JSON.parse` of the scope JSON written to the WAL (once per `scopeLogs`). */
  scope: { name: string; version: string };
}

/**
 * Append the storage row's event columns (RowBinary) of a record to `rows`: `walEntryEventColumns`
 * of the entry as an exporter would read it back from the WAL, built from the objects at hand
 * instead of parsing the entry's JSON (which cost more than the rest of the row). Read back, an
 * entry differs from these objects only where JSON does: the JSON-valued event fields
 * (`details`, `changes`, `bodyValue`) come back with their keys in RFC 8785 order (and integer-like
 * keys first), and the extra attributes come back as `writeExtraAttributes` wrote them — both
 * reproduced here ({@link storedEventView}, {@link storedAttributeStrings});
 * test/receiver/pipeline/storage-rows.test.ts checks the result against the parsed entry byte for
 * byte. Falls back to parsing the tail `w.buf[start..w.off)` for anything unusual, and leaves
 * `rows` as it was when the row cannot be built at all (a time outside DateTime64's range, say):
 * the record is then written without a row, the exporters build it from the JSON as before and
 * report the failure there — the event itself is kept either way.
 */
function writeStorageRow(
  event: AuditEvent,
  attrs: Record<string, unknown>,
  ctx: RowContext,
  w: CanonicalWriter,
  start: number,
  rows: ClickHouseBinaryBuffer,
): void {
  const at = rows.length;
  try {
    const entry = {
      event: storedEventView(event),
      resource: ctx.resource,
      scope: ctx.scope,
      extraAttributes: storedAttributeStrings(attrs),
    };
    writeAuditRowBinaryEventColumns(walEntryEventColumns(entry), rows);
    return;
  } catch {
    rows.truncate(at);
  }
  try {
    const entry = JSON.parse(`{"event":${w.buf.toString('utf8', start, w.off)}`) as Parameters<typeof walEntryEventColumns>[0];
    writeAuditRowBinaryEventColumns(walEntryEventColumns(entry), rows);
  } catch {
    rows.truncate(at);
  }
}

/** Scratch of {@link asStored}. */
const stored = new CanonicalWriter(4096);

/** `JSON.parse(JCS(v))`: a JSON value as it reads back from the WAL, whose event is RFC 8785 text. */
function asStored<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  stored.off = 0;
  stored.value(v);
  return JSON.parse(stored.text(0, stored.off)) as T;
}

/** The event as it reads back from the WAL, as far as the row's columns can tell (see {@link writeStorageRow}). */
function storedEventView(e: AuditEvent): AuditEvent {
  if (e.details === undefined && e.changes === undefined && e.bodyValue === undefined) return e;
  const view = { ...e };
  if (e.details !== undefined) view.details = asStored(e.details);
  if (e.changes !== undefined) view.changes = asStored(e.changes);
  if (e.bodyValue !== undefined) view.bodyValue = asStored(e.bodyValue);
  return view;
}

/**
 * The extra attributes of a record (those the mapping does not consume) as the row's attribute
 * strings of them read back from the WAL: `writeExtraAttributes` JSON (bigints as numbers when
 * safe, else decimal text; bytes as base64; non-finite numbers as null; undefined left out), parsed,
 * each value then as its attribute string (strings as they are, anything else as JSON).
 */
function storedAttributeStrings(attrs: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in attrs) {
    if (MAPPED_KEYS.has(k) || k === '__proto__') continue;
    const v = attrs[k];
    switch (typeof v) {
      case 'string':
        out[k] = v;
        break;
      case 'boolean':
        out[k] = v ? 'true' : 'false';
        break;
      case 'number':
        // JSON.stringify's number text (null when not finite), read back and written again.
        out[k] = Number.isFinite(v) ? String(v) : 'null';
        break;
      case 'bigint':
        out[k] = v >= MIN_SAFE && v <= MAX_SAFE ? String(Number(v)) : v.toString();
        break;
      case 'undefined':
        break;
      default: {
        const json = JSON.stringify(v, attrReplacer);
        if (json === undefined) break;
        const back: unknown = JSON.parse(json);
        out[k] = typeof back === 'string' ? back : (JSON.stringify(back) ?? '');
      }
    }
  }
  return out;
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Stages 1–4 over one request, packed into a batch in one pass (byte for byte what the former
 * two-pass path gave; test/receiver/pipeline/helpers/two-pass-prepare.ts keeps it as the test's
 * oracle): each accepted record's canonical event, context and extra attributes are
 * written straight into the batch's payload buffer and digested there, with no per-record strings or
 * intermediate objects. `payloadBytesHint` sizes the payload buffer (e.g. the request body's size);
 * it grows on demand. With `storageRows`, each record's storage row (its event columns in
 * RowBinary) is built too (see {@link writeStorageRow}). A pure function of its arguments; never
 * throws for bad records.
 */
export function prepareBatch(
  logs: DecodedLogs,
  context: IngestContext,
  nonAudit: 'drop' | 'reject',
  defaultTenantId?: string,
  payloadBytesHint = 0,
  storageRows = false,
): PreparedBatch {
  let records = 0;
  for (const rl of logs.resourceLogs) for (const sl of rl.scopeLogs) records += sl.logRecords.length;
  // The payload is ~1.27× the protobuf body for the realistic fixture batch (canonical JSON plus the
  // repeated resource/scope JSON); starting at 1.5× avoids a grow-and-copy for such batches.
  // A row's event columns are ~0.75× its payload tail (measured on the realistic fixture).
  const b = new PreparedBatchBuilder(
    records,
    Math.ceil(payloadBytesHint * 1.5),
    storageRows ? Math.ceil(payloadBytesHint * 1.2) : undefined,
  );
  const w = b.writer;
  const rejections: Rejection[] = [];
  let received = 0;
  let nonAuditCount = 0;
  let nonAuditDropped = 0;
  // The canonical JSON an id is derived from is kept for the event's own:
  // here as bytes, in `derivation` after the domain prefix (see deriveEventIdInto).
  let derived = false;
  const mapping: LogRecordMappingOptions = {
    defaultTenantId: context.boundTenantId ?? defaultTenantId,
    deriveEventId: (event) => {
      const id = deriveEventIdInto(derivation, event);
      derived = true;
      return id;
    },
  };
  let index = 0;
  for (const rl of logs.resourceLogs) {
    let resourceJson: string | undefined;
    const resource = { attributes: rl.resource.attributes, schemaUrl: rl.schemaUrl };
    for (const sl of rl.scopeLogs) {
      let ctxBytes: Uint8Array | undefined;
      let scopeJson: string | undefined;
      let rowCtx: RowContext | undefined;
      for (const record of sl.logRecords) {
        const i = index++;
        received++;
        let code = 'AUDIT_ERR_INVALID_EVENT';
        let reason: string | undefined;
        if (!isAuditRecord(record)) {
          nonAuditCount++;
          if (nonAudit === 'drop') {
            nonAuditDropped++;
            continue;
          }
          reason = `not an audit record (no ${AUDIT_ATTR.schemaVersion} attribute)`;
        } else {
          derived = false;
          const v = logRecordToAuditEvent(record, mapping);
          if (!v.ok) {
            code = v.error.code;
            reason = v.error.message;
          } else if (context.boundTenantId !== undefined && v.event.tenant.id !== context.boundTenantId) {
            code = 'AUDIT_ERR_FORBIDDEN';
            reason = `tenant "${v.event.tenant.id}" is not allowed for this token (bound to tenant "${context.boundTenantId}")`;
          } else {
            const start = w.off;
            let written = false;
            try {
              if (derived) writeWithDerivedId(w, derivation, v.event.eventId);
              else writeCanonicalEvent(w, v.event);
              written = true;
            } catch (err) {
              w.off = start;
              reason = (err as Error).message;
            }
            if (written && !hexUuidToWords(v.event.eventId, words) && !uuidToWords(v.event.eventId, words)) {
              w.off = start;
              reason = `eventId: not a UUID: ${v.event.eventId}`;
            }
            if (written && reason === undefined) {
              resourceJson ??= JSON.stringify(resource, attrReplacer);
              scopeJson ??= JSON.stringify({ name: sl.scope.name, version: sl.scope.version });
              ctxBytes ??= Buffer.from(`,"resource":${resourceJson},"scope":${scopeJson},"extraAttributes":`, 'utf8');
              const canonicalEnd = w.off;
              w.bytes(ctxBytes);
              writeExtraAttributes(w, record.attributes);
              w.byte(0x7d); // '}' closes the WAL entry object
              if (b.rows !== undefined) {
                rowCtx ??= {
                  resource: JSON.parse(resourceJson) as RowContext['resource'],
                  scope: JSON.parse(scopeJson!) as RowContext['scope'],
                };
                writeStorageRow(v.event, record.attributes, rowCtx, w, start, b.rows);
              }
              b.add(start, canonicalEnd, v.event.eventId, v.event.tenant.id, words);
              continue;
            }
          }
        }
        rejections.push({ index: i, code, reason: reason!, record, resource, scope: sl.scope });
      }
    }
  }
  return b.finish({ rejections, received, nonAudit: nonAuditCount, nonAuditDropped });
}
