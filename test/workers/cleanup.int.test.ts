/**
 * Cleanup jobs: session and API-key expiry (events appended once, Redis state follows, safe
 * with several cleaners), usage folding, token pruning, and their schedulers.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp, type TestServices } from '../helpers/app';
import { bearer, login, signup } from '../helpers/auth';
import { streams } from '../../src/events/streams';
import type { EventStore } from '../../src/events/store';
import { userSessionsKey } from '../../src/projections/session-state';
import { accessKeys } from '../../src/projections/access-state';
import { AccessMeter } from '../../src/queries/api-keys/meter';
import { ProjectionRunner } from '../../src/projections/engine';
import { apiKeysProjection } from '../../src/projections/api-keys';
import { sessionsProjection } from '../../src/projections/identity';
import { sessionKey } from '../../src/projections/session-state';
import { CLEANUP_JOBS, expireApiKeys, expireSessions, pruneEmailTokens, scheduleCleanup, type CleanupDeps } from '../../workers/cleanup';
import { startWorkers, type WorkersHandle } from '../../workers/index';

let app: FastifyInstance;
let s: TestServices;
let close: () => Promise<void>;
let deps: CleanupDeps;
const DAY = 86_400_000;

beforeAll(async () => {
  const t = await testApp('wclean', { CLEANUP_INTERVAL: '3600' });
  app = t.app;
  s = t.services;
  close = t.close;
  deps = { config: s.config, log: s.log, pool: s.pool, redis: s.redis, prefix: s.prefix, store: s.store, inline: s.inline };
});
afterAll(async () => close?.());

const countType = async (stream: string, type: string) => (await s.store.readStream(stream)).filter((e) => e.type === type).length;

describe('expire sessions', () => {
  it('leaves live sessions alone; expires idle ones once (SessionExpired), and their tokens stop', async () => {
    const u = await signup(app);
    const a = await login(app, { email: u.email });
    const b = await login(app, { email: u.email, deviceName: 'second' });
    expect((await expireSessions(deps)).expired).toBe(0);

    const later = Date.now() + s.config.REFRESH_IDLE_TTL * 1000 + 60_000;
    // Two cleaners at once (two worker processes): one event per session all the same.
    await Promise.all([expireSessions(deps, later), expireSessions(deps, later)]);
    for (const x of [a, b]) {
      expect(await countType(streams.session(x.sessionId), 'SessionExpired')).toBe(1);
      const last = (await s.store.readStream(streams.session(x.sessionId))).at(-1)!;
      expect(last.data).toMatchObject({ reason: 'idle', userId: u.userId });
    }
    expect(await s.redis.smembers(userSessionsKey(s.prefix, u.userId))).toEqual([]);
    // Their access tokens stop (the gate hears the session-ended message).
    await new Promise((r) => setTimeout(r, 200));
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(a.accessToken) })).statusCode).toBe(401);
    // Run again: nothing left to do.
    expect((await expireSessions(deps, later)).expired).toBe(0);
  });

  it('an absolute lifetime is enforced even for a session in use', async () => {
    const u = await signup(app);
    const a = await login(app, { email: u.email });
    const after = Date.now() + s.config.REFRESH_TOKEN_TTL * 1000 + 1000;
    const r = await expireSessions(deps, after);
    expect(r.expired).toBeGreaterThanOrEqual(1);
    const last = (await s.store.readStream(streams.session(a.sessionId))).at(-1)!;
    expect(last).toMatchObject({ type: 'SessionExpired', data: { reason: 'absolute' } });
  });
  it('races safely with a refresh: the refresh wins, nothing is expired, the session lives on', async () => {
    const u = await signup(app);
    const a = await login(app, { email: u.email });
    // A real store whose append to this session's stream is preceded by a real refresh (HTTP):
    // the cleaner decided on the revision before the refresh and must lose.
    let refreshed: { refresh_token: string; access_token: string } | undefined;
    const racing = Object.create(s.store) as EventStore;
    racing.appendToStream = async (stream, events, opts) => {
      if (!refreshed && stream === streams.session(a.sessionId)) {
        const r = await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: a.refreshToken, return_refresh_in_body: true } });
        expect(r.statusCode).toBe(200);
        refreshed = r.json();
      }
      return s.store.appendToStream(stream, events, opts);
    };
    const later = Date.now() + s.config.REFRESH_IDLE_TTL * 1000 + 60_000;
    const r = await expireSessions({ ...deps, store: racing }, later);
    expect(r).toMatchObject({ expired: 0, raced: 1 });
    expect(await countType(streams.session(a.sessionId), 'SessionExpired')).toBe(0);
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(refreshed!.access_token) })).statusCode).toBe(200);
  });

  it('finds sessions through the read model too (Redis state lost)', async () => {
    const u = await signup(app);
    const a = await login(app, { email: u.email });
    const runner = new ProjectionRunner({ pool: s.pool, store: s.store }, sessionsProjection);
    while (await runner.step()) {
      // catch up the sessions read model
    }
    await s.redis.del(sessionKey(s.prefix, a.sessionId), userSessionsKey(s.prefix, u.userId));
    const later = Date.now() + s.config.REFRESH_IDLE_TTL * 1000 + 60_000;
    await expireSessions(deps, later);
    expect(await countType(streams.session(a.sessionId), 'SessionExpired')).toBe(1);
  });
});

describe('expire API keys', () => {
  it('appends ApiKeyExpired once for keys past expires_at and marks the access state', async () => {
    const u = await signup(app);
    const sess = await login(app, { email: u.email });
    const res = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(sess.accessToken), payload: { name: 'ci', features: '*', expires_in_days: 1 } });
    expect(res.statusCode).toBe(201);
    const keyId = res.json().id as string;
    const runner = new ProjectionRunner({ pool: s.pool, store: s.store }, apiKeysProjection);
    while (await runner.step()) {
      // catch up the api_keys read model
    }
    expect((await expireApiKeys(deps)).expired).toBe(0); // not yet
    const later = new Date(Date.now() + 2 * DAY);
    const [r1, r2] = await Promise.all([expireApiKeys(deps, later), expireApiKeys(deps, later)]);
    expect(r1.expired + r2.expired).toBeGreaterThanOrEqual(1);
    expect(await countType(streams.apiKey(keyId), 'ApiKeyExpired')).toBe(1);
    expect(await s.redis.hget(accessKeys.key(s.prefix, keyId), 's')).toBe('expired');
    expect((await expireApiKeys(deps, later)).expired).toBe(0);
  });
});

describe('prune e-mail tokens', () => {
  it('deletes spent and expired tokens, keeps live ones', async () => {
    const row = (kind: string, expires: Date, consumed: Date | null) =>
      s.pool.query(`INSERT INTO email_tokens (token_id, kind, user_id, token_hash, expires_at, consumed_at, created_at) VALUES ($1, $2, 'u', 'h', $3, $4, now())`, [randomUUID(), kind, expires, consumed]);
    await row('verification', new Date(Date.now() + DAY), null);
    await row('reset', new Date(Date.now() - 1000), null);
    await row('reset', new Date(Date.now() + DAY), new Date());
    const { pruned } = await pruneEmailTokens(deps);
    expect(pruned).toBe(2);
    const { rows } = await s.pool.query('SELECT kind FROM email_tokens');
    expect(rows).toEqual([{ kind: 'verification' }]);
  });
});

describe('schedulers and jobs through BullMQ', () => {
  let workers: WorkersHandle;
  afterAll(async () => workers?.stop());

  it('every worker registers the same schedulers (idempotent); a cleanup job runs on the low queue', async () => {
    workers = await startWorkers(s, { consumer: false });
    await scheduleCleanup(workers.queues.byName.low, 3_600_000); // a second process doing the same
    const schedulers = await workers.queues.byName.low.getJobSchedulers();
    expect(schedulers.map((x) => x.name).sort()).toEqual([...CLEANUP_JOBS].sort());

    // Usage counted in Redis is folded into PostgreSQL by the fold job.
    const keyId = 'abcdef0123456789';
    // Counted by the access check's own meter (no rate limit), flushed to Redis as a process does.
    const meter = new AccessMeter(s.redis, s.prefix, 0);
    for (let i = 0; i < 3; i++) await meter.hit(keyId, 'reports', true);
    await meter.close();
    const job = await workers.queues.byName.low.add('fold-api-key-usage', {});
    const deadline = Date.now() + 20_000;
    while (!(await job.isCompleted()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await job.isCompleted()).toBe(true);
    const { rows } = await s.pool.query<{ count: string }>('SELECT count::text FROM api_key_usage WHERE key_id = $1', [keyId]);
    expect(rows).toEqual([{ count: '3' }]);
  });
});
