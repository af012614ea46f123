import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { adminLogin, bearer, signupAndLogin } from '../helpers/auth';

describe('identity smoke', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  beforeAll(async () => {
    t = await testApp('idsmoke');
  });
  afterAll(async () => t.close());

  it('signup → login → me → verify → refresh → logout', async () => {
    const s = await signupAndLogin(t.app, { name: 'Ada' });
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(s.accessToken) });
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json()).toMatchObject({ id: s.userId, email: s.email, name: 'Ada', roles: ['user'] });
    const v = await t.app.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: bearer(s.accessToken) });
    expect(v.statusCode, v.body).toBe(200);
    expect(v.headers['x-user-id']).toBe(s.userId);
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refreshToken } });
    expect(r.statusCode, r.body).toBe(200);
    const out = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(r.json().access_token) });
    expect(out.statusCode, out.body).toBe(204);
    const after = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(r.json().access_token) });
    expect(after.statusCode).toBe(401);
  });

  it('admin login carries the admin role', async () => {
    const a = await adminLogin(t.app, t.services);
    expect(a.roles).toContain('admin');
  });
});
