/**
 * The second wall, with the check bypassed: statements sent straight to the database as the
 * read-model browser role (and through runBrowserQuery without checkReadOnlySql). Whatever the
 * check missed, the role cannot read the log or secrets, cannot write, cannot become another role,
 * cannot outlive its time limit, and cannot run two statements.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices, type TestServices } from '../helpers/app';
import {
  browsableRelations, browserRoleName, connectAsBrowser, databaseOf, ensureBrowserGrants,
} from '../../src/queries/admin-sql/role';
import { runBrowserQuery } from '../../src/queries/admin-sql/run';
import { pointViews } from '../../src/projections/tables';
import { featuresProjection } from '../../src/projections/features';
import { DomainError } from '../../src/errors';

let t: TestServices;
let role: string;

beforeAll(async () => {
  t = await testServices('rmrole');
  role = browserRoleName(databaseOf(t.config.DATABASE_URL));
}, 60_000);
afterAll(async () => t?.close());

/** Runs `sql` on a fresh connection as the role; returns the SQLSTATE of its error, or 'ok'. */
async function asRole(sql: string, opts: { readOnly?: boolean } = {}): Promise<string> {
  const c = await connectAsBrowser(t.config);
  try {
    if (opts.readOnly !== false) await c.query('BEGIN READ ONLY');
    await c.query(sql);
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  } finally {
    await c.end();
  }
}

