import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { streams } from '../../src/events/streams';
import { testApp } from '../helpers/app';
import { login, signup, uniqueEmail } from '../helpers/auth';

type T = Awaited<ReturnType<typeof testApp>>;
const attempt = (t: T, email: string, password: string, ip?: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password }, remoteAddress: ip });
/** The parts of an answer that must not depend on whether the account exists. */
const shape = (res: Awaited<ReturnType<typeof attempt>>) => {
  const { request_id: _r, ...body } = res.json();
  return { status: res.statusCode, body, wwwAuth: res.headers['www-authenticate'], type: res.headers['content-type'], retryAfter: res.headers['retry-after'] !== undefined };
};

describe('unknown e-mail vs wrong password', () => {
  let t: T;
  beforeAll(async () => {
    // A realistic bcrypt cost, so that a missing hash comparison would show in the timings.
    t = await testApp('idenum', { BCRYPT_COST: '10' });
  });
  afterAll(async () => t.close());

  it('same status, body and headers; time within noise', async () => {
    const known = await Promise.all([1, 2, 3, 4, 5, 6].map(() => signup(t.app)));
    const knownTimes: number[] = [];
    const unknownTimes: number[] = [];
    let knownShape, unknownShape;
    for (let i = 0; i < known.length; i++) {
      let start = performance.now();
      const a = await attempt(t, known[i]!.email, 'wrong password, sorry');
      knownTimes.push(performance.now() - start);
      start = performance.now();
      const b = await attempt(t, uniqueEmail('ghost'), 'wrong password, sorry');
      unknownTimes.push(performance.now() - start);
      knownShape = shape(a);
      unknownShape = shape(b);
      expect(knownShape).toEqual(unknownShape);
    }
    expect(knownShape).toMatchObject({ status: 401, body: { code: 'invalid_credentials' } });
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const ratio = median(knownTimes) / median(unknownTimes);
    expect(ratio, `known ${median(knownTimes)} ms vs unknown ${median(unknownTimes)} ms`).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2); // without the dummy compare the unknown side would be ~10x faster
  });
});

describe('lockout', () => {
  let t: T;
  beforeAll(async () => {
    t = await testApp('idlock', { LOCKOUT_THRESHOLD: '3', LOCKOUT_MINUTES: '1' });
  });
  afterAll(async () => t.close());
  afterEach(() => {
    vi.useRealTimers();
  });

  it('locks after the threshold (events on the user stream), refuses even the right password, expires', async () => {
    const u = await signup(t.app);
    for (let i = 1; i <= 3; i++) expect((await attempt(t, u.email, 'not the password')).statusCode).toBe(401);
    const locked = await attempt(t, u.email, u.password);
    expect(locked.statusCode).toBe(429);
    expect(locked.json().code).toBe('login_locked');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(60);
    const events = await t.services.store.readStream(streams.user(u.userId));
    expect(events.map((e) => e.type)).toEqual(['UserRegistered', 'LoginFailed', 'LoginFailed', 'LoginFailed', 'AccountLocked']);
    expect(events.at(-2)!.data).toMatchObject({ consecutiveFailures: 3, reason: 'bad_password' });

    // a minute later the lock is over and the right password works (and clears the counter)
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    const s = await login(t.app, { email: u.email, password: u.password });
    expect(s.accessToken).toBeTruthy();
    const after = await t.services.store.readStream(streams.user(u.userId));
    expect(after.at(-1)!.type).toBe('LoginFailuresCleared');
  });

  it('an unknown e-mail locks the same way, with the same answers', async () => {
    const u = await signup(t.app);
    const ghost = uniqueEmail('ghost');
    const knownAnswers = [];
    const ghostAnswers = [];
    for (let i = 1; i <= 4; i++) {
      knownAnswers.push(shape(await attempt(t, u.email, 'not the password')));
      ghostAnswers.push(shape(await attempt(t, ghost, 'not the password')));
    }
    expect(ghostAnswers).toEqual(knownAnswers);
    expect(knownAnswers.map((a) => a.status)).toEqual([401, 401, 401, 429]);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    expect((await attempt(t, ghost, 'not the password')).statusCode).toBe(401);
    expect((await attempt(t, u.email, 'not the password')).statusCode).toBe(401);
  });

  it('a lockout of one account does not touch another', async () => {
    const a = await signup(t.app);
    const b = await signup(t.app);
    for (let i = 0; i < 3; i++) await attempt(t, a.email, 'nope nope');
    expect((await attempt(t, a.email, a.password)).statusCode).toBe(429);
    expect((await attempt(t, b.email, b.password)).statusCode).toBe(200);
  });
});

describe('per-IP rate limit on auth routes', () => {
  let t: T;
  beforeAll(async () => {
    t = await testApp('idrate', { RATE_LIMIT_AUTH_PER_MINUTE: '3' });
  });
  afterAll(async () => t.close());

  it('login is limited per IP; other IPs are not affected', async () => {
    const u = await signup(t.app);
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await attempt(t, u.email, u.password, '10.1.1.1')).statusCode);
    // the limiter's Redis connection may still be connecting on the very first request (skipOnError)
    expect(codes.slice(-2)).toEqual([429, 429]);
    const limited = await attempt(t, u.email, u.password, '10.1.1.1');
    expect(limited.json().code).toBe('rate_limited');
    expect((await attempt(t, u.email, u.password, '10.2.2.2')).statusCode).toBe(200);
  });

  it('signup and refresh are limited per IP too; /verify never is', async () => {
    const signupCodes: number[] = [];
    for (let i = 0; i < 5; i++) {
      signupCodes.push((await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', remoteAddress: '10.3.3.3', payload: { email: uniqueEmail(), password: 'correct horse battery staple 42' } })).statusCode);
    }
    expect(signupCodes.slice(-2)).toEqual([429, 429]);
    const refreshCodes: number[] = [];
    for (let i = 0; i < 5; i++) {
      refreshCodes.push((await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', remoteAddress: '10.4.4.4', payload: { refresh_token: 'x' } })).statusCode);
    }
    expect(refreshCodes.slice(-2)).toEqual([429, 429]);
    const s = await login(t.app, { email: (await signup(t.app)).email, ip: '10.5.5.5' });
    for (let i = 0; i < 10; i++) {
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/verify', remoteAddress: '10.5.5.5', headers: { authorization: `Bearer ${s.accessToken}` } })).statusCode).toBe(200);
    }
  });
});

describe('REFRESH_COOKIE=false', () => {
  let t: T;
  beforeAll(async () => {
    t = await testApp('idnocookie', { REFRESH_COOKIE: 'false' });
  });
  afterAll(async () => t.close());

  it('the refresh token travels in the body only', async () => {
    const u = await signup(t.app);
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: u.email, password: u.password } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.json().refresh_token).toMatch(/^[0-9a-f-]{36}\./);
  });
});
