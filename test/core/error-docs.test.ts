import { readFileSync } from 'node:fs';
import { AUDIT_ERROR_CODES, AuditError, renderErrorReference } from '@otel-audit/core';
import { describe, expect, it } from 'vitest';

describe('docs/errors.md', () => {
  it('is the page generated from the registry (run `npm run gen:errors` after adding a code)', () => {
    const page = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    expect(page).toBe(renderErrorReference(AUDIT_ERROR_CODES));
  });

  it('lists every code with its message, and an AuditError message starts with that text', () => {
    const page = renderErrorReference(AUDIT_ERROR_CODES);
    for (const [code, message] of Object.entries(AUDIT_ERROR_CODES)) {
      expect(page).toContain(`## ${code}`);
      expect(page).toContain(`| ${message} |`);
      expect(new AuditError(code as keyof typeof AUDIT_ERROR_CODES, 'detail').message).toBe(`${message}: detail`);
    }
  });
});
