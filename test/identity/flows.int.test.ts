import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/compose';
import { streams } from '../../src/events/streams';
import { testApp } from '../helpers/app';
import { bearer, login, signup, signupAndLogin, uniqueEmail, DEFAULT_PASSWORD } from '../helpers/auth';
import { revokeUserSessions } from '../../src/commands/identity/service';
import { applyInline, userEventEval } from '../../src/projections/session-state';
import { TOKEN_CLIENT_ENV, tokenClientAuth } from '../helpers/security';
import { startProjector, type ProjectorHandle } from '../../src/projections/runtime';

type T = Awaited<ReturnType<typeof testApp>>;
const me = (t: T, token: string) => t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) });
const doRefresh = (t: T, token: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: token }, headers });

describe('identity flows over HTTP', () => {
  let t: T;
  // As in production: the projector runs, so a session's query after its own login or write
  // (read-your-writes) finds the read models past it.
  let projector: ProjectorHandle | undefined;
  beforeAll(async () => {
    t = await testApp('idflows', TOKEN_CLIENT_ENV);
    projector = startProjector(t.services);
  });
  afterAll(async () => {
    await projector?.stop();
    await t?.close();
  });

  describe('signup', () => {
    it('201 with the user; e-mail normalised for uniqueness; /register alias', async () => {
      const email = uniqueEmail('Mixed');
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: `  ${email.toUpperCase()} `, password: DEFAULT_PASSWORD, name: 'Mixed Case' } });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json().user).toMatchObject({ id: expect.any(String), email: email.toUpperCase(), name: 'Mixed Case', created_at: expect.any(String) });
      const dup = await t.app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email, password: DEFAULT_PASSWORD, name: 'x' } });
      expect(dup.statusCode).toBe(409);
      expect(dup.json()).toMatchObject({ code: 'email_taken' });
      // and login works with any case / NFKC variant
      await login(t.app, { email: `${email.toUpperCase()}` });
    });

    it('twenty concurrent signups with one e-mail: exactly one 201, the rest 409, one user', async () => {
      const email = uniqueEmail('race');
      const results = await Promise.all(
        Array.from({ length: 20 }, () => t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password: DEFAULT_PASSWORD, name: 'Racer' } })),
      );
      const codes = results.map((r) => r.statusCode).sort();
      expect(codes.filter((c) => c === 201)).toHaveLength(1);
      expect(codes.filter((c) => c === 409)).toHaveLength(19);
      const { rows } = await t.services.pool.query(`SELECT count(*)::int AS n FROM events WHERE event_type = 'UserRegistered' AND data->>'email' = $1`, [email]);
      expect(rows[0].n).toBe(1);
    });

    it('a weak password is a 400 with the reason; bad input is a 400, never a 500', async () => {
      const weak = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: uniqueEmail(), password: 'password1', name: 'W' } });
      expect(weak.statusCode).toBe(400);
      expect(weak.json()).toMatchObject({ code: 'weak_password', reason: expect.any(String) });
      const bad = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: 'not-an-email', password: DEFAULT_PASSWORD } });
      expect(bad.statusCode).toBe(400);
      const junk = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', headers: { 'content-type': 'application/json' }, payload: '{"email":' });
      expect(junk.statusCode).toBe(400);
    });

    it('a 64-emoji password works end to end', async () => {
      const password = '🦊🐙🌵🍩🚲🎻🧲🪐'.repeat(8);
      const u = await signup(t.app, { password });
      await login(t.app, { email: u.email, password });
      const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: u.email, password: password.slice(0, -2) } });
      expect(wrong.statusCode).toBe(401);
    });

    it('the 72-byte-prefix pair: only the right one logs in', async () => {
      const prefix = 'Tr0ub4dor&3-horse-battery-staple-'.padEnd(72, 'k');
      const u = await signup(t.app, { password: prefix + 'first' });
      await login(t.app, { email: u.email, password: prefix + 'first' });
      const other = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: u.email, password: prefix + 'second' } });
      expect(other.statusCode).toBe(401);
    });
  });

  describe('login', () => {
    it('sets an HttpOnly SameSite=Strict cookie scoped to the auth routes; body only on request', async () => {
      const u = await signup(t.app);
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: u.email, password: u.password } });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({ token_type: 'bearer', expires_in: 900, user: { id: u.userId, email: u.email } });
      expect(body.refresh_token).toBeUndefined();
      const cookie = String(res.headers['set-cookie']);
      expect(cookie).toMatch(/^refresh_token=[0-9a-f-]{36}\.[A-Za-z0-9_-]{43};/);
      expect(cookie).toContain('HttpOnly');
      expect(cookie).toContain('SameSite=Strict');
      expect(cookie).toContain('Path=/api/v1/auth');
      // cookie-based refresh (seed 002 clients)
      const r = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: { cookie: cookie.split(';')[0]! } });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json().refresh_token).toBeUndefined();
      expect(String(r.headers['set-cookie'])).toMatch(/^refresh_token=/);
    });

    it('seed 000: POST /auth/login with username, and the Access-Token header', async () => {
      const u = await signup(t.app);
      const res = await t.app.inject({ method: 'POST', url: '/auth/login', payload: { username: u.email, password: u.password } });
      expect(res.statusCode, res.body).toBe(200);
      const m = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { 'access-token': res.json().access_token } });
      expect(m.statusCode).toBe(200);
      expect(m.json().id).toBe(u.userId);
    });

    it('access token: EdDSA, typ at+jwt, the required claims', async () => {
      const s = await signupAndLogin(t.app);
      const [h, p] = s.accessToken.split('.').slice(0, 2).map((x) => JSON.parse(Buffer.from(x, 'base64url').toString()));
      expect(h).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt', kid: expect.any(String) });
      expect(p).toMatchObject({ iss: 'authledger', aud: 'authledger', sub: s.userId, sid: s.sessionId, jti: expect.any(String), roles: ['user'] });
      expect(p.exp - p.iat).toBe(900);
      const jwks = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      expect(jwks.json().keys).toEqual([expect.objectContaining({ kid: h.kid, kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })]);
      expect(jwks.json().keys[0].d).toBeUndefined();
    });
  });

  describe('refresh rotation', () => {
    it('rotates: new tokens, the presented one is dead', async () => {
      const s = await signupAndLogin(t.app);
      const r1 = await doRefresh(t, s.refreshToken);
      expect(r1.statusCode).toBe(200);
      expect(r1.json().refresh_token).not.toBe(s.refreshToken);
      expect((await me(t, r1.json().access_token)).statusCode).toBe(200);
      // many rotations (decisions read only the first and the last event; revision 10 sorts after 9)
      let token = r1.json().refresh_token as string;
      for (let i = 0; i < 12; i++) {
        const r = await doRefresh(t, token);
        expect(r.statusCode, `rotation ${i + 2}`).toBe(200);
        token = r.json().refresh_token;
      }
    });

    it('reuse of a rotated token revokes the whole family and records both presenters', async () => {
      const s = await signupAndLogin(t.app);
      const r1 = await doRefresh(t, s.refreshToken, { 'user-agent': 'legit-client' });
      const fresh = r1.json();
      const stolen = await doRefresh(t, s.refreshToken, { 'user-agent': 'thief-client' });
      expect(stolen.statusCode).toBe(401);
      expect(stolen.json().code).toBe('invalid_refresh_token');
      // the legitimate holder's new tokens are dead too
      expect((await doRefresh(t, fresh.refresh_token)).statusCode).toBe(401);
      expect((await me(t, fresh.access_token)).statusCode).toBe(401);
      expect((await me(t, s.accessToken)).statusCode).toBe(401);
      const events = await t.services.store.readStream(streams.session(s.sessionId));
      expect(events.map((e) => e.type)).toEqual(['SessionStarted', 'SessionRotated', 'RefreshTokenReuseDetected', 'SessionRevoked']);
      expect(events[2]!.data).toMatchObject({ presenter: { userAgent: 'thief-client' }, rotatedBy: { userAgent: 'legit-client' } });
      expect(events[3]!.data).toMatchObject({ reason: 'reuse_detected' });
      // no refresh token in the log, only hashes
      expect(JSON.stringify(events.map((e) => e.data))).not.toContain(s.refreshToken.split('.')[1]);
    });

    it('two concurrent refreshes with one token: exactly one wins', async () => {
      const s = await signupAndLogin(t.app);
      const results = await Promise.all(Array.from({ length: 5 }, () => doRefresh(t, s.refreshToken)));
      const ok = results.filter((r) => r.statusCode === 200);
      expect(ok).toHaveLength(1);
      expect(results.filter((r) => r.statusCode === 401)).toHaveLength(4);
      // the winner keeps working (the race is not a theft)
      expect((await doRefresh(t, ok[0]!.json().refresh_token)).statusCode).toBe(200);
    });

    it('garbage and unknown refresh tokens are 401', async () => {
      expect((await doRefresh(t, 'nope')).statusCode).toBe(401);
      expect((await doRefresh(t, `${crypto.randomUUID()}.${'A'.repeat(43)}`)).statusCode).toBe(401);
      expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh' })).statusCode).toBe(401);
    });
  });

  describe('logout and sessions', () => {
    it('logout of one device out of two: the other keeps working', async () => {
      const u = await signup(t.app);
      const phone = await login(t.app, { email: u.email, deviceName: 'phone' });
      const laptop = await login(t.app, { email: u.email, deviceName: 'laptop' });
      const list = await t.app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: bearer(laptop.accessToken) });
      expect(list.statusCode).toBe(200);
      const sessions = list.json().sessions;
      expect(sessions.map((s: { device_name: string }) => s.device_name).sort()).toEqual(['laptop', 'phone']);
      expect(sessions.find((s: { current: boolean }) => s.current).id).toBe(laptop.sessionId);

      const out = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(phone.accessToken) });
      expect(out.statusCode).toBe(204);
      expect(String(out.headers['set-cookie'])).toMatch(/refresh_token=;/);
      expect((await me(t, phone.accessToken)).statusCode).toBe(401);
      expect((await doRefresh(t, phone.refreshToken)).statusCode).toBe(401);
      expect((await me(t, laptop.accessToken)).statusCode).toBe(200);
      expect((await doRefresh(t, laptop.refreshToken)).statusCode).toBe(200);
      const after = await t.app.inject({ method: 'GET', url: '/api/v1/auth/sessions', headers: bearer(laptop.accessToken) });
      expect(after.json().sessions).toHaveLength(1);
    });

    it('logout with only the refresh cookie (seed 002)', async () => {
      const u = await signup(t.app);
      const s = await login(t.app, { email: u.email });
      const out = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { cookie: s.cookie! } });
      expect(out.statusCode).toBe(204);
      expect((await me(t, s.accessToken)).statusCode).toBe(401);
      expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout' })).statusCode).toBe(401);
    });

    it('logout-all ends every session', async () => {
      const u = await signup(t.app);
      const a = await login(t.app, { email: u.email });
      const b = await login(t.app, { email: u.email });
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout-all', headers: bearer(a.accessToken) });
      expect(res.statusCode).toBe(204);
      expect((await me(t, a.accessToken)).statusCode).toBe(401);
      expect((await me(t, b.accessToken)).statusCode).toBe(401);
      expect((await doRefresh(t, b.refreshToken)).statusCode).toBe(401);
    });

    it('DELETE /sessions/{id}: one of one’s own; others’ are 404', async () => {
      const u = await signup(t.app);
      const a = await login(t.app, { email: u.email });
      const b = await login(t.app, { email: u.email });
      const stranger = await signupAndLogin(t.app);
      expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/auth/sessions/${b.sessionId}`, headers: bearer(stranger.accessToken) })).statusCode).toBe(404);
      expect((await me(t, b.accessToken)).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/auth/sessions/${b.sessionId}`, headers: bearer(a.accessToken) })).statusCode).toBe(204);
      expect((await me(t, b.accessToken)).statusCode).toBe(401);
      expect((await me(t, a.accessToken)).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'DELETE', url: '/api/v1/auth/sessions/not-a-uuid', headers: bearer(a.accessToken) })).statusCode).toBe(400);
    });
  });

  describe('for other modules', () => {
    it('revokeUserSessions ends every session (except one) and their access tokens at once', async () => {
      const u = await signup(t.app);
      const a = await login(t.app, { email: u.email });
      const b = await login(t.app, { email: u.email });
      const c = await login(t.app, { email: u.email });
      const n = await revokeUserSessions({ ...t.services, gate: t.app.sessionGate }, u.userId, 'user_disabled', c.sessionId);
      expect(n).toBe(2);
      expect((await me(t, a.accessToken)).statusCode).toBe(401);
      expect((await me(t, b.accessToken)).statusCode).toBe(401);
      expect((await me(t, c.accessToken)).statusCode).toBe(200);
      expect(await revokeUserSessions(t.services, u.userId, 'user_disabled', c.sessionId)).toBe(0);
    });

    it('a disabled user cannot log in (403 after the right password) nor refresh', async () => {
      const u = await signup(t.app);
      const s = await login(t.app, { email: u.email });
      // as the users stream's disable command does: append, then update the profile read model inline
      const res0 = await t.services.store.appendToStream(streams.user(u.userId), [{ type: 'UserDisabled', data: { userId: u.userId } }]);
      await applyInline(t.services.redis, userEventEval(t.services.prefix, { type: 'UserDisabled', data: { userId: u.userId }, revision: res0.nextExpectedRevision, createdAt: new Date() }));
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: u.email, password: u.password } });
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('account_disabled');
      expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: u.email, password: 'wrong one, really' } })).statusCode).toBe(401);
      expect((await doRefresh(t, s.refreshToken)).statusCode).toBe(401);
      const events = await t.services.store.readStream(streams.session(s.sessionId));
      expect(events.at(-1)).toMatchObject({ type: 'SessionRevoked', data: { reason: 'user_disabled' } });
      expect((await me(t, s.accessToken)).statusCode).toBe(401);
    });

    it('requireAdmin: 401 without a token, 403 for a user, pass for an admin', async () => {
      const { adminLogin } = await import('../helpers/auth');
      const probe = await buildApp(t.services);
      probe.get('/probe/admin', { preHandler: probe.requireAdmin }, async (req) => ({ ok: true, roles: req.auth!.roles }));
      await probe.ready();
      try {
        const user = await signupAndLogin(t.app);
        const admin = await adminLogin(t.app, t.services);
        expect((await probe.inject({ method: 'GET', url: '/probe/admin' })).statusCode).toBe(401);
        const forbidden = await probe.inject({ method: 'GET', url: '/probe/admin', headers: bearer(user.accessToken) });
        expect(forbidden.statusCode).toBe(403);
        expect(forbidden.headers['content-type']).toContain('application/problem+json');
        const ok = await probe.inject({ method: 'GET', url: '/probe/admin', headers: bearer(admin.accessToken) });
        expect(ok.statusCode).toBe(200);
        expect(ok.json().roles).toContain('admin');
      } finally {
        await probe.close();
      }
    });
  });

  describe('imported users', () => {
    it('a plain bcrypt hash (seed import) logs in and is stored again with the peppered scheme, once', async () => {
      const bcrypt = (await import('bcrypt')).default;
      const userId = crypto.randomUUID();
      const email = uniqueEmail('imported');
      await t.services.store.appendToStream(streams.emailReservation(email), [{ type: 'EmailReserved', data: { email, userId } }], { expectedRevision: 'no_stream' });
      await t.services.store.appendToStream(streams.user(userId), [{
        type: 'UserRegistered', data: { userId, email, name: 'Seed User', passwordHash: await bcrypt.hash('seed era password', 4), source: 'import' },
      }], { expectedRevision: 'no_stream' });
      await login(t.app, { email, password: 'seed era password' });
      await login(t.app, { email, password: 'seed era password' });
      const events = await t.services.store.readStream(streams.user(userId));
      expect(events.map((e) => e.type)).toEqual(['UserRegistered', 'PasswordRehashed']);
      expect((events[1]!.data as { passwordHash: string }).passwordHash).toMatch(/^hmac-sha384-bcrypt\$/);
      expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: 'seed era passwordX' } })).statusCode).toBe(401);
    });
  });

  describe('password change', () => {
    it('needs the current password, checks the policy, ends every other session', async () => {
      const u = await signup(t.app);
      const here = await login(t.app, { email: u.email });
      const there = await login(t.app, { email: u.email });
      const url = '/api/v1/auth/password';
      const wrong = await t.app.inject({ method: 'POST', url, headers: bearer(here.accessToken), payload: { current_password: 'nope nope nope', new_password: 'a brand new passphrase 7' } });
      expect(wrong.statusCode).toBe(403);
      const weak = await t.app.inject({ method: 'POST', url, headers: bearer(here.accessToken), payload: { current_password: u.password, new_password: 'password' } });
      expect(weak.statusCode).toBe(400);
      const ok = await t.app.inject({ method: 'POST', url, headers: bearer(here.accessToken), payload: { current_password: u.password, new_password: 'a brand new passphrase 7' } });
      expect(ok.statusCode, ok.body).toBe(204);
      expect((await me(t, here.accessToken)).statusCode).toBe(200);
      expect((await me(t, there.accessToken)).statusCode).toBe(401);
      expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: u.email, password: u.password } })).statusCode).toBe(401);
      await login(t.app, { email: u.email, password: 'a brand new passphrase 7' });
    });
  });

  describe('queries', () => {
    it('/verify answers 200 with the identity headers, 401 otherwise', async () => {
      const s = await signupAndLogin(t.app);
      const ok = await t.app.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: bearer(s.accessToken) });
      expect(ok.statusCode).toBe(200);
      expect(ok.headers).toMatchObject({ 'x-user-id': s.userId, 'x-session-id': s.sessionId, 'x-user-roles': 'user' });
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/verify' })).statusCode).toBe(401);
      const bad = await t.app.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: bearer('a.b.c') });
      expect(bad.statusCode).toBe(401);
      expect(bad.headers['content-type']).toContain('application/problem+json');
    });

    it('tokens/verify (RFC 7662) and tokens/revoke (RFC 7009)', async () => {
      const s = await signupAndLogin(t.app);
      const v = await t.app.inject({ method: 'POST', url: '/api/v1/tokens/verify', headers: tokenClientAuth, payload: { token: s.accessToken } });
      expect(v.json()).toMatchObject({ active: true, sub: s.userId, sid: s.sessionId, token_type: 'access_token', roles: ['user'], exp: expect.any(Number), iat: expect.any(Number) });
      const vr = await t.app.inject({ method: 'POST', url: '/api/v1/tokens/verify', headers: tokenClientAuth, payload: { token: s.refreshToken } });
      expect(vr.json()).toMatchObject({ active: true, token_type: 'refresh_token', sub: s.userId, sid: s.sessionId });
      expect((await t.app.inject({ method: 'POST', url: '/api/v1/tokens/verify', headers: tokenClientAuth, payload: { token: 'garbage' } })).json()).toEqual({ active: false });

      // revoking junk is fine
      expect((await t.app.inject({ method: 'POST', url: '/api/v1/tokens/revoke', headers: tokenClientAuth, payload: { token: 'garbage' } })).statusCode).toBe(200);
      // revoking the refresh token ends the session (its holder, authenticated by its access token)
      const rv = await t.app.inject({ method: 'POST', url: '/api/v1/tokens/revoke', headers: bearer(s.accessToken), payload: { token: s.refreshToken } });
      expect(rv.statusCode).toBe(200);
      expect((await t.app.inject({ method: 'POST', url: '/api/v1/tokens/verify', headers: tokenClientAuth, payload: { token: s.accessToken } })).json()).toEqual({ active: false });

      // revoking an access token ends the session behind it
      const s2 = await signupAndLogin(t.app);
      await t.app.inject({ method: 'POST', url: '/api/v1/tokens/revoke', headers: tokenClientAuth, payload: { token: s2.accessToken } });
      expect((await me(t, s2.accessToken)).statusCode).toBe(401);
      expect((await doRefresh(t, s2.refreshToken)).statusCode).toBe(401);
    });
  });

  describe('read-your-writes across processes', () => {
    it('login on one process → /me on another; logout on one → refused on the other at once', async () => {
      const other = await buildApp(t.services);
      await other.ready();
      try {
        const s = await signupAndLogin(t.app);
        const m = await other.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(s.accessToken) });
        expect(m.statusCode).toBe(200);
        // warm the other process's caches, then revoke on the first
        expect((await other.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: bearer(s.accessToken) })).statusCode).toBe(200);
        expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(s.accessToken) })).statusCode).toBe(204);
        expect((await other.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: bearer(s.accessToken) })).statusCode).toBe(401);
      } finally {
        await other.close();
      }
    });
  });
});

