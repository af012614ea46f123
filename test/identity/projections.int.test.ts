import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectionRunner } from '../../src/projections/engine';
import { identityProjections } from '../../src/projections/identity';
import { sessionKey, userProfileKey } from '../../src/projections/session-state';
import { testApp } from '../helpers/app';
import { bearer, login, makeAdmin, signup } from '../helpers/auth';

describe('identity projections', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  beforeAll(async () => {
    t = await testApp('idproj');
  });
  afterAll(async () => t.close());

  async function catchUp() {
    const deps = { pool: t.services.pool, store: t.services.store, redis: t.services.redis, redisPrefix: t.services.prefix };
    for (const p of identityProjections(t.services.config)) {
      const runner = new ProjectionRunner(deps, p);
      while (await runner.step()) {
        // until a step finds nothing new
      }
    }
  }

  it('users and sessions tables follow the log; Redis state agrees with the inline writes', async () => {
    const u = await signup(t.app, { name: 'Grace' });
    await makeAdmin(t.services, u.userId);
    const a = await login(t.app, { email: u.email, deviceName: 'phone', userAgent: 'ua-phone' });
    const b = await login(t.app, { email: u.email, deviceName: 'laptop' });
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: b.refreshToken } });
    expect(r.statusCode).toBe(200);
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(a.accessToken) });
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: u.email, password: 'wrong wrong wrong' } });

    const inlineA = await t.services.redis.hgetall(sessionKey(t.services.prefix, a.sessionId));
    const inlineB = await t.services.redis.hgetall(sessionKey(t.services.prefix, b.sessionId));
    await catchUp();

    const { rows: users } = await t.services.pool.query('SELECT * FROM users WHERE id = $1', [u.userId]);
    expect(users[0]).toMatchObject({
      email: u.email, email_normalized: u.email.toLowerCase(), name: 'Grace', roles: ['user', 'admin'], email_verified: false,
      disabled: false, deleted: false, source: 'signup', failed_logins: 1,
    });
    expect(Number(users[0].revision)).toBeGreaterThanOrEqual(2);
    const { rows: sessions } = await t.services.pool.query('SELECT * FROM sessions WHERE user_id = $1 ORDER BY created_at', [u.userId]);
    expect(sessions.map((s) => [s.id, s.device_name, s.status, s.end_reason, s.rotations])).toEqual([
      [a.sessionId, 'phone', 'revoked', 'logout', 0],
      [b.sessionId, 'laptop', 'active', null, 1],
    ]);
    expect(sessions[0].user_agent).toBe('ua-phone');

    // the projection's writes are no-ops after the inline ones (same revision guard)
    const projectedA = await t.services.redis.hgetall(sessionKey(t.services.prefix, a.sessionId));
    const projectedB = await t.services.redis.hgetall(sessionKey(t.services.prefix, b.sessionId));
    expect(projectedA).toEqual(inlineA);
    expect(projectedB).toEqual(inlineB);
    expect(projectedA.status).toBe('revoked');
  });

  it('the Redis read models rebuild from the log alone', async () => {
    const u = await signup(t.app);
    const a = await login(t.app, { email: u.email });
    const b = await login(t.app, { email: u.email });
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(a.accessToken) });
    await catchUp();
    const before = {
      a: await t.services.redis.hgetall(sessionKey(t.services.prefix, a.sessionId)),
      b: await t.services.redis.hgetall(sessionKey(t.services.prefix, b.sessionId)),
      profile: await t.services.redis.hgetall(userProfileKey(t.services.prefix, u.userId)),
    };
    const keys = await t.services.redis.keys(`${t.services.prefix}*`);
    await t.services.redis.del(...keys.filter((k) => !k.includes(':rl:')));
    await catchUp();
    const after = {
      a: await t.services.redis.hgetall(sessionKey(t.services.prefix, a.sessionId)),
      b: await t.services.redis.hgetall(sessionKey(t.services.prefix, b.sessionId)),
      profile: await t.services.redis.hgetall(userProfileKey(t.services.prefix, u.userId)),
    };
    // same state; timestamps come from the log (inline writes used the command's clock)
    const strip = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).filter(([k]) => !/At$|_at$/.test(k)));
    expect(strip(after.a)).toEqual(strip(before.a));
    expect(strip(after.b)).toEqual(strip(before.b));
    expect(strip(after.profile)).toEqual(strip(before.profile));
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(b.accessToken) })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(a.accessToken) })).statusCode).toBe(401);
  });
});
