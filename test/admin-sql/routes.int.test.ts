/** The read-model browser's HTTP surface: admins only, refusals as 400 problem+json, limits, saved queries, projection status. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp } from '../helpers/app';
import { bearer, newAdmin, newUser, runProjections, type TestUser } from '../helpers/users';
import type { ProjectorHandle } from '../../src/projections/runtime';

let t: Awaited<ReturnType<typeof testApp>>;
let app: FastifyInstance;
let admin: TestUser;
let user: TestUser;
let projector: ProjectorHandle;

beforeAll(async () => {
  t = await testApp('rmroutes', { READ_MODEL_SQL_MAX_ROWS: '20', READ_MODEL_SQL_TIMEOUT_MS: '400' });
  app = t.app;
  projector = runProjections(t.services);
  admin = await newAdmin(app, t.services);
  user = await newUser(app, 'plain');
}, 60_000);
afterAll(async () => {
  await projector?.stop();
  await t?.close();
});

const query = (sql: string, token = admin.token) =>
  app.inject({ method: 'POST', url: '/api/v1/admin/read-models/query', headers: bearer(token), payload: { sql } });

describe('read-model browser routes', () => {
  it('are for admins only', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/v1/admin/read-models' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/api/v1/admin/read-models', headers: bearer(user.token) })).statusCode).toBe(403);
    expect((await query('SELECT 1', user.token)).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/api/v1/admin/projections', headers: bearer(user.token) })).statusCode).toBe(403);
  });

  it('lists the views with row counts and sample rows, never the event log', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/admin/read-models', headers: bearer(admin.token) });
    expect(res.statusCode).toBe(200);
    const views = res.json().views as { name: string; row_count: number; columns: { name: string }[]; sample: unknown[][] }[];
    const names = views.map((v) => v.name);
    expect(names).toEqual(expect.arrayContaining(['users', 'sessions', 'api_keys', 'features', 'user_streams']));
    expect(names).not.toContain('events');
    const users = views.find((v) => v.name === 'users')!;
    expect(users.row_count).toBeGreaterThanOrEqual(2);
    expect(users.columns.map((c) => c.name)).toContain('email');
    expect(users.sample.length).toBeGreaterThanOrEqual(2);
    expect(res.json().limits.max_rows).toBe(20);
  });

  it('answers a query with columns, typed rows and limits', async () => {
    const res = await query('SELECT email, disabled FROM users ORDER BY created_at');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.columns).toEqual([{ name: 'email', type: 'text' }, { name: 'disabled', type: 'bool' }]);
    expect(body.rows).toContainEqual([admin.email, false]);
    const many = await query('SELECT g FROM generate_series(1, 100) g');
    expect(many.json().row_count).toBe(20);
    expect(many.json().truncated).toBe('rows');
  });

  it.each([
    ["UPDATE users SET disabled = true", 'sql_refused'],
    ['DELETE FROM users', 'sql_refused'],
    ['SET ROLE postgres', 'sql_refused'],
    ['RESET ROLE', 'sql_refused'],
    ["COPY users TO '/tmp/x'", 'sql_refused'],
    ['SELECT 1; DELETE FROM users', 'sql_refused'],
    ['SELECT 1 --\n; SET ROLE postgres', 'sql_refused'],
    ['DO $$ BEGIN DELETE FROM users; END $$', 'sql_refused'],
    ['SELECT pg_sleep(10)', 'sql_refused'],
    ["SELECT * FROM dblink('x', 'y') AS t(a int)", 'sql_refused'],
    ['SELECT * FROM events', 'sql_failed'],
    ['SELECT 1/0', 'sql_failed'],
    ['SELECT no_such_column FROM users', 'sql_failed'],
    ['SELECT count(*) FROM generate_series(1, 1000000000)', 'sql_timeout'],
  ])('refuses %s with 400 problem+json %s', async (sql, code) => {
    const res = await query(sql);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().code).toBe(code);
  });

  it('says which SQLSTATE PostgreSQL answered', async () => {
    const res = await query('SELECT * FROM events');
    expect(res.json().sqlstate).toBe('42501');
  });

  it('keeps saved queries per admin: save, replace by name, list, delete', async () => {
    const save = (name: string, sql: string, token = admin.token) =>
      app.inject({ method: 'POST', url: '/api/v1/admin/read-models/saved-queries', headers: bearer(token), payload: { name, sql } });
    const list = async (token = admin.token) =>
      (await app.inject({ method: 'GET', url: '/api/v1/admin/read-models/saved-queries', headers: bearer(token) })).json().queries as { id: string; name: string; sql: string }[];
    const a = await save('sessions by status', 'SELECT status, count(*) FROM sessions GROUP BY 1');
    expect(a.statusCode).toBe(201);
    expect(a.headers['x-log-position']).toBeTruthy();
    const again = await save('sessions by status', 'SELECT status, count(*) AS n FROM sessions GROUP BY 1');
    expect(again.json().id).toBe(a.json().id);
    await save('users', 'TABLE users');
    expect((await list()).map((q) => [q.name, q.sql])).toEqual([
      ['sessions by status', 'SELECT status, count(*) AS n FROM sessions GROUP BY 1'],
      ['users', 'TABLE users'],
    ]);
    const other = await newAdmin(app, t.services);
    expect(await list(other.token)).toEqual([]);
    expect((await save('x', 'SELECT 1', user.token)).statusCode).toBe(403);
    const del = await app.inject({ method: 'DELETE', url: `/api/v1/admin/read-models/saved-queries/${a.json().id}`, headers: bearer(admin.token) });
    expect(del.statusCode).toBe(204);
    expect((await list()).map((q) => q.name)).toEqual(['users']);
    const gone = await app.inject({ method: 'DELETE', url: `/api/v1/admin/read-models/saved-queries/${a.json().id}`, headers: bearer(admin.token) });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().code).toBe('saved_query_not_found');
  });

  it('shows the lag of every projection', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/admin/projections', headers: bearer(admin.token) });
    expect(res.statusCode).toBe(200);
    const names = (res.json().projections as { name: string; lag_events: number }[]).map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['users', 'sessions', 'api_keys', 'features', 'user_streams']));
  });
});
