/**
 * What real log shippers send, into a real `otel-audit start` process with embedded ClickHouse
 * (chDB), integrity on and the local archive: requests shaped like Fluent Bit's `opentelemetry`
 * output (OTLP/HTTP protobuf, gzip; `logs_body_key message` + `logs_body_key_attributes true`:
 * the body is the line's message text, the other keys flat attributes typed as the JSON parser saw
 * them, no event id, no event_name), like the OTel Collector's `otlphttp` exporter (protobuf and
 * `encoding: json`, gzip), the OTLP spec's `examples/logs.json` record with the audit attributes
 * added, and v4 / v7 ids. Every record is stored with its text body intact (`message`, ClickHouse
 * `Body`), id-less records get derived UUIDv8 ids (a resent batch is stored once), records without
 * a tenant take the configured default, bad input still gets its answer and a dead letter, and
 * `otel-audit verify` recomputes every chain from the WAL, ClickHouse and the archive.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { deriveEventId } from '@otel-audit/schema';
import { type AuditRow, auditRowToEvent } from '@otel-audit/schema/audit-row';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GeneratedKeyFiles, generateKeyFiles } from '../../integrity/keys.ts';
import { runCli } from '../integrity/e2e-helpers.ts';
import { decodeExportResponse, post } from '../receiver/helpers/http-client.ts';
import { encodeRequest } from '../receiver/helpers/otlp-fixtures.ts';
import { eventually, type ReceiverProcess, startReceiverProcess } from './helpers/receiver-process.ts';

const DEFAULT_TENANT = 'shipper-default';
const V4 = '9b2f3c1e-4d5a-4b6c-8d7e-0f1a2b3c4d5e';
const V7 = '0193a1b2-c3d4-7e5f-8a9b-0000000000c7';

let dataDir: string;
let key: GeneratedKeyFiles;
let receiver: ReceiverProcess | undefined;

const s = (stringValue: string) => ({ stringValue });
const attr = (key: string, value: unknown) => ({ key, value });

/** protobufjs object form of one Fluent Bit record (tail + json parser → opentelemetry output). */
function fluentBitRecord(line: { time: bigint; message: string; attrs: Array<{ key: string; value: unknown }> }): Record<string, unknown> {
  // Fluent Bit sets both times from the record's timestamp; severity from the configured keys.
  return {
    timeUnixNano: String(line.time),
    observedTimeUnixNano: String(line.time),
    severityText: 'info',
    body: s(line.message),
    attributes: line.attrs,
  };
}

/** Fluent Bit: flat attributes typed by the JSON parser (numbers where the line had numbers), no event id. */
function fluentBitRequest(): Buffer {
  const records = [
    fluentBitRecord({
      time: 1_795_341_600_000_000_000n,
      message: 'user alice logged in',
      attrs: [
        attr('audit.schema_version', s('1.0')),
        attr('audit.action', s('user.login')),
        attr('audit.outcome', s('success')),
        attr('audit.actor.id', s('alice')),
        attr('audit.actor.type', s('user')),
        attr('audit.tenant.id', s('acme')),
        attr('client.address', s('203.0.113.7')),
        attr('pid', { intValue: 4242 }),
        attr('log.file.path', s('/var/log/app/audit.log')),
      ],
    }),
    fluentBitRecord({
      time: 1_795_341_601_000_000_000n,
      message: 'document 77 deleted by 1001',
      attrs: [
        // The line had `"audit.schema_version": 1.0`, a numeric actor id and a single target id.
        attr('audit.schema_version', { doubleValue: 1 }),
        attr('audit.action', s('document.delete')),
        attr('audit.outcome', s('success')),
        attr('audit.actor.id', { intValue: 1001 }),
        attr('audit.actor.type', s('user')),
        attr('audit.target.types', s('document')),
        attr('audit.target.ids', { intValue: 77 }),
        attr('latency_ms', { doubleValue: 12.5 }),
      ],
    }),
    fluentBitRecord({
      time: 1_795_341_602_000_000_000n,
      message: 'password changed',
      attrs: [
        attr('audit.schema_version', s('1.0')),
        attr('audit.event_id', s(V4.toUpperCase())),
        attr('audit.action', s('user.password_change')),
        attr('audit.outcome', s('success')),
        attr('audit.actor.id', s('bob')),
        attr('audit.actor.type', s('user')),
        attr('audit.tenant.id', s('acme')),
      ],
    }),
  ];
  // Fluent Bit sends no resource attributes and an empty scope for tail input.
  return gzipSync(encodeRequest({ resourceLogs: [{ resource: {}, scopeLogs: [{ scope: {}, logRecords: records }] }] }));
}

