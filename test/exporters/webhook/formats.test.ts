/**
 * The `ocsf` and `splunk-hec` webhook formats, end to end: events of every mapped OCSF class go
 * through a receiver to real endpoints. Each OCSF event is checked field by field against the class
 * definitions written down below from the OCSF schema (ocsf-schema `events/iam/*.json`,
 * `events/application/api_activity.json`, `objects/user.json`, `objects/metadata.json`,
 * `objects/api.json`, `objects/managed_entity.json`; schema.ocsf.io 1.3.0). The Splunk HEC body is
 * read the way HEC reads it: concatenated JSON objects, `event` required, `time` numeric.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '@otel-audit/schema';
import { afterAll, describe, expect, it } from 'vitest';
import { createOcsfMapper } from '../../../exporters/webhook/index.ts';
import { createReceiver } from '../../../receiver/index.ts';
import { eventually } from '../../e2e/helpers/receiver-process.ts';
import { parseHec, parseNdjson, startEndpoint } from './helpers/endpoint.ts';
import { makeEvent, sendEvents } from './helpers/events.ts';

const SECRET = 'formats-secret-0123456789abcdef';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// ---- OCSF definitions (from the OCSF schema, not from the implementation) --------------------

/** Attributes of `base_event` (OCSF 1.x), required ones marked. */
const BASE_REQUIRED = ['activity_id', 'category_uid', 'class_uid', 'type_uid', 'severity_id', 'time', 'metadata'];
const BASE_ALLOWED = [
  ...BASE_REQUIRED,
  'activity_name',
  'category_name',
  'class_name',
  'type_name',
  'severity',
  'status',
  'status_id',
  'status_code',
  'status_detail',
  'message',
  'count',
  'duration',
  'start_time',
  'end_time',
  'timezone_offset',
  'raw_data',
  'unmapped',
  'observables',
  'enrichments',
  'cloud',
];
/** `iam` (category 3) adds these to every IAM class. */
const IAM_ALLOWED = ['http_request', 'http_response', 'src_endpoint', 'actor', 'device'];
/** status_id enum (base_event). */
const STATUS = { 0: 'Unknown', 1: 'Success', 2: 'Failure', 99: 'Other' } as Record<number, string>;
/** severity_id enum (base_event). */
const SEVERITY = { 0: 'Unknown', 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High', 5: 'Critical', 6: 'Fatal', 99: 'Other' } as Record<
  number,
  string
>;
/** user.type_id enum (objects/user.json). */
const USER_TYPE_IDS = [0, 1, 2, 3, 4, 99];

interface ClassDef {
  name: string;
  category_uid: number;
  category_name: string;
  activities: Record<number, string>;
  required: string[];
  allowed: string[];
  /** Constraint `at_least_one` of the class. */
  atLeastOne?: string[];
}

const OCSF: Record<number, ClassDef> = {
  3001: {
    name: 'Account Change',
    category_uid: 3,
    category_name: 'Identity & Access Management',
    activities: {
      0: 'Unknown',
      1: 'Create',
      2: 'Enable',
      3: 'Password Change',
      4: 'Password Reset',
      5: 'Disable',
      6: 'Delete',
      7: 'Attach Policy',
      8: 'Detach Policy',
      9: 'Lock',
      99: 'Other',
    },
    required: ['user'],
    allowed: ['user', 'user_result', 'policy'],
  },
  3002: {
    name: 'Authentication',
    category_uid: 3,
    category_name: 'Identity & Access Management',
    activities: {
      0: 'Unknown',
      1: 'Logon',
      2: 'Logoff',
      3: 'Authentication Ticket',
      4: 'Service Ticket Request',
      5: 'Service Ticket Renew',
      99: 'Other',
    },
    required: ['user'],
    allowed: [
      'user',
      'auth_protocol',
      'auth_protocol_id',
      'certificate',
      'dst_endpoint',
      'is_cleartext',
      'is_mfa',
      'is_new_logon',
      'is_remote',
      'logon_process',
      'logon_type',
      'logon_type_id',
      'service',
      'session',
    ],
    atLeastOne: ['service', 'dst_endpoint'],
  },
  3004: {
    name: 'Entity Management',
    category_uid: 3,
    category_name: 'Identity & Access Management',
    activities: { 0: 'Unknown', 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 99: 'Other' },
    required: ['entity'],
    allowed: ['entity', 'entity_result', 'comment'],
  },
  3006: {
    name: 'Group Management',
    category_uid: 3,
    category_name: 'Identity & Access Management',
    activities: { 0: 'Unknown', 1: 'Assign Privileges', 2: 'Revoke Privileges', 3: 'Add User', 4: 'Remove User', 99: 'Other' },
    required: ['group'],
    allowed: ['group', 'privileges', 'resource', 'user'],
    atLeastOne: ['privileges', 'user'],
  },
  6003: {
    name: 'API Activity',
    category_uid: 6,
    category_name: 'Application Activity',
    activities: { 0: 'Unknown', 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 99: 'Other' },
    required: ['actor', 'api', 'src_endpoint'],
    allowed: ['actor', 'api', 'dst_endpoint', 'http_request', 'http_response', 'resources', 'src_endpoint'],
  },
};

function checkUser(u: Record<string, unknown>): void {
  // objects/user.json: at_least_one of account, name, uid; type_id from the enum.
  expect(u.uid !== undefined || u.name !== undefined || u.account !== undefined).toBe(true);
  if (u.type_id !== undefined) expect(USER_TYPE_IDS).toContain(u.type_id);
  if (u.type_id === 99) expect(typeof u.type).toBe('string');
}

/** Check one OCSF event against its class definition and the audit event it came from. */
function checkOcsf(
  o: Record<string, unknown>,
  source: AuditEvent,
  expected: { classUid: number; activityId: number; severityId?: number },
): void {
  const def = OCSF[expected.classUid]!;
  expect(o.class_uid).toBe(expected.classUid);
  expect(o.class_name).toBe(def.name);
  expect(o.category_uid).toBe(def.category_uid);
  expect(o.category_name).toBe(def.category_name);
  expect(o.activity_id).toBe(expected.activityId);
  expect(o.activity_name).toBe(def.activities[expected.activityId]);
  expect(o.type_uid).toBe(expected.classUid * 100 + expected.activityId);
  expect(o.type_name).toBe(`${def.name}: ${def.activities[expected.activityId]}`);
  for (const k of [...BASE_REQUIRED, ...def.required]) expect(o, `required ${k}`).toHaveProperty(k);
  const allowed = new Set([...BASE_ALLOWED, ...(def.category_uid === 3 ? IAM_ALLOWED : []), ...def.allowed]);
  for (const k of Object.keys(o)) expect(allowed.has(k), `attribute ${k} of class ${expected.classUid}`).toBe(true);
  if (def.atLeastOne)
    expect(
      def.atLeastOne.some((k) => o[k] !== undefined),
      `at least one of ${def.atLeastOne.join(', ')}`,
    ).toBe(true);
  // Severity and status enums and their captions.
  const sev = expected.severityId ?? (source.outcome === 'success' ? 1 : source.outcome === 'failure' ? 2 : 3);
  expect(o.severity_id).toBe(sev);
  expect(o.severity).toBe(SEVERITY[sev]);
  expect(o.status_id).toBe(source.outcome === 'success' ? 1 : 2);
  expect(o.status).toBe(STATUS[o.status_id as number]);
  if (source.outcome === 'denied') expect(o.status_detail).toBe(source.reason ? `denied: ${source.reason}` : 'denied');
  // time: timestamp_t, milliseconds since the epoch.
  expect(o.time).toBe(Date.parse(source.occurredAt));
  expect(Number.isInteger(o.time)).toBe(true);
  // metadata: product and version required; uid = the event id; tenant.
  const m = o.metadata as Record<string, unknown>;
  expect(m.version).toBe('1.3.0');
  expect((m.product as Record<string, unknown>).name).toBe('otel-audit');
  expect((m.product as Record<string, unknown>).vendor_name).toBe('otel-audit');
  expect(m.uid).toBe(source.eventId);
  expect(m.tenant_uid).toBe(source.tenant.id);
  expect(m.original_time).toBe(source.occurredAt);
  // actor.user from the audit actor.
  const actor = o.actor as Record<string, unknown>;
  const au = actor.user as Record<string, unknown>;
  checkUser(au);
  expect(au.uid).toBe(source.actor.id);
  if (source.actor.type === 'user') expect([au.type_id, au.type]).toEqual([1, 'User']);
  if (source.actor.type === 'system') expect([au.type_id, au.type]).toEqual([3, 'System']);
  if (source.session) expect((actor.session as Record<string, unknown>).uid).toBe(source.session.id);
  if (o.user !== undefined) checkUser(o.user as Record<string, unknown>);
  // Request context.
  if (source.request?.ip) expect(o.src_endpoint).toEqual({ ip: source.request.ip });
  if (source.request?.userAgent) expect((o.http_request as Record<string, unknown>).user_agent).toBe(source.request.userAgent);
  // Chain position kept (unmapped).
  const u = (o.unmapped as Record<string, Record<string, unknown>>).otel_audit!;
  expect(u.action).toBe(source.action);
  expect(u.hash).toMatch(/^[0-9a-f]{64}$/);
  expect(typeof u.seq).toBe('number');
}

describe('ocsf and splunk-hec formats', () => {
  it('maps each class as OCSF defines it, and Splunk HEC accepts its body', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-webhook-fmt-'));
    dirs.push(dataDir);
    const ocsfEp = await startEndpoint({ secret: SECRET, path: '/ocsf' });
    const hecEp = await startEndpoint({ secret: SECRET, path: '/services/collector/event' });
    const receiver = createReceiver({
      dataDir,
      http: { port: 0 },
      grpc: { enabled: false },
      exporters: {
        clickhouse: { enabled: false },
        coldstore: { enabled: false },
        webhooks: [
          {
            name: 'ocsf',
            url: ocsfEp.url,
            secret: SECRET,
            format: 'ocsf',
            ocsf: { overrides: [{ prefix: 'billing', classUid: 3004, severityId: 4 }] },
          },
          {
            name: 'splunk',
            url: hecEp.url,
            secret: SECRET,
            format: 'splunk-hec',
            headers: { authorization: 'Splunk 00000000-0000-0000-0000-000000000000' },
            splunk: { host: 'audit-1', index: 'audit', sourcetype: 'otel:audit' },
          },
        ],
      },
      pipeline: { exporters: { maxBatchDelayMillis: 10 } },
    });
    try {
      const { http } = await receiver.start();
      const ip = '203.0.113.7';
      const cases: Array<[AuditEvent, { classUid: number; activityId: number; severityId?: number }]> = [
        [
          makeEvent({
            action: 'user.login',
            actor: { id: 'alice', type: 'user', name: 'Alice', authMethod: 'oidc' },
            session: { id: 's-1' },
            request: { ip, userAgent: 'curl/8' },
          }),
          { classUid: 3002, activityId: 1 },
        ],
        [
          makeEvent({
            action: 'auth.logout',
            actor: { id: 'alice', type: 'user' },
            targets: [{ type: 'app', id: 'console', name: 'Console' }],
          }),
          { classUid: 3002, activityId: 2 },
        ],
        [
          makeEvent({ action: 'user.create', actor: { id: 'admin', type: 'user' }, targets: [{ type: 'user', id: 'u-9', name: 'bob' }] }),
          { classUid: 3001, activityId: 1 },
        ],
        [
          makeEvent({ action: 'user.password.reset', actor: { id: 'root', type: 'system' }, targets: [{ type: 'user', id: 'u-9' }] }),
          { classUid: 3001, activityId: 4 },
        ],
        [
          makeEvent({
            action: 'account.disable',
            outcome: 'denied',
            reason: 'not an owner',
            actor: { id: 'mallory', type: 'user' },
            targets: [{ type: 'account', id: 'acct-1' }],
          }),
          { classUid: 3001, activityId: 5 },
        ],
        [
          makeEvent({
            action: 'role.update',
            actor: { id: 'admin', type: 'user' },
            targets: [{ type: 'role', id: 'r-1', name: 'auditor' }],
            reason: 'quarterly review',
          }),
          { classUid: 3004, activityId: 3 },
        ],
        [
          makeEvent({ action: 'grant.issue', actor: { id: 'svc-a', type: 'service' }, targets: [{ type: 'grant', id: 'g-1' }] }),
          { classUid: 3004, activityId: 1 },
        ],
        [
          makeEvent({
            action: 'group.member.add',
            actor: { id: 'admin', type: 'user' },
            targets: [
              { type: 'group', id: 'grp-1', name: 'ops' },
              { type: 'user', id: 'u-2' },
            ],
          }),
          { classUid: 3006, activityId: 3 },
        ],
        [
          makeEvent({
            action: 'group.permission.grant',
            outcome: 'failure',
            actor: { id: 'admin', type: 'user' },
            targets: [
              { type: 'group', id: 'grp-1' },
              { type: 'permission', id: 'billing:read' },
            ],
          }),
          { classUid: 3006, activityId: 1 },
        ],
        [
          makeEvent({
            action: 'doc.read',
            actor: { id: 'bob', type: 'user' },
            targets: [{ type: 'doc', id: 'd-1', name: 'Q3.pdf' }],
            request: { ip, method: 'get', path: '/docs/d-1', id: 'req-1' },
          }),
          { classUid: 6003, activityId: 2 },
        ],
        [makeEvent({ action: 'invoice.void', actor: { id: 'bob', type: 'user' }, request: { ip } }), { classUid: 6003, activityId: 99 }],
        [
          makeEvent({ action: 'billing.refund', actor: { id: 'bob', type: 'user' }, targets: [{ type: 'invoice', id: 'inv-1' }] }),
          { classUid: 3004, activityId: 99, severityId: 4 },
        ],
      ];
      await sendEvents(
        http!,
        cases.map(([e]) => e),
      );
      await eventually(async () =>
        ocsfEp.accepted().flatMap((r) => parseNdjson(r.body)).length === cases.length && hecEp.accepted().length > 0 ? true : undefined,
      );

      const ocsf = ocsfEp.accepted().flatMap((r) => parseNdjson(r.body));
      const byId = new Map(ocsf.map((o) => [(o.metadata as { uid: string }).uid, o]));
      for (const [event, expected] of cases) {
        const o = byId.get(event.eventId)!;
        expect(o, event.action).toBeDefined();
        checkOcsf(o, event, expected);
      }
      // Class-specific objects.
      const get = (i: number) => byId.get(cases[i]![0].eventId)!;
      expect(get(0).user).toEqual({ uid: 'alice', name: 'Alice', type_id: 1, type: 'User' });
      expect([get(0).auth_protocol_id, get(0).auth_protocol]).toEqual([4, 'OpenID']);
      expect(get(0).session).toEqual({ uid: 's-1' });
      expect(get(0).service).toEqual({ name: 'webhook-test' }); // the producer's OTel service.name
      expect(get(1).service).toEqual({ uid: 'console', name: 'Console' });
      expect(get(2).user).toEqual({ uid: 'u-9', name: 'bob', type_id: 99, type: 'user' });
      expect(get(4).status_detail).toBe('denied: not an owner');
      expect(get(5).entity).toEqual({ uid: 'r-1', name: 'auditor', type: 'role' });
      expect(get(5).comment).toBe('quarterly review');
      expect(get(7).group).toEqual({ uid: 'grp-1', name: 'ops', type: 'group' });
      expect(get(7).user).toMatchObject({ uid: 'u-2' });
      expect(get(8).privileges).toEqual(['permission:billing:read']);
      expect(get(9).api).toEqual({ operation: 'doc.read', request: { uid: 'req-1' } });
      expect(get(9).resources).toEqual([{ uid: 'd-1', name: 'Q3.pdf', type: 'doc' }]);
      expect(get(9).http_request).toEqual({ uid: 'req-1', http_method: 'GET', url: { path: '/docs/d-1' } });

      // Splunk HEC: concatenated objects, numeric time, the envelope, the otel-audit record as event.
      for (const r of hecEp.accepted()) {
        expect(r.headers.authorization).toBe('Splunk 00000000-0000-0000-0000-000000000000');
        expect(r.body.trimStart().startsWith('[')).toBe(false);
      }
      const hec = hecEp.accepted().flatMap((r) => parseHec(r.body));
      expect(hec).toHaveLength(cases.length);
      hec.forEach((h, i) => {
        const e = cases[i]![0];
        expect(h.time).toBe(Date.parse(e.occurredAt) / 1000);
        expect(h).toMatchObject({ host: 'audit-1', source: 'otel-audit', sourcetype: 'otel:audit', index: 'audit' });
        expect((h.event as { event: AuditEvent }).event).toEqual(e);
        expect(h.fields).toMatchObject({ tenant_id: e.tenant.id, action: e.action, outcome: e.outcome, actor_id: e.actor.id });
      });
    } finally {
      await receiver.shutdown();
      await ocsfEp.close();
      await hecEp.close();
    }
  });

  it('classifies by override, logon verb, built-in prefix and default, longest prefix first', () => {
    const m = createOcsfMapper({
      overrides: [
        { prefix: 'user', classUid: 6003 },
        { prefix: 'user.session', classUid: 3002, activityId: 1 },
      ],
    });
    expect(m.classify('user.session.open')).toMatchObject({ classUid: 3002, activityId: 1, rule: 'override:user.session' });
    expect(m.classify('user.delete')).toMatchObject({ classUid: 6003, activityId: 4, rule: 'override:user' });
    expect(m.classify('tenant.login')).toMatchObject({ classUid: 3002, activityId: 1, rule: 'verb' });
    expect(m.classify('account.lock')).toMatchObject({ classUid: 3001, activityId: 9, rule: 'prefix:account' });
    expect(m.classify('widget.frobnicate')).toMatchObject({ classUid: 6003, activityId: 99, rule: 'default' });
  });
});
