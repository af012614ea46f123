/**
 * The fast path (src/http/fast-path.ts) answers exactly as the Fastify routes do: the same matrix of
 * requests goes to a listening app with the fast path on and off, and the status, body, headers
 * (but Date and X-Process-Time values) and access line fields (but time and duration) must match.
 * GET /api/v1/auth/me is rate-limited per IP: its cases come from an address of their own
 * (127.0.0.3), where the Fastify answer of each pair has spent exactly one request more
 * (x-ratelimit-remaining one lower); a small limit on a second app (127.0.0.2) gives exactly that
 * many 200s, then 429s, whichever way each request goes.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/compose';
import { createLogger } from '../../src/infra/logger';
import { signAccessToken } from '../../src/credentials/access-tokens';
import { testServices, type TestServices } from '../helpers/app';
import { bearer, eventually, newAdmin, newUser, runProjections, type TestUser } from '../helpers/users';
import { captureStream } from '../server/helpers';

interface Case {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** The fast path itself must answer it (a plain 200). */
  fast?: boolean;
  /** Sent from this local address (node:http), for a per-IP budget of its own. */
  from?: string;
}

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string>;
}

/** One request from `localAddress` on a connection of its own. */
function request(url: string, method: string, headers: Record<string, string>, body: string | undefined, localAddress: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, localAddress, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const flat: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), headers: flat });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** fetch, or node:http from a local address; headers as one flat object. */
async function call(url: string, c: { method: string; headers?: Record<string, string>; body?: string; from?: string }, rid: string): Promise<Reply> {
  const headers = { 'x-request-id': rid, ...c.headers };
  if (c.from) return request(url, c.method, headers, c.body, c.from);
  const res = await fetch(url, { method: c.method, headers, body: c.body });
  const flat: Record<string, string> = {};
  res.headers.forEach((v, k) => { flat[k] = v; });
  return { status: res.status, body: await res.text(), headers: flat };
}

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string>;
  line: Record<string, unknown> | undefined;
  /** x-ratelimit-remaining and -reset, when sent (compared apart: each request spends one). */
  limit?: { remaining: number; reset: number };
}

