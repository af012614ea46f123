/**
 * Rate-limit budgets (issue 20 §9). The attack class: doubling (or more) the per-IP auth budget by
 * spreading attempts over the seed alias routes (/auth/login beside /api/v1/auth/login,
 * /register beside /signup) in any interleaving, and multiplying it by rotating IPv6 addresses
 * inside one /64 (any spelling: compressed, expanded, upper case) or switching between an IPv4
 * address and its IPv4-mapped IPv6 form. Budgets that should stay apart do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp } from '../helpers/app';
import { uniqueEmail } from '../helpers/auth';

const LIMIT = 4;

describe('auth rate-limit budgets', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let app: FastifyInstance;
  let n = 0;
  /** A fresh client address per test (buckets live for a minute). */
  const freshV4 = () => `198.51.100.${++n}`;
  const freshV6Prefix = () => `2001:db8:${(++n).toString(16)}:7`;

  beforeAll(async () => {
    t = await testApp('seca_rl', { RATE_LIMIT_AUTH_PER_MINUTE: String(LIMIT), RATE_LIMIT_PER_MINUTE: '0' });
    app = t.app;
  });
  afterAll(async () => t.close());

  const login = (url: string, ip: string) => app.inject({
    method: 'POST', url, remoteAddress: ip,
    payload: url === '/auth/login' ? { username: uniqueEmail('nobody'), password: 'wrong password 1' } : { email: uniqueEmail('nobody'), password: 'wrong password 1' },
  });
  const signup = (url: string, ip: string) => app.inject({ method: 'POST', url, remoteAddress: ip, payload: { email: 'not-an-email', password: 'x' } });

  async function statuses(calls: Array<() => Promise<{ statusCode: number }>>): Promise<number[]> {
    const out: number[] = [];
    for (const c of calls) out.push((await c()).statusCode);
    return out;
  }

  const LOGIN_ORDERS: Array<[string, string[]]> = [
    ['alternating', ['/api/v1/auth/login', '/auth/login', '/api/v1/auth/login', '/auth/login', '/api/v1/auth/login', '/auth/login']],
    ['alias first', ['/auth/login', '/auth/login', '/auth/login', '/auth/login', '/api/v1/auth/login', '/api/v1/auth/login']],
    ['canonical first', ['/api/v1/auth/login', '/api/v1/auth/login', '/api/v1/auth/login', '/api/v1/auth/login', '/auth/login', '/auth/login']],
    ['trailing slash alias', ['/auth/login/', '/api/v1/auth/login/', '/auth/login', '/api/v1/auth/login', '/auth/login/', '/api/v1/auth/login']],
  ];

  it.each(LOGIN_ORDERS)('login and its seed alias share one budget (%s)', async (_name, urls) => {
    const ip = freshV4();
    const got = await statuses(urls.map((u) => () => login(u, ip)));
    expect(got.slice(0, LIMIT).every((s) => s !== 429), JSON.stringify(got)).toBe(true);
    expect(got.slice(LIMIT), JSON.stringify(got)).toEqual(urls.slice(LIMIT).map(() => 429));
  });

  it.each([
    ['alternating', ['/api/v1/auth/signup', '/api/v1/auth/register', '/api/v1/auth/signup', '/api/v1/auth/register', '/api/v1/auth/register', '/api/v1/auth/signup']],
    ['alias first', ['/api/v1/auth/register', '/api/v1/auth/register', '/api/v1/auth/register', '/api/v1/auth/register', '/api/v1/auth/signup', '/api/v1/auth/signup']],
  ])('signup and /register share one budget (%s)', async (_name, urls) => {
    const ip = freshV4();
    const got = await statuses(urls.map((u) => () => signup(u, ip)));
    expect(got.slice(0, LIMIT).every((s) => s !== 429), JSON.stringify(got)).toBe(true);
    expect(got.slice(LIMIT)).toEqual([429, 429]);
  });

  it('the 429 is problem+json with Retry-After', async () => {
    const ip = freshV4();
    for (let i = 0; i < LIMIT; i++) await login('/auth/login', ip);
    const res = await login('/api/v1/auth/login', ip);
    expect(res.statusCode).toBe(429);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('different canonical routes keep their own budgets (login is not spent by signups)', async () => {
    const ip = freshV4();
    for (let i = 0; i < LIMIT; i++) await signup('/api/v1/auth/register', ip);
    expect((await signup('/api/v1/auth/signup', ip)).statusCode).toBe(429);
    expect((await login('/auth/login', ip)).statusCode).not.toBe(429);
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', remoteAddress: ip, payload: {} })).statusCode).not.toBe(429);
  });

  it('IPv6: every address of one /64, in any spelling, shares one budget', async () => {
    const p = freshV6Prefix();
    const [a, b, c, d] = p.split(':');
    const addresses = [
      `${p}::1`,
      `${p}:ffff:ffff:ffff:ffff`,
      `${a}:${b}:${c}:${d}:0:0:0:2`.toUpperCase(),
      `${a}:0${b}:${c}:${d}:1234:5678:9abc:def0`,
      `${p}::dead:beef`,
      `${p}:1::1`,
    ];
    const got = await statuses(addresses.map((ip) => () => login('/api/v1/auth/login', ip)));
    expect(got.slice(0, LIMIT).every((s) => s !== 429), JSON.stringify(got)).toBe(true);
    expect(got.slice(LIMIT), JSON.stringify(got)).toEqual([429, 429]);
  });

  it('IPv6: another /64 has its own budget', async () => {
    const p = freshV6Prefix();
    for (let i = 0; i < LIMIT; i++) await login('/api/v1/auth/login', `${p}::${i + 1}`);
    expect((await login('/api/v1/auth/login', `${p}::99`)).statusCode).toBe(429);
    const [a, b, c] = p.split(':');
    const neighbour = `${a}:${b}:${c}:8::1`; // the next /64
    expect((await login('/api/v1/auth/login', neighbour)).statusCode).not.toBe(429);
  });

  it('an IPv4 address and its IPv4-mapped IPv6 form share one budget', async () => {
    const v4 = freshV4();
    const got = await statuses([v4, `::ffff:${v4}`, v4, `::FFFF:${v4}`, `::ffff:${v4}`].map((ip) => () => login('/auth/login', ip)));
    expect(got.slice(0, LIMIT).every((s) => s !== 429), JSON.stringify(got)).toBe(true);
    expect(got[LIMIT]).toBe(429);
  });
});
