/**
 * The gateway under failure and load, over real sockets: one upstream killed mid-test (traffic
 * moves, no 5xx for GETs), all down → 503 at once, slow upstream → 504 within timeout_ms, a 50 MB
 * streamed upload and download arriving whole, WebSocket echo, and a registry change seen by a
 * second gateway app (own directory, own LISTEN connection) within 1 s. The memory bound and the
 * registry across OS processes are in processes.e2e.test.ts (the gateway in a process of its own).
 */
import http from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import WebSocket, { WebSocketServer } from 'ws';
import { type TestServices } from '../helpers/app';
import { buildApp } from '../../src/compose';
import { bearer, eventually, type TestUser } from '../helpers/users';
import { startGatewayApp, type GatewayApp } from './harness';
import { startUpstream, type Upstream } from './helpers';

const MB = 1024 * 1024;

describe('gateway resilience and streaming', () => {
  let app: FastifyInstance;
  let s: TestServices;
  let close: () => Promise<void>;
  let base: string;
  let admin: TestUser;
  let alice: TestUser;
  const ups: Upstream[] = [];

  let register: GatewayApp['register'];
  let visible: GatewayApp['visible'];

  beforeAll(async () => {
    ({ app, services: s, close, base, admin, alice, register, visible } = await startGatewayApp('gateway-resilience', { GATEWAY_HEALTH_MARKS: 'true' }));
  });
  afterAll(async () => {
    for (const u of ups) await u.close().catch(() => undefined);
    await close();
  });

  it('one upstream killed mid-test: traffic moves to the healthy one, no 5xx for GETs; the registry records it', async () => {
    const a = await startUpstream('a');
    const b = await startUpstream('b');
    ups.push(a, b);
    expect((await register({ name: 'orders', upstreams: [a.url, b.url], health_path: '/health', health_interval_ms: 200, retries: 2 })).statusCode).toBe(201);
    await visible('orders');
    const statuses: number[] = [];
    const served: Record<string, number> = { a: 0, b: 0 };
    for (let i = 0; i < 60; i++) {
      if (i === 20) await a.close();
      const res = await fetch(`${base}/api/orders/x`, { headers: bearer(alice.token) });
      statuses.push(res.status);
      if (res.ok) {
        const k = (await res.json() as any).upstream as string;
        served[k] = (served[k] ?? 0) + 1;
      }
      else await res.text();
    }
    expect(statuses.filter((x) => x >= 500)).toEqual([]);
    expect(served.a!).toBeGreaterThan(0);
    expect(served.b!).toBeGreaterThan(30);
    const row = await eventually(async () => {
      const r = await app.inject({ method: 'GET', url: '/api/v1/services/orders', headers: bearer(admin.token) });
      return r.json().down.length ? r.json() : false;
    }, 5000);
    expect(row.down).toEqual([a.url]);
  });

  it('all upstreams down → 503 problem+json at once', async () => {
    const c = await startUpstream('c');
    ups.push(c);
    expect((await register({ name: 'gone', upstreams: [c.url], health_path: '/health', health_interval_ms: 200 })).statusCode).toBe(201);
    await visible('gone');
    await c.close();
    await eventually(async () => (await fetch(`${base}/api/gone/x`, { headers: bearer(alice.token) })).status === 503, 5000);
    const started = Date.now();
    const res = await fetch(`${base}/api/gone/x`, { headers: bearer(alice.token) });
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(200);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const body = await res.json() as any;
    expect(body.code).toBe('no_healthy_upstream');
    expect(body.request_id).toBe(res.headers.get('x-request-id'));
  });

  it('refused connection without health checks → 502 problem+json with the request id', async () => {
    const d = await startUpstream('d');
    await d.close();
    expect((await register({ name: 'refused', upstreams: [d.url], retries: 0 })).statusCode).toBe(201);
    await visible('refused');
    const res = await fetch(`${base}/api/refused/x`, { headers: { ...bearer(alice.token), 'x-request-id': 'rid-502' } });
    expect(res.status).toBe(502);
    const body = await res.json() as any;
    expect(body.code).toBe('upstream_failed');
    expect(body.request_id).toBe('rid-502');
  });

  it('slow upstream → 504 within timeout_ms', async () => {
    const slow = await startUpstream('slow', (_req, res) => {
      setTimeout(() => res.writeHead(200).end('late'), 3000);
    });
    ups.push(slow);
    expect((await register({ name: 'slow', upstreams: [slow.url], timeout_ms: 300 })).statusCode).toBe(201);
    await visible('slow');
    const started = Date.now();
    const res = await fetch(`${base}/api/slow/x`, { headers: bearer(alice.token) });
    const took = Date.now() - started;
    expect(res.status).toBe(504);
    expect((await res.json() as any).code).toBe('upstream_timeout');
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1500);
  });

  it('50 MB streamed upload (chunked) and download arrive whole (memory printed, not bounded here)', async () => {
    const big = await startUpstream('big', (req, res) => {
      if (req.method === 'POST') {
        let n = 0;
        req.on('data', (c: Buffer) => { n += c.length; });
        req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ received: n })));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(50 * MB) });
      const chunk = Buffer.alloc(64 * 1024, 7);
      let sent = 0;
      const pump = () => {
        while (sent < 50 * MB) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    ups.push(big);
    expect((await register({ name: 'big', upstreams: [big.url], timeout_ms: 60_000 })).statusCode).toBe(201);
    await visible('big');
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
    try {
      // Upload: a 50 MB body generated as it is sent (chunked).
      let left = 50 * MB;
      const chunk = Buffer.alloc(64 * 1024, 1);
      const body = new Readable({
        read() {
          if (left <= 0) return void this.push(null);
          left -= chunk.length;
          this.push(chunk);
        },
      });
      const up = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${base}/api/big/upload`, { method: 'POST', headers: { ...bearer(alice.token), 'content-type': 'application/octet-stream' } }, (res) => {
          let t = '';
          res.on('data', (c) => { t += c; });
          res.on('end', () => resolve({ status: res.statusCode!, body: t }));
        });
        req.on('error', reject);
        body.pipe(req);
      });
      expect(up.status).toBe(200);
      expect(JSON.parse(up.body).received).toBe(50 * MB);
      // Download: read slowly-ish and count.
      const down = await fetch(`${base}/api/big/file`, { headers: bearer(alice.token) });
      expect(down.status).toBe(200);
      let got = 0;
      for await (const c of down.body as any) got += (c as Uint8Array).length;
      expect(got).toBe(50 * MB);
    } finally {
      clearInterval(sampler);
    }
    const grew = (peak - before) / MB;
    console.log(`gateway process RSS grew by at most ${grew.toFixed(1)} MB while streaming 2 × 50 MB (client, gateway and upstream share this process)`);
    // Not asserted: client, gateway and upstream share this process, so RSS does not isolate the
    // gateway (measured ~46 MB once on a loaded machine). processes.e2e.test.ts bounds it (≤ 20 MB)
    // with the gateway in a child process.
    expect(grew).toBeGreaterThan(-1000);
  }, 60_000);

  it('WebSocket echo through the gateway (websocket: true), identity injected; refused without a token', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    let seenUser: string | undefined;
    wss.on('connection', (sock, req) => {
      seenUser = req.headers['x-user-id'] as string;
      sock.on('message', (m) => sock.send(`echo:${m}`));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as any).port}`;
    try {
      expect((await register({ name: 'chat', upstreams: [url], websocket: true })).statusCode).toBe(201);
      await visible('chat');
      const wsBase = base.replace('http', 'ws');
      const ws = new WebSocket(`${wsBase}/api/chat/socket`, { headers: bearer(alice.token) });
      const reply = await new Promise<string>((resolve, reject) => {
        ws.on('open', () => ws.send('hello'));
        ws.on('message', (m) => resolve(String(m)));
        ws.on('error', reject);
      });
      expect(reply).toBe('echo:hello');
      expect(seenUser).toBe(alice.id);
      ws.close();
      const refused = await new Promise<number>((resolve) => {
        const w = new WebSocket(`${wsBase}/api/chat/socket`);
        w.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
        w.on('error', () => resolve(-1));
      });
      expect(refused).toBe(401);
    } finally {
      wss.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('a registry change is visible to another gateway process within 1 s', async () => {
    const e = await startUpstream('e');
    ups.push(e);
    const other = await buildApp(s);
    await other.ready();
    try {
      await other.gateway.ready({ health: false });
      const started = Date.now();
      expect((await register({ name: 'fresh', upstreams: [e.url] })).statusCode).toBe(201);
      await eventually(async () => !!other.gateway.service('fresh'), 1000);
      const took = Date.now() - started;
      expect(took).toBeLessThan(1000);
      const p = await app.inject({ method: 'PATCH', url: '/api/v1/services/fresh', headers: bearer(admin.token), payload: { timeout_ms: 1234 } });
      expect(p.statusCode).toBe(200);
      await eventually(async () => other.gateway.service('fresh')?.spec.timeout_ms === 1234, 1000);
    } finally {
      await other.close();
    }
  });
});
