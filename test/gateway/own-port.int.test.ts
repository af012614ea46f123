/**
 * The gateway on its own port (GATEWAY_PORT: the lean app, src/gateway/app.ts), over real sockets,
 * with a real upstream: the API's edge rules hold there too (request id kept or made, and sent on;
 * security headers on the gateway's own answers only; problem+json 401/404 with the request id;
 * default no-store; X-Process-Time; credentials in the URL refused; one access line per request
 * with LOG_REQUESTS) and the API's extras are absent (no API routes, no CORS when
 * GATEWAY_CORS_ORIGINS is unset, no docs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp, type TestServices } from '../helpers/app';
import { bearer, eventually, newAdmin, newUser, runProjections, type TestUser } from '../helpers/users';
import type { ProjectorHandle } from '../../src/projections/runtime';
import { createLogger } from '../../src/infra/logger';
import { captureStream } from '../server/helpers';
import { startGateway } from '../../src/gateway/index';
import { startUpstream, type Upstream } from './helpers';

describe('gateway on its own port (lean app)', () => {
  let app: FastifyInstance;
  let s: TestServices;
  let close: () => Promise<void>;
  let projector: ProjectorHandle;
  let gw: { port: number; stop(): Promise<void> };
  let quiet: { port: number; stop(): Promise<void> };
  let base: string;
  let admin: TestUser;
  let alice: TestUser;
  let up: Upstream;
  const logs = captureStream();
  const quietLogs = captureStream();

  beforeAll(async () => {
    ({ app, services: s, close } = await testApp('gateway-own-port', { ROLES: 'api,gateway', GATEWAY_PORT: '0', HOST: '127.0.0.1' }));
    projector = runProjections(s);
    admin = await newAdmin(app, s);
    alice = await newUser(app, 'alice');
    up = await startUpstream('solo');
    const res = await app.inject({ method: 'POST', url: '/api/v1/services', headers: bearer(admin.token), payload: { name: 'solo', upstreams: [up.url], auth: 'token', retries: 0 } });
    expect(res.statusCode).toBe(201);
    const log = createLogger({ LOG_LEVEL: 'info', NODE_ENV: 'test' }, { stream: logs.stream });
    gw = await startGateway({ ...s, log });
    const qlog = createLogger({ LOG_LEVEL: 'info', NODE_ENV: 'test' }, { stream: quietLogs.stream });
    quiet = await startGateway({ ...s, log: qlog, config: { ...s.config, LOG_REQUESTS: 'errors' } });
    base = `http://127.0.0.1:${gw.port}`;
    // The API app mounts no proxy when GATEWAY_PORT is set.
    expect((await app.inject({ method: 'GET', url: '/api/solo/x', headers: bearer(alice.token) })).statusCode).toBe(404);
    await eventually(async () => (await fetch(`${base}/api/solo/ready`, { headers: bearer(alice.token) })).status === 200, 10_000);
  });
  afterAll(async () => {
    await gw?.stop();
    await quiet?.stop();
    await up?.close();
    await projector?.stop();
    await close();
  });

  it('proxies with the token policy; the request id is kept, sent on and echoed; relayed 2xx answers carry no browser headers', async () => {
    const res = await fetch(`${base}/api/solo/items?q=1`, { headers: { ...bearer(alice.token), 'x-request-id': 'own-port-rid-1' } });
    expect(res.status).toBe(200);
    const body = await res.json() as { url: string; headers: Record<string, string> };
    expect(body.url).toBe('/items?q=1');
    expect(body.headers['x-request-id']).toBe('own-port-rid-1');
    expect(body.headers['x-user-id']).toBe(alice.id);
    expect(res.headers.get('x-request-id')).toBe('own-port-rid-1');
    expect(res.headers.get('x-process-time')).toMatch(/^\d+\.\d{6}$/);
    expect(res.headers.get('content-security-policy')).toBeNull();
    expect(res.headers.get('cache-control')).toBeNull(); // the upstream sent none: relayed as it came
    // An insane request id is replaced by a UUID.
    const made = await fetch(`${base}/api/solo/items`, { headers: { ...bearer(alice.token), 'x-request-id': 'bad id with spaces' } });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('the gateway\'s own answers: problem+json with the request id, security headers, no-store', async () => {
    const no = await fetch(`${base}/api/solo/items`, { headers: { 'x-request-id': 'own-port-rid-2' } });
    expect(no.status).toBe(401);
    expect(no.headers.get('content-type')).toContain('application/problem+json');
    expect(no.headers.get('www-authenticate')).toBe('Bearer');
    expect(no.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(no.headers.get('x-content-type-options')).toBe('nosniff');
    expect(no.headers.get('cache-control')).toBe('no-store');
    expect(await no.json()).toMatchObject({ status: 401, request_id: 'own-port-rid-2', instance: '/api/solo/items' });
    const unknown = await fetch(`${base}/api/nope/x`, { headers: bearer(alice.token) });
    expect(unknown.status).toBe(404);
    expect((await unknown.json() as { code: string }).code).toBe('route_not_found');
    const api = await fetch(`${base}/api/v1/auth/me`, { headers: bearer(alice.token) });
    expect(api.status).toBe(404); // no API routes here (v1 is a reserved service name)
    for (const path of ['/docs', '/openapi.json', '/metrics', '/']) expect((await fetch(`${base}${path}`)).status, path).toBe(404);
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(health.headers.get('x-content-type-options')).toBe('nosniff');
    expect(health.headers.get('cache-control')).toBe('no-store');
  });

  it('refuses credentials in the URL and unsafe input like the API', async () => {
    const jwt = await fetch(`${base}/api/solo/x?t=${alice.token}`, { headers: bearer(alice.token) });
    expect(jwt.status).toBe(400);
    expect((await jwt.json() as { code: string }).code).toBe('credentials_in_url');
    const nul = await fetch(`${base}/api/solo/a%00b`, { headers: bearer(alice.token) });
    expect(nul.status).toBe(400);
  });

  it('answers no CORS itself when GATEWAY_CORS_ORIGINS is unset: the preflight reaches the upstream\'s policy', async () => {
    const pre = await fetch(`${base}/api/solo/items`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } });
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    expect(pre.status).toBe(401); // the token policy applies to OPTIONS like any method
  });

  it('one access line per request with the API\'s fields; LOG_REQUESTS=errors keeps only the non-2xx', async () => {
    await fetch(`${base}/api/solo/log-me?secret=q-secret-9`, { headers: { ...bearer(alice.token), 'x-request-id': 'own-port-log-1' } });
    await fetch(`${base}/api/solo/log-me`, { headers: { 'x-request-id': 'own-port-log-2' } });
    const line = await eventually(async () => logs.lines.filter((l) => l.request_id === 'own-port-log-1' && l.msg === 'request').length === 1 && logs.lines.find((l) => l.request_id === 'own-port-log-1' && l.msg === 'request'), 3000);
    expect(line).toMatchObject({ level: 30, method: 'GET', route: '/api/:service/*', status: 200 });
    expect(line.duration_ms).toBeGreaterThanOrEqual(0);
    expect(logs.raw.join('\n')).not.toContain('q-secret-9');
    expect(logs.raw.join('\n')).not.toContain(alice.token);
    await eventually(async () => logs.lines.some((l) => l.request_id === 'own-port-log-2' && l.msg === 'request' && l.status === 401), 3000);

    const qbase = `http://127.0.0.1:${quiet.port}`;
    await eventually(async () => (await fetch(`${qbase}/api/solo/q`, { headers: { ...bearer(alice.token), 'x-request-id': 'own-port-q-1' } })).status === 200, 5000);
    await fetch(`${qbase}/api/solo/q`, { headers: { 'x-request-id': 'own-port-q-2' } });
    await eventually(async () => quietLogs.lines.some((l) => l.request_id === 'own-port-q-2' && l.msg === 'request' && l.status === 401), 3000);
    expect(quietLogs.lines.filter((l) => l.request_id === 'own-port-q-1' && l.msg === 'request')).toHaveLength(0);
  });
});
