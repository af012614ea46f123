/**
 * The gateway on the API port (ROLES=api,gateway), over real sockets, with real upstreams:
 * registry REST, routing by name, prefix stripping, each auth policy, header injection and
 * stripping, roles and features, reserved names, 404 for unknown services.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bearer, eventually, newUser, type TestUser } from '../helpers/users';
import { startGatewayApp } from './harness';
import { startUpstream, type Upstream } from './helpers';

describe('gateway proxy on the API port', () => {
  let app: FastifyInstance;
  let close: () => Promise<void>;
  let base: string;
  let admin: TestUser;
  let alice: TestUser;
  let a: Upstream;
  let b: Upstream;

  const register = async (body: Record<string, unknown>) => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/services', headers: bearer(admin.token), payload: body });
    return res;
  };
  /** Waits until this process's directory has the service as registered. */
  const visible = (name: string, check: (spec: any) => boolean = () => true) => eventually(async () => {
    const e = app.gateway.service(name);
    return !!e && check(e.spec);
  }, 5000);
  type Res = Omit<Response, 'json'> & { json(): Promise<any> };
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers }) as Promise<Res>;

  beforeAll(async () => {
    ({ app, close, base, admin, alice } = await startGatewayApp('gateway-proxy'));
    a = await startUpstream('a');
    b = await startUpstream('b');
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await close();
  });

  it('registers by REST (admin only), refuses reserved names and duplicates, lists and shows', async () => {
    expect((await app.inject({ method: 'POST', url: '/api/v1/services', headers: bearer(alice.token), payload: { name: 'orders', upstreams: [a.url] } })).statusCode).toBe(403);
    const created = await register({ name: 'orders', upstreams: [a.url, b.url], auth: 'token' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ name: 'orders', auth: 'token', strip_prefix: true, retries: 1, websocket: false, down: [] });
    const dup = await register({ name: 'orders', upstreams: [a.url] });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('service_exists');
    for (const name of ['v1', 'v2', 'docs']) {
      const r = await register({ name, upstreams: [a.url] });
      expect(r.statusCode, name).toBe(400);
      expect(r.json().code).toBe('service_name_reserved');
    }
    const bad = await register({ name: 'x', upstreams: ['ftp://nope'] });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toContain('application/problem+json');
    const list = await app.inject({ method: 'GET', url: '/api/v1/services', headers: bearer(admin.token) });
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((i: any) => i.name)).toEqual(['orders']);
    const one = await app.inject({ method: 'GET', url: '/api/v1/services/orders', headers: bearer(admin.token) });
    expect(one.json().upstreams).toEqual([a.url, b.url]);
    expect((await app.inject({ method: 'GET', url: '/api/v1/services/nope', headers: bearer(admin.token) })).statusCode).toBe(404);
    await visible('orders');
  });

  it('routes by name, strips the prefix, balances round robin, keeps the query', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const res = await get('/api/orders/items/7?x=1&y=2', bearer(alice.token));
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body.url).toBe('/items/7?x=1&y=2');
      seen.add(body.upstream);
    }
    expect([...seen].sort()).toEqual(['a', 'b']);
    const root = await (await get('/api/orders', bearer(alice.token))).json();
    expect(root.url).toBe('/');
  });

  it('our own API keeps /api/v1, unknown services are 404 problem+json', async () => {
    const me = await get('/api/v1/auth/me', bearer(alice.token));
    expect(me.status).toBe(200);
    const unknown = await get('/api/nothing-here/x', bearer(alice.token));
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/problem+json');
    expect((await unknown.json()).code).toBe('route_not_found');
    const v1 = await get('/api/v1/no-such-route', bearer(alice.token));
    expect(v1.status).toBe(404);
  });

  it('token policy: injects identity headers, strips client copies, drops Authorization and the API key', async () => {
    const res = await get('/api/orders/h', {
      ...bearer(alice.token),
      'x-user-id': 'forged', 'x-user-roles': 'admin', 'x-session-id': 'forged', 'x-api-key-id': 'forged',
      'x-forwarded-for': '6.6.6.6', 'x-forwarded-host': 'evil', 'x-request-id': 'req-123', 'x-api-key': 'alk_0000000000000000_x',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-123');
    const h = (await res.json()).headers;
    expect(h['x-user-id']).toBe(alice.id);
    expect(h['x-user-roles']).toBe('user');
    expect(h['x-session-id']).toMatch(/.+/);
    expect(h['x-session-id']).not.toBe('forged');
    expect(h['x-api-key-id']).toBeUndefined();
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-host']).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-request-id']).toBe('req-123');
    expect(h.authorization).toBeUndefined();
    expect(h['x-api-key']).toBeUndefined();
  });

  it('token policy: no token 401, bad token 401, logged out 401 at once', async () => {
    const none = await get('/api/orders/x');
    expect(none.status).toBe(401);
    expect((await none.json()).request_id).toBeTruthy();
    expect((await get('/api/orders/x', bearer('nope'))).status).toBe(401);
    const bob = await newUser(app, 'bob');
    expect((await get('/api/orders/x', bearer(bob.token))).status).toBe(200);
    const out = await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(bob.token) });
    expect(out.statusCode).toBeLessThan(300);
    expect((await get('/api/orders/x', bearer(bob.token))).status).toBe(401);
  });

  it('forward_authorization passes the token on; strip_prefix false keeps the path; none needs nothing', async () => {
    expect((await register({ name: 'open', upstreams: [a.url], auth: 'none', strip_prefix: false, forward_authorization: true })).statusCode).toBe(201);
    await visible('open');
    const res = await get('/api/open/p?q=1', { ...bearer(alice.token), 'x-user-id': 'forged' });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.url).toBe('/api/open/p?q=1');
    expect(body.headers.authorization).toBe(`Bearer ${alice.token}`);
    expect(body.headers['x-user-id']).toBeUndefined();
    expect((await get('/api/open/p')).status).toBe(200);
  });

  it('api_key and token_or_api_key policies, feature and roles', async () => {
    const f = await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload: { name: 'reports' } });
    expect(f.statusCode).toBe(201);
    await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.token), payload: { name: 'other' } });
    const key = (await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'ci', features: ['reports'] } })).json();
    const other = (await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(alice.token), payload: { name: 'other', features: ['other'] } })).json();
    expect((await register({ name: 'reports', upstreams: [b.url], auth: 'api_key', feature: 'reports' })).statusCode).toBe(201);
    expect((await register({ name: 'either', upstreams: [b.url], auth: 'token_or_api_key' })).statusCode).toBe(201);
    expect((await register({ name: 'staff', upstreams: [b.url], auth: 'token', roles: ['admin'] })).statusCode).toBe(201);
    await visible('reports');
    await visible('either');
    await visible('staff');

    const ok = await get('/api/reports/r', { 'x-api-key': key.api_key });
    expect(ok.status).toBe(200);
    const h = (await ok.json()).headers;
    expect(h['x-user-id']).toBe(alice.id);
    expect(h['x-api-key-id']).toBe(key.id);
    expect(h['x-api-key']).toBeUndefined();
    expect((await get('/api/reports/r', bearer(alice.token))).status).toBe(401);
    const scope = await get('/api/reports/r', { 'x-api-key': other.api_key });
    expect(scope.status).toBe(403);
    expect((await scope.json()).reason).toBe('feature_not_in_key_scope');
    expect((await get('/api/reports/r', { 'x-api-key': `${key.api_key.slice(0, -1)}${key.api_key.endsWith('x') ? 'y' : 'x'}` })).status).toBe(401);

    expect((await get('/api/either/r', { 'x-api-key': key.api_key })).status).toBe(200);
    expect((await get('/api/either/r', bearer(alice.token))).status).toBe(200);
    expect((await get('/api/either/r')).status).toBe(401);

    const staff = await get('/api/staff/r', bearer(alice.token));
    expect(staff.status).toBe(403);
    expect((await staff.json()).code).toBe('role_required');
    expect((await get('/api/staff/r', bearer(admin.token))).status).toBe(200);

    // Feature disabled → refused at once; key revoked → refused at once.
    await app.inject({ method: 'PATCH', url: '/api/v1/features/reports', headers: bearer(admin.token), payload: { enabled: false } });
    expect((await get('/api/reports/r', { 'x-api-key': key.api_key })).status).toBe(403);
    await app.inject({ method: 'PATCH', url: '/api/v1/features/reports', headers: bearer(admin.token), payload: { enabled: true } });
    expect((await get('/api/reports/r', { 'x-api-key': key.api_key })).status).toBe(200);
    const rv = await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${key.id}`, headers: bearer(alice.token) });
    expect(rv.statusCode).toBeLessThan(300);
    expect((await get('/api/reports/r', { 'x-api-key': key.api_key })).status).toBe(401);
  });

  it('PATCH changes a service, DELETE removes it (then 404)', async () => {
    const p = await app.inject({ method: 'PATCH', url: '/api/v1/services/open', headers: bearer(admin.token), payload: { upstreams: [b.url], strip_prefix: true } });
    expect(p.statusCode).toBe(200);
    expect(p.json().upstreams).toEqual([b.url]);
    await visible('open', (spec) => spec.upstreams[0] === b.url);
    expect((await (await get('/api/open/z')).json()).upstream).toBe('b');
    const d = await app.inject({ method: 'DELETE', url: '/api/v1/services/open', headers: bearer(admin.token) });
    expect(d.statusCode).toBe(204);
    await eventually(async () => !app.gateway.service('open'), 5000);
    expect((await get('/api/open/z')).status).toBe(404);
  });

  it('per-user rate limit answers 429 with Retry-After', async () => {
    expect((await register({ name: 'tight', upstreams: [a.url], auth: 'token', rate_limit_per_user_per_minute: 2 })).statusCode).toBe(201);
    await visible('tight');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get('/api/tight/x', bearer(alice.token))).status);
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    const last = await get('/api/tight/x', bearer(alice.token));
    expect(last.status).toBe(429);
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another user has a budget of their own.
    expect((await get('/api/tight/x', bearer(admin.token))).status).toBe(200);
  });
});
