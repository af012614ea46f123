/**
 * Issue 20 §5: bad input never reaches PostgreSQL as a 500. The attack classes, each against the
 * routes that carry such a value: NUL and other control characters and unpaired surrogates in
 * every kind of string (names, e-mails, ids, search terms, path ids as `%00`), cursors that
 * decode to nonsense (not JSON, wrong shape, non-numeric, out of bigint range, invalid or
 * out-of-range dates), instants such as year 0000. Every answer is a 4xx problem+json, and a
 * refused signup leaves no e-mail reservation behind (the address can be signed up at once).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signup as signupCommand } from '../../src/commands/identity/service';
import { testApp } from '../helpers/app';
import { adminLogin, bearer, DEFAULT_PASSWORD, uniqueEmail, type LoggedIn } from '../helpers/auth';

/** Percent-encodes `s`; a lone surrogate (no UTF-8 form) as the CESU-8 bytes an attacker would send. */
const enc = (s: string) => [...s].map((ch) => {
  try { return encodeURIComponent(ch); } catch { const c = ch.charCodeAt(0); return `%${(0xe0 | (c >> 12)).toString(16)}%${(0x80 | ((c >> 6) & 63)).toString(16)}%${(0x80 | (c & 63)).toString(16)}`.toUpperCase(); }
}).join('');
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Strings that broke the server, and their variants. */
export const HOSTILE_TEXT = ['\u0000', 'a\u0000b', 'x\u0001y', '\u001f', '\u007f', '\ud800', 'a\udfffb', '\udc00\ud800', '\u0000'.repeat(50), 'é\u0000'];

const BAD_CURSORS = [
  b64('not json'), b64('[]'), b64('null'), b64({}), b64({ c: 'x', i: 'y', k: 'z', p: 'q' }),
  b64({ c: '99999999999999999999', p: '99999999999999999999' }), // out of bigint range
  b64({ c: '9223372036854775808', p: '0' }), b64({ c: '-1', p: '-1' }), b64({ c: '1e5', p: 'NaN' }),
  b64({ c: '0000-01-01T00:00:00Z', i: '00000000-0000-0000-0000-000000000000', k: 'abcdef0123456789' }),
  b64({ c: 'not a date', i: 'x', k: 'y' }), b64({ c: '+275760-09-13T00:00:00.001Z', i: 'x', k: 'y' }),
  b64({ c: '2024-01-01T00:00:00Z', i: '\u0000', k: '\u0000' }), b64({ c: '2024-02-30T00:00:00Z', i: 'x', k: 'y' }),
  '%00', '!!!!', 'a'.repeat(499),
];

const BAD_INSTANTS = ['0000-01-01T00:00:00Z', '0000-12-31T23:59:59+00:00', '-000001-01-01T00:00:00Z', '2024-13-01T00:00:00Z', '2024-02-30T00:00:00Z', '9999-12-31T23:59:60Z', '275760-09-13T00:00:00Z', 'now', '1e308', '\u0000'];

