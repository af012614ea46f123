import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp } from '../helpers/app';
import { bearer, eventually, login, newAdmin, newUser, runProjections, strongPassword, type TestUser } from '../helpers/users';

describe('users (admin and self)', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let app: FastifyInstance;
  let projector: ReturnType<typeof runProjections>;
  let admin: TestUser;
  let carol: TestUser;
  let dave: TestUser;

  beforeAll(async () => {
    t = await testApp('users');
    app = t.app;
    projector = runProjections(t.services);
    admin = await newAdmin(app, t.services);
    carol = await newUser(app, 'carol');
    dave = await newUser(app, 'dave');
  });
  afterAll(async () => {
    await projector.stop();
    await t.close();
  });

  it('admins create users; the password policy and e-mail uniqueness hold', async () => {
    const email = `made-${Date.now()}@example.com`;
    const password = strongPassword();
    const res = await app.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(admin.token), payload: { email, password, name: 'Made' } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ email, name: 'Made', roles: ['user'], disabled: false, source: 'admin' });
    expect(res.headers.etag).toBe(`"${res.json().revision}"`);
    expect(await login(app, email, password)).toBeTruthy();
    const dup = await app.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(admin.token), payload: { email: email.toUpperCase(), password, name: 'Dup' } });
    expect(dup.statusCode).toBe(409);
    const weak = await app.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(admin.token), payload: { email: `w-${email}`, password: 'password', name: 'W' } });
    expect(weak.statusCode).toBe(400);
    expect(weak.json().code).toBe('weak_password');
  });

  it('admin-only routes refuse non-admins (403) and anonymous callers (401)', async () => {
    const routes = [
      ['POST', '/api/v1/users', { email: 'x@example.com', password: strongPassword(), name: 'x' }],
      ['GET', '/api/v1/users', undefined],
      ['POST', `/api/v1/users/${dave.id}/disable`, {}],
      ['POST', `/api/v1/users/${dave.id}/enable`, undefined],
      ['POST', `/api/v1/users/${dave.id}/roles`, { role: 'admin' }],
      ['DELETE', `/api/v1/users/${dave.id}/roles/admin`, undefined],
    ] as const;
    for (const [method, url, payload] of routes) {
      expect((await app.inject({ method, url, headers: bearer(carol.token), payload })).statusCode, `${method} ${url}`).toBe(403);
      expect((await app.inject({ method, url, payload })).statusCode, `${method} ${url}`).toBe(401);
    }
    // Self-or-admin routes: another user is 403 too.
    expect((await app.inject({ method: 'GET', url: `/api/v1/users/${dave.id}`, headers: bearer(carol.token) })).statusCode).toBe(403);
    expect((await app.inject({ method: 'PATCH', url: `/api/v1/users/${dave.id}`, headers: bearer(carol.token), payload: { name: 'x' } })).statusCode).toBe(403);
    expect((await app.inject({ method: 'DELETE', url: `/api/v1/users/${dave.id}`, headers: bearer(carol.token) })).statusCode).toBe(403);
  });

  it('lists with cursor pagination and searches by e-mail or name', async () => {
    const page1 = await eventually(async () => {
      const res = await app.inject({ method: 'GET', url: '/api/v1/users?limit=2', headers: bearer(admin.token) });
      return res.json().next_cursor && res.json();
    });
    expect(page1.items).toHaveLength(2);
    const page2 = await app.inject({ method: 'GET', url: `/api/v1/users?limit=2&cursor=${page1.next_cursor}`, headers: bearer(admin.token) });
    const ids = [...page1.items, ...page2.json().items].map((u: { id: string }) => u.id);
    expect(new Set(ids).size).toBe(ids.length);
    const byEmail = await app.inject({ method: 'GET', url: `/api/v1/users?q=${encodeURIComponent(carol.email.slice(0, 12).toUpperCase())}`, headers: bearer(admin.token) });
    expect(byEmail.json().items.map((u: { id: string }) => u.id)).toEqual([carol.id]);
    const byName = await app.inject({ method: 'GET', url: '/api/v1/users?q=dave%20per', headers: bearer(admin.token) });
    expect(byName.json().items.map((u: { id: string }) => u.id)).toEqual([dave.id]);
    const wild = await app.inject({ method: 'GET', url: '/api/v1/users?q=%25', headers: bearer(admin.token) });
    expect(wild.json().items).toEqual([]);
    expect((await app.inject({ method: 'GET', url: '/api/v1/users?cursor=bogus', headers: bearer(admin.token) })).statusCode).toBe(400);
  });

  it('PATCH with If-Match: current revision → 200 + new ETag; stale → 412; read-your-writes', async () => {
    const get = await app.inject({ method: 'GET', url: `/api/v1/users/${carol.id}`, headers: bearer(carol.token) });
    expect(get.statusCode).toBe(200);
    const me = await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(carol.token) });
    expect(me.json()).toEqual(get.json());
    const etag = get.headers.etag as string;
    expect(etag).toMatch(/^"\d+"$/);
    const ok = await app.inject({ method: 'PATCH', url: `/api/v1/users/${carol.id}`, headers: { ...bearer(carol.token), 'if-match': etag }, payload: { name: 'Carol Two' } });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().name).toBe('Carol Two');
    expect(ok.headers.etag).not.toBe(etag);
    const stale = await app.inject({ method: 'PATCH', url: `/api/v1/users/${carol.id}`, headers: { ...bearer(carol.token), 'if-match': etag }, payload: { name: 'Carol Three' } });
    expect(stale.statusCode).toBe(412);
    expect(stale.json().code).toBe('precondition_failed');
    const again = await app.inject({ method: 'GET', url: `/api/v1/users/${carol.id}`, headers: bearer(carol.token) });
    expect(again.json().name).toBe('Carol Two');
    expect(again.headers.etag).toBe(ok.headers.etag);
    const byAdmin = await app.inject({ method: 'PATCH', url: `/api/v1/users/${carol.id}`, headers: bearer(admin.token), payload: { name: 'Carol Admin-Set' } });
    expect(byAdmin.statusCode).toBe(200);
    const badIfMatch = await app.inject({ method: 'PATCH', url: `/api/v1/users/${carol.id}`, headers: { ...bearer(carol.token), 'if-match': 'nonsense' }, payload: { name: 'x' } });
    expect(badIfMatch.statusCode).toBe(400);
  });

  it('an e-mail change moves the reservation: the new one is taken, the old one is free', async () => {
    const newEmail = `carol-new-${Date.now()}@example.com`;
    // The owner's own change is pending until the new address confirms it (issue 20 §2; test/users/email-change.int.test.ts).
    const pending = await app.inject({ method: 'PATCH', url: `/api/v1/users/${carol.id}`, headers: bearer(carol.token), payload: { email: newEmail } });
    expect(pending.statusCode, pending.body).toBe(200);
    expect(pending.json()).toMatchObject({ email: carol.email, pending_email: newEmail });
    // An admin's edit is immediate and moves the reservation.
    const taken = await app.inject({ method: 'PATCH', url: `/api/v1/users/${carol.id}`, headers: bearer(admin.token), payload: { email: dave.email } });
    expect(taken.statusCode).toBe(409);
    const moved = await app.inject({ method: 'PATCH', url: `/api/v1/users/${carol.id}`, headers: bearer(admin.token), payload: { email: newEmail } });
    expect(moved.statusCode, moved.body).toBe(200);
    expect(moved.json().email).toBe(newEmail);
    expect(moved.json().pending_email).toBeUndefined();
    const reuse = await app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: carol.email, password: strongPassword(), name: 'Reuse' } });
    expect(reuse.statusCode, reuse.body).toBe(201);
    carol = { ...carol, email: newEmail };
  });

  it('disabling a user kills all its sessions and API keys at once; enabling lets it log in again', async () => {
    const u = await newUser(app, 'erin');
    const second = await login(app, u.email, u.password);
    await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload: { name: 'reports' } });
    const key = (await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(u.token), payload: { name: 'k', features: '*' } })).json();
    const check = (token: string) => app.inject({ method: 'POST', url: '/api/v1/features/reports/access', headers: { ...bearer(token), 'x-api-key': key.api_key } });
    expect((await check(u.token)).statusCode).toBe(200);

    const res = await app.inject({ method: 'POST', url: `/api/v1/users/${u.id}/disable`, headers: bearer(admin.token), payload: { reason: 'abuse' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().disabled).toBe(true);
    for (const token of [u.token, second]) {
      expect((await app.inject({ method: 'GET', url: `/api/v1/users/${u.id}`, headers: bearer(token) })).statusCode).toBe(401);
      expect((await check(token)).statusCode).toBe(401);
    }
    const login2 = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: u.email, password: u.password } });
    expect(login2.statusCode).not.toBe(200);
    const keyView = await app.inject({ method: 'GET', url: `/api/v1/api-keys/${key.id}`, headers: bearer(admin.token) });
    await eventually(async () => (await app.inject({ method: 'GET', url: `/api/v1/api-keys/${key.id}`, headers: bearer(admin.token) })).json().revoked === true);
    expect(keyView.statusCode).toBe(200);

    const en = await app.inject({ method: 'POST', url: `/api/v1/users/${u.id}/enable`, headers: bearer(admin.token) });
    expect(en.json().disabled).toBe(false);
    const fresh = await login(app, u.email, u.password);
    const after = await check(fresh);
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe('api_key_revoked');
  });

  it('an admin cannot disable or demote itself', async () => {
    expect((await app.inject({ method: 'POST', url: `/api/v1/users/${admin.id}/disable`, headers: bearer(admin.token) })).statusCode).toBe(409);
    expect((await app.inject({ method: 'DELETE', url: `/api/v1/users/${admin.id}/roles/admin`, headers: bearer(admin.token) })).statusCode).toBe(409);
  });

  it('revoking admin ends the user’s sessions (its admin tokens stop now)', async () => {
    const a2 = await newAdmin(app, t.services);
    expect((await app.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(a2.token) })).statusCode).toBe(200);
    const res = await app.inject({ method: 'DELETE', url: `/api/v1/users/${a2.id}/roles/admin`, headers: bearer(admin.token) });
    expect(res.statusCode).toBe(200);
    expect(res.json().roles).toEqual(['user']);
    expect((await app.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(a2.token) })).statusCode).toBe(401);
    const relogged = await login(app, a2.email, a2.password);
    expect((await app.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(relogged) })).statusCode).toBe(403);
  });

  it('a user deletes itself: sessions end, the account is gone', async () => {
    const u = await newUser(app, 'gone');
    const res = await app.inject({ method: 'DELETE', url: `/api/v1/users/${u.id}`, headers: bearer(u.token) });
    expect(res.statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: `/api/v1/users/${u.id}`, headers: bearer(u.token) })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: `/api/v1/users/${u.id}`, headers: bearer(admin.token) })).statusCode).toBe(404);
    expect((await app.inject({ method: 'PATCH', url: `/api/v1/users/${u.id}`, headers: bearer(admin.token), payload: { name: 'x' } })).statusCode).toBe(404);
    const relog = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: u.email, password: u.password } });
    expect(relog.statusCode).toBe(401);
  });
});