describe('refresh with a grace window', () => {
  let t: T;
  beforeAll(async () => {
    t = await testApp('idgrace', { REFRESH_REUSE_GRACE_SECONDS: '30' });
  });
  afterAll(async () => t.close());

  it('the just-rotated token may be retried once; a second retry is reuse', async () => {
    const s = await signupAndLogin(t.app);
    const first = await doRefresh(t, s.refreshToken);
    expect(first.statusCode).toBe(200);
    const retry = await doRefresh(t, s.refreshToken);
    expect(retry.statusCode).toBe(200);
    // the response the client "lost" is superseded: its token is now an old one
    const again = await doRefresh(t, s.refreshToken);
    expect(again.statusCode).toBe(401);
    expect((await doRefresh(t, retry.json().refresh_token)).statusCode).toBe(401);
  });
});

describe('session lifetimes', () => {
  let t: T;
  beforeAll(async () => {
    t = await testApp('idttl', { REFRESH_TOKEN_TTL: '3', REFRESH_IDLE_TTL: '1' });
  });
  afterAll(async () => t.close());

  it('an idle session expires; access tokens never outlive their session', async () => {
    const s = await signupAndLogin(t.app);
    const [, p] = s.accessToken.split('.').slice(0, 2).map((x) => JSON.parse(Buffer.from(x, 'base64url').toString()));
    expect(p.exp - p.iat).toBeLessThanOrEqual(3);
    await new Promise((r) => setTimeout(r, 1500));
    const r = await doRefresh(t, s.refreshToken);
    expect(r.statusCode).toBe(401);
    const events = await t.services.store.readStream(streams.session(s.sessionId));
    expect(events.at(-1)).toMatchObject({ type: 'SessionExpired', data: { reason: 'idle' } });
  });
});
