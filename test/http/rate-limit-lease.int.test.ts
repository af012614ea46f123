/**
 * The leased rate-limit store (issue 12): the limit holds exactly across processes sharing Redis,
 * concurrent requests share one lease, and Redis sees one round trip per block, not per request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { buildApp } from '../../src/compose';
import { leaseSize, leasedRateLimitStore } from '../../src/http/rate-limit-store';
import { REDIS_BASE, testRedisPrefix } from '../helpers/db';
import { testServices, type TestServices } from '../helpers/app';

describe('leased rate-limit budget', () => {
  let services: TestServices;
  let a: FastifyInstance;
  let b: FastifyInstance;
  beforeAll(async () => {
    services = await testServices('rllease', { RATE_LIMIT_PER_MINUTE: '100', TRUST_PROXY: '127.0.0.1' });
    a = await buildApp(services);
    b = await buildApp(services);
    await Promise.all([a.ready(), b.ready()]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await services?.close();
  });

  const from = (app: FastifyInstance, ip: string) =>
    app.inject({ method: 'GET', url: '/api/v1/auth/oauth/providers', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': ip } });

  it('lease sizes: limit/20, at least 1, at most 50', () => {
    expect([leaseSize(20), leaseSize(100), leaseSize(600), leaseSize(1_000_000)]).toEqual([1, 5, 30, 50]);
  });

  it('two processes never let through more than the limit together, and refuse with 429', async () => {
    const ip = '198.51.100.20';
    const statuses: number[] = [];
    // Interleaved and concurrent, 150 requests for a limit of 100.
    for (let i = 0; i < 15; i++) {
      const burst = await Promise.all(Array.from({ length: 10 }, (_, j) => from(j % 2 ? a : b, ip)));
      statuses.push(...burst.map((r) => r.statusCode));
    }
    const ok = statuses.filter((s) => s === 200).length;
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(ok).toBeLessThanOrEqual(100);
    // Early refusals are bounded by the unused part of one lease per process.
    expect(ok).toBeGreaterThanOrEqual(100 - 2 * leaseSize(100));
    const refused = await from(a, ip);
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // Another client has its own budget.
    expect((await from(b, '198.51.100.21')).statusCode).toBe(200);
  });

  it('one Redis round trip per lease, not per request; concurrent callers share a lease in flight', async () => {
    const redis = new Redis(REDIS_BASE);
    const prefix = `${testRedisPrefix('rllease-unit')}rl:`;
    try {
      let calls = 0;
      const Store = leasedRateLimitStore(redis, prefix);
      const orig = (redis as unknown as { authledgerRateLease: (...a: unknown[]) => Promise<unknown> }).authledgerRateLease.bind(redis);
      (redis as unknown as { authledgerRateLease: unknown }).authledgerRateLease = (...args: unknown[]) => {
        calls++;
        return orig(...args);
      };
      const store = new Store();
      const incr = () => new Promise<{ current: number; ttl: number }>((resolve, reject) =>
        store.incr('ip', (err, res) => (err ? reject(err) : resolve(res!)), 60_000, 600));
      const results = await Promise.all(Array.from({ length: 90 }, incr));
      expect(calls).toBe(3); // 90 requests, leases of 30
      expect(Math.max(...results.map((r) => r.current))).toBeLessThanOrEqual(90);
      expect(results.every((r) => r.ttl > 0 && r.ttl <= 60_000)).toBe(true);
      expect(Number(await redis.get(`${prefix}ip`))).toBe(90);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });
});
