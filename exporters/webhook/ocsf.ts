/**
 * Mapping of otel-audit records to OCSF 1.3.0 events (Open Cybersecurity Schema Framework,
 * https://schema.ocsf.io/1.3.0/). Used by the `ocsf` webhook format and `otel-audit export --format
 * ocsf`; the table is in docs/webhook.md ("OCSF mapping").
 *
 * The class comes from the action: an override (longest matching prefix) first, then a logon/logoff
 * verb (`*.login`, `*.logout` → Authentication), then the built-in prefixes, else API Activity.
 * The activity comes from the action's verb (its last dotted word) unless the override fixes it.
 * Only activity ids defined for the class since OCSF 1.0 are produced; anything else is 99 Other.
 *
 * Every mapped event carries the base attributes OCSF requires (`activity_id`, `category_uid`,
 * `class_uid`, `type_uid` = class_uid × 100 + activity_id, `severity_id`, `time` in ms, `metadata`
 * with `product` and `version`) and the class's required object (`user`, `entity`, `group`, `api` +
 * `actor`). What has no OCSF attribute (chain position, details, changes) goes to `unmapped.otel_audit`.
 */
import { AuditError } from '@otel-audit/core';
import type { AuditActor, AuditEvent, AuditTarget } from '@otel-audit/schema';
import {
  OCSF_CLASS_UIDS,
  type OcsfClassUid,
  type OcsfOptions,
  type OcsfOptionsInput,
  type OcsfOverride,
  parseOcsfOptions,
} from './config.ts';
import type { AuditRecord } from './record.ts';

/** The OCSF schema version the mapping follows (`metadata.version`). */
export const OCSF_VERSION = '1.3.0';

/** An OCSF event class as the mapping uses it. */
export interface OcsfClassDefinition {
  uid: OcsfClassUid;
  name: string;
  categoryUid: number;
  categoryName: string;
  /** `activity_id` → `activity_name` (plus 0 Unknown and 99 Other, defined for every class). */
  activities: Readonly<Record<number, string>>;
}

const IAM = { categoryUid: 3, categoryName: 'Identity & Access Management' };