describe('fast path ≡ Fastify routes', () => {
  let services: TestServices;
  let app: FastifyInstance;
  let base: string;
  let logs: ReturnType<typeof captureStream>;
  let projector: ReturnType<typeof runProjections>;
  let admin: Awaited<ReturnType<typeof newAdmin>>;
  let alice: TestUser;
  let bob: TestUser;
  let aliceKey: string;
  let bobKey: string;
  let revokedKey: string;
  let limitedKey: string;
  let expiredToken: string;
  let endedToken: string;
  let disabledToken: string;
  let deletedToken: string;

  beforeAll(async () => {
    // A per-IP limit whose leased blocks are 50 (src/http/rate-limit-store.ts): the /me cases below
    // spend fewer than that from their own address, so only its first request takes a lease.
    // (The small-limit case below has the fast path take leases too.)
    services = await testServices('fastpath', { API_KEY_RATE_LIMIT_PER_MINUTE: '60', CORS_ORIGINS: 'https://app.example.com', RATE_LIMIT_PER_MINUTE: '1000' });
    logs = captureStream();
    const log = createLogger({ LOG_LEVEL: 'info', NODE_ENV: 'test' }, { stream: logs.stream });
    app = await buildApp({ ...services, log });
    await app.ready();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address() as { port: number };
    base = `http://127.0.0.1:${addr.port}`;
    projector = runProjections(services);
    admin = await newAdmin(app, services);
    alice = await newUser(app, 'alice');
    bob = await newUser(app, 'bob');
    for (const payload of [{ name: 'reports' }, { name: 'billing' }, { name: 'paused' }]) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload });
      expect(res.statusCode, res.body).toBe(201);
    }
    const off = await app.inject({ method: 'PATCH', url: '/api/v1/features/paused', headers: bearer(admin.token), payload: { enabled: false } });
    expect(off.statusCode, off.body).toBe(200);
    const issue = async (user: TestUser, features: string[]) => {
      const res = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(user.token), payload: { name: 'k', features } });
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { id: string; api_key: string };
    };
    aliceKey = (await issue(alice, ['reports', 'paused'])).api_key;
    bobKey = (await issue(bob, ['reports'])).api_key;
    limitedKey = (await issue(alice, ['reports'])).api_key;
    const revoked = await issue(alice, ['reports']);
    revokedKey = revoked.api_key;
    const rv = await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${revoked.id}`, headers: bearer(alice.token) });
    expect(rv.statusCode, rv.body).toBeLessThan(300);
    expiredToken = (await signAccessToken(app.keys, services.config, { userId: alice.id, sessionId: 'sess-x', roles: ['user'] }, new Date(Date.now() - 3600_000))).token;
    const ended = await newUser(app, 'ended');
    endedToken = ended.token;
    const out = await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(ended.token) });
    expect(out.statusCode, out.body).toBeLessThan(300);
    const disabled = await newUser(app, 'disabled');
    disabledToken = disabled.token;
    const dis = await app.inject({ method: 'POST', url: `/api/v1/users/${disabled.id}/disable`, headers: bearer(admin.token), payload: {} });
    expect(dis.statusCode, dis.body).toBe(200);
    const deleted = await newUser(app, 'deleted');
    deletedToken = deleted.token;
    const del = await app.inject({ method: 'DELETE', url: `/api/v1/users/${deleted.id}`, headers: bearer(deleted.token) });
    expect(del.statusCode, del.body).toBe(204);
    // The access cache reaches the keys through the log.
    await eventually(async () => (await fetch(`${base}/api/v1/features/reports/access`, { method: 'POST', headers: { ...bearer(alice.token), 'x-api-key': aliceKey } })).status === 200);
  }, 60_000);
  afterAll(async () => {
    await projector?.stop();
    await app?.close();
    await services?.close();
  });

  async function send(c: Case, rid: string): Promise<Answer> {
    const res = await call(`${base}${c.path}`, c, rid);
    const body = res.body.replaceAll(rid, '<rid>');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (k === 'date') continue;
      headers[k] = k === 'x-process-time' ? (/^\d+\.\d{6}$/.test(v) ? '<time>' : v) : v.replaceAll(rid, '<rid>');
    }
    let limit: Answer['limit'];
    if (headers['x-ratelimit-remaining'] !== undefined) {
      limit = { remaining: Number(headers['x-ratelimit-remaining']), reset: Number(headers['x-ratelimit-reset']) };
      expect(Number.isInteger(limit.remaining) && Number.isInteger(limit.reset), `${c.name}: rate-limit headers`).toBe(true);
      headers['x-ratelimit-remaining'] = '<n>';
      headers['x-ratelimit-reset'] = '<s>';
    }
    await new Promise((r) => setTimeout(r, 5));
    const found = logs.lines.filter((l) => l.request_id === rid && l.msg === 'request');
    expect(found.length, `${c.name}: one access line`).toBe(1);
    const { time: _t, duration_ms: d, request_id: _r, ...line } = found[0]!;
    expect(typeof d).toBe('number');
    return { status: res.status, body, headers, line, limit };
  }

  async function bothWays(c: Case): Promise<Answer> {
    app.fastPath.enabled = true;
    const before = app.fastPath.answered;
    const fast = await send(c, `fp-${c.name}-fast`);
    const answeredFast = app.fastPath.answered - before;
    app.fastPath.enabled = false;
    const slow = await send(c, `fp-${c.name}-slow`);
    app.fastPath.enabled = true;
    expect(answeredFast, `${c.name}: answered by the fast path`).toBe(c.fast ? 1 : 0);
    const { limit: fastLimit, ...fastRest } = fast;
    const { limit: slowLimit, ...slowRest } = slow;
    expect(fastRest, c.name).toEqual(slowRest);
    // One request spent each, in order, from the same window.
    if (fastLimit || slowLimit) {
      expect(slowLimit!.remaining, `${c.name}: one spent per request`).toBe(fastLimit!.remaining - 1);
      expect(Math.abs(slowLimit!.reset - fastLimit!.reset), c.name).toBeLessThanOrEqual(1);
    }
    return fast;
  }

  const verify = (name: string, headers: Record<string, string> = {}, extra: Partial<Case> = {}): Case => ({ name: `verify-${name}`, method: 'GET', path: '/api/v1/auth/verify', headers, ...extra });
  const access = (name: string, headers: Record<string, string>, extra: Partial<Case> = {}): Case => ({ name: `access-${name}`, method: 'POST', path: '/api/v1/features/reports/access', headers, ...extra });

  it('GET /api/v1/auth/verify: same answers and access lines', async () => {
    const ok = await bothWays({ ...verify('bearer', bearer(alice.token)), fast: true });
    expect(ok.status).toBe(200);
    expect(ok.headers['x-user-id']).toBe(alice.id);
    expect(ok.line).toMatchObject({ status: 200, route: '/api/v1/auth/verify', user_id: alice.id });
    await bothWays({ ...verify('access-token-header', { 'access-token': alice.token }), fast: true });
    await bothWays({ ...verify('bearer-lowercase-spaces', { authorization: `bearer   ${alice.token} ` }), fast: true });
    await bothWays({ ...verify('cors-origin', { ...bearer(alice.token), origin: 'https://app.example.com' }), fast: true });
    await bothWays({ ...verify('admin-header-ignored', { ...bearer(alice.token), 'x-forwarded-method': 'POST' }), fast: true });
    for (const c of [
      verify('missing'),
      verify('garbage', bearer('not-a-token')),
      verify('expired', bearer(expiredToken)),
      verify('ended-session', bearer(endedToken)),
      verify('basic-scheme', { authorization: `Basic ${alice.token}` }),
      verify('forwarded-uri-unregistered', { ...bearer(alice.token), 'x-forwarded-uri': '/nothing-here/x', 'x-forwarded-method': 'GET' }),
      verify('forwarded-uri-api', { ...bearer(alice.token), 'x-forwarded-uri': '/api/v1/auth/me' }),
      verify('envoy-query', bearer(alice.token), { path: '/api/v1/auth/verify?/orders/x' }),
      verify('query', bearer(alice.token), { path: '/api/v1/auth/verify?a=1' }),
      verify('trailing-slash', bearer(alice.token), { path: '/api/v1/auth/verify/' }),
      verify('head', bearer(alice.token), { method: 'HEAD' }),
      verify('options', { origin: 'https://app.example.com', 'access-control-request-method': 'GET' }, { method: 'OPTIONS' }),
      verify('with-body', { ...bearer(alice.token), 'content-type': 'application/json' }, { method: 'GET' }),
      verify('post', bearer(alice.token), { method: 'POST' }),
    ]) await bothWays(c);
  });

  it('GET /api/v1/auth/me: same answers, access lines and per-IP budget', async () => {
    const me = (name: string, headers: Record<string, string> = {}, extra: Partial<Case> = {}): Case => ({ name: `me-${name}`, method: 'GET', path: '/api/v1/auth/me', headers, from: '127.0.0.3', ...extra });
    // The address's first request takes its lease (Fastify's limiter here); the rest spend from it.
    app.fastPath.enabled = false;
    const first = await call(`${base}/api/v1/auth/me`, { method: 'GET', headers: bearer(alice.token), from: '127.0.0.3' }, 'fp-me-first');
    app.fastPath.enabled = true;
    expect(first.status, first.body).toBe(200);
    expect(first.headers['x-ratelimit-remaining']).toBe('999');
    const answered = app.fastPath.answered;
    const ok = await bothWays({ ...me('bearer', bearer(alice.token)), fast: true });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ id: alice.id, email: alice.email, roles: ['user'] });
    expect(ok.headers).toMatchObject({ 'cache-control': 'no-store', 'x-ratelimit-limit': '1000', vary: 'Origin', 'x-content-type-options': 'nosniff', 'access-control-allow-credentials': 'true' });
    expect(ok.headers['content-security-policy']).toBeTruthy();
    expect(ok.headers['access-control-allow-origin']).toBeUndefined();
    expect(ok.limit!.remaining).toBe(998);
    expect(ok.line).toMatchObject({ status: 200, route: '/api/v1/auth/me', user_id: alice.id });
    await bothWays({ ...me('access-token-header', { 'access-token': alice.token }), fast: true });
    await bothWays({ ...me('bearer-lowercase-spaces', { authorization: `bearer   ${bob.token} ` }), fast: true });
    await bothWays({ ...me('forwarded-for-untrusted', { ...bearer(alice.token), 'x-forwarded-for': '203.0.113.9' }), fast: true });
    // fetch's own headers (Accept, Accept-Encoding, User-Agent…), from the address the setup used.
    await bothWays({ ...me('fetch', bearer(alice.token)), from: undefined, fast: true });
    for (const c of [
      me('missing'),
      me('garbage', bearer('not-a-token')),
      me('expired', bearer(expiredToken)),
      me('logged-out', bearer(endedToken)),
      me('disabled-user', bearer(disabledToken)),
      me('deleted-user', bearer(deletedToken)),
      me('origin-allowed', { ...bearer(alice.token), origin: 'https://app.example.com' }),
      me('origin-other', { ...bearer(alice.token), origin: 'https://evil.example' }),
      me('head', bearer(alice.token), { method: 'HEAD' }),
      me('query', bearer(alice.token), { path: '/api/v1/auth/me?x=1' }),
      me('trailing-slash', bearer(alice.token), { path: '/api/v1/auth/me/' }),
      me('with-body', { ...bearer(alice.token), 'content-type': 'application/json' }),
      me('options', { origin: 'https://app.example.com', 'access-control-request-method': 'GET' }, { method: 'OPTIONS' }),
    ]) await bothWays(c);
    expect(app.fastPath.answered - answered).toBe(5);
  });

  it('GET /api/v1/auth/me: after the first lease the per-IP budget is topped up in the background, so no fast answer waits for it', async () => {
    // Blocks of 50 (the 1000/min limit): 160 requests spend three blocks and more; each top-up
    // starts with 25 left, so it lands long before they are spent (one request at a time).
    app.fastPath.enabled = false;
    const first = await call(`${base}/api/v1/auth/me`, { method: 'GET', headers: bearer(alice.token), from: '127.0.0.5' }, 'fp-me-topup-0');
    app.fastPath.enabled = true;
    expect(first.headers['x-ratelimit-remaining']).toBe('999');
    const answered = app.fastPath.answered;
    const waited = app.fastEdge.waited;
    for (let i = 1; i <= 160; i++) {
      const reply = await call(`${base}/api/v1/auth/me`, { method: 'GET', headers: bearer(alice.token), from: '127.0.0.5' }, `fp-me-topup-${i}`);
      expect(reply.status).toBe(200);
      expect(reply.headers['x-ratelimit-remaining'], `request ${i}`).toBe(String(999 - i));
    }
    expect(app.fastPath.answered - answered).toBe(160);
    expect(app.fastEdge.waited - waited).toBe(0);
  });

  it('insane or missing X-Request-ID: a UUID, both ways', async () => {
    for (const enabled of [true, false]) {
      app.fastPath.enabled = enabled;
      const res = await fetch(`${base}/api/v1/auth/verify`, { headers: { ...bearer(alice.token), 'x-request-id': 'bad id with spaces' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
    app.fastPath.enabled = true;
  });

  it('POST /api/v1/features/{name}/access: same answers, access lines and meter', async () => {
    const key = (k: string) => ({ ...bearer(alice.token), 'x-api-key': k });
    const ok = await bothWays({ ...access('granted', key(aliceKey)), fast: true });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ granted: true, feature: 'reports', user_id: alice.id });
    await bothWays({ ...access('api-key-header', { 'access-token': alice.token, 'api-key': aliceKey }), fast: true });
    await bothWays({ ...access('content-length-0', { ...key(aliceKey), 'content-length': '0' }), fast: true });
    for (const c of [
      access('no-token', { 'x-api-key': aliceKey }),
      access('garbage-token', { ...bearer('x.y.z'), 'x-api-key': aliceKey }),
      access('expired-token', { ...bearer(expiredToken), 'x-api-key': aliceKey }),
      access('ended-session', { ...bearer(endedToken), 'x-api-key': aliceKey }),
      access('no-key', bearer(alice.token)),
      access('empty-key', key('')),
      access('malformed-key', key('ak_nothing')),
      access('revoked-key', key(revokedKey)),
      access('other-users-key', key(bobKey)),
      access('not-in-scope', key(aliceKey), { path: '/api/v1/features/billing/access' }),
      access('disabled', key(aliceKey), { path: '/api/v1/features/paused/access' }),
      access('unknown-feature', key(aliceKey), { path: '/api/v1/features/nope/access' }),
      access('bad-name', key(aliceKey), { path: '/api/v1/features/-bad/access' }),
      access('percent-name', key(aliceKey), { path: '/api/v1/features/rep%6Frts/access' }),
      access('key-in-url', key(aliceKey), { path: `/api/v1/features/${aliceKey.slice(0, 40)}/access` }),
      access('json-body', { ...key(aliceKey), 'content-type': 'application/json' }, { body: '{}' }),
      access('bad-json', { ...key(aliceKey), 'content-type': 'application/json' }, { body: '{"a":' }),
      access('empty-json', { ...key(aliceKey), 'content-type': 'application/json' }, { body: '' }),
      access('text-body', { ...key(aliceKey), 'content-type': 'text/plain' }, { body: 'hello' }),
      access('oversize', { ...key(aliceKey), 'content-type': 'application/json' }, { body: JSON.stringify({ x: 'y'.repeat(services.config.BODY_LIMIT_BYTES + 10) }) }),
      access('options', { origin: 'https://app.example.com', 'access-control-request-method': 'POST' }, { method: 'OPTIONS' }),
      access('get', key(aliceKey), { method: 'GET' }),
    ]) await bothWays(c);
  });

  it('a key granted on the fast path (parsed, hashed and cached) is refused at once when revoked, its feature at once when disabled', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'soon-revoked', features: ['reports', 'billing'] } });
    expect(res.statusCode, res.body).toBe(201);
    const { id, api_key: soon } = res.json() as { id: string; api_key: string };
    const check = (feature: string) => fetch(`${base}/api/v1/features/${feature}/access`, { method: 'POST', headers: { ...bearer(alice.token), 'x-api-key': soon } });
    await eventually(async () => (await check('reports')).status === 200);
    const before = app.fastPath.answered;
    for (let i = 0; i < 3; i++) expect((await check('reports')).status).toBe(200);
    expect((await check('billing')).status).toBe(200);
    expect(app.fastPath.answered - before).toBe(4);

    // The command's inline write drops this process's entries before it answers: no wait.
    const off = await app.inject({ method: 'PATCH', url: '/api/v1/features/billing', headers: bearer(admin.token), payload: { enabled: false } });
    expect(off.statusCode, off.body).toBe(200);
    const disabled = await check('billing');
    expect(disabled.status).toBe(403);
    expect(((await disabled.json()) as { reason: string }).reason).toBe('feature_disabled');
    const on = await app.inject({ method: 'PATCH', url: '/api/v1/features/billing', headers: bearer(admin.token), payload: { enabled: true } });
    expect(on.statusCode, on.body).toBe(200);
    expect((await check('billing')).status).toBe(200);

    const rv = await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${id}`, headers: bearer(alice.token) });
    expect(rv.statusCode, rv.body).toBeLessThan(300);
    const atOnce = app.fastPath.answered;
    const refused = await check('reports');
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { code: string }).code).toBe('api_key_revoked');
    expect(app.fastPath.answered).toBe(atOnce);
  });

  it('a spent key budget: 429 both ways, each check counted once', async () => {
    const statuses: number[] = [];
    // 60 a minute, one window for both ways: requests alternate between the fast path and Fastify.
    for (let i = 0; i < 70; i++) {
      app.fastPath.enabled = i % 2 === 0;
      const res = await fetch(`${base}/api/v1/features/reports/access`, { method: 'POST', headers: { ...bearer(alice.token), 'x-api-key': limitedKey, 'x-request-id': `fp-rl-${i}` } });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(res.headers.get('content-security-policy')).toBeTruthy();
        expect(((await res.json()) as { code: string }).code).toBe('rate_limited');
      } else await res.text();
    }
    app.fastPath.enabled = true;
    expect(statuses.slice(0, 60).every((s) => s === 200), statuses.join(',')).toBe(true);
    expect(statuses.slice(60).every((s) => s === 429), statuses.join(',')).toBe(true);
    const lines = logs.lines.filter((l) => String(l.request_id).startsWith('fp-rl-') && l.msg === 'request');
    expect(lines).toHaveLength(70);
    expect(lines.filter((l) => l.status === 429 && l.route === '/api/v1/features/:name/access')).toHaveLength(10);
  });

  it('fast answers are observed in the latency histogram with the route pattern', async () => {
    const count = async () => {
      const text = await app.metrics.getSingleMetricAsString('http_request_duration_seconds');
      const m = /http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/auth\/verify",status="200"\} (\d+)/.exec(text);
      return Number(m?.[1] ?? 0);
    };
    const before = await count();
    const res = await fetch(`${base}/api/v1/auth/verify`, { headers: bearer(alice.token) });
    expect(res.status).toBe(200);
    expect(await count()).toBe(before + 1);
  });
});

