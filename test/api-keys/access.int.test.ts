import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp } from '../helpers/app';
import { buildApp } from '../../src/compose';
import { createServices, silentLogger, type Services } from '../../src/services';
import { generateApiKey } from '../../src/credentials/api-key-format';
import { expireDueApiKeys, issueApiKey } from '../../src/commands/api-keys/handlers';
import { foldApiKeyUsage, usageKeys } from '../../src/projections/api-key-usage';
import { bearer, eventually, newAdmin, newUser, runProjections, type TestUser } from '../helpers/users';

const access = (app: FastifyInstance, feature: string, token: string, key?: string, seed = false) =>
  app.inject({
    method: 'POST',
    url: seed ? `/feature/access/${feature}` : `/api/v1/features/${feature}/access`,
    headers: seed ? { 'access-token': token, ...(key ? { 'api-key': key } : {}) } : { ...bearer(token), ...(key ? { 'x-api-key': key } : {}) },
  });

describe('API keys, features and the access check', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let app: FastifyInstance;
  let projector: ReturnType<typeof runProjections>;
  let admin: TestUser;
  let alice: TestUser;
  let bob: TestUser;
  let aliceKey: { id: string; api_key: string };

  beforeAll(async () => {
    t = await testApp('access');
    app = t.app;
    projector = runProjections(t.services);
    admin = await newAdmin(app, t.services);
    alice = await newUser(app, 'alice');
    bob = await newUser(app, 'bob');
    for (const name of ['reports', 'billing']) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload: { name, description: `${name} feature` } });
      expect(res.statusCode, res.body).toBe(201);
    }
    const res = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'ci', features: ['reports'] } });
    expect(res.statusCode, res.body).toBe(201);
    aliceKey = res.json();
  });
  afterAll(async () => {
    await projector.stop();
    await t.close();
  });

  describe('features (admin)', () => {
    it('registers through the seed path too, and refuses duplicates', async () => {
      const res = await app.inject({ method: 'POST', url: '/feature/register', headers: { 'access-token': admin.token }, payload: { feature_name: 'exports', description: 'CSV' } });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toEqual({ name: 'exports', description: 'CSV', enabled: true });
      const dup = await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload: { name: 'exports' } });
      expect(dup.statusCode).toBe(409);
    });

    it('refuses non-admins with 403 on every admin route', async () => {
      for (const [method, url, payload] of [
        ['POST', '/api/v1/features', { name: 'x1' }],
        ['POST', '/feature/register', { name: 'x1' }],
        ['PATCH', '/api/v1/features/reports', { enabled: false }],
        ['DELETE', '/api/v1/features/reports', undefined],
      ] as const) {
        const res = await app.inject({ method, url, headers: bearer(alice.token), payload });
        expect(res.statusCode, `${method} ${url}`).toBe(403);
        expect(res.json().code).toBe('admin_required');
      }
    });

    it('rejects bad names with 400, and 404s unknown features', async () => {
      expect((await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload: { name: 'no spaces' } })).statusCode).toBe(400);
      expect((await app.inject({ method: 'PATCH', url: '/api/v1/features/nope', headers: bearer(admin.token), payload: { enabled: false } })).statusCode).toBe(404);
      expect((await app.inject({ method: 'DELETE', url: '/api/v1/features/nope', headers: bearer(admin.token) })).statusCode).toBe(404);
    });

    it('lists features from the read model', async () => {
      const items = await eventually(async () => {
        const res = await app.inject({ method: 'GET', url: '/api/v1/features', headers: bearer(alice.token) });
        const list = res.json().items as { name: string }[];
        return list.length >= 3 && list;
      });
      expect(items.map((f) => f.name)).toEqual(expect.arrayContaining(['billing', 'exports', 'reports']));
    });
  });

  describe('API keys', () => {
    it('shows the key once, in the documented format, and never again', async () => {
      expect(aliceKey.api_key).toMatch(/^alk_[0-9a-f]{16}_[0-9A-Za-z]{38}$/);
      const list = await eventually(async () => {
        const res = await app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(alice.token) });
        return res.json().items.length === 1 && res.json();
      });
      expect(list.items[0]).toMatchObject({ id: aliceKey.id, name: 'ci', features: ['reports'], revoked: false, status: 'active', expires_at: null });
      expect(JSON.stringify(list)).not.toContain(aliceKey.api_key.slice(25));
      const events = await t.services.pool.query('SELECT data::text FROM events');
      expect(events.rows.map((r) => r.data).join('\n')).not.toContain(aliceKey.api_key.slice(25));
    });

    it('refuses keys naming unknown features', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'x', features: ['ghost'] } });
      expect(res.statusCode).toBe(400);
      // Known and unknown names mixed: exactly the unknown ones are named.
      const mixed = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'x', features: ['billing', 'ghost', 'reports', 'phantom', 'billing'] } });
      expect(mixed.statusCode).toBe(400);
      expect(JSON.stringify(mixed.json())).toContain('unknown feature: ghost');
      expect(JSON.stringify(mixed.json())).toContain('unknown feature: phantom');
      expect(JSON.stringify(mixed.json())).not.toMatch(/unknown feature: (billing|reports)/);
      const known = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'x', features: ['reports', 'billing'] } });
      expect(known.statusCode, known.body).toBe(201);
      expect(known.json().features).toEqual(['reports', 'billing']);
    });

    it('admins issue keys for existing, enabled users only', async () => {
      const forBob = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(admin.token), payload: { name: 'by-admin', features: '*', user_id: bob.id } });
      expect(forBob.statusCode, forBob.body).toBe(201);
      const ghost = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(admin.token), payload: { name: 'x', features: '*', user_id: 'no-such-user' } });
      expect(ghost.statusCode).toBe(404);
      const notAdmin = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'x', features: '*', user_id: bob.id } });
      expect(notAdmin.statusCode).toBe(403);
    });

    it('issues through the seed path with Access-Token', async () => {
      const res = await app.inject({ method: 'POST', url: '/api_key/generate', headers: { 'access-token': bob.token } });
      expect(res.statusCode, res.body).toBe(200);
      const { api_key } = res.json();
      expect(api_key).toMatch(/^alk_/);
      const ok = await access(app, 'billing', bob.token, api_key, true);
      expect(ok.statusCode, ok.body).toBe(200);
      expect(ok.json()).toEqual({ granted: true, feature: 'billing', user_id: bob.id });
    });

    it('lists only one’s own keys; admins list anyone’s', async () => {
      const mine = await app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(bob.token) });
      expect(mine.json().items.every((k: { user_id: string }) => k.user_id === bob.id)).toBe(true);
      expect((await app.inject({ method: 'GET', url: '/api/v1/api-keys?all=true', headers: bearer(bob.token) })).statusCode).toBe(403);
      expect((await app.inject({ method: 'GET', url: `/api/v1/api-keys?user_id=${alice.id}`, headers: bearer(bob.token) })).statusCode).toBe(403);
      const all = await eventually(async () => {
        const res = await app.inject({ method: 'GET', url: '/api/v1/api-keys?all=true&limit=1', headers: bearer(admin.token) });
        return res.json().next_cursor && res.json();
      });
      const next = await app.inject({ method: 'GET', url: `/api/v1/api-keys?all=true&limit=1&cursor=${all.next_cursor}`, headers: bearer(admin.token) });
      expect(next.json().items[0].id).not.toBe(all.items[0].id);
    });

    it('only the owner or an admin may revoke (others are told it does not exist)', async () => {
      const res = await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${aliceKey.id}`, headers: bearer(bob.token) });
      expect(res.statusCode).toBe(404);
      expect((await access(app, 'reports', alice.token, aliceKey.api_key)).statusCode).toBe(200);
    });
  });

  describe('the access check', () => {
    it('grants with a valid token and key', async () => {
      const res = await access(app, 'reports', alice.token, aliceKey.api_key);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ granted: true, feature: 'reports', user_id: alice.id });
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      // Meant for servers: no CORS grant for a browser origin.
      const fromBrowser = await app.inject({
        method: 'POST', url: '/api/v1/features/reports/access', headers: { ...bearer(alice.token), 'x-api-key': aliceKey.api_key, origin: 'https://evil.example' },
      });
      expect(fromBrowser.statusCode).toBe(200);
      expect(fromBrowser.headers['access-control-allow-origin']).toBeUndefined();
      const seed = await access(app, 'reports', alice.token, aliceKey.api_key, true);
      expect(seed.statusCode).toBe(200);
    });

    it('refuses another user’s key with 403 (ownership)', async () => {
      const res = await access(app, 'reports', bob.token, aliceKey.api_key);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ granted: false, reason: 'key_owner_mismatch' });
    });

    it('refuses features outside the key’s scope with 403', async () => {
      const res = await access(app, 'billing', alice.token, aliceKey.api_key);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ granted: false, reason: 'feature_not_in_key_scope' });
    });

    it('404s an unknown feature', async () => {
      const res = await access(app, 'ghost', alice.token, aliceKey.api_key);
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('feature_not_found');
    });

    it('401s missing, malformed, checksum-failing and unknown keys, and bad tokens', async () => {
      const missing = await access(app, 'reports', alice.token);
      expect([missing.statusCode, missing.json().code]).toEqual([401, 'api_key_missing']);
      const k = aliceKey.api_key;
      const typo = k.slice(0, 30) + (k[30] === 'a' ? 'b' : 'a') + k.slice(31);
      for (const bad of ['garbage', 'alk_123', typo, generateApiKey().key, `${k}x`]) {
        const res = await access(app, 'reports', alice.token, bad);
        expect(res.statusCode, bad).toBe(401);
        expect(res.json().code).toBe('api_key_invalid');
      }
      const noToken = await app.inject({ method: 'POST', url: '/api/v1/features/reports/access', headers: { 'x-api-key': k } });
      expect(noToken.statusCode).toBe(401);
      const badToken = await access(app, 'reports', `${alice.token}x`, k);
      expect(badToken.statusCode).toBe(401);
    });

    it('never accepts a key in the URL', async () => {
      const res = await app.inject({ method: 'POST', url: `/api/v1/features/reports/access?api_key=${aliceKey.api_key}`, headers: bearer(alice.token) });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('api_key_in_url');
      // A feature whose name merely contains "alk_" is fine.
      await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload: { name: 'talk_x' } });
      const k = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'talk', features: ['talk_x'] } });
      expect((await access(app, 'talk_x', alice.token, k.json().api_key)).statusCode).toBe(200);
    });

    it('refuses a disabled feature with 403, and grants again once enabled', async () => {
      const off = await app.inject({ method: 'PATCH', url: '/api/v1/features/reports', headers: bearer(admin.token), payload: { enabled: false } });
      expect(off.statusCode).toBe(200);
      expect(off.json()).toMatchObject({ enabled: false });
      const res = await access(app, 'reports', alice.token, aliceKey.api_key);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ granted: false, reason: 'feature_disabled' });
      await app.inject({ method: 'PATCH', url: '/api/v1/features/reports', headers: bearer(admin.token), payload: { enabled: true } });
      expect((await access(app, 'reports', alice.token, aliceKey.api_key)).statusCode).toBe(200);
    });

    it('refuses an expired key with 401', async () => {
      const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
      const k = await issueApiKey(t.services, { userId: alice.id, name: 'old', features: '*', expiresInDays: 1 }, {}, twoDaysAgo);
      const res = await access(app, 'reports', alice.token, k.api_key);
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('api_key_expired');
      // The cleanup job's function records the expiry as an event; the read model follows.
      await eventually(async () => (await t.services.pool.query('SELECT 1 FROM api_keys WHERE key_id = $1', [k.id])).rowCount);
      expect(await expireDueApiKeys(t.services)).toBe(1);
      expect(await expireDueApiKeys(t.services)).toBe(0);
      const listed = await eventually(async () => {
        const v = (await app.inject({ method: 'GET', url: `/api/v1/api-keys/${k.id}`, headers: bearer(alice.token) })).json();
        return v.status === 'expired' && v;
      });
      expect(listed.revoked).toBe(false);
      expect((await access(app, 'reports', alice.token, k.api_key)).json().code).toBe('api_key_expired');
      const fresh = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'short', features: '*', expires_in_days: 1 } });
      expect(fresh.json().expires_at).toBeTruthy();
      expect((await access(app, 'reports', alice.token, fresh.json().api_key)).statusCode).toBe(200);
    });

    it('counts usage in Redis without events or rows, then folds it', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'usage', features: ['billing'] } });
      const key = res.json();
      await t.services.pool.query('DELETE FROM api_key_usage').catch(() => undefined);
      await foldApiKeyUsage(t.services);
      const before = await t.services.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
      for (let i = 0; i < 5; i++) expect((await access(app, 'billing', alice.token, key.api_key)).statusCode).toBe(200);
      const after = await t.services.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM events');
      expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
      expect((await t.services.pool.query('SELECT 1 FROM api_key_usage WHERE key_id = $1', [key.id])).rowCount).toBe(0);

      const view = async () => (await app.inject({ method: 'GET', url: `/api/v1/api-keys/${key.id}`, headers: bearer(alice.token) })).json();
      // Counted in memory, added to Redis within a second, visible before any fold.
      const live = await eventually(async () => {
        const v = await view();
        return v.calls_today === 5 && v;
      }, 5000);
      expect(live.calls_today).toBe(5);
      expect(live.last_used_at).toBeTruthy();

      const folded = await foldApiKeyUsage(t.services);
      expect(folded.keys).toBeGreaterThanOrEqual(1);
      const rows = await t.services.pool.query<{ count: string }>('SELECT count::text FROM api_key_usage WHERE key_id = $1', [key.id]);
      expect(rows.rows[0]?.count).toBe('5');
      const after2 = await view();
      expect(after2.calls_today).toBe(5);
      expect(after2.usage).toEqual([{ day: new Date().toISOString().slice(0, 10), count: 5 }]);

      const feature = await app.inject({ method: 'GET', url: '/api/v1/features/billing', headers: bearer(admin.token) });
      expect(feature.json().usage.at(-1).count).toBeGreaterThanOrEqual(5);
      const asUser = await app.inject({ method: 'GET', url: '/api/v1/features/billing', headers: bearer(alice.token) });
      expect(asUser.json().usage).toBeUndefined();
    });

    it('GET /api-keys/{id}: daily usage of the last `days` days in day order, folded and pending counts added; owner or admin only', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'days', features: ['billing'] } });
      const key = res.json();
      const day = (ago: number) => new Date(Date.now() - ago * 86_400_000).toISOString().slice(0, 10);
      await t.services.pool.query(
        `INSERT INTO api_key_usage (key_id, day, count) SELECT $1, d::date, c FROM unnest($2::text[], $3::bigint[]) AS t(d, c)`,
        [key.id, [day(40), day(10), day(2), day(0)], [7, 3, 2, 4]],
      );
      const pending = usageKeys.keyUsage(t.services.prefix, key.id);
      await t.services.redis.hincrby(pending, day(0), 6);
      await t.services.redis.hincrby(pending, day(1), 1);
      const get = (token: string, q = '') => app.inject({ method: 'GET', url: `/api/v1/api-keys/${key.id}${q}`, headers: bearer(token) });
      const v = (await get(alice.token)).json();
      expect(v.usage).toEqual([{ day: day(10), count: 3 }, { day: day(2), count: 2 }, { day: day(1), count: 1 }, { day: day(0), count: 10 }]);
      expect(v.calls_today).toBe(10);
      expect((await get(alice.token, '?days=5')).json().usage.map((u: { day: string }) => u.day)).toEqual([day(2), day(1), day(0)]);
      expect((await get(alice.token, '?days=60')).json().usage[0]).toEqual({ day: day(40), count: 7 });
      expect((await get(admin.token)).json().usage).toEqual(v.usage);
      const other = await get(bob.token);
      expect(other.statusCode).toBe(404);
      expect(other.json().code).toBe('api_key_not_found');
      expect((await app.inject({ method: 'GET', url: '/api/v1/api-keys/0123456789abcdef', headers: bearer(alice.token) })).statusCode).toBe(404);
      await t.services.redis.del(pending);
    });

    it('a deleted feature is 404, and its name can be registered again', async () => {
      await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload: { name: 'temp' } });
      const del = await app.inject({ method: 'DELETE', url: '/api/v1/features/temp', headers: bearer(admin.token) });
      expect(del.statusCode).toBe(204);
      const k = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'all', features: '*' } });
      expect((await access(app, 'temp', alice.token, k.json().api_key)).statusCode).toBe(404);
      const again = await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload: { name: 'temp' } });
      expect(again.statusCode).toBe(201);
      expect((await access(app, 'temp', alice.token, k.json().api_key)).statusCode).toBe(200);
    });
  });

  // A second app instance in this process (its own Services: caches, local cache registry and Redis
  // connections, so it hears of commands here through pub/sub only, like another process). The real
  // second process is test/api-keys/second-process.e2e.test.ts.
  describe('revocation on a second app instance', () => {
    let second: { app: FastifyInstance; services: Services };
    beforeAll(async () => {
      const services = await createServices(t.services.config, { log: silentLogger(), migrate: false });
      second = { app: await buildApp(services), services };
      await second.app.ready();
    });
    afterAll(async () => {
      await second.app.close();
      await second.services.close();
    });

    it('a revoked key stops on the other process within 1 s', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'doomed', features: ['reports'] } });
      const key = res.json();
      // Warm the second process's cache: it has now seen the key as valid.
      for (let i = 0; i < 3; i++) expect((await access(second.app, 'reports', alice.token, key.api_key)).statusCode).toBe(200);
      const del = await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${key.id}`, headers: bearer(alice.token) });
      expect(del.statusCode).toBe(204);
      const started = Date.now();
      let status = 200;
      while (status === 200 && Date.now() - started < 1000) {
        status = (await access(second.app, 'reports', alice.token, key.api_key)).statusCode;
        if (status === 200) await new Promise((r) => setTimeout(r, 10));
      }
      expect(status).toBe(401);
      expect(Date.now() - started).toBeLessThan(1000);
      expect((await access(second.app, 'reports', alice.token, key.api_key)).json().code).toBe('api_key_revoked');
    });

    it('a disabled feature is refused on the other process within 1 s', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'f', features: '*' } });
      const key = res.json().api_key;
      expect((await access(second.app, 'exports', alice.token, key)).statusCode).toBe(200);
      await app.inject({ method: 'PATCH', url: '/api/v1/features/exports', headers: bearer(admin.token), payload: { enabled: false } });
      const started = Date.now();
      let status = 200;
      while (status === 200 && Date.now() - started < 1000) {
        status = (await access(second.app, 'exports', alice.token, key)).statusCode;
        if (status === 200) await new Promise((r) => setTimeout(r, 10));
      }
      expect(status).toBe(403);
    });

    it('an admin revokes anyone’s key, effective everywhere', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(bob.token), payload: { name: 'b', features: '*' } });
      const key = res.json();
      expect((await access(second.app, 'billing', bob.token, key.api_key)).statusCode).toBe(200);
      expect((await access(app, 'billing', bob.token, key.api_key)).statusCode).toBe(200);
      const del = await second.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${key.id}`, headers: bearer(admin.token) });
      expect(del.statusCode).toBe(204);
      await eventually(async () => (await access(app, 'billing', bob.token, key.api_key)).statusCode === 401, 1000);
      const list = await eventually(async () => {
        const l = await app.inject({ method: 'GET', url: `/api/v1/api-keys?user_id=${bob.id}`, headers: bearer(admin.token) });
        const k = (l.json().items as { id: string; revoked: boolean }[]).find((x) => x.id === key.id);
        return k?.revoked && k;
      });
      expect(list).toMatchObject({ revoked: true, status: 'revoked' });
    });
  });
});

describe('per-key rate limit', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  beforeAll(async () => {
    t = await testApp('access-rl', { API_KEY_RATE_LIMIT_PER_MINUTE: '3' });
  });
  afterAll(async () => t.close());

  it('answers 429 with Retry-After once a key’s budget is spent, per key', async () => {
    const admin = await newAdmin(t.app, t.services);
    const user = await newUser(t.app, 'rl');
    await t.app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload: { name: 'reports' } });
    const k1 = (await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(user.token), payload: { name: 'a', features: '*' } })).json().api_key;
    const k2 = (await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(user.token), payload: { name: 'b', features: '*' } })).json().api_key;
    for (let i = 0; i < 3; i++) expect((await access(t.app, 'reports', user.token, k1)).statusCode).toBe(200);
    const limited = await access(t.app, 'reports', user.token, k1);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(limited.json().code).toBe('rate_limited');
    expect((await access(t.app, 'reports', user.token, k2)).statusCode).toBe(200);
  });

  it('concurrent checks (leases topped up in the background): never more than the limit, at most one slice stranded', async () => {
    const t3 = await testApp('access-rl3', { API_KEY_RATE_LIMIT_PER_MINUTE: '400' });
    try {
      const admin = await newAdmin(t3.app, t3.services);
      const user = await newUser(t3.app, 'rl3');
      await t3.app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload: { name: 'reports' } });
      const key = (await t3.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(user.token), payload: { name: 'a', features: '*' } })).json().api_key;
      const statuses: number[] = [];
      for (let round = 0; round < 10; round++) {
        const batch = await Promise.all(Array.from({ length: 60 }, () => access(t3.app, 'reports', user.token, key)));
        statuses.push(...batch.map((r) => r.statusCode));
      }
      const granted = statuses.filter((s) => s === 200).length;
      expect(granted + statuses.filter((s) => s === 429).length).toBe(600);
      expect(granted).toBeLessThanOrEqual(400);
      // One process holds at most one slice (400 / 20 = 20 calls) when the window's budget is gone.
      expect(granted).toBeGreaterThanOrEqual(380);
    } finally {
      await t3.close();
    }
  });

  it('two processes share one budget per key: never more than the limit in a window', async () => {
    const t2 = await testApp('access-rl2', { API_KEY_RATE_LIMIT_PER_MINUTE: '40' });
    const otherServices = await createServices(t2.services.config, { log: silentLogger(), migrate: false });
    const other = await buildApp(otherServices);
    try {
      await other.ready();
      const admin = await newAdmin(t2.app, t2.services);
      const user = await newUser(t2.app, 'rl2');
      await t2.app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload: { name: 'reports' } });
      const key = (await t2.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(user.token), payload: { name: 'a', features: '*' } })).json().api_key;
      let granted = 0;
      let limited = 0;
      for (let i = 0; i < 60; i++) {
        const res = await access(i % 2 ? other : t2.app, 'reports', user.token, key);
        if (res.statusCode === 200) granted++;
        else if (res.statusCode === 429) limited++;
      }
      expect(granted + limited).toBe(60);
      expect(granted).toBeLessThanOrEqual(40);
      // Each process may strand at most one slice (40 / 20 = 2 calls) at the end of the window.
      expect(granted).toBeGreaterThanOrEqual(36);
    } finally {
      await other.close();
      await otherServices.close();
      await t2.close();
    }
  });
});
