/**
 * Issue 20 §3: a guessed refresh secret must not end someone's session. Session ids are public
 * (the `sid` claim, X-Session-Id, job data), so `<sessionId>.<anything>` is within anyone's reach:
 * only a token this session issued and has since rotated is reuse; any other secret is a 401 that
 * changes nothing on the session, counted towards a per-session limit.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streams } from '../../src/events/streams';
import { testApp } from '../helpers/app';
import { bearer, signupAndLogin } from '../helpers/auth';

type T = Awaited<ReturnType<typeof testApp>>;
const doRefresh = (t: T, token: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: token }, headers });
const me = (t: T, token: string) => t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(token) });
const secret = () => randomBytes(32).toString('base64url');

/** Secrets an attacker who knows only the session id can produce (every one well-formed). */
function foreignSecrets(sessionId: string, otherSessionToken: string, ownToken: string): Record<string, string> {
  const own = ownToken.slice(37);
  return {
    random: `${sessionId}.${secret()}`,
    'another session’s secret under this id': `${sessionId}.${otherSessionToken.slice(37)}`,
    'one character off the real secret': `${sessionId}.${own.slice(0, 42)}${own[42] === 'A' ? 'B' : 'A'}`,
    'all zeros': `${sessionId}.${'A'.repeat(43)}`,
    'the real secret reversed': `${sessionId}.${[...own].reverse().join('')}`,
  };
}

describe('refresh: a foreign secret is not reuse', () => {
  let t: T;
  beforeAll(async () => {
    t = await testApp('secb2guess', { REFRESH_FAILURE_LIMIT: '50' });
  });
  afterAll(async () => t.close());

  it('each kind of guessed secret is 401 invalid_refresh_token and leaves the session as it was', async () => {
    const victim = await signupAndLogin(t.app);
    const other = await signupAndLogin(t.app);
    const before = await t.services.store.readStream(streams.session(victim.sessionId));
    for (const [kind, token] of Object.entries(foreignSecrets(victim.sessionId, other.refreshToken, victim.refreshToken))) {
      const r = await doRefresh(t, token, { 'user-agent': 'guesser' });
      expect(r.statusCode, kind).toBe(401);
      expect(r.json().code, kind).toBe('invalid_refresh_token');
    }
    // the session's stream did not move, the victim was told nothing, its tokens work
    const after = await t.services.store.readStream(streams.session(victim.sessionId));
    expect(after.map((e) => e.type)).toEqual(before.map((e) => e.type));
    expect((await me(t, victim.accessToken)).statusCode).toBe(200);
    const ok = await doRefresh(t, victim.refreshToken);
    expect(ok.statusCode, ok.body).toBe(200);
    // the guesses are on record (the guard stream), as hashes only
    const guard = await t.services.store.readStream(streams.refreshGuard(victim.sessionId));
    expect(guard.map((e) => e.type)).toEqual(Array(5).fill('RefreshTokenRejected'));
    expect(guard[0]!.data).toMatchObject({ sessionId: victim.sessionId, userId: victim.userId, presenter: { userAgent: 'guesser' } });
    expect(JSON.stringify(guard.map((e) => e.data))).not.toContain(victim.refreshToken.slice(37));
  });

  it('guesses after rotations, against the current and the old tokens of a long family, change nothing', async () => {
    const s = await signupAndLogin(t.app);
    let token = s.refreshToken;
    for (let i = 0; i < 6; i++) token = (await doRefresh(t, token)).json().refresh_token;
    const r = await doRefresh(t, `${s.sessionId}.${secret()}`);
    expect(r.statusCode).toBe(401);
    expect((await doRefresh(t, token)).statusCode).toBe(200);
  });

  it('a token this session really issued and rotated is still reuse, however old (the whole family is known)', async () => {
    const s = await signupAndLogin(t.app);
    const issued = [s.refreshToken];
    for (let i = 0; i < 6; i++) issued.push((await doRefresh(t, issued.at(-1)!)).json().refresh_token);
    const stolen = await doRefresh(t, issued[2]!, { 'user-agent': 'thief' }); // from the middle of the family
    expect(stolen.statusCode).toBe(401);
    const events = await t.services.store.readStream(streams.session(s.sessionId));
    expect(events.slice(-2).map((e) => e.type)).toEqual(['RefreshTokenReuseDetected', 'SessionRevoked']);
    expect((await doRefresh(t, issued.at(-1)!)).statusCode).toBe(401);
  });

  it('a guessed secret for an unknown session id records nothing anywhere', async () => {
    const sid = 'c0ffee00-0000-4000-8000-0000000000ab';
    expect((await doRefresh(t, `${sid}.${secret()}`)).statusCode).toBe(401);
    expect(await t.services.store.readStream(streams.refreshGuard(sid))).toEqual([]);
  });
});

describe('refresh: the per-session limit of foreign secrets', () => {
  let t: T;
  beforeAll(async () => {
    t = await testApp('secb2guesslimit', { REFRESH_FAILURE_LIMIT: '3', REFRESH_FAILURE_WINDOW_SECONDS: '600' });
  });
  afterAll(async () => t.close());

  it('the limit-th guess closes that session to guesses (429, unrecorded); its own token keeps working', async () => {
    const s = await signupAndLogin(t.app);
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await doRefresh(t, `${s.sessionId}.${secret()}`)).statusCode);
    expect(codes).toEqual([401, 401, 429, 429, 429, 429]);
    const limited = await doRefresh(t, `${s.sessionId}.${secret()}`);
    expect(limited.json().code).toBe('refresh_failures_exceeded');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    const guard = await t.services.store.readStream(streams.refreshGuard(s.sessionId));
    expect(guard.map((e) => e.type)).toEqual(['RefreshTokenRejected', 'RefreshTokenRejected', 'RefreshTokenRejected', 'RefreshFailureLimitReached']);
    // another session is not limited
    const other = await signupAndLogin(t.app);
    expect((await doRefresh(t, `${other.sessionId}.${secret()}`)).statusCode).toBe(401);
    // the victim is not locked out
    const ok = await doRefresh(t, s.refreshToken);
    expect(ok.statusCode, ok.body).toBe(200);
    expect((await me(t, ok.json().access_token)).statusCode).toBe(200);
  });
});
