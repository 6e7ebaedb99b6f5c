import { readFileSync } from 'node:fs';
import { renderAuditEventJsonSchema } from '@otel-audit/schema/json-schema';
import { describe, expect, it } from 'vitest';

describe('docs/audit-event.schema.json', () => {
  it('is up to date with the zod schema (run `npm run gen:schema` when this fails)', () => {
    const checkedIn = readFileSync(new URL('../../docs/audit-event.schema.json', import.meta.url), 'utf8');
    expect(checkedIn).toBe(renderAuditEventJsonSchema());
  });
});
