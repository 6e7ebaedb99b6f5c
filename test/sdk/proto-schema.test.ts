/** proto/otel_audit/v1/audit_event.proto must keep up with the zod schema (the source of truth). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ActorSchema, AuditEventSchema, TargetSchema, TenantSchema } from '@otel-audit/schema';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';

const PROTO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../proto/otel_audit/v1/audit_event.proto');
const JSON_TEXT_FIELDS: Record<string, string> = { details: 'detailsJson', changes: 'changes', bodyValue: 'bodyValueJson' };

describe('audit_event.proto', () => {
  it('has a field for every field of the zod schema', async () => {
    const root = await protobuf.load(PROTO);
    const fieldsOf = (name: string) => Object.keys(root.lookupType(`otel_audit.v1.${name}`).fields);
    const event = fieldsOf('AuditEvent');
    for (const key of Object.keys(AuditEventSchema.shape)) expect(event).toContain(JSON_TEXT_FIELDS[key] ?? key);
    expect(fieldsOf('Actor').sort()).toEqual(Object.keys(ActorSchema.shape).sort());
    expect(fieldsOf('Tenant').sort()).toEqual(Object.keys(TenantSchema.shape).sort());
    expect(fieldsOf('Target').sort()).toEqual(Object.keys(TargetSchema.shape).sort());
    const actorTypes = Object.keys(root.lookupEnum('otel_audit.v1.ActorType').values).filter((v) => !v.endsWith('UNSPECIFIED'));
    expect(actorTypes.map((v) => v.replace('ACTOR_TYPE_', '').toLowerCase()).sort()).toEqual([...ActorSchema.shape.type.options].sort());
  });
});
