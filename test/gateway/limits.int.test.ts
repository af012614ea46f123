/**
 * The gateway's rate limits (src/gateway/limits.ts) against a real Redis, and against a real
 * client whose Redis does not answer (a closed port): the limiter connects at start within a
 * bounded wait, a check is never skipped (Redis reachable: counted there from the first request;
 * Redis unreachable: counted in the process), and the first requests after a gateway starts are
 * counted (the proxy.int flake: a lazy, queue-less client failed them and they went through).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createRedis } from '../../src/infra/redis';
import { GatewayLimits } from '../../src/gateway/limits';
import { REDIS_BASE } from '../helpers/db';
import { bearer } from '../helpers/users';
import { startGatewayApp, type GatewayApp } from './harness';
import { startUpstream, type Upstream } from './helpers';

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe('gateway rate limits', () => {
  const clients: Redis[] = [];
  const prefix = `test:gwlimits:${process.pid}:${Date.now()}:`;
  afterAll(async () => {
    const probe = createRedis(REDIS_BASE);
    await probe.connect();
    const keys = await probe.keys(`${prefix}*`);
    if (keys.length) await probe.del(...keys);
    probe.disconnect();
    for (const c of clients) c.disconnect();
  });

  it('a lazy client is connected at start, quickly, and checks count from the first one', async () => {
    const redis = createRedis(REDIS_BASE); // lazyConnect, no offline queue: what the gateway gets
    clients.push(redis);
    expect(redis.status).toBe('wait');
    const limits = new GatewayLimits(redis, prefix);
    const t0 = Date.now();
    expect(await limits.connect(1000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(900);
    expect(redis.status).toBe('ready');
    // Concurrent first checks: exactly `max` of them fit, none is skipped.
    const results = await Promise.all(Array.from({ length: 5 }, () => limits.check('k1', 2)));
    expect(results.filter((r) => r.current <= 2)).toHaveLength(2);
    expect(results.every((r) => !r.local)).toBe(true);
    expect(limits.degraded).toBe(false);
  });

  it('with Redis unreachable: the start waits at most the bound, and every check is counted in the process', async () => {
    const redis = createRedis(`redis://127.0.0.1:${await closedPort()}/0`, { connectTimeout: 200 });
    clients.push(redis);
    const limits = new GatewayLimits(redis, prefix);
    const t0 = Date.now();
    expect(await limits.connect(300)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1500);
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await limits.check('k2', 2));
    expect(results.map((r) => r.current)).toEqual([1, 2, 3, 4]); // the 3rd and 4th are over the limit
    expect(results.every((r) => r.local && r.ttl > 0 && r.ttl <= 60_000)).toBe(true);
    expect(limits.degraded).toBe(true);
    // Another key has a budget of its own.
    expect((await limits.check('k3', 2)).current).toBe(1);
  });

  it('with a Redis that accepts and never answers: the start still waits at most the bound', async () => {
    const silent = net.createServer(() => undefined); // accepts connections, says nothing
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const redis = createRedis(`redis://127.0.0.1:${(silent.address() as net.AddressInfo).port}/0`);
      clients.push(redis);
      const limits = new GatewayLimits(redis, prefix);
      const t0 = Date.now();
      expect(await limits.connect(300)).toBe(false);
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(limits.degraded).toBe(true);
      expect((await limits.check('k4', 1)).local).toBe(true);
      expect((await limits.check('k4', 1)).current).toBe(2);
    } finally {
      for (const c of clients) c.disconnect();
      silent.close();
    }
  });

  describe('in a gateway that just started', () => {
    let gw: GatewayApp;
    let up: Upstream;
    beforeAll(async () => {
      gw = await startGatewayApp('gateway-limits');
      up = await startUpstream('a');
    });
    afterAll(async () => {
      await up?.close();
      await gw?.close();
    });

    it('the very first requests are counted: limit 2 → 200, 200, 429 (never a third 200)', async () => {
      expect((await gw.register({ name: 'tight', upstreams: [up.url], auth: 'token', rate_limit_per_user_per_minute: 2 })).statusCode).toBe(201);
      await gw.visible('tight');
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(`${gw.base}/api/tight/x`, { headers: bearer(gw.alice.token) })).status);
      expect(statuses).toEqual([200, 200, 429]);
      expect(up.hits).toBe(2);
    });

    it('a per-service limit holds under concurrent requests from several users', async () => {
      expect((await gw.register({ name: 'small', upstreams: [up.url], auth: 'token', rate_limit_per_minute: 3 })).statusCode).toBe(201);
      await gw.visible('small');
      const before = up.hits;
      const tokens = [gw.alice.token, gw.admin.token];
      const statuses = await Promise.all(Array.from({ length: 8 }, (_, i) => fetch(`${gw.base}/api/small/y`, { headers: bearer(tokens[i % 2]!) }).then((r) => r.status)));
      expect(statuses.filter((s) => s === 200)).toHaveLength(3);
      expect(statuses.filter((s) => s === 429)).toHaveLength(5);
      expect(up.hits - before).toBe(3);
    });
  });
});
