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

  it('the fast spend tops its block up in the background: after the first lease it never waits, holds at most one block, and the limit holds across processes', async () => {
    const redis = new Redis(REDIS_BASE);
    const prefix = `${testRedisPrefix('rllease-topup')}rl:`;
    try {
      const pending: Promise<unknown>[] = [];
      const asked: number[] = [];
      const Store = leasedRateLimitStore(redis, prefix);
      const orig = (redis as unknown as { authledgerRateLease: (...a: unknown[]) => Promise<unknown> }).authledgerRateLease.bind(redis);
      (redis as unknown as { authledgerRateLease: unknown }).authledgerRateLease = (...args: unknown[]) => {
        asked.push(args[1] as number);
        const p = orig(...args);
        pending.push(p);
        return p;
      };
      const LIMIT = 600; // blocks of 30
      const slice = leaseSize(LIMIT);
      const stores = [new Store(), new Store()]; // two processes sharing the counter
      const incr = (store: InstanceType<typeof Store>) => new Promise<{ current: number; ttl: number }>((resolve, reject) =>
        store.incr('ip', (err, res) => (err ? reject(err) : resolve(res!)), 60_000, LIMIT));
      // Lets every lease in flight land (its own .then runs before this await resumes).
      const settle = async () => {
        while (pending.length) await pending.shift();
      };
      // One process: the count the headers show is exact across top-ups (1, 2, 3… as without them).
      const solo = new Store();
      const currents: number[] = [];
      for (let i = 0; i < 100; i++) {
        const res = solo.spendNow('solo', LIMIT) ?? await new Promise<{ current: number }>((resolve, reject) =>
          solo.incr('solo', (err, r) => (err ? reject(err) : resolve(r!)), 60_000, LIMIT));
        currents.push(res.current);
        await settle();
      }
      expect(currents).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      // The window ends in Redis while this process still holds part of its block (its own clock a
      // little behind): the top-up opens a new window, and what was held from the old one is dropped.
      await redis.del(`${prefix}solo`);
      let res = solo.spendNow('solo', LIMIT);
      while (res && pending.length === 0) res = solo.spendNow('solo', LIMIT);
      await settle();
      const first = solo.spendNow('solo', LIMIT)!;
      expect(first.current).toBe(1);
      expect(Number(await redis.get(`${prefix}solo`))).toBeLessThanOrEqual(slice);
      asked.length = 0;

      const spent = [0, 0];
      let waited = 0;
      let granted = 0;
      let refused = 0;
      for (let i = 0; i < 2 * LIMIT; i++) {
        const p = i % 2;
        const store = stores[p]!;
        let res = store.spendNow('ip', LIMIT);
        if (!res) {
          waited++;
          res = await incr(store);
        }
        if (res.current <= LIMIT) {
          granted++;
          spent[p]!++;
        } else refused++;
        await settle();
        // What Redis reserved beyond what was spent is what the two hold: at most a block each.
        const reserved = Number(await redis.get(`${prefix}ip`));
        if (reserved <= LIMIT) expect(reserved - granted, `request ${i}`).toBeLessThanOrEqual(2 * slice);
      }
      expect(granted).toBe(LIMIT);
      expect(refused).toBe(LIMIT);
      // Near the limit one process may get the last block the other asked for.
      for (const n of spent) expect(n).toBeGreaterThanOrEqual(LIMIT / 2 - slice);
      // One wait per process for its first block, then (the limit reached) the refusals' leases.
      const waitedBeforeLimit = waited - refused;
      expect(waitedBeforeLimit).toBeLessThanOrEqual(2);
      // Top-ups ask for the difference only, never a whole block while something is held.
      expect(asked.filter((n) => n < slice).length).toBeGreaterThan(10);
      expect(asked.every((n) => n > 0 && n <= slice)).toBe(true);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });

  it('blocks of 1 (limits below 40) stay exact: each spend asks Redis', async () => {
    const redis = new Redis(REDIS_BASE);
    const prefix = `${testRedisPrefix('rllease-one')}rl:`;
    try {
      const Store = leasedRateLimitStore(redis, prefix);
      const store = new Store();
      const incr = () => new Promise<{ current: number; ttl: number }>((resolve, reject) =>
        store.incr('ip', (err, res) => (err ? reject(err) : resolve(res!)), 60_000, 20));
      const currents: number[] = [];
      let atOnce = 0;
      for (let i = 0; i < 25; i++) {
        const now = store.spendNow('ip', 20);
        if (now) atOnce++;
        currents.push((now ?? (await incr())).current);
        await redis.ping();
      }
      expect(atOnce).toBe(0);
      expect(currents.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(currents.slice(20).every((c) => c > 20)).toBe(true);
      expect(Number(await redis.get(`${prefix}ip`))).toBeLessThanOrEqual(25);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });
});
