/**
 * Writes docs/errors.md from the error registry (`npm run gen:errors`).
 * test/core/error-docs.test.ts fails when the checked-in page is stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AUDIT_ERROR_CODES, renderErrorReference } from '@otel-audit/core';

const target = fileURLToPath(new URL('../docs/errors.md', import.meta.url));
writeFileSync(target, renderErrorReference(AUDIT_ERROR_CODES));
console.log(`wrote ${target}`);
