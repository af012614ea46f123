/** The read-model browser's statement check (first wall): families of statements it refuses and queries it lets through. */
import { describe, expect, it } from 'vitest';
import { checkReadOnlySql } from '../../src/queries/admin-sql/check';
import { DomainError } from '../../src/errors';

function refused(sql: string): string {
  try {
    checkReadOnlySql(sql);
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).id).toBe('sql_refused');
    return (err as DomainError).message;
  }
  throw new Error(`not refused: ${sql}`);
}

describe('checkReadOnlySql', () => {
  it('lets queries through, comments blanked and trailing semicolons dropped', () => {
    expect(checkReadOnlySql('SELECT id, email FROM users WHERE disabled').sql).toBe('SELECT id, email FROM users WHERE disabled');
    expect(checkReadOnlySql('select 1;;  ').sql).toBe('select 1');
    expect(checkReadOnlySql('WITH x AS (SELECT 1 AS a) SELECT a FROM x').sql).toContain('WITH x');
    expect(checkReadOnlySql('VALUES (1), (2)').sql).toBe('VALUES (1), (2)');
    expect(checkReadOnlySql('TABLE features').sql).toBe('TABLE features');
    expect(checkReadOnlySql("SELECT 'update; delete' AS s, \"set\" FROM t").sql).toContain("'update; delete'");
    expect(checkReadOnlySql('SELECT $$ drop table x; $$').sql).toContain('$$ drop table x; $$');
    expect(checkReadOnlySql('SELECT 1 -- trailing note').sql).toBe('SELECT 1');
    expect(checkReadOnlySql('SELECT /* a /* nested */ note */ 2').sql.replace(/\s+/g, ' ')).toBe('SELECT 2');
    expect(checkReadOnlySql('SELECT status, count(*) FROM sessions GROUP BY 1 ORDER BY 2 DESC').sql).toContain('GROUP BY');
    expect(checkReadOnlySql('SELECT "weird""name" FROM users').sql).toBe('SELECT "weird""name" FROM users');
    expect(checkReadOnlySql("SELECT E'it\\'s' AS s").sql).toBe("SELECT E'it\\'s' AS s");
    // In an E'' string a backslash escapes the quote: all of this is one harmless literal.
    expect(checkReadOnlySql("SELECT E'\\' ; DELETE FROM users; --'").sql).toContain('DELETE');
  });

  it.each([
    'UPDATE users SET disabled = true',
    'DELETE FROM users',
    "INSERT INTO features VALUES ('x')",
    'MERGE INTO users u USING x ON true WHEN MATCHED THEN DELETE',
    'TRUNCATE users',
    'DROP TABLE events',
    'CREATE TABLE x (a int)',
    'ALTER ROLE postgres SUPERUSER',
    'GRANT SELECT ON events TO public',
    'SET ROLE postgres',
    'SET statement_timeout = 0',
    'RESET ROLE',
    'RESET ALL',
    "COPY users TO '/tmp/x'",
    'COPY (SELECT 1) TO PROGRAM \'id\'',
    "DO $$ BEGIN PERFORM 1; END $$",
    'CALL p()',
    'BEGIN',
    'COMMIT',
    'EXPLAIN ANALYZE DELETE FROM users',
    'SHOW ALL',
    'LISTEN x',
    'VACUUM users',
    'PREPARE p AS SELECT 1',
    'EXECUTE p',
    'DECLARE c CURSOR FOR SELECT 1',
  ])('refuses a statement that is not a query: %s', (sql) => {
    refused(sql);
  });

  it.each([
    'SELECT 1; DELETE FROM users',
    'SELECT 1; SET ROLE postgres',
    'SELECT 1 ; ; SELECT 2',
    'SELECT 1;\nRESET ROLE;',
    'select 1/* x */;delete from users',
  ])('refuses multi-statement tricks: %s', (sql) => {
    expect(refused(sql)).toMatch(/one statement/i);
  });

  it.each([
    'WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d',
    'WITH u AS (UPDATE users SET name = 1 RETURNING *) SELECT 1',
    'SELECT * INTO copy_of_users FROM users',
    'SELECT * FROM users FOR UPDATE',
    'SELECT * FROM users FOR SHARE',
  ])('refuses writes hidden inside a query: %s', (sql) => {
    refused(sql);
  });

  it.each([
    "SELECT 1 -- \n; DELETE FROM users",
    "SELECT 1 /* */ ; /* */ DELETE FROM users",
    'SELECT 1 /* unterminated ; DELETE FROM users',
    "SELECT 'unterminated ; DELETE FROM users",
    'SELECT $a$ unterminated ; DELETE FROM users',
    'SELECT "unterminated ; DELETE FROM users',
    // Without E, a backslash escapes nothing: the string ends at the second quote.
    "SELECT '\\' ; DELETE FROM users; --'",
    'SELECT 1 */ DELETE FROM users',
  ])('comments and quotes hide no statement: %s', (sql) => {
    refused(sql);
  });

  it.each([
    'SELECT pg_sleep(100)',
    'SELECT pg_catalog.pg_sleep(100)',
    'SELECT "pg_sleep"(100)',
    'SELECT pg_sleep_for(\'1 hour\')',
    "SELECT set_config('statement_timeout', '0', false)",
    "SELECT set_config('role', 'postgres', true)",
    "SELECT dblink('dbname=x', 'delete from users')",
    "SELECT dblink_exec('delete from users')",
    'SELECT lo_import(\'/etc/passwd\')',
    'SELECT lo_creat(-1)',
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_read_binary_file('/etc/passwd')",
    "SELECT pg_ls_dir('.')",
    'SELECT pg_advisory_lock(1)',
    'SELECT pg_try_advisory_lock(1)',
    'SELECT pg_terminate_backend(1)',
    'SELECT pg_cancel_backend(1)',
    'SELECT pg_reload_conf()',
    "SELECT pg_notify('c', 'x')",
    "SELECT query_to_xml('delete from users', true, true, '')",
    "SELECT nextval('s')",
    'SELECT txid_current()',
    'SELECT U&"\\0070g_sleep"(1)',
    "SELECT U&'\\0064' UESCAPE '!'",
    'SELECT $1',
    'SELECT (1',
    'SELECT 1)',
  ])('refuses functions with side effects and escapes that could spell them: %s', (sql) => {
    refused(sql);
  });

  it('refuses empty input', () => {
    refused('   ');
    refused('-- only a comment');
    refused(';');
  });
});
