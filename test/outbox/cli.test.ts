/**
 * The outbox's CLI surface: `otel-audit postgres-ddl` prints SQL that Postgres accepts, and bad
 * names or flags exit 2 with the error code; `otel-audit relay` refuses a missing URL.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { POSTGRES_URL } from './helpers/postgres.ts';

const MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, OTEL_AUDIT_POSTGRES_URL: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('otel-audit postgres-ddl / relay', () => {
  it('prints DDL that applies cleanly, twice', async () => {
    const schema = `outbox_cli_${randomBytes(4).toString('hex')}`;
    const out = cli('postgres-ddl', '--schema', schema);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`CREATE TABLE IF NOT EXISTS "${schema}"."audit_outbox"`);
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
    try {
      await pool.query(out.stdout);
      await pool.query(out.stdout);
      const v = await pool.query(`SELECT version FROM "${schema}".audit_outbox_migrations`);
      expect(v.rows.length).toBeGreaterThan(0);
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  });

  it('refuses a bad identifier or flag with exit code 2', () => {
    const bad = cli('postgres-ddl', '--schema', 'x; DROP TABLE y');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('AUDIT_ERR_INVALID_CONFIG');
    expect(bad.stdout).toBe('');
    expect(cli('postgres-ddl', '--nope').code).toBe(2);
    const relay = cli('relay');
    expect(relay.code).toBe(2);
    expect(relay.stderr).toContain('--postgres-url is required');
  });
});