describe('hostile input is refused at the boundary (§5)', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let admin: LoggedIn;
  beforeAll(async () => {
    // No projector runs here: reads must not wait for the writes' read models (READ_YOUR_WRITES is not under test).
    t = await testApp('secc_input', { READ_YOUR_WRITES: 'off', BCRYPT_COST: '4', RATE_LIMIT_AUTH_MAX: '100000', RATE_LIMIT_MAX: '100000' });
    admin = await adminLogin(t.app, t.services);
  }, 120_000);
  afterAll(async () => t?.close());

  const expect4xx = (r: { statusCode: number; headers: Record<string, unknown>; body: string }, what: string) => {
    expect(r.statusCode, `${what}: ${r.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
    expect(r.statusCode, `${what}: ${r.body.slice(0, 200)}`).toBeLessThan(500);
    expect(String(r.headers['content-type']), `${what}: ${r.body.slice(0, 200)}`).toContain('application/problem+json');
  };

  it('signup with a hostile name, e-mail or password: 400, and the e-mail is not left reserved', async () => {
    for (const bad of HOSTILE_TEXT) {
      const email = uniqueEmail('nul');
      const r = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: DEFAULT_PASSWORD, name: `Eve${bad}` } });
      expect(r.statusCode, JSON.stringify(bad)).toBe(400);
      // No reservation left: the same address signs up at once.
      const ok = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: DEFAULT_PASSWORD, name: 'Eve' } });
      expect(ok.statusCode, `${JSON.stringify(bad)}: ${ok.body}`).toBe(201);
      const e = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: `eve${bad}${uniqueEmail('x')}`, password: DEFAULT_PASSWORD } });
      expect4xx(e, `email ${JSON.stringify(bad)}`);
      // Passwords may hold any character but NUL and unpaired surrogates (no UTF-8 encoding).
      // eslint-disable-next-line no-control-regex -- finding NUL is the point
      if (/\u0000|[\ud800-\udfff]/.test(bad)) {
        const p = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: uniqueEmail('p'), password: `${DEFAULT_PASSWORD}${bad}` } });
        expect4xx(p, `password ${JSON.stringify(bad)}`);
      }
    }
  }, 120_000);

  it('a signup whose registration fails after the reservation releases it before answering', async () => {
    // Past the boundary (the command called directly): the name's NUL makes PostgreSQL refuse the
    // UserRegistered append, after the e-mail was reserved. All of the command's events or none.
    for (const name of ['Eve\u0000', 'x\ud800']) {
      const email = uniqueEmail('atomic');
      await expect(signupCommand(t.services, { email, password: DEFAULT_PASSWORD, name })).rejects.toThrow();
      const ok = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: DEFAULT_PASSWORD, name: 'Eve' } });
      expect(ok.statusCode, ok.body).toBe(201);
    }
  });

  it('login, password reset, verify-email, refresh with hostile strings: 4xx', async () => {
    for (const bad of HOSTILE_TEXT) {
      const answers = await Promise.all([
        t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: `a${bad}@example.test`, password: `p${bad}` } }),
        t.app.inject({ method: 'POST', url: '/auth/login', payload: { username: `a${bad}@example.test`, password: `p${bad}` } }),
        t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/request', payload: { email: `a${bad}@example.test` } }),
        t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/confirm', payload: { token: `t${bad}`, new_password: `${DEFAULT_PASSWORD}${bad}` } }),
        t.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token: `t${bad}` } }),
        t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: `00000000-0000-0000-0000-000000000000.${bad}` } }),
        t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: `${bad}.abc` } }),
      ]);
      answers.forEach((a, i) => expect4xx(a, `#${i} ${JSON.stringify(bad)}`));
    }
  }, 60_000);

  it('%00 and other hostile path ids: 4xx on every route with an id', async () => {
    const ids = ['%00', 'a%00b', '%ED%A0%80', '%01', '%7F', '%C0%80', `${'0'.repeat(8)}-0000-0000-0000-00000000000%00`];
    const routes = [
      ['GET', '/api/v1/users/:id'], ['PATCH', '/api/v1/users/:id'], ['DELETE', '/api/v1/users/:id'],
      ['POST', '/api/v1/users/:id/disable'], ['POST', '/api/v1/users/:id/enable'], ['POST', '/api/v1/users/:id/roles'],
      ['DELETE', '/api/v1/users/:id/roles/admin'], ['DELETE', '/api/v1/users/00000000-0000-0000-0000-000000000000/roles/:id'],
      ['GET', '/api/v1/audit/users/:id/events'], ['GET', '/api/v1/audit/users/:id/state'],
      ['GET', '/api/v1/api-keys/:id'], ['DELETE', '/api/v1/api-keys/:id'], ['DELETE', '/api/v1/auth/sessions/:id'],
      ['GET', '/api/v1/features/:id'], ['PATCH', '/api/v1/features/:id'], ['DELETE', '/api/v1/features/:id'],
      ['POST', '/api/v1/features/:id/access'], ['POST', '/feature/access/:id'],
      ['DELETE', '/api/v1/auth/identities/:id'], ['DELETE', '/oauth/:id'], ['GET', '/api/v1/auth/oauth/:id/authorize'],
      ['POST', '/api/v1/realtime/send_to/:id'], ['POST', '/api/v1/realtime/broadcast_to_group/:id'], ['GET', '/api/v1/realtime/groups/:id'],
    ] as const;
    for (const id of ids) {
      for (const [method, path] of routes) {
        const r = await t.app.inject({ method, url: path.replace(':id', id), headers: bearer(admin.accessToken), payload: method === 'GET' || method === 'DELETE' ? undefined : {} });
        expect4xx(r, `${method} ${path} ${id}`);
      }
    }
  }, 60_000);

  it('hostile search terms, user ids, stream names and actors in query strings: 4xx', async () => {
    for (const bad of HOSTILE_TEXT) {
      const v = enc(bad);
      const urls = [
        `/api/v1/users?q=${v}`, `/api/v1/api-keys?user_id=${v}`, `/api/v1/audit/events?stream=${v}`,
        `/api/v1/audit/events?stream_prefix=${v}`, `/api/v1/audit/events?actor=${v}`, `/api/v1/audit/events?type=${v}`,
        `/api/v1/auth/identities?provider=${v}`,
      ];
      for (const url of urls) {
        const r = await t.app.inject({ method: 'GET', url, headers: bearer(admin.accessToken) });
        // A lone surrogate has no UTF-8 form: sent as CESU-8 bytes it decodes to U+FFFD, plain text.
        if (/[\ud800-\udfff]/.test(bad)) expect(r.statusCode, url).toBeLessThan(500);
        else expect4xx(r, url);
      }
      const bodies: [string, string, object][] = [
        ['POST', '/api/v1/users', { email: uniqueEmail('adm'), password: DEFAULT_PASSWORD, name: `N${bad}` }],
        ['PATCH', `/api/v1/users/${admin.userId}`, { name: `N${bad}` }],
        ['POST', '/api/v1/api-keys', { name: `k${bad}`, features: '*' }],
        ['POST', '/api/v1/features', { name: `f${bad}`, description: 'x' }],
        ['POST', '/api/v1/features', { name: 'okfeature', description: `d${bad}` }],
        ['POST', `/api/v1/users/${admin.userId}/disable`, { reason: `r${bad}` }],
      ];
      for (const [method, url, payload] of bodies) expect4xx(await t.app.inject({ method: method as 'POST', url, payload, headers: bearer(admin.accessToken) }), `${method} ${url} ${JSON.stringify(payload)}`);
    }
  }, 60_000);

  it('cursors that decode to nonsense: 400 invalid_cursor on every paged route', async () => {
    const paged = ['/api/v1/users', '/api/v1/api-keys', '/api/v1/audit/events', `/api/v1/audit/users/${admin.userId}/events`];
    for (const cursor of BAD_CURSORS) {
      for (const path of paged) {
        const r = await t.app.inject({ method: 'GET', url: `${path}?cursor=${encodeURIComponent(cursor)}`, headers: bearer(admin.accessToken) });
        expect(r.statusCode, `${path} ${Buffer.from(cursor, 'base64url').toString()}: ${r.body.slice(0, 200)}`).toBe(400);
      }
    }
  }, 60_000);

  it('instants out of range (year 0000, invalid days, far future) and limits out of range: 400', async () => {
    for (const at of BAD_INSTANTS) {
      const v = enc(at);
      for (const url of [`/api/v1/audit/events?from=${v}`, `/api/v1/audit/events?to=${v}`, `/api/v1/audit/users/${admin.userId}/state?at=${v}`, `/api/v1/audit/users/${admin.userId}/events?from=${v}`]) {
        const r = await t.app.inject({ method: 'GET', url, headers: bearer(admin.accessToken) });
        expect(r.statusCode, `${url}: ${r.body.slice(0, 200)}`).toBe(400);
      }
    }
    for (const limit of ['-1', '0', '1e309', '99999999999999999999', 'NaN', '%00', '1.5']) {
      const r = await t.app.inject({ method: 'GET', url: `/api/v1/users?limit=${limit}`, headers: bearer(admin.accessToken) });
      expect(r.statusCode, `limit=${limit}`).toBe(400);
    }
    const expiry = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(admin.accessToken), payload: { name: 'k', features: '*', expires_in_days: 1e308 } });
    expect4xx(expiry, 'expires_in_days');
  });
});
