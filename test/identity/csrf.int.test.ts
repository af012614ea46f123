/**
 * CSRF on cookie-authenticated routes (issue 20 §4): refresh, logout and the Bull Board cookie
 * act only for requests from the API's own origin or CORS_ORIGINS (Origin, else Sec-Fetch-Site);
 * the attack class: foreign sites, other ports of the same host, sibling subdomains, look-alike
 * origins, `Origin: null`, other schemes, no Origin with a cross/same-site fetch. Body-token
 * refresh and Bearer logout are not cookie-authenticated and stay open. COOKIE_SAMESITE.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp, testConfig } from '../helpers/app';
import { adminLogin, bearer, login, signup, type LoggedIn } from '../helpers/auth';

const FRONT_END = 'https://app.example.com';
// app.inject talks to http://localhost:80 (its default Host).
const SELF = 'http://localhost';

/** Every Origin an attacker's page could have, none of them allowed. */
const FOREIGN_ORIGINS = [
  'https://evil.example',
  'http://localhost:8080', // another port of the same host: same-site, SameSite does not help
  'https://localhost', // another scheme
  'https://sub.app.example.com', // a sibling/child subdomain of the front end
  'https://example.com', // the parent domain
  'https://app.example.com.evil.example', // look-alike suffix
  'https://app.example.com:8443', // the front end's host on another port
  'http://app.example.com', // the front end over http
  'null', // sandboxed iframes, data: URLs, some redirects
  'file://',
  'garbage',
];

describe('CSRF: cookie-authenticated routes check the request origin', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let app: FastifyInstance;

  beforeAll(async () => {
    t = await testApp('seca_csrf', { CORS_ORIGINS: FRONT_END });
    app = t.app;
  });
  afterAll(async () => t.close());

  async function session(): Promise<LoggedIn> {
    const u = await signup(app);
    const s = await login(app, { email: u.email });
    expect(s.cookie).toMatch(/^refresh_token=/);
    return s;
  }
  const refreshWithCookie = (cookie: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: { cookie, ...headers } });

  it.each(FOREIGN_ORIGINS)('refresh by cookie from Origin %s: 403 problem, nothing rotated', async (origin) => {
    const s = await session();
    const res = await refreshWithCookie(s.cookie!, { origin });
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.json().code).toBe('cross_origin_request');
    expect(res.headers['set-cookie']).toBeUndefined();
    // The cookie's token was not rotated: it still works from our own origin.
    expect((await refreshWithCookie(s.cookie!, { origin: SELF })).statusCode).toBe(200);
  });

  it.each(['cross-site', 'same-site', 'bogus'])('refresh by cookie without Origin, Sec-Fetch-Site %s: 403', async (site) => {
    const s = await session();
    const res = await refreshWithCookie(s.cookie!, { 'sec-fetch-site': site });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('cross_origin_request');
  });

  it('refresh by cookie from the API origin, the front end (CORS_ORIGINS), Sec-Fetch-Site same-origin/none, or a non-browser: 200', async () => {
    for (const headers of [{ origin: SELF }, { origin: 'http://LOCALHOST:80' }, { origin: FRONT_END }, { origin: `${FRONT_END}:443` }, { 'sec-fetch-site': 'same-origin' }, { 'sec-fetch-site': 'none' }, {}]) {
      const s = await session();
      const res = await refreshWithCookie(s.cookie!, headers as Record<string, string>);
      expect(res.statusCode, JSON.stringify(headers)).toBe(200);
    }
  });

  it('a foreign Origin does not win over a matching Sec-Fetch-Site', async () => {
    const s = await session();
    const res = await refreshWithCookie(s.cookie!, { origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' });
    expect(res.statusCode).toBe(403);
  });

  it('body-token refresh (no cookie credential) is unaffected by the origin', async () => {
    const s = await session();
    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, payload: { refresh_token: s.refreshToken } });
    expect(res.statusCode).toBe(200);
  });

  it('logout by cookie from a foreign origin: 403 and the session lives on', async () => {
    for (const origin of ['https://evil.example', 'http://localhost:8080', 'null']) {
      const s = await session();
      const res = await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { cookie: s.cookie!, origin } });
      expect(res.statusCode, origin).toBe(403);
      expect(res.json().code).toBe('cross_origin_request');
      expect((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(s.accessToken) })).statusCode).toBe(200);
    }
    // An invalid bearer does not open the cookie fallback to a foreign origin either.
    const s = await session();
    const forged = await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { cookie: s.cookie!, origin: 'https://evil.example', authorization: 'Bearer not-a-token' } });
    expect(forged.statusCode).toBe(403);
  });

  it('logout by cookie from our origin, and by Bearer from anywhere: 204', async () => {
    const a = await session();
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { cookie: a.cookie!, origin: FRONT_END } })).statusCode).toBe(204);
    const b = await session();
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { ...bearer(b.accessToken), origin: 'https://evil.example' } })).statusCode).toBe(204);
  });

  it('the Bull Board cookie is refused from a foreign origin (GET and state-changing requests)', async () => {
    const admin = await adminLogin(app, t.services);
    const sess = await app.inject({ method: 'POST', url: '/admin/queues/session', headers: bearer(admin.accessToken) });
    expect(sess.statusCode).toBe(204);
    const cookie = String(sess.headers['set-cookie']).split(';')[0]!;
    expect((await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie, 'sec-fetch-site': 'same-origin' } })).statusCode).toBe(200);
    for (const [method, url] of [['GET', '/admin/queues/api/queues'], ['PUT', '/admin/queues/api/queues/high/retry/failed'], ['PUT', '/admin/queues/api/queues/high/clean/completed']] as const) {
      for (const headers of [{ origin: 'https://evil.example' }, { origin: 'http://localhost:3000' }, { 'sec-fetch-site': 'same-site' }]) {
        const res = await app.inject({ method, url, headers: { cookie, ...headers } });
        expect(res.statusCode, `${method} ${url} ${JSON.stringify(headers)}`).toBe(403);
        expect(res.json().code).toBe('cross_origin_request');
      }
    }
  });
});

