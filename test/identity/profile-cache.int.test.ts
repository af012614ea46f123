/**
 * The per-process profile cache of GET /api/v1/auth/me (src/projections/user-profile-cache.ts),
 * across two app instances on the same PostgreSQL and Redis (each its own Services, so its own
 * cache, subscription and local-cache registry: only pub/sub links them). Instance B answers over
 * a real socket. Shows: B answers from memory; a change, a role revocation, a disable and a
 * deletion made through A are seen by B at once; a dropped subscription makes B read Redis
 * on every call (fail closed) until it is subscribed again.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { adminLogin, bearer, signupAndLogin, type LoggedIn } from '../helpers/auth';
import { buildApp } from '../../src/compose';
import { createServices, silentLogger, type Services } from '../../src/services';
import { userProfileKey } from '../../src/projections/session-state';
import type { UserProfileCache } from '../../src/projections/user-profile-cache';

const until = async (fn: () => boolean, ms = 5000) => {
  const start = Date.now();
  while (!fn()) {
    if (Date.now() - start > ms) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('/me profile cache across two instances', () => {
  let a: Awaited<ReturnType<typeof testApp>>;
  let bServices: Services;
  let b: FastifyInstance;
  let bBase: string;
  let admin: LoggedIn;
  let cacheB: UserProfileCache;

  beforeAll(async () => {
    a = await testApp('profile-cache');
    bServices = await createServices(a.services.config, { log: silentLogger(), migrate: false });
    b = await buildApp(bServices);
    bBase = await b.listen({ host: '127.0.0.1', port: 0 });
    const caches = (bServices.inline.localCaches as unknown as { caches: Set<{ topic?: string }> }).caches;
    cacheB = [...caches].find((c) => c.topic === 'user-profile') as unknown as UserProfileCache;
    expect(cacheB).toBeDefined();
    admin = await adminLogin(a.app, a.services);
  });
  afterAll(async () => {
    await b.close();
    await bServices.close();
    await a.close();
  });

  const meOnB = async (token: string) => {
    const res = await fetch(`${bBase}/api/v1/auth/me`, { headers: bearer(token) });
    return { status: res.status, body: (await res.json()) as { name?: string; roles?: string[] } };
  };
  const behindTheBack = (userId: string, name: string) => a.services.redis.hset(userProfileKey(a.services.prefix, userId), 'name', name);

  it('B answers from memory: a change written behind its back (no message) is not seen', async () => {
    const u = await signupAndLogin(a.app, { name: 'Ada' });
    await until(() => cacheB.isLive);
    expect((await meOnB(u.accessToken)).body.name).toBe('Ada');
    await behindTheBack(u.userId, 'Changed Behind');
    expect((await meOnB(u.accessToken)).body.name).toBe('Ada');
  });

  it('a name change and a role change through A are seen by B at once', async () => {
    const u = await signupAndLogin(a.app, { name: 'Grace' });
    expect((await meOnB(u.accessToken)).body.name).toBe('Grace');
    const patch = await a.app.inject({ method: 'PATCH', url: `/api/v1/users/${u.userId}`, headers: bearer(admin.accessToken), payload: { name: 'Grace Hopper' } });
    expect(patch.statusCode).toBe(200);
    expect((await meOnB(u.accessToken)).body.name).toBe('Grace Hopper');

    const grant = await a.app.inject({ method: 'POST', url: `/api/v1/users/${u.userId}/roles`, headers: bearer(admin.accessToken), payload: { role: 'admin' } });
    expect(grant.statusCode).toBe(200);
    expect((await meOnB(u.accessToken)).body.roles).toContain('admin');
  });

  it('revoking admin, disabling and deleting through A are refused by B at once', async () => {
    const demoted = await signupAndLogin(a.app, { name: 'Demoted' });
    await a.app.inject({ method: 'POST', url: `/api/v1/users/${demoted.userId}/roles`, headers: bearer(admin.accessToken), payload: { role: 'admin' } });
    expect((await meOnB(demoted.accessToken)).body.roles).toContain('admin');
    const revoke = await a.app.inject({ method: 'DELETE', url: `/api/v1/users/${demoted.userId}/roles/admin`, headers: bearer(admin.accessToken) });
    expect(revoke.statusCode).toBe(200);
    expect((await meOnB(demoted.accessToken)).status).toBe(401);

    const disabled = await signupAndLogin(a.app, { name: 'Disabled' });
    expect((await meOnB(disabled.accessToken)).status).toBe(200);
    const dis = await a.app.inject({ method: 'POST', url: `/api/v1/users/${disabled.userId}/disable`, headers: bearer(admin.accessToken), payload: {} });
    expect(dis.statusCode).toBe(200);
    expect((await meOnB(disabled.accessToken)).status).toBe(401);

    const deleted = await signupAndLogin(a.app, { name: 'Deleted' });
    expect((await meOnB(deleted.accessToken)).status).toBe(200);
    const del = await a.app.inject({ method: 'DELETE', url: `/api/v1/users/${deleted.userId}`, headers: bearer(admin.accessToken) });
    expect(del.statusCode).toBeLessThan(300);
    expect((await meOnB(deleted.accessToken)).status).toBe(401);
  });

  it('the profile hash itself marked disabled (message published by the projection write) is refused by B at once, session still active', async () => {
    const u = await signupAndLogin(a.app, { name: 'Only Profile' });
    expect((await meOnB(u.accessToken)).status).toBe(200);
    // Only the profile read model changes (as a projector replay would write it): the session
    // stays active, so the refusal can only come from the profile, not from the session gate.
    const { applyInline, userEventEval } = await import('../../src/projections/session-state');
    await applyInline(a.services.redis, userEventEval(a.services.prefix, { type: 'UserDisabled', data: { userId: u.userId }, revision: 1000n, createdAt: new Date() }));
    expect((await meOnB(u.accessToken)).status).toBe(401);
  });

  it('a dropped subscription disables the cache (every call reads Redis) until it is subscribed again', async () => {
    const u = await signupAndLogin(a.app, { name: 'Linus' });
    expect((await meOnB(u.accessToken)).body.name).toBe('Linus');
    const sub = (cacheB as unknown as { sub: { disconnect(): void; connect(): Promise<void> } }).sub;
    sub.disconnect();
    await until(() => !cacheB.isLive);
    await behindTheBack(u.userId, 'Seen While Down');
    expect((await meOnB(u.accessToken)).body.name).toBe('Seen While Down');
    await behindTheBack(u.userId, 'Seen Again');
    expect((await meOnB(u.accessToken)).body.name).toBe('Seen Again');
    await sub.connect();
    await until(() => cacheB.isLive);
    expect((await meOnB(u.accessToken)).body.name).toBe('Seen Again');
    await behindTheBack(u.userId, 'Hidden Again');
    expect((await meOnB(u.accessToken)).body.name).toBe('Seen Again');
  });
});
