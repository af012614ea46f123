/**
 * Issue 21 in one process, on the shared servers (a private key prefix):
 * - item 1: once the append committed, a failing inline projection does not fail the command
 *   (counted in authledger_inline_projection_failures_total) and the projector applies it later;
 * - item 6: the inline write and the projector's write of an event carry the event's stored time;
 * - item 2: the epoch marker — Redis emptied → `/ready` 503 `redis_state: rebuilding`, the gate
 *   answers existing sessions from the log, the projections replay from 0 and Redis serves again;
 *   a checkpoint left without its marker field is replayed from 0 too.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { testApp } from '../helpers/app';
import { bearer, login, signup, signupAndLogin, uniqueEmail } from '../helpers/auth';
import { runUserCommand } from '../../src/commands/users/stream';
import { inlineProjectionFailures } from '../../src/infra/metrics';
import { projectionsFor } from '../../src/projections/index';
import { ProjectionRunner, redisCheckpointKey } from '../../src/projections/engine';
import { notLive, redisEpochKey } from '../../src/projections/redis-epoch';
import { SessionGate, sessionActiveInLog } from '../../src/http/session-gate';
import { userProfileKey } from '../../src/projections/session-state';

let t: Awaited<ReturnType<typeof testApp>>;
let runners: ProjectionRunner[];
const drain = async () => {
  for (const r of runners) await r.drain();
};
/** A session gate wired as src/http/auth.ts wires it, not started (no cache): every answer is fresh. */
const gateLikeAuth = () => new SessionGate(t.services.redis, t.services.prefix, {
  endedMemoryMs: 60_000,
  fallback: {
    rebuilding: async () => (await notLive(t.services.redis, t.services.prefix, ['session_state'])).length > 0,
    activeInLog: (sid) => sessionActiveInLog(t.services.store, sid),
  },
});
const failures = async () => (await inlineProjectionFailures.get()).values.reduce((n, v) => n + v.value, 0);
const wipe = async () => {
  const keys = await t.services.redis.keys(`${t.services.prefix}*`);
  if (keys.length) await t.services.redis.del(...keys);
};

beforeAll(async () => {
  t = await testApp('redis-recovery');
  const redisProjections = projectionsFor(t.services.config).filter((p) => p.kind === 'redis');
  runners = redisProjections.map((p) => new ProjectionRunner({ pool: t.services.pool, store: t.services.store, redis: t.services.redis, redisPrefix: t.services.prefix }, p));
}, 60_000);
afterAll(async () => {
  await t?.close();
});

describe('a committed write never fails on its inline projection', () => {
  it('Redis refusing the inline write: the command succeeds, the failure is counted, the projector applies it', async () => {
    const dead = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    dead.on('error', () => undefined);
    const before = await failures();
    const userId = randomUUID();
    const email = uniqueEmail('inline-fail');
    try {
      const r = await runUserCommand({ ...t.services, redis: dead }, userId, { type: 'Register', userId, email, name: 'I', passwordHash: 'x', source: 'admin' });
      expect(r.appended.map((e) => e.type)).toEqual(['UserRegistered']);
    } finally {
      dead.disconnect();
    }
    expect(await failures()).toBe(before + 1);
    const [stored] = await t.services.store.readStream(`user-${userId}`);
    expect(stored?.type).toBe('UserRegistered');
    expect(await t.services.redis.exists(userProfileKey(t.services.prefix, userId))).toBe(0);
    await drain();
    const profile = await t.services.redis.hgetall(userProfileKey(t.services.prefix, userId));
    expect(profile).toMatchObject({ id: userId, email, created_at: stored!.createdAt.toISOString() });
  });

  it('inline writes carry the stored event time (equal to the projector\'s)', async () => {
    const u = await signup(t.app, { email: uniqueEmail('clock') });
    const inline = await t.services.redis.hgetall(userProfileKey(t.services.prefix, u.userId));
    const [stored] = await t.services.store.readStream(`user-${u.userId}`);
    expect(inline.created_at).toBe(stored!.createdAt.toISOString());
    expect(inline.updated_at).toBe(stored!.createdAt.toISOString());
  });
});

describe('the epoch marker', () => {
  it('Redis emptied: /ready rebuilding, tokens answered from the log, replay from 0, then ready', async () => {
    const a = await signupAndLogin(t.app, { email: uniqueEmail('epoch-a') });
    const b = await signupAndLogin(t.app, { email: uniqueEmail('epoch-b') });
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(b.accessToken), payload: { refresh_token: b.refreshToken } })).statusCode).toBeLessThan(300);
    await drain();
    let ready = await t.app.inject({ method: 'GET', url: '/ready' });
    expect(ready.json().checks.redis_state).toMatchObject({ ok: true, detail: { state: 'ok' } });

    await wipe(); // Redis came back empty
    ready = await t.app.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ status: 'not_ready', redis_state: 'rebuilding' });

    const gate = t.app.sessionGate;
    const asked = gate.logAnswers;
    const okA = await t.app.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: bearer(a.accessToken) });
    expect(okA.statusCode).toBe(200); // its hash is gone; active in the log
    expect(gate.logAnswers).toBe(asked + 1);
    // A gate of another process (it never saw b's logout): the log says b ended.
    const other = gateLikeAuth();
    expect(await other.isActive(b.sessionId)).toBe(false);
    expect(await other.isActive(a.sessionId)).toBe(true);
    expect(await other.isActive(randomUUID())).toBe(false);
    expect(other.logAnswers).toBe(3);

    // A login while rebuilding writes inline; the replay must not hide its session or a's.
    const a2 = await login(t.app, { email: a.email });
    await drain();
    ready = await t.app.inject({ method: 'GET', url: '/ready' });
    expect(ready.json().redis_state).toBe('ok');
    const sessions = await t.app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: bearer(a2.accessToken) });
    expect(sessions.json().sessions.map((s: { id: string }) => s.id).sort()).toEqual([a.sessionId, a2.sessionId].sort());
    // Back to normal: a session Redis does not know is not asked of the log.
    const after = gateLikeAuth();
    expect(await after.isActive(randomUUID())).toBe(false);
    expect(after.logAnswers).toBe(0);
  });

  it('a checkpoint without its marker field is replayed from position 0', async () => {
    const u = await signupAndLogin(t.app, { email: uniqueEmail('epoch-partial') });
    await drain();
    const redis = t.services.redis;
    const prefix = t.services.prefix;
    const ck = redisCheckpointKey(prefix, 'session_state');
    expect(await redis.get(ck)).toBeTruthy();
    // Partial loss: the session data and the marker go, the checkpoint stays.
    await redis.del(redisEpochKey(prefix), `${prefix}session:${u.sessionId}`, `${prefix}user-sessions:${u.userId}`);
    const runner = runners.find((r) => r.projection.name === 'session_state')!;
    const batches = runner.batches;
    await runner.drain();
    expect(runner.batches).toBeGreaterThan(batches);
    expect(await redis.hget(`${prefix}session:${u.sessionId}`, 'status')).toBe('active');
    expect(await redis.smembers(`${prefix}user-sessions:${u.userId}`)).toEqual([u.sessionId]);
  });
});
