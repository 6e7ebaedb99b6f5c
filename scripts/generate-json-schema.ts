/**
 * Writes docs/audit-event.schema.json from the zod schema (`npm run gen:schema`).
 * test/schema/json-schema.test.ts fails when the checked-in file is stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderAuditEventJsonSchema } from '@otel-audit/schema/json-schema';

const target = fileURLToPath(new URL('../docs/audit-event.schema.json', import.meta.url));
writeFileSync(target, renderAuditEventJsonSchema());
console.log(`wrote ${target}`);
