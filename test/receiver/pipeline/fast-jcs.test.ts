import { isAuditError } from '@otel-audit/core';
import type { AuditEvent } from '@otel-audit/schema';
import { describe, expect, it } from 'vitest';
import { canonicalEventJson } from '../../../integrity/chain-hash.ts';
import { fastCanonicalEventJson } from '../../../receiver/pipeline/fast-jcs.ts';
import { makeEvent, randomJsonValue } from './fixtures.ts';

const tricky: unknown[] = [
  '',
  'plain',
  'quote " and \\ backslash',
  'tab\tnew\nline\r',
  '\u0000\u001f\u007f',
  '\u2028\u2029',
  'é ü 漢字 😀',
  '\ud83d\ude00',
  0,
  -0,
  1,
  -1,
  0.1,
  1e21,
  1e-7,
  123456789012345680000,
  5e-324,
  Number.MAX_SAFE_INTEGER,
  1.5e300,
  -2.5,
  true,
  false,
  null,
  [],
  {},
  [1, 'a', null, [2, [3]]],
  { b: 1, a: 2, A: 3, '10': 4, '9': 5, é: 6, '😀': 7, 'e\u0301': 8 },
  { nested: { z: [{ y: 1, x: 2 }], a: { '': 'empty key' } } },
];

function withDetails(details: unknown): AuditEvent {
  return makeEvent({ details: { v: details } as AuditEvent['details'] });
}

describe('fastCanonicalEventJson', () => {
  it('equals canonicalEventJson (the definition) on edge-case values', () => {
    for (const v of tricky) {
      const e = withDetails(v);
      expect(fastCanonicalEventJson(e), JSON.stringify(v)).toBe(canonicalEventJson(e));
    }
  });

  it('equals canonicalEventJson on random events', () => {
    // Code points (not UTF-16 units) plus one deliberate lone surrogate now and then.
    const chars = [...'aZ09 _-."\\/\n\té漢😀\u0001\u2028'];
    const rnd = (n: number) => Math.floor(Math.random() * n);
    const rstr = () => Array.from({ length: rnd(12) }, () => (Math.random() < 0.01 ? '\ud800' : chars[rnd(chars.length)])).join('');
    const rval = (depth: number): unknown => randomJsonValue(rstr, depth);
    for (let i = 0; i < 2000; i++) {
      const e = makeEvent({
        reason: rstr() || 'r',
        actor: { id: rstr() || 'a', type: 'user' },
        details: { x: rval(0) } as AuditEvent['details'],
      });
      const outcome = (f: (e: AuditEvent) => string) => {
        try {
          return f(e);
        } catch {
          return 'threw';
        }
      };
      expect(outcome(fastCanonicalEventJson)).toBe(outcome(canonicalEventJson));
    }
  });

  it('rejects what JCS cannot represent, like the definition', () => {
    for (const bad of ['lone \ud800 surrogate', NaN, Infinity]) {
      const e = withDetails(bad);
      expect(() => canonicalEventJson(e)).toThrow();
      let err: unknown;
      try {
        fastCanonicalEventJson(e);
      } catch (x) {
        err = x;
      }
      expect(isAuditError(err, 'AUDIT_ERR_INVALID_EVENT')).toBe(true);
    }
  });

  it('defers to the definition for values that are not plain JSON', () => {
    const e = withDetails({ when: new Date(0) });
    expect(fastCanonicalEventJson(e)).toBe(canonicalEventJson(e));
  });
});