/** The Collector's otlphttp exporter (encoding: proto): filelog receiver + json_parser into attributes. */
function collectorProtoRequest(): Buffer {
  const common = [
    attr('audit.schema_version', s('1.0')),
    attr('audit.outcome', s('denied')),
    attr('audit.actor.id', s('svc-billing')),
    attr('audit.actor.type', s('service')),
    attr('audit.tenant.id', s('globex')),
    attr('log.file.name', s('audit.log')),
  ];
  const line = '{"msg":"refund refused","amount":125.5,"currency":"EUR"}';
  return gzipSync(
    encodeRequest({
      resourceLogs: [
        {
          resource: { attributes: [attr('service.name', s('billing')), attr('host.name', s('node-7'))] },
          scopeLogs: [
            {
              scope: {},
              logRecords: [
                {
                  timeUnixNano: '1795341603123456789',
                  observedTimeUnixNano: '1795341603200000000',
                  body: s('refund refused: over limit'),
                  attributes: [...common, attr('audit.event_id', s(V7)), attr('audit.action', s('refund.create'))],
                },
                // The filelog receiver keeps the raw line as the body: JSON-object text, so it is `details`.
                {
                  observedTimeUnixNano: '1795341604000000000',
                  body: s(line),
                  attributes: [...common, attr('audit.action', s('refund.review'))],
                },
              ],
            },
          ],
        },
      ],
    }),
  );
}

/** The Collector's otlphttp exporter with `encoding: json` (pdata's JSON: int64 as strings, severity as a number). */
function collectorJsonRequest(): Buffer {
  return gzipSync(
    JSON.stringify({
      resourceLogs: [
        {
          resource: { attributes: [attr('service.name', s('admin-api'))] },
          scopeLogs: [
            {
              scope: {},
              logRecords: [
                {
                  timeUnixNano: '1795341605000000000',
                  observedTimeUnixNano: '1795341605000000001',
                  severityNumber: 9,
                  severityText: 'INFO',
                  body: s('role admin granted to carol'),
                  attributes: [
                    attr('audit.schema_version', s('1.0')),
                    attr('audit.action', s('role.grant')),
                    attr('audit.outcome', s('success')),
                    attr('audit.actor.id', s('dave')),
                    attr('audit.actor.type', s('user')),
                    attr('audit.tenant.id', s('acme')),
                    attr('audit.target.types', { arrayValue: { values: [s('user')] } }),
                    attr('audit.target.ids', { arrayValue: { values: [s('carol')] } }),
                    attr('retry', { intValue: '0' }),
                  ],
                  traceId: '0af7651916cd43dd8448eb211c80319c',
                  spanId: 'b7ad6b7169203331',
                  flags: 1,
                },
              ],
            },
          ],
        },
      ],
    }),
  );
}

/**
 * The record of the OTLP spec's examples/logs.json (open-telemetry/opentelemetry-proto, its values:
 * numeric timeUnixNano beyond 2^53, upper-case hex ids, "Information" severity text, a text body,
 * attributes of every type) with the audit attributes added.
 */
function specExampleRequest(): string {
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [attr('service.name', s('my.service'))] },
        scopeLogs: [
          {
            scope: { name: 'my.library', version: '1.0.0', attributes: [attr('my.scope.attribute', s('some scope attribute'))] },
            logRecords: [
              {
                timeUnixNano: 1544712660300000000,
                observedTimeUnixNano: 1544712660300000000,
                severityText: 'Information',
                traceId: '5B8EFFF798038103D269B633813FC60C',
                spanId: 'EEE19B7EC3C1B174',
                body: s('Example log record'),
                attributes: [
                  attr('string.attribute', s('some string')),
                  attr('boolean.attribute', { boolValue: true }),
                  attr('int.attribute', { intValue: 10 }),
                  attr('double.attribute', { doubleValue: 637.704 }),
                  attr('array.attribute', { arrayValue: { values: [s('many'), s('values')] } }),
                  attr('map.attribute', { kvlistValue: { values: [attr('some.map.key', s('some value'))] } }),
                  attr('audit.schema_version', s('1.0')),
                  attr('audit.action', s('example.log')),
                  attr('audit.outcome', s('success')),
                  attr('audit.actor.id', s('my.service')),
                  attr('audit.actor.type', s('service')),
                  attr('audit.tenant.id', s('acme')),
                ],
              },
            ],
          },
        ],
      },
    ],
  });
}

