import { describe, expect, it } from 'vitest';
import { checkReadOnlyQuery } from '../../../exporters/clickhouse/read-only-query.ts';

const accepted = (sql: string) => {
  const r = checkReadOnlyQuery(sql);
  if (!r.ok) throw new Error(`refused ${sql}: ${r.reason}`);
  return r;
};
const refused = (sql: string) => {
  const r = checkReadOnlyQuery(sql);
  if (r.ok) throw new Error(`accepted ${sql}`);
  return r.reason;
};

describe('read-only query guard', () => {
  it('accepts read statements', () => {
    for (const sql of [
      'SELECT 1',
      'select count() from audit_events',
      'WITH x AS (SELECT 1 AS a) SELECT a FROM x',
      '(SELECT 1) UNION ALL (SELECT 2)',
      'SHOW TABLES',
      'SHOW CREATE TABLE audit_events',
      'DESCRIBE TABLE audit_events',
      'DESC audit_events',
      'EXISTS TABLE audit_events',
      'EXPLAIN SELECT 1',
      'EXPLAIN PLAN indexes = 1 SELECT * FROM audit_events',
      "SELECT 'insert into x; drop table y' AS s;",
      'SELECT 1 -- ; DROP TABLE x\n',
      'SELECT /* DROP TABLE x; */ 1',
      'SELECT * FROM system.tables',
      'SELECT `file` FROM t',
      'SELECT * FROM format(JSONEachRow, \'{"a":1}\')',
    ])
      accepted(sql);
  });

  it('refuses writes, DDL and session changes', () => {
    for (const sql of [
      'INSERT INTO audit_events VALUES (1)',
      'ALTER TABLE audit_events DELETE WHERE 1',
      'CREATE TABLE x (a Int8) ENGINE = Memory',
      'DROP TABLE audit_events',
      'TRUNCATE TABLE audit_events',
      'SYSTEM STOP MERGES',
      'SET readonly = 0',
      'KILL QUERY WHERE 1',
      'OPTIMIZE TABLE audit_events FINAL',
      'USE other',
      'GRANT ALL ON *.* TO x',
      'RENAME TABLE a TO b',
      'DELETE FROM audit_events WHERE 1',
      'EXPLAIN INSERT INTO t VALUES (1)',
      'WITH 1 AS x INSERT INTO t SELECT x',
      '',
      '   ;  ',
    ])
      expect(refused(sql)).toBeTruthy();
    expect(refused('DROP TABLE audit_events')).toMatch(/only read queries/);
  });

  it('refuses multiple statements', () => {
    expect(refused('SELECT 1; DROP TABLE audit_events')).toMatch(/multiple statements/);
    expect(refused('SELECT 1;SELECT 2')).toMatch(/multiple statements/);
    accepted('SELECT 1;');
  });

  it('refuses functions that reach outside the store and INTO OUTFILE', () => {
    for (const sql of [
      "SELECT * FROM url('http://evil/x', 'CSV')",
      "SELECT * FROM s3('https://bucket/x.parquet')",
      "SELECT * FROM S3Cluster('c', 'https://bucket/x')",
      "SELECT * FROM file('/etc/passwd', 'LineAsString')",
      "SELECT file('/etc/passwd')",
      "SELECT * FROM remote('host:9000', db.t)",
      "SELECT * FROM remoteSecure('host:9440', db.t)",
      "SELECT * FROM mysql('h:3306', 'db', 't', 'u', 'p')",
      "SELECT * FROM postgresql('h:5432', 'db', 't', 'u', 'p')",
      "SELECT * FROM `url`('http://evil/x', 'CSV')",
      "SELECT * FROM icebergS3('https://b/x')",
      "SELECT * FROM executable('x.sh', 'TSV', 'a String')",
      "SELECT * FROM (SELECT * FROM hdfs('hdfs://x', 'TSV'))",
      "SELECT 1 INTO OUTFILE '/tmp/x'",
    ])
      expect(refused(sql)).toMatch(/reaches outside|OUTFILE/);
  });

  it('refuses SETTINGS that lift readonly and text it will not parse', () => {
    expect(refused('SELECT 1 SETTINGS readonly = 0')).toMatch(/readonly/);
    expect(refused('SELECT 1 SETTINGS max_threads = 1, allow_ddl = 1')).toMatch(/allow_ddl/);
    expect(refused('SELECT * FROM (SELECT 1 SETTINGS readonly = 0)')).toMatch(/readonly/);
    expect(refused('SELECT 1 FORMAT CSV SETTINGS readonly = 0')).toMatch(/readonly/);
    expect(refused("SELECT 'unterminated")).toMatch(/unterminated/);
    expect(refused('SELECT 1 # comment')).toMatch(/#/);
    expect(refused('SELECT $$x$$')).toMatch(/heredoc/);
  });

  it('extracts FORMAT, SETTINGS and parameter declarations', () => {
    const r = accepted('SELECT {id:String} AS id, {ids:Array(String)} AS ids FORMAT JSONEachRow');
    expect(r.format).toBe('JSONEachRow');
    expect(r.sql).toBe('SELECT {id:String} AS id, {ids:Array(String)} AS ids');
    expect(r.parameters).toEqual({ id: 'String', ids: 'Array(String)' });
    expect(r.endsWithSettings).toBe(false);
    const s = accepted('SELECT 1 SETTINGS max_threads = 2 FORMAT CSV;');
    expect(s).toMatchObject({ sql: 'SELECT 1 SETTINGS max_threads = 2', format: 'CSV', endsWithSettings: true });
  });
});
