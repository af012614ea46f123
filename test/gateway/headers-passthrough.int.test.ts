/**
 * Caching headers through the gateway (route flag cacheControl: 'relayed', src/http/cache-control.ts):
 * an upstream's answer keeps its own Cache-Control (or its absence, with Expires / ETag as sent),
 * whatever its status; the gateway's own answers (401 without a token, 404 unknown service, 502
 * upstream down) and the API's answers stay no-store. The request id still reaches the upstream and
 * comes back on the answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bearer, eventually, type TestUser } from '../helpers/users';
import { startGatewayApp } from './harness';
import { startUpstream, type Upstream } from './helpers';

describe('gateway: caching headers of relayed answers', () => {
  let app: FastifyInstance;
  let close: () => Promise<void>;
  let base: string;
  let admin: TestUser;
  let alice: TestUser;
  let up: Upstream;
  let deadPort: number;

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers });

  beforeAll(async () => {
    ({ app, close, base, admin, alice } = await startGatewayApp('gateway-cache-headers'));
    up = await startUpstream('cachy', (req, res) => {
      if (req.url === '/public') res.writeHead(200, { 'cache-control': 'public, max-age=60', etag: '"v1"' }).end('pub');
      else if (req.url === '/expires') res.writeHead(200, { expires: 'Wed, 21 Oct 2037 07:28:00 GMT', 'last-modified': 'Tue, 20 Oct 2037 07:28:00 GMT' }).end('exp');
      else if (req.url === '/gone') res.writeHead(404, { 'cache-control': 'max-age=30' }).end('nope');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ rid: req.headers['x-request-id'] }));
    });
    const dead = await startUpstream('dead');
    deadPort = dead.port;
    await dead.close();
    for (const [name, upstream] of [['cachy', up.url], ['dead', `http://127.0.0.1:${deadPort}`]] as const) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/services', headers: bearer(admin.token), payload: { name, upstreams: [upstream], auth: 'token', retries: 0 } });
      expect(res.statusCode).toBe(201);
    }
    await eventually(async () => !!app.gateway.service('cachy') && !!app.gateway.service('dead'), 5000);
  });
  afterAll(async () => {
    await up?.close();
    await close();
  });

  it('keeps the upstream\'s Cache-Control and validators, for 2xx and 4xx answers', async () => {
    const pub = await get('/api/cachy/public', bearer(alice.token));
    expect(pub.status).toBe(200);
    expect(pub.headers.get('cache-control')).toBe('public, max-age=60');
    expect(pub.headers.get('etag')).toBe('"v1"');
    expect(await pub.text()).toBe('pub');
    const gone = await get('/api/cachy/gone', bearer(alice.token));
    expect(gone.status).toBe(404);
    expect(gone.headers.get('cache-control')).toBe('max-age=30');
  });

  it('adds no no-store to an upstream answer that sent no Cache-Control (Expires keeps its meaning)', async () => {
    const res = await get('/api/cachy/expires', bearer(alice.token));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBeNull();
    expect(res.headers.get('expires')).toBe('Wed, 21 Oct 2037 07:28:00 GMT');
    expect(res.headers.get('last-modified')).toBe('Tue, 20 Oct 2037 07:28:00 GMT');
  });

  it('keeps no-store on the gateway\'s own answers: 401, 404 unknown service, 502 upstream down', async () => {
    const noToken = await get('/api/cachy/public');
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('cache-control')).toBe('no-store');
    expect(noToken.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const unknown = await get('/api/nosuch/x', bearer(alice.token));
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('cache-control')).toBe('no-store');
    const down = await get('/api/dead/x', bearer(alice.token));
    expect(down.status).toBe(502);
    expect(down.headers.get('cache-control')).toBe('no-store');
  });

  it('keeps no-store on the API\'s answers and carries the request id both ways', async () => {
    const me = await get('/api/v1/auth/me', bearer(alice.token));
    expect(me.status).toBe(200);
    expect(me.headers.get('cache-control')).toBe('no-store');
    const res = await get('/api/cachy/rid', { ...bearer(alice.token), 'x-request-id': 'cache-test-1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('cache-test-1');
    expect(await res.json()).toEqual({ rid: 'cache-test-1' });
  });
});