/** A record that cannot be kept: no actor, an unknown outcome. */
function badRequest(): string {
  return JSON.stringify({
    resourceLogs: [
      {
        scopeLogs: [
          {
            logRecords: [
              {
                timeUnixNano: '1795341606000000000',
                body: s('mystery'),
                attributes: [attr('audit.schema_version', s('1.0')), attr('audit.action', s('x.y')), attr('audit.outcome', s('maybe'))],
              },
            ],
          },
        ],
      },
    ],
  });
}

async function send(body: Buffer | string, type: 'protobuf' | 'json', gzip: boolean) {
  const headers: Record<string, string> = { 'content-type': type === 'protobuf' ? 'application/x-protobuf' : 'application/json' };
  if (gzip) headers['content-encoding'] = 'gzip';
  const r = await post(`${receiver!.http}/v1/logs`, { headers, body });
  const partial =
    r.status !== 200
      ? undefined
      : type === 'protobuf'
        ? decodeExportResponse(r.body).partialSuccess
        : (JSON.parse(r.body.toString('utf8')) as { partialSuccess?: { rejectedLogRecords?: string | number; errorMessage?: string } })
            .partialSuccess;
  return { status: r.status, rejected: Number(partial?.rejectedLogRecords ?? 0), message: partial?.errorMessage ?? '' };
}

async function rows(): Promise<AuditRow[]> {
  const client = createClient({ url: receiver!.http, pathname: '/clickhouse', log: { level: ClickHouseLogLevel.OFF } });
  try {
    const rs = await client.query({ query: 'SELECT * FROM otel_audit.audit_events ORDER BY Timestamp', format: 'JSONEachRow' });
    return await rs.json<AuditRow>();
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-shapes-'));
  key = await generateKeyFiles({ name: 'otel-audit/shapes', outDir: join(dataDir, 'keys') });
  receiver = await startReceiverProcess({
    dataDir,
    env: {
      OTEL_AUDIT_PIPELINE__EXPORTERS__MAX_BATCH_DELAY_MILLIS: '20',
      OTEL_AUDIT_PIPELINE__DEFAULT_TENANT_ID: DEFAULT_TENANT,
      OTEL_AUDIT_INTEGRITY__ENABLED: 'true',
      OTEL_AUDIT_INTEGRITY__SIGNING_KEY_FILE: key.signerPath,
      OTEL_AUDIT_INTEGRITY__CHECKPOINT_INTERVAL_MILLIS: '100',
      OTEL_AUDIT_EXPORTERS__COLDSTORE__MAX_OBJECT_AGE_MILLIS: '50',
    },
  });
}, 60_000);

