/**
 * /api/v1/auth/verify as each documented proxy calls it (README, Gateway): nginx and Traefik send
 * `X-Forwarded-Uri` (`/{name}/…` or `/api/{name}/…`), Envoy ext_authz with `path_prefix:
 * /api/v1/auth/verify?` sends the original path as the query. Each form applies the named
 * service's policy (roles here); an unknown service or none named is the plain token check.
 * The real nginx runs in nginx-forward-auth.int.test.ts; Traefik and Envoy are not packaged here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp, type TestServices } from '../helpers/app';
import { bearer, eventually, newAdmin, newUser, runProjections, type TestUser } from '../helpers/users';
import type { ProjectorHandle } from '../../src/projections/runtime';
import { forwardedUri } from '../../src/gateway/forward-auth';

describe('forward auth as nginx, Traefik and Envoy call it', () => {
  let app: FastifyInstance;
  let s: TestServices;
  let close: () => Promise<void>;
  let projector: ProjectorHandle;
  let admin: TestUser;
  let alice: TestUser;

  const verify = (url: string, token: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url, headers: { ...bearer(token), ...headers } });

  beforeAll(async () => {
    ({ app, services: s, close } = await testApp('gateway-fwd', { ROLES: 'api' }));
    projector = runProjections(s);
    admin = await newAdmin(app, s);
    alice = await newUser(app, 'alice');
    const r = await app.inject({ method: 'POST', url: '/api/v1/services', headers: bearer(admin.token), payload: { name: 'staff', upstreams: ['http://127.0.0.1:9'], auth: 'token', roles: ['admin'] } });
    expect(r.statusCode).toBe(201);
    await app.gateway.ready({ health: false });
    await eventually(async () => !!app.gateway.service('staff'), 5000);
  });
  afterAll(async () => {
    await projector?.stop();
    await close();
  });

  it('the forwarded URI: the header first, else a query that is a path (Envoy), else none', () => {
    expect(forwardedUri('/staff/x', '/api/v1/auth/verify?/other')).toBe('/staff/x');
    expect(forwardedUri(undefined, '/api/v1/auth/verify?/staff/x?a=1')).toBe('/staff/x?a=1');
    expect(forwardedUri(undefined, '/api/v1/auth/verify?a=1')).toBeUndefined();
    expect(forwardedUri(undefined, '/api/v1/auth/verify')).toBeUndefined();
  });

  for (const [proxy, url, headers] of [
    ['nginx (X-Forwarded-Uri: $request_uri)', '/api/v1/auth/verify', { 'x-forwarded-uri': '/staff/r?q=1', 'x-forwarded-method': 'GET' }],
    ['Traefik (X-Forwarded-Uri under the prefix)', '/api/v1/auth/verify', { 'x-forwarded-uri': '/api/staff/r', 'x-forwarded-method': 'POST' }],
    ['Envoy (path_prefix ending in ?)', '/api/v1/auth/verify?/api/staff/r?q=1', {}],
  ] as const) {
    it(`${proxy}: the service's roles apply`, async () => {
      const refused = await verify(url, alice.token, headers);
      expect(refused.statusCode).toBe(403);
      expect(refused.json().code).toBe('role_required');
      const ok = await verify(url, admin.token, headers);
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['x-user-id']).toBe(admin.id);
      expect(String(ok.headers['x-user-roles'])).toContain('admin');
      expect(ok.headers['x-session-id']).toBeTruthy();
      expect((await app.inject({ method: 'GET', url, headers })).statusCode).toBe(401);
    });
  }

  it('no service named, or an unknown one: the plain token check', async () => {
    for (const [url, headers] of [
      ['/api/v1/auth/verify', {}],
      ['/api/v1/auth/verify', { 'x-forwarded-uri': '/nothing/here' }],
      ['/api/v1/auth/verify?/nothing/here', {}],
    ] as const) {
      const res = await verify(url, alice.token, headers);
      expect(res.statusCode, `${url} ${JSON.stringify(headers)}`).toBe(200);
      expect(res.headers['x-user-id']).toBe(alice.id);
    }
  });
});