describe('fast path ≡ Fastify routes: a small per-IP limit on GET /api/v1/auth/me', () => {
  const LIMIT = 100; // leased in blocks of 5: every fifth spend takes a lease (the fast path's own when it is on)
  let services: TestServices;
  let app: FastifyInstance;
  let base: string;
  let carol: TestUser;

  beforeAll(async () => {
    services = await testServices('fastpath-rl', { RATE_LIMIT_PER_MINUTE: String(LIMIT) });
    app = await buildApp(services);
    await app.ready();
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    carol = await newUser(app, 'carol');
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await services?.close();
  });

  it(`exactly ${LIMIT} 200s with the same headers, then 429s, whichever way each request goes`, async () => {
    const answered = app.fastPath.answered;
    const oks: Array<{ fast: boolean; reply: Reply }> = [];
    const refusals: Reply[] = [];
    for (let i = 0; i < LIMIT + 10; i++) {
      app.fastPath.enabled = i % 2 === 0;
      const before = app.fastPath.answered;
      const reply = await call(`${base}/api/v1/auth/me`, { method: 'GET', headers: bearer(carol.token), from: '127.0.0.2' }, `fp-me-rl-${i}`);
      if (reply.status === 200) oks.push({ fast: app.fastPath.answered > before, reply });
      else refusals.push(reply);
      expect(i < LIMIT ? 200 : 429, `request ${i}: ${reply.body}`).toBe(reply.status);
    }
    app.fastPath.enabled = true;
    expect(oks).toHaveLength(LIMIT);
    // The fast path answered every 200 it was on for (leases included), and no 429.
    expect(app.fastPath.answered - answered).toBe(LIMIT / 2);
    expect(oks.filter((o) => o.fast)).toHaveLength(LIMIT / 2);
    const norm = (h: Record<string, string>, i: number) => {
      const { date: _d, 'x-process-time': t, 'x-request-id': rid, 'x-ratelimit-remaining': rem, 'x-ratelimit-reset': reset, ...rest } = h;
      expect(t).toMatch(/^\d+\.\d{6}$/);
      expect(rid).toBe(`fp-me-rl-${i}`);
      expect(rem, `request ${i}`).toBe(String(LIMIT - 1 - i));
      expect(Number(reset)).toBeGreaterThan(0);
      expect(Number(reset)).toBeLessThanOrEqual(60);
      return rest;
    };
    const fastOne = oks.findIndex((o) => o.fast);
    const slowOne = oks.findIndex((o) => !o.fast);
    const reference = norm(oks[slowOne]!.reply.headers, slowOne);
    expect(reference['x-ratelimit-limit']).toBe(String(LIMIT));
    expect(norm(oks[fastOne]!.reply.headers, fastOne)).toEqual(reference);
    oks.forEach((o, i) => {
      expect(norm(o.reply.headers, i), `request ${i} (${o.fast ? 'fast' : 'Fastify'})`).toEqual(reference);
      expect(o.reply.body).toBe(oks[0]!.reply.body);
    });
    for (const r of refusals) {
      expect(r.headers['content-type']).toBe('application/problem+json');
      expect(r.headers['x-ratelimit-remaining']).toBe('0');
      expect(r.headers['retry-after']).toMatch(/^\d+$/);
    }
  });
});