describe('the read-model browser role', () => {
  it('is a plain role of its own: no superuser, no createrole, member of nothing; named per database', async () => {
    const { rows } = await t.pool.query(
      'SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolinherit, rolcanlogin FROM pg_roles WHERE rolname = $1', [role]);
    expect(rows[0]).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolreplication: false, rolbypassrls: false, rolinherit: false, rolcanlogin: true });
    const member = await t.pool.query('SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1', [role]);
    expect(member.rowCount).toBe(0);
    expect(browserRoleName('al_a_1')).not.toBe(browserRoleName('al_a_2'));
    const c = await connectAsBrowser(t.config);
    expect((await c.query('SELECT session_user AS s, current_user AS u')).rows[0]).toEqual({ s: role, u: role });
    await c.end();
  });

  it('reads the read-model views and nothing else: never the log, checkpoints, snapshots or keys', async () => {
    for (const rel of ['users', 'sessions', 'api_keys', 'features', 'user_streams']) expect(await asRole(`SELECT * FROM ${rel} LIMIT 1`), rel).toBe('ok');
    const forbidden = ['events', 'streams', 'projections', 'audit_snapshots', 'user_data_keys', 'email_tokens', 'pgmigrations', 'log_checkpoints', 'worker_checkpoints', 'users_v1', 'sessions_v1', 'api_keys_v1'];
    for (const rel of forbidden) expect(await asRole(`SELECT * FROM ${rel} LIMIT 1`), rel).toBe('42501');
    // Nor through a function that reads by name, or a server file.
    expect(await asRole("SELECT query_to_xml('select * from events', true, true, '')")).toBe('42501');
    expect(await asRole("SELECT pg_read_file('/etc/hostname')")).toBe('42501');
    expect(await asRole("SELECT lo_import('/etc/hostname')")).toBe('42501');
    expect(await asRole("SELECT * FROM dblink('dbname=postgres', 'select 1') AS x(a int)")).toBe('42883');
  });

  it('has no grant on anything but the browsable relations, and none of those holds a secret column', async () => {
    const grants = await t.pool.query<{ table_name: string; privilege_type: string }>(
      'SELECT table_name, privilege_type FROM information_schema.role_table_grants WHERE grantee = $1', [role]);
    const allowed = new Set(browsableRelations());
    for (const g of grants.rows) {
      expect(allowed.has(g.table_name), g.table_name).toBe(true);
      expect(g.privilege_type).toBe('SELECT');
    }
    const cols = await t.pool.query<{ table_name: string; column_name: string }>(
      'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = ANY($2)', ['public', [...allowed]]);
    expect(cols.rowCount).toBeGreaterThan(20);
    const secret = cols.rows.filter((c) => /hash|secret|cipher|token|key_material|password(?!_changed_at)/i.test(c.column_name));
    expect(secret).toEqual([]);
  });

  it('cannot write, even outside a read-only transaction', async () => {
    for (const sql of ["UPDATE users SET name = 'x'", 'DELETE FROM users', "INSERT INTO features (name) VALUES ('x')", 'TRUNCATE users', 'DELETE FROM events']) {
      // Refused twice over: no privilege (42501), and every transaction of the role is read-only (25006).
      expect(await asRole(sql, { readOnly: false }), sql).toMatch(/^(42501|25006)$/);
      expect(await asRole(sql), sql).toMatch(/^(42501|25006)$/);
    }
    expect(await asRole('CREATE TABLE x (a int)', { readOnly: false })).toMatch(/^(42501|25006)$/);
    // The role's own default: every transaction it starts is read-only.
    expect(await asRole('CREATE TEMP TABLE x (a int)', { readOnly: false })).toBe('25006');
    expect(await asRole("COPY users TO '/tmp/authledger-rm-copy'", { readOnly: false })).toBe('42501');
    expect(await asRole("COPY features FROM '/etc/hostname'", { readOnly: false })).toMatch(/^(42501|25006)$/);
    // PostgreSQL 15 lets lo_creat run in a read-only transaction; the browser's transaction is always
    // rolled back and its connection closed, so nothing it made survives.
    const lo = await runBrowserQuery(t.config, t.pool, 'SELECT lo_creat(-1) AS oid', { timeoutMs: 2000, maxRows: 10, maxBytes: 10_000 });
    expect(lo.row_count).toBe(1);
    expect((await t.pool.query('SELECT count(*)::int AS n FROM pg_largeobject_metadata')).rows[0].n).toBe(0);
    expect(await asRole("DO $$ BEGIN DELETE FROM users; END $$", { readOnly: false })).toMatch(/^(42501|25006)$/);
  });

  it('cannot become another role: SET ROLE, SET SESSION AUTHORIZATION and set_config fail; RESET ROLE leaves it itself', async () => {
    expect(await asRole('SET ROLE postgres')).toBe('42501');
    expect(await asRole('SET SESSION AUTHORIZATION postgres')).toBe('42501');
    expect(await asRole("SELECT set_config('role', 'postgres', false)")).toBe('42501');
    const c = await connectAsBrowser(t.config);
    await c.query('RESET ROLE');
    await expect(c.query('SELECT * FROM events LIMIT 1')).rejects.toMatchObject({ code: '42501' });
    expect((await c.query('SELECT current_user AS u')).rows[0].u).toBe(role);
    await c.end();
  });

  it('runBrowserQuery sends one statement only (extended protocol), wrapped as a subquery', async () => {
    const limits = { timeoutMs: 2000, maxRows: 10, maxBytes: 100_000 };
    for (const sql of ['SELECT 1; DELETE FROM users', 'SELECT 1) q; DELETE FROM users; SELECT (1', "SELECT 1; SET ROLE postgres", 'DELETE FROM users', 'SET ROLE postgres', "COPY users TO STDOUT"]) {
      const err = await runBrowserQuery(t.config, t.pool, sql, limits).catch((e: unknown) => e);
      expect(err, sql).toBeInstanceOf(DomainError);
      expect((err as DomainError).id, sql).toBe('sql_failed');
    }
  });

  it('cannot outlive its time limit, even after raising its own statement_timeout', async () => {
    const limits = { timeoutMs: 300, maxRows: 10, maxBytes: 100_000 };
    const started = Date.now();
    const err = await runBrowserQuery(t.config, t.pool, "SELECT set_config('statement_timeout', '0', true), pg_sleep(20)", limits).catch((e: unknown) => e);
    expect((err as DomainError).id).toBe('sql_timeout');
    expect(Date.now() - started).toBeLessThan(5000);
    const plain = await runBrowserQuery(t.config, t.pool, 'SELECT pg_sleep(20)', limits).catch((e: unknown) => e);
    expect((plain as DomainError).id).toBe('sql_timeout');
    // No backend of the role is left running.
    await new Promise((r) => setTimeout(r, 300));
    const { rows } = await t.pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND state = 'active'", [role]);
    expect(rows[0].n).toBe(0);
  });

  it('limits rows and bytes in the database', async () => {
    const rows = await runBrowserQuery(t.config, t.pool, 'SELECT g FROM generate_series(1, 50) g', { timeoutMs: 2000, maxRows: 10, maxBytes: 1_000_000 });
    expect(rows.row_count).toBe(10);
    expect(rows.truncated).toBe('rows');
    const bytes = await runBrowserQuery(t.config, t.pool, "SELECT repeat('x', 1000) AS s FROM generate_series(1, 50)", { timeoutMs: 2000, maxRows: 100, maxBytes: 5000 });
    expect(bytes.row_count).toBeLessThan(5);
    expect(bytes.truncated).toBe('bytes');
    const huge = await runBrowserQuery(t.config, t.pool, "SELECT repeat('x', 50000000) AS s", { timeoutMs: 5000, maxRows: 100, maxBytes: 5000 }).catch((e: unknown) => e);
    expect((huge as DomainError).id).toBe('sql_row_too_large');
    const ok = await runBrowserQuery(t.config, t.pool, 'SELECT 1 AS a, 2 AS a, now() AS t', { timeoutMs: 2000, maxRows: 10, maxBytes: 10_000 });
    expect(ok.columns.map((c) => c.name)).toEqual(['a', 'a', 't']);
    expect(ok.columns[0]!.type).toBe('int4');
    expect(ok.truncated).toBeNull();
  });

  it('gets its grant back after a rebuild recreates a view', async () => {
    await pointViews(t.pool as unknown as pg.ClientBase, featuresProjection, 1);
    expect(await asRole('SELECT * FROM features')).toBe('42501');
    await ensureBrowserGrants(t.pool, role);
    expect(await asRole('SELECT * FROM features')).toBe('ok');
  });
});
