import { z } from 'zod';
import { AUDIT_SCHEMA_URL, AuditEventSchema } from './audit-event.ts';

/**
 * The JSON Schema (draft 2020-12) of a complete audit event, generated from the zod schema, as the
 * text checked in at docs/audit-event.schema.json (for producers in other languages).
 */
export function renderAuditEventJsonSchema(): string {
  const schema = z.toJSONSchema(AuditEventSchema, { target: 'draft-2020-12', unrepresentable: 'any' });
  const withId = { $id: `${AUDIT_SCHEMA_URL}/audit-event.schema.json`, title: 'otel-audit audit event 1.x', ...schema };
  return `${JSON.stringify(withId, null, 2)}\n`;
}