/** The classes the mapping produces, with their OCSF activity enumerations. */
export const OCSF_CLASSES: Readonly<Record<OcsfClassUid, OcsfClassDefinition>> = {
  3001: {
    uid: 3001,
    name: 'Account Change',
    ...IAM,
    activities: {
      1: 'Create',
      2: 'Enable',
      3: 'Password Change',
      4: 'Password Reset',
      5: 'Disable',
      6: 'Delete',
      7: 'Attach Policy',
      8: 'Detach Policy',
      9: 'Lock',
    },
  },
  3002: {
    uid: 3002,
    name: 'Authentication',
    ...IAM,
    activities: { 1: 'Logon', 2: 'Logoff', 3: 'Authentication Ticket', 4: 'Service Ticket Request', 5: 'Service Ticket Renew' },
  },
  3004: { uid: 3004, name: 'Entity Management', ...IAM, activities: { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete' } },
  3006: {
    uid: 3006,
    name: 'Group Management',
    ...IAM,
    activities: { 1: 'Assign Privileges', 2: 'Revoke Privileges', 3: 'Add User', 4: 'Remove User' },
  },
  6003: {
    uid: 6003,
    name: 'API Activity',
    categoryUid: 6,
    categoryName: 'Application Activity',
    activities: { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete' },
  },
};

/** OCSF `severity_id` captions. */
export const OCSF_SEVERITIES: Readonly<Record<number, string>> = {
  0: 'Unknown',
  1: 'Informational',
  2: 'Low',
  3: 'Medium',
  4: 'High',
  5: 'Critical',
  6: 'Fatal',
  99: 'Other',
};

/** Built-in action prefixes → class (overridable per prefix in config). */
export const OCSF_DEFAULT_PREFIXES: Readonly<Record<string, OcsfClassUid>> = {
  auth: 3002,
  authn: 3002,
  authentication: 3002,
  login: 3002,
  logout: 3002,
  session: 3002,
  sso: 3002,
  user: 3001,
  account: 3001,
  password: 3001,
  group: 3006,
  team: 3006,
  role: 3004,
  grant: 3004,
  permission: 3004,
  policy: 3004,
  entity: 3004,
  apikey: 3004,
  api_key: 3004,
  token: 3004,
  organization: 3004,
  org: 3004,
  tenant: 3004,
  config: 3004,
  settings: 3004,
};

/** Verbs (last dotted word, lower case) that make an event an Authentication, whatever its prefix. */
const LOGON = new Set(['login', 'logon', 'signin', 'sign_in', 'sign-in', 'authenticate']);
const LOGOFF = new Set(['logout', 'logoff', 'signout', 'sign_out', 'sign-out']);

const CREATE = new Set([
  'create',
  'created',
  'add',
  'added',
  'insert',
  'issue',
  'issued',
  'new',
  'register',
  'invite',
  'import',
  'upload',
  'generate',
  'provision',
]);
const READ = new Set(['read', 'get', 'list', 'view', 'export', 'download', 'search', 'query', 'access', 'show', 'describe', 'fetch']);
const UPDATE = new Set([
  'update',
  'updated',
  'edit',
  'modify',
  'change',
  'changed',
  'patch',
  'set',
  'rename',
  'move',
  'enable',
  'disable',
  'rotate',
  'assign',
  'unassign',
  'reset',
  'approve',
  'reject',
  'grant',
  'lock',
  'unlock',
]);
const DELETE = new Set(['delete', 'deleted', 'remove', 'removed', 'revoke', 'revoked', 'destroy', 'purge', 'deprovision', 'expire']);

function crudActivity(verb: string): number {
  if (CREATE.has(verb)) return 1;
  if (READ.has(verb)) return 2;
  if (UPDATE.has(verb)) return 3;
  if (DELETE.has(verb)) return 4;
  return 99;
}

function accountActivity(words: string[], verb: string): number {
  const has = (w: string) => words.includes(w);
  if (words.some((w) => w.includes('password'))) return has('reset') ? 4 : 3;
  if (words.some((w) => w === 'attach_policy' || w === 'policy.attach') || (has('policy') && has('attach'))) return 7;
  if (has('policy') && has('detach')) return 8;
  if (['create', 'add', 'register', 'invite', 'provision', 'signup'].includes(verb)) return 1;
  if (['enable', 'activate', 'reactivate'].includes(verb)) return 2;
  if (['disable', 'deactivate', 'suspend'].includes(verb)) return 5;
  if (['delete', 'remove', 'deprovision', 'erase'].includes(verb)) return 6;
  if (['lock', 'lockout', 'locked'].includes(verb)) return 9;
  return 99;
}

function groupActivity(words: string[], verb: string): number {
  const member = words.some((w) => w === 'member' || w === 'members' || w === 'user' || w === 'users');
  if (['add_member', 'join'].includes(verb) || (member && ['add', 'added', 'invite'].includes(verb))) return 3;
  if (['remove_member', 'leave'].includes(verb) || (member && ['remove', 'removed', 'delete'].includes(verb))) return 4;
  if (['grant', 'assign'].includes(verb) || (words.includes('privilege') && verb === 'add')) return 1;
  if (['revoke', 'unassign'].includes(verb)) return 2;
  return 99;
}

function authActivity(verb: string): number {
  if (LOGON.has(verb)) return 1;
  if (LOGOFF.has(verb)) return 2;
  return 99;
}

/** OCSF `auth_protocol_id` of the actor's authentication method (99 Other with the name otherwise). */
const AUTH_PROTOCOLS: Readonly<Record<string, [number, string]>> = {
  ntlm: [1, 'NTLM'],
  kerberos: [2, 'Kerberos'],
  digest: [3, 'Digest'],
  oidc: [4, 'OpenID'],
  openid: [4, 'OpenID'],
  saml: [5, 'SAML'],
  oauth: [6, 'OAUTH 2.0'],
  oauth2: [6, 'OAUTH 2.0'],
};

/** OCSF `user.type_id`: User 1, System 3; the other actor types are 99 Other with `type` kept. */
function ocsfUser(u: { id: string; name?: string | undefined; type?: string | undefined }): Record<string, unknown> {
  const t = u.type;
  const typed =
    t === 'user'
      ? { type_id: 1, type: 'User' }
      : t === 'system'
        ? { type_id: 3, type: 'System' }
        : t !== undefined
          ? { type_id: 99, type: t }
          : {};
  return { uid: u.id, ...(u.name !== undefined ? { name: u.name } : {}), ...typed };
}

function actorUser(a: AuditActor): Record<string, unknown> {
  return ocsfUser({ id: a.id, name: a.name, type: a.type });
}

function targetUser(t: AuditTarget): Record<string, unknown> {
  return { uid: t.id, ...(t.name !== undefined ? { name: t.name } : {}), type_id: 99, type: t.type };
}

function entityOf(t: AuditTarget): Record<string, unknown> {
  return { uid: t.id, ...(t.name !== undefined ? { name: t.name } : {}), type: t.type };
}

/** The mapping's decision for one action. */
export interface OcsfClassification {
  classUid: OcsfClassUid;
  activityId: number;
  /** The rule that chose the class: `override:<prefix>`, `verb`, `prefix:<prefix>` or `default`. */
  rule: string;
  severityId?: number;
}

/** Maps records to OCSF events with a fixed configuration. */
export interface OcsfMapper {
  readonly options: OcsfOptions;
  /** Class and activity of an action. */
  classify(action: string): OcsfClassification;
  /** The OCSF event of a record. */
  map(record: AuditRecord): Record<string, unknown>;
}

function longestPrefix<T>(action: string, table: ReadonlyMap<string, T>): [string, T] | undefined {
  const words = action.split('.');
  for (let n = words.length; n > 0; n--) {
    const p = words.slice(0, n).join('.');
    const hit = table.get(p);
    if (hit !== undefined) return [p, hit];
  }
  return undefined;
}

/**
 * Create a mapper. Overrides are checked against the class's activities.
 * @param prefix where the options sit in the config, for error messages.
 * @throws AuditError `AUDIT_ERR_INVALID_CONFIG` naming the bad key.
 */
export function createOcsfMapper(input: OcsfOptionsInput | OcsfOptions = {}, prefix = 'ocsf'): OcsfMapper {
  const options = parseOcsfOptions(input, prefix);
  const overrides = new Map<string, OcsfOverride>();
  options.overrides.forEach((o, i) => {
    if (o.activityId !== undefined && o.activityId !== 0 && o.activityId !== 99) {
      const cls = o.classUid;
      if (cls === undefined) {
        throw new AuditError('AUDIT_ERR_INVALID_CONFIG', `${prefix}.overrides.${i}.activityId: a fixed activityId needs classUid`, {
          path: `${prefix}.overrides.${i}.activityId`,
        });
      }
      if (OCSF_CLASSES[cls].activities[o.activityId] === undefined) {
        throw new AuditError(
          'AUDIT_ERR_INVALID_CONFIG',
          `${prefix}.overrides.${i}.activityId: ${o.activityId} is not an activity of OCSF class ${cls} (${OCSF_CLASSES[cls].name}); use one of ${Object.keys(OCSF_CLASSES[cls].activities).join(', ')}, 0 or 99`,
          { path: `${prefix}.overrides.${i}.activityId` },
        );
      }
    }
    overrides.set(o.prefix, o);
  });
  const defaults = new Map(Object.entries(OCSF_DEFAULT_PREFIXES));

  function classify(action: string): OcsfClassification {
    const words = action.toLowerCase().split('.');
    const verb = words[words.length - 1]!;
    const activityFor = (cls: OcsfClassUid): number => {
      switch (cls) {
        case 3001:
          return accountActivity(words, verb);
        case 3002:
          return authActivity(verb);
        case 3006:
          return groupActivity(words, verb);
        default:
          return crudActivity(verb);
      }
    };
    const o = longestPrefix(action, overrides);
    if (o) {
      const [p, ov] = o;
      const base = ov.classUid ?? builtIn(action, words, verb).classUid;
      return {
        classUid: base,
        activityId: ov.activityId ?? activityFor(base),
        rule: `override:${p}`,
        ...(ov.severityId !== undefined ? { severityId: ov.severityId } : {}),
      };
    }
    const b = builtIn(action, words, verb);
    return { ...b, activityId: activityFor(b.classUid) };
  }

  function builtIn(action: string, _words: string[], verb: string): { classUid: OcsfClassUid; rule: string } {
    if (LOGON.has(verb) || LOGOFF.has(verb)) return { classUid: 3002, rule: 'verb' };
    const d = longestPrefix(action.toLowerCase(), defaults);
    if (d) return { classUid: d[1], rule: `prefix:${d[0]}` };
    return { classUid: 6003, rule: 'default' };
  }

  function map(record: AuditRecord): Record<string, unknown> {
    const e: AuditEvent = record.event;
    const c = classify(e.action);
    const cls = OCSF_CLASSES[c.classUid];
    const activityName = cls.activities[c.activityId] ?? (c.activityId === 0 ? 'Unknown' : 'Other');
    const severityId = c.severityId ?? (e.outcome === 'success' ? 1 : e.outcome === 'failure' ? 2 : 3);
    const statusId = e.outcome === 'success' ? 1 : 2;
    const statusDetail = e.outcome === 'denied' ? (e.reason !== undefined ? `denied: ${e.reason}` : 'denied') : e.reason;
    const timeMillis = Date.parse(e.occurredAt);
    const targets = e.targets ?? [];
    const out: Record<string, unknown> = {
      activity_id: c.activityId,
      activity_name: activityName,
      category_uid: cls.categoryUid,
      category_name: cls.categoryName,
      class_uid: cls.uid,
      class_name: cls.name,
      type_uid: cls.uid * 100 + c.activityId,
      type_name: `${cls.name}: ${activityName}`,
      severity_id: severityId,
      severity: OCSF_SEVERITIES[severityId] ?? 'Other',
      status_id: statusId,
      status: statusId === 1 ? 'Success' : 'Failure',
      ...(statusDetail !== undefined ? { status_detail: statusDetail } : {}),
      ...(e.outcome !== 'success' ? { status_code: e.outcome } : {}),
      time: timeMillis,
      message: `${e.action} ${e.outcome}${e.reason !== undefined ? `: ${e.reason}` : ''}`,
      metadata: {
        uid: e.eventId,
        version: OCSF_VERSION,
        product: { name: options.productName, vendor_name: options.vendorName },
        tenant_uid: e.tenant.id,
        original_time: e.occurredAt,
        logged_time: Date.parse(record.receivedAt),
        sequence: record.seq,
        log_name: record.chainId,
        ...(e.trace !== undefined ? { correlation_uid: e.trace.traceId } : {}),
      },
      actor: {
        user: actorUser(e.actor),
        ...(e.session !== undefined ? { session: { uid: e.session.id } } : {}),
      },
    };
    if (e.request?.ip !== undefined) out.src_endpoint = { ip: e.request.ip };
    const r = e.request;
    if (r !== undefined && (r.id !== undefined || r.userAgent !== undefined || r.method !== undefined || r.path !== undefined)) {
      out.http_request = {
        ...(r.id !== undefined ? { uid: r.id } : {}),
        ...(r.userAgent !== undefined ? { user_agent: r.userAgent } : {}),
        ...(r.method !== undefined ? { http_method: r.method.toUpperCase() } : {}),
        ...(r.path !== undefined ? { url: { path: r.path } } : {}),
      };
    }
    if (options.cloudProvider !== undefined) {
      out.cloud = {
        provider: options.cloudProvider,
        account: { uid: e.tenant.id, ...(e.tenant.name !== undefined ? { name: e.tenant.name } : {}) },
      };
    }
    switch (cls.uid) {
      case 3002: {
        // The subject to authenticate is the actor (a logon is done by the user it is about).
        out.user = actorUser(e.actor);
        if (e.session !== undefined) out.session = { uid: e.session.id };
        const method = e.actor.authMethod;
        if (method !== undefined) {
          const known = AUTH_PROTOCOLS[method.toLowerCase()];
          out.auth_protocol_id = known ? known[0] : 99;
          out.auth_protocol = known ? known[1] : method;
        }
        // OCSF asks for at least one of service and dst_endpoint: the target when there is one, else
        // the producing service (its OTel `service.name`), else the product.
        out.service =
          targets[0] !== undefined
            ? { uid: targets[0].id, name: targets[0].name ?? targets[0].id }
            : { name: record.serviceName ?? options.productName };
        break;
      }
      case 3001: {
        const t = targets.find((x) => x.type === 'user' || x.type === 'account') ?? targets[0];
        out.user = t !== undefined ? targetUser(t) : actorUser(e.actor);
        break;
      }
      case 3004: {
        out.entity = targets[0] !== undefined ? entityOf(targets[0]) : { type: e.action.split('.')[0]! };
        if (e.reason !== undefined) out.comment = e.reason;
        break;
      }
      case 3006: {
        const g = targets.find((x) => x.type === 'group' || x.type === 'team') ?? targets[0];
        out.group =
          g !== undefined
            ? { uid: g.id, ...(g.name !== undefined ? { name: g.name } : {}), type: g.type }
            : { name: e.action.split('.')[0]! };
        const u = targets.find((x) => x !== g && (x.type === 'user' || x.type === 'account'));
        if (u !== undefined) out.user = targetUser(u);
        else {
          // OCSF asks for at least one of privileges and user: the other targets as privileges.
          const others = targets.filter((x) => x !== g);
          out.privileges = others.length > 0 ? others.map((x) => `${x.type}:${x.id}`) : [e.action];
        }
        break;
      }
      case 6003: {
        out.api = { operation: e.action, ...(r?.id !== undefined ? { request: { uid: r.id } } : {}) };
        if (targets.length > 0) out.resources = targets.map(entityOf);
        break;
      }
    }
    out.unmapped = {
      otel_audit: {
        action: e.action,
        outcome: e.outcome,
        chain_id: record.chainId,
        seq: record.seq,
        prev_hash: record.prevHash,
        hash: record.hash,
        ...(record.lsn !== undefined ? { lsn: record.lsn } : {}),
        received_at: record.receivedAt,
        schema_version: e.schemaVersion,
        ...(e.tenant.name !== undefined ? { tenant_name: e.tenant.name } : {}),
        ...(e.actor.authMethod !== undefined ? { actor_auth_method: e.actor.authMethod } : {}),
        // OCSF 1.2 deprecated `actor.invoked_by`; the impersonator stays here rather than in a deprecated attribute.
        ...(e.actor.impersonatorId !== undefined ? { actor_impersonator_id: e.actor.impersonatorId } : {}),
        ...(targets.length > 0 ? { targets } : {}),
        ...(e.trace !== undefined ? { trace: e.trace } : {}),
        ...(e.details !== undefined ? { details: e.details } : {}),
        ...(e.changes !== undefined ? { changes: e.changes } : {}),
      },
    };
    return out;
  }

  return { options, classify, map };
}

/** Classes and activities as a list (docs and tests). */
export function ocsfClassList(): OcsfClassDefinition[] {
  return OCSF_CLASS_UIDS.map((u) => OCSF_CLASSES[u]);
}