afterAll(async () => {
  await receiver?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('records shaped like real shippers', () => {
  let stored: AuditRow[] = [];

  it('accepts every record of Fluent Bit, the Collector (proto and JSON) and the spec example; a resent id-less batch is stored once', async () => {
    expect(await send(fluentBitRequest(), 'protobuf', true)).toEqual({ status: 200, rejected: 0, message: '' });
    expect(await send(collectorProtoRequest(), 'protobuf', true)).toEqual({ status: 200, rejected: 0, message: '' });
    expect(await send(collectorJsonRequest(), 'json', true)).toEqual({ status: 200, rejected: 0, message: '' });
    expect(await send(specExampleRequest(), 'json', false)).toEqual({ status: 200, rejected: 0, message: '' });
    // Fluent Bit retries the same batch after a timeout: same content, so the same derived ids.
    expect(await send(fluentBitRequest(), 'protobuf', true)).toEqual({ status: 200, rejected: 0, message: '' });
    const bad = await send(badRequest(), 'json', false);
    expect(bad.status).toBe(200);
    expect(bad.rejected).toBe(1);
    expect(bad.message).toMatch(/record 0: .*outcome/);
    expect(bad.message).toMatch(/actor/);

    stored = await eventually(async () => {
      const r = await rows();
      return r.length >= 7 ? r : undefined;
    });
    expect(stored).toHaveLength(7);
  });

  it('keeps text bodies verbatim as message / Body and JSON-object bodies as details', () => {
    const byAction = new Map(stored.map((r) => [r.Action, r]));
    const expectations: Array<[string, string]> = [
      ['user.login', 'user alice logged in'],
      ['document.delete', 'document 77 deleted by 1001'],
      ['user.password_change', 'password changed'],
      ['refund.create', 'refund refused: over limit'],
      ['refund.review', '{"msg":"refund refused","amount":125.5,"currency":"EUR"}'],
      ['role.grant', 'role admin granted to carol'],
      ['example.log', 'Example log record'],
    ];
    for (const [action, body] of expectations) {
      const row = byAction.get(action);
      expect(row, action).toBeDefined();
      const event = auditRowToEvent(row!);
      if (action === 'refund.review') {
        expect(JSON.parse(row!.Body)).toEqual({ msg: 'refund refused', amount: 125.5, currency: 'EUR' });
        expect(event.details).toEqual({ msg: 'refund refused', amount: 125.5, currency: 'EUR' });
        expect(event.message).toBeUndefined();
      } else {
        expect(row!.Body).toBe(body);
        expect(event.message).toBe(body);
        expect(row!.SchemaVersion).toBe('1.1');
      }
    }
    // Cosmetic shape: numbers where strings were expected, a single value for an array.
    const del = byAction.get('document.delete')!;
    expect([del.ActorId, del.TargetTypes, del.TargetIds, del.TenantId]).toEqual(['1001', ['document'], ['77'], DEFAULT_TENANT]);
    // Unmapped attributes are kept beside the event.
    expect(del.LogAttributes['latency_ms']).toBe('12.5');
    const spec = byAction.get('example.log')!;
    expect([spec.TraceId, spec.SpanId, spec.Timestamp]).toEqual([
      '5b8efff798038103d269b633813fc60c',
      'eee19b7ec3c1b174',
      '2018-12-13 14:51:00.300000000',
    ]);
    expect(spec.LogAttributes['int.attribute']).toBe('10');
    expect(byAction.get('role.grant')!.TraceFlags).toBe(1);
  });

  it('keeps producer ids (v4 lower-cased, v7) and derives a content UUIDv8 for id-less records, marked as derived', () => {
    const byAction = new Map(stored.map((r) => [r.Action, r]));
    expect(byAction.get('user.password_change')!.EventId).toBe(V4);
    expect(byAction.get('refund.create')!.EventId).toBe(V7);
    for (const action of ['user.password_change', 'refund.create']) {
      expect(byAction.get(action)!.LogAttributes['audit.event_id_derived']).toBeUndefined();
      expect(auditRowToEvent(byAction.get(action)!).eventIdDerived).toBeUndefined();
    }
    for (const action of ['user.login', 'document.delete', 'refund.review', 'role.grant', 'example.log']) {
      const row = byAction.get(action)!;
      expect(row.EventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const event = auditRowToEvent(row);
      expect(event.eventIdDerived).toBe(true);
      // Recomputable from what is stored (docs/schema.md, "Derived event ids").
      expect(deriveEventId(event)).toBe(row.EventId);
    }
    expect(new Set(stored.map((r) => r.EventId)).size).toBe(7);
  });

  it('verifies every chain from the WAL, ClickHouse and the archive; the rejected record is a dead letter', async () => {
    // The archive seals objects after 50 ms; wait for checkpoints to cover every chain's head.
    await eventually(async () => {
      const r = await post(`${receiver!.http}/v1/audit/status`, { method: 'GET' });
      if (r.status !== 200) return undefined;
      const status = JSON.parse(r.body.toString('utf8')) as { exporters?: Array<{ cursorLsn: number }>; wal?: { lastLsn: number } };
      return status.exporters?.every((e) => e.cursorLsn === status.wal?.lastLsn) ? true : undefined;
    });
    // Objects older than 50 ms are sealed and uploaded while the receiver runs.
    await eventually(
      async () => {
        const v = await runCli(['verify', '--source', 'archive', '--data-dir', dataDir, '--public-key', key.verifierPath, '--json']);
        return (JSON.parse(v.stdout) as { stats: { entries: number } }).stats.entries === 7 ? true : undefined;
      },
      40,
      250,
    );
    expect(await receiver!.stop(), receiver!.output()).toBe(0);
    receiver = undefined;
    for (const source of ['wal', 'clickhouse', 'archive']) {
      const v = await runCli(['verify', '--source', source, '--data-dir', dataDir, '--public-key', key.verifierPath, '--json']);
      const report = JSON.parse(v.stdout) as { ok: boolean; stats: { entries: number } };
      expect({ source, code: v.code, ok: report.ok }).toEqual({ source, code: 0, ok: true });
      expect({ source, entries: report.stats.entries }).toEqual({ source, entries: 7 });
    }
    const letters = await runCli(['dead-letters', '--data-dir', dataDir]);
    expect(letters.code).toBe(0);
    expect(letters.stdout).toMatch(/record 0 AUDIT_ERR_INVALID_EVENT: .*outcome/);
  });
});
