/**
 * Reference decoder built on protobufjs, loading the project's `.proto` files from `proto/`. The
 * receiver's hot path uses the hand-rolled {@link decodeLogsProtobuf} (see docs/decisions.md for the
 * measurement); this one stays for the benchmark and as an independent oracle in tests, so the two
 * decoders check each other on the same bytes.
 */

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LogRecordView } from '@otel-audit/schema';
import protobuf from 'protobufjs';
import type { DecodedLogs, ScopeView } from '../../../receiver/contracts.ts';
import { DecodeFailure, type DecodeResult, decodeFailureResult } from '../../../receiver/otlp/decode-result.ts';

/** Directory holding `opentelemetry/proto/...` (the repository's `proto/`). */
export const PROTO_ROOT = fileURLToPath(new URL('../../../proto/', import.meta.url));

/** Fully-qualified name of the request message. */
export const EXPORT_LOGS_REQUEST_TYPE = 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest';

/** Load the OTLP logs service protos into a protobufjs Root (synchronous, cached by the caller). */
export function loadOtlpLogsRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_ROOT, target));
  root.loadSync('opentelemetry/proto/collector/logs/v1/logs_service.proto', { keepCase: false });
  root.resolveAll();
  return root;
}

interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}

interface PbAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | LongLike;
  doubleValue?: number;
  arrayValue?: { values?: PbAnyValue[] };
  kvlistValue?: { values?: PbKeyValue[] };
  bytesValue?: Uint8Array;
  value?: string;
}
interface PbKeyValue {
  key?: string;
  value?: PbAnyValue;
}
interface PbLogRecord {
  timeUnixNano?: number | LongLike;
  observedTimeUnixNano?: number | LongLike;
  severityNumber?: number;
  severityText?: string;
  body?: PbAnyValue;
  attributes?: PbKeyValue[];
  flags?: number;
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  eventName?: string;
}
interface PbRequest {
  resourceLogs?: Array<{
    resource?: { attributes?: PbKeyValue[] };
    schemaUrl?: string;
    scopeLogs?: Array<{
      scope?: { name?: string; version?: string; attributes?: PbKeyValue[] };
      schemaUrl?: string;
      logRecords?: PbLogRecord[];
    }>;
  }>;
}

function toBigUint(v: number | LongLike | undefined): bigint {
  if (v === undefined) return 0n;
  if (typeof v === 'number') return BigInt(v);
  return (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
}

function toInt64(v: number | LongLike): number | bigint {
  if (typeof v === 'number') return v;
  const big = BigInt.asIntN(64, (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0));
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

function anyValue(v: PbAnyValue | undefined): unknown {
  if (v === undefined || v === null) return null;
  switch (v.value) {
    case 'stringValue':
      return v.stringValue;
    case 'boolValue':
      return v.boolValue;
    case 'intValue':
      return toInt64(v.intValue!);
    case 'doubleValue':
      return v.doubleValue;
    case 'arrayValue':
      return (v.arrayValue?.values ?? []).map(anyValue);
    case 'kvlistValue':
      return attributes(v.kvlistValue?.values);
    case 'bytesValue':
      return new Uint8Array(v.bytesValue!);
    default:
      return null;
  }
}

function attributes(kvs: PbKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs ?? []) {
    const key = kv.key ?? '';
    const value = anyValue(kv.value);
    if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    else out[key] = value;
  }
  return out;
}

function hexId(bytes: Uint8Array | undefined, size: number, what: string): string {
  if (!bytes || bytes.length === 0) return '';
  if (bytes.length !== size) throw new DecodeFailure(`expected ${size} bytes or none, got ${bytes.length}`, what);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** A protobufjs-based decoder with the same contract as {@link decodeLogsProtobuf}. */
export interface ProtobufjsLogsDecoder {
  decode(bytes: Uint8Array): DecodeResult;
}

/**
 * Create the protobufjs reference decoder (loads the protos once, synchronously).
 * Differences from the hand-rolled decoder: protobufjs does not check UTF-8 validity or wire types
 * of known fields as strictly, so it accepts some inputs the hand-rolled decoder rejects.
 */
export function createProtobufjsLogsDecoder(): ProtobufjsLogsDecoder {
  const type = loadOtlpLogsRoot().lookupType(EXPORT_LOGS_REQUEST_TYPE);
  return {
    decode(bytes: Uint8Array): DecodeResult {
      try {
        const msg = type.decode(bytes) as unknown as PbRequest;
        let recordCount = 0;
        const logs: DecodedLogs = { resourceLogs: [] };
        (msg.resourceLogs ?? []).forEach((rl, ri) => {
          logs.resourceLogs.push({
            resource: { attributes: attributes(rl.resource?.attributes) },
            schemaUrl: rl.schemaUrl ?? '',
            scopeLogs: (rl.scopeLogs ?? []).map((sl, si) => {
              const scope: ScopeView = {
                name: sl.scope?.name ?? '',
                version: sl.scope?.version ?? '',
                attributes: attributes(sl.scope?.attributes),
              };
              const logRecords = (sl.logRecords ?? []).map((lr, li): LogRecordView => {
                try {
                  recordCount++;
                  return {
                    timeUnixNano: toBigUint(lr.timeUnixNano),
                    observedTimeUnixNano: toBigUint(lr.observedTimeUnixNano),
                    severityNumber: lr.severityNumber ?? 0,
                    severityText: lr.severityText ?? '',
                    eventName: lr.eventName ?? '',
                    body: lr.body === undefined || lr.body === null ? undefined : anyValue(lr.body),
                    attributes: attributes(lr.attributes),
                    traceId: hexId(lr.traceId, 16, 'traceId'),
                    spanId: hexId(lr.spanId, 8, 'spanId'),
                    flags: lr.flags ?? 0,
                  };
                } catch (e) {
                  throw e instanceof DecodeFailure ? e.at(`logRecords[${li}]`).at(`scopeLogs[${si}]`).at(`resourceLogs[${ri}]`) : e;
                }
              });
              return { scope, schemaUrl: sl.schemaUrl ?? '', logRecords };
            }),
          });
        });
        return { ok: true, logs, recordCount };
      } catch (err) {
        return decodeFailureResult(err, 'protobuf');
      }
    },
  };
}
