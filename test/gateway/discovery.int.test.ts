/**
 * Discovery, balancing and health records, over real sockets with real upstreams:
 * - dns+srv:// upstreams resolved by a real DNS server (UDP, test/gateway/dns-server.ts) named by
 *   GATEWAY_DNS_SERVERS: the lowest-priority SRV targets are used (their names resolved there too),
 *   and a changed SRV answer is followed once the cache time (1 s) has passed;
 * - least_in_flight sends new requests to the upstream with fewer requests in flight (a slow one
 *   holding a request gets no more), where round robin keeps feeding it;
 * - health marks: UpstreamMarkedDown/Up are appended once per transition, not per probe, even with
 *   two gateways (each with its own health checks) seeing the same transition.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { type TestServices } from '../helpers/app';
import { buildApp } from '../../src/compose';
import { streams } from '../../src/events/streams';
import { bearer, eventually, type TestUser } from '../helpers/users';
import { sleep } from '../server/helpers';
import { startGatewayApp, type GatewayApp } from './harness';
import { echo, startUpstream, type Handler, type Upstream } from './helpers';
import { startDnsServer, type DnsServer } from './dns-server';

describe('gateway discovery, balancing and health records', () => {
  let app: FastifyInstance;
  let s: TestServices;
  let close: () => Promise<void>;
  let base: string;
  let admin: TestUser;
  let alice: TestUser;
  let dns: DnsServer;
  const ups: Upstream[] = [];

  let register: GatewayApp['register'];
  let visible: GatewayApp['visible'];
  const upstreamOf = async (path: string) => {
    const res = await fetch(`${base}${path}`, { headers: bearer(alice.token) });
    const text = await res.text();
    return res.status === 200 ? (JSON.parse(text).upstream as string) : `status ${res.status}`;
  };
  const start = async (name: string, handler?: Handler, port?: number) => {
    const u = await startUpstream(name, handler, port);
    ups.push(u);
    return u;
  };

  beforeAll(async () => {
    dns = await startDnsServer();
    ({ app, services: s, close, base, admin, alice, register, visible } = await startGatewayApp('gateway-discovery', {
      GATEWAY_HEALTH_MARKS: 'true', GATEWAY_DNS_SERVERS: dns.address, GATEWAY_DNS_CACHE_SECONDS: '1',
    }));
  });
  afterAll(async () => {
    for (const u of ups) await u.close().catch(() => undefined);
    await close();
    await dns?.close();
  });

  it('dns+srv: the lowest-priority SRV targets (names resolved by the same DNS server) are used; a changed answer is picked up', async () => {
    const one = await start('one');
    const two = await start('two');
    const backup = await start('backup');
    const three = await start('three');
    const name = '_http._tcp.orders.test';
    dns.srv.set(name, [
      { priority: 10, weight: 5, port: one.port, target: 'one.orders.test' },
      { priority: 10, weight: 5, port: two.port, target: 'two.orders.test' },
      { priority: 20, weight: 5, port: backup.port, target: 'backup.orders.test' },
    ]);
    for (const h of ['one', 'two', 'backup', 'three']) dns.a.set(`${h}.orders.test`, ['127.0.0.1']);
    expect((await register({ name: 'srv', upstreams: [`dns+srv://${name}`], auth: 'token' })).statusCode).toBe(201);
    await visible('srv');
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push(await upstreamOf('/api/srv/x'));
    expect(new Set(seen)).toEqual(new Set(['one', 'two']));
    expect(backup.hits).toBe(0);
    // Both the SRV question and the targets' A questions went to this server.
    expect(dns.queries.some((q) => q.name === name && q.type === 33)).toBe(true);
    expect(dns.queries.some((q) => q.name === 'one.orders.test' && q.type === 1)).toBe(true);

    // The service scales: the SRV answer now names only `three`.
    dns.srv.set(name, [{ priority: 10, weight: 5, port: three.port, target: 'three.orders.test' }]);
    const changed = Date.now();
    await eventually(async () => (await upstreamOf('/api/srv/x')) === 'three', 10_000);
    console.log(`changed SRV answer followed after ${Date.now() - changed} ms (cache 1 s)`);
    const after: string[] = [];
    for (let i = 0; i < 4; i++) after.push(await upstreamOf('/api/srv/x'));
    expect(after).toEqual(['three', 'three', 'three', 'three']);
  });

  it('least_in_flight: a slow upstream holding a request gets no new ones (round robin keeps sending it half)', async () => {
    /** One request held per slow upstream until released. */
    const held: http.ServerResponse[] = [];
    const slowHandler: Handler = (req, res, up) => {
      if (req.url === '/health') return void res.writeHead(200).end('ok');
      req.resume();
      held.push(res);
      void up;
    };
    const burst = async (service: string) => {
      const pending: Promise<number>[] = [];
      for (let i = 0; i < 10; i++) {
        pending.push(fetch(`${base}/api/${service}/x`, { headers: bearer(alice.token) }).then(async (r) => { await r.text(); return r.status; }));
        await sleep(80); // a fast answer is back by then; a slow one is still in flight
      }
      return pending;
    };
    const results: Record<string, { slow: number; fast: number }> = {};
    for (const balance of ['least_in_flight', 'round_robin'] as const) {
      const slow = await start(`slow-${balance}`, slowHandler);
      const fast = await start(`fast-${balance}`, echo);
      const svc = balance === 'least_in_flight' ? 'lif' : 'rr';
      expect((await register({ name: svc, upstreams: [slow.url, fast.url], auth: 'token', balance, timeout_ms: 60_000, retries: 0 })).statusCode).toBe(201);
      await visible(svc);
      const pending = await burst(svc);
      results[balance] = { slow: slow.hits, fast: fast.hits };
      for (const r of held.splice(0)) r.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ upstream: 'slow' }));
      expect(await Promise.all(pending)).toEqual(Array(10).fill(200));
    }
    console.log(`10 requests, one slow and one fast upstream: least_in_flight ${JSON.stringify(results.least_in_flight)}, round_robin ${JSON.stringify(results.round_robin)}`);
    // The first request to land on the slow upstream stays in flight: all later ones go to the fast one.
    expect(results.least_in_flight!.slow).toBe(1);
    expect(results.least_in_flight!.fast).toBe(9);
    expect(results.round_robin!.slow).toBeGreaterThanOrEqual(4);
  });

  it('health marks: one UpstreamMarkedDown and one UpstreamMarkedUp per transition, not per probe, with two gateways probing', async () => {
    let probesA = 0;
    let probesB = 0;
    const counted = (inc: () => void): Handler => (req, res, up) => {
      if (req.url === '/health') inc();
      echo(req, res, up);
    };
    const a = await start('hm-a', counted(() => probesA++));
    const b = await start('hm-b', counted(() => probesB++));
    const marks = async () => (await s.store.readStream(streams.service('hm')))
      .filter((e) => e.type === 'UpstreamMarkedDown' || e.type === 'UpstreamMarkedUp')
      .map((e) => `${e.type} ${(e.data as { upstream: string }).upstream === a.url ? 'a' : 'b'}`);
    const row = async () => (await app.inject({ method: 'GET', url: '/api/v1/services/hm', headers: bearer(admin.token) })).json();
    const other = await buildApp(s);
    await other.ready();
    try {
      expect((await register({ name: 'hm', upstreams: [a.url, b.url], health_path: '/health', health_interval_ms: 300 })).statusCode).toBe(201);
      await visible('hm');
      await other.gateway.ready(); // a second gateway with its own health checks
      await eventually(async () => !!other.gateway.pool('hm'), 5000);
      await eventually(async () => probesA >= 12 && probesB >= 12, 15_000);
      expect(await marks()).toEqual([]);

      const port = a.port;
      await a.close();
      await eventually(async () => (await row()).down.length === 1, 10_000);
      const seenB = probesB;
      await eventually(async () => probesB >= seenB + 12, 15_000); // ≥ 6 more rounds of each gateway while a is down
      expect(await marks()).toEqual(['UpstreamMarkedDown a']);

      const back = await start('hm-a', counted(() => probesA++), port);
      await eventually(async () => (await row()).down.length === 0, 10_000);
      const seenA = probesA;
      await eventually(async () => probesA >= seenA + 12, 15_000);
      expect(await marks()).toEqual(['UpstreamMarkedDown a', 'UpstreamMarkedUp a']);
      expect(back.hits).toBe(0);
    } finally {
      await other.close();
    }
  }, 60_000);
});