describe('COOKIE_SAMESITE', () => {
  it('strict by default; lax and none need COOKIE_SECURE', () => {
    expect(testConfig().COOKIE_SAMESITE).toBe('strict');
    expect(() => testConfig({ COOKIE_SAMESITE: 'none' })).toThrow(/COOKIE_SAMESITE/);
    expect(() => testConfig({ COOKIE_SAMESITE: 'lax' })).toThrow(/COOKIE_SAMESITE/);
    expect(() => testConfig({ COOKIE_SAMESITE: 'loose' })).toThrow(/COOKIE_SAMESITE/);
    expect(testConfig({ COOKIE_SAMESITE: 'none', COOKIE_SECURE: 'true' }).COOKIE_SAMESITE).toBe('none');
  });

  it('the refresh cookie carries the configured SameSite (and Secure)', async () => {
    const t = await testApp('seca_samesite', { COOKIE_SAMESITE: 'none', COOKIE_SECURE: 'true', CORS_ORIGINS: FRONT_END });
    try {
      const u = await signup(t.app);
      const s = await login(t.app, { email: u.email });
      const set = ([] as string[]).concat(s.response.headers['set-cookie'] ?? []).find((c) => c.startsWith('refresh_token='))!;
      expect(set).toMatch(/SameSite=None/i);
      expect(set).toMatch(/Secure/i);
      expect(set).toMatch(/HttpOnly/i);
      expect(set).toMatch(/Path=\/api\/v1\/auth/);
      // SameSite=None sends the cookie cross-site: the origin check is what stops a foreign page.
      const evil = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: { cookie: s.cookie!, origin: 'https://evil.example' } });
      expect(evil.statusCode).toBe(403);
      const front = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: { cookie: s.cookie!, origin: FRONT_END } });
      expect(front.statusCode).toBe(200);
      expect(String(front.headers['access-control-allow-origin'])).toBe(FRONT_END);
      expect(String(front.headers['access-control-allow-credentials'])).toBe('true');
    } finally {
      await t.close();
    }
  });
});
