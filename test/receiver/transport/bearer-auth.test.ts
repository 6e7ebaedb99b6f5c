import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createBearerAuthenticator, generateToken, hashToken, parseAuthConfig } from '../../../receiver/auth/index.ts';

describe('bearer-token auth', () => {
  it('hashToken is the lower-case hex SHA-256 of the token', () => {
    expect(hashToken('abc')).toBe(createHash('sha256').update('abc').digest('hex'));
    expect(hashToken('abc')).toMatch(/^[0-9a-f]{64}$/);
    const t = generateToken();
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateToken()).not.toBe(t);
  });

  it('authenticates configured tokens (hash in any case), binds tenants, refuses the rest', () => {
    const config = parseAuthConfig({
      tokens: [
        { name: 'a', sha256: hashToken('token-a').toUpperCase(), tenantId: 'tenant-a' },
        { name: 'b', sha256: hashToken('token-b') },
      ],
    });
    const auth = createBearerAuthenticator(config);
    expect(auth.enabled).toBe(true);
    expect(auth.authenticate('Bearer token-a')).toEqual({ ok: true, identity: { principal: 'a', boundTenantId: 'tenant-a' } });
    expect(auth.authenticate(['BEARER   token-b  '])).toEqual({ ok: true, identity: { principal: 'b' } });
    const cases: Array<[string | string[] | undefined, RegExp]> = [
      [undefined, /missing bearer token/],
      [[], /missing bearer token/],
      ['token-a', /not a bearer token/],
      ['Basic dG9rZW4tYQ==', /not a bearer token/],
      ['Bearer token-c', /invalid bearer token/],
      ['Bearer ', /not a bearer token/],
      [['Bearer token-a', 'Bearer token-b'], /more than one/],
    ];
    for (const [value, message] of cases) {
      const r = auth.authenticate(value);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe('AUDIT_ERR_UNAUTHENTICATED');
        expect(r.error.message).toMatch(message);
        // The presented secret never appears in the error.
        expect(r.error.message).not.toContain('token-c');
      }
    }
  });

  it('is disabled without config', () => {
    const auth = createBearerAuthenticator(undefined);
    expect(auth.enabled).toBe(false);
    expect(auth.authenticate(undefined)).toEqual({ ok: true, identity: {} });
  });

  it('config rejects plaintext tokens, duplicates and unknown keys, naming the key', () => {
    expect(() => parseAuthConfig({ tokens: [{ name: 'a', sha256: 'my-secret-token' }] }, 'receiver.auth')).toThrow(
      /receiver\.auth\.tokens\.0\.sha256: must be 64 hex characters/,
    );
    expect(() => parseAuthConfig({ tokens: [{ name: 'a', token: 'x', sha256: hashToken('x') }] })).toThrow(
      /auth\.tokens\.0\.token: unknown key/,
    );
    expect(() =>
      parseAuthConfig({
        tokens: [
          { name: 'a', sha256: hashToken('x') },
          { name: 'a', sha256: hashToken('y') },
        ],
      }),
    ).toThrow(/auth\.tokens: token names must be unique/);
    expect(() => parseAuthConfig({ tokens: [] })).toThrow(/auth\.tokens/);
  });
});
