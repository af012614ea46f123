/**
 * The HTTP server's cross-cutting behaviour on a real PostgreSQL and Redis: request ids, timing,
 * problem+json for every failure class, body limits, CORS, security headers, rate limiting in
 * Redis, metrics and readiness, docs pages, and request-scoped logging.
 */
import { projectionsFor } from '../../src/projections/index';
import { ProjectionRunner } from '../../src/projections/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { buildApp } from '../../src/compose';
import { securityHeaders } from '../../src/http/security-headers';
import { errors } from '../../src/errors';
import { streams } from '../../src/events/streams';
import { createLogger } from '../../src/infra/logger';
import { testServices, type TestServices } from '../helpers/app';
import { captureStream } from '../server/helpers';
import { METRICS_ENV, metricsAuth } from '../helpers/security';

/** An app with extra probe routes registered before it is ready. */
async function appWith(services: TestServices, extra?: (app: FastifyInstance) => void, logStream?: ReturnType<typeof captureStream>) {
  const s = logStream ? { ...services, log: createLogger({ LOG_LEVEL: 'info', NODE_ENV: 'test' }, { stream: logStream.stream }) } : services;
  const app = await buildApp(s);
  extra?.(app);
  await app.ready();
  return app;
}

function probeRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post('/__probe/echo', {
    schema: {
      body: z.object({ email: z.string().email(), age: z.number().int().min(0), nested: z.object({ name: z.string().min(2) }).optional() }),
      response: { 200: z.object({ ok: z.boolean() }) },
    },
  }, async (request) => {
    request.log.info({ password: 'hunter2', refresh_token: 'rt-secret' }, 'handling echo');
    await new Promise((r) => setTimeout(r, 1));
    app.log.info('logged through the root logger'); // e.g. services.log in a command handler
    return { ok: true };
  });
  r.get('/__probe/boom', async () => {
    throw new Error('pg: relation "secret_internal_table" does not exist at /srv/app/db.ts:42');
  });
  r.get('/__probe/app-error', async () => {
    throw errors.conflict('Already there.', 'already_exists');
  });
  r.get('/__probe/limited', async () => ({ ok: true }));
  r.get('/__probe/server-to-server', { config: { securityHeaders: 'errors' } }, async (request) => {
    if ((request.query as { fail?: string }).fail) throw errors.unauthorized();
    return { ok: true };
  });
}

describe('HTTP server', () => {
  let services: TestServices;
  let app: FastifyInstance;
  const logs = captureStream();

  beforeAll(async () => {
    services = await testServices('skhttp', METRICS_ENV);
    app = await appWith(services, probeRoutes, logs);
  });
  afterAll(async () => {
    await app?.close();
    await services?.close();
  });

  it('echoes a sane X-Request-ID, replaces an unsafe one, and sets X-Process-Time in seconds', async () => {
    const ok = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'client-req.42' } });
    expect(ok.headers['x-request-id']).toBe('client-req.42');
    const t = Number(ok.headers['x-process-time']);
    expect(t).toBeGreaterThanOrEqual(0);
    expect(t).toBeLessThan(5);
    for (const bad of ['x'.repeat(200), 'a b', 'inject\r\nx: y'.replace(/\r\n/g, ' ')]) {
      const res = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': bad } });
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    const none = await app.inject({ method: 'GET', url: '/health' });
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    // also on errors
    const err = await app.inject({ method: 'GET', url: '/nope' });
    expect(err.headers['x-request-id']).toBeTruthy();
    expect(err.headers['x-process-time']).toBeTruthy();
  });

  it('GET / answers the seed health shape', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', name: 'authledger', version: expect.any(String), docs: '/docs' });
  });

  it('unknown routes are 404 problem+json', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope?x=1', headers: { 'x-request-id': 'rid-404' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 404, code: 'route_not_found', request_id: 'rid-404', instance: '/nope', type: expect.stringContaining('route_not_found') });
  });

  it('invalid JSON is 400 problem+json', async () => {
    const res = await app.inject({ method: 'POST', url: '/__probe/echo', headers: { 'content-type': 'application/json' }, payload: '{"email": ' });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 400, code: 'invalid_json' });
  });

  it('an unsupported content type is 415 problem+json', async () => {
    const res = await app.inject({ method: 'POST', url: '/__probe/echo', headers: { 'content-type': 'application/xml' }, payload: '<a/>' });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ code: 'unsupported_media_type' });
  });

  it('a body over BODY_LIMIT_BYTES is 413 problem+json', async () => {
    const big = JSON.stringify({ email: 'a@b.co', age: 1, pad: 'x'.repeat(services.config.BODY_LIMIT_BYTES) });
    const res = await app.inject({ method: 'POST', url: '/__probe/echo', headers: { 'content-type': 'application/json' }, payload: big });
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 413, code: 'body_too_large' });
  });

  it('validation errors list every offending field', async () => {
    const res = await app.inject({ method: 'POST', url: '/__probe/echo', payload: { email: 'not-an-email', age: -1, nested: { name: 'x' } } });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body).toMatchObject({ code: 'validation_failed', status: 400 });
    const fields = (body.errors as Array<{ field: string; message: string }>).map((e) => e.field).sort();
    expect(fields).toEqual(['age', 'email', 'nested.name']);
    for (const e of body.errors) expect(e.message).toBeTruthy();
  });

  it('a valid body passes', async () => {
    const res = await app.inject({ method: 'POST', url: '/__probe/echo', payload: { email: 'a@b.co', age: 3 } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true });
  });

  it('5xx bodies never leak internals, but the log has them', async () => {
    const res = await app.inject({ method: 'GET', url: '/__probe/boom', headers: { 'x-request-id': 'rid-boom' } });
    expect(res.statusCode).toBe(500);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body).not.toMatch(/secret_internal_table|\/srv\/app|db\.ts|stack/);
    expect(res.json()).toMatchObject({ status: 500, code: 'internal_error', detail: 'Internal server error.', request_id: 'rid-boom' });
    const line = logs.lines.find((l) => l.request_id === 'rid-boom' && l.level === 50);
    expect(JSON.stringify(line)).toContain('secret_internal_table');
  });

  it('AppError keeps its code and status', async () => {
    const res = await app.inject({ method: 'GET', url: '/__probe/app-error' });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'already_exists', detail: 'Already there.' });
  });

  it('every log line of a request carries its request id, and secrets are redacted', async () => {
    const before = logs.lines.length;
    await app.inject({ method: 'POST', url: '/__probe/echo?ticket=tkt-secret', headers: { 'x-request-id': 'rid-logs', authorization: 'Bearer sekret' }, payload: { email: 'a@b.co', age: 3 } });
    const mine = logs.lines.slice(before);
    expect(mine.length).toBeGreaterThanOrEqual(3); // handler lines, the one access line
    // one access line per request, on completion: the route pattern, never the raw URL
    const access = mine.filter((l) => l.msg === 'request');
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ method: 'POST', route: '/__probe/echo', status: 200, request_id: 'rid-logs', level: 30 });
    expect(typeof access[0]!.duration_ms).toBe('number');
    expect(mine.some((l) => l.msg === 'incoming request' || l.msg === 'request completed')).toBe(false);
    for (const l of mine) expect(l.request_id).toBe('rid-logs');
    expect(mine.some((l) => l.msg === 'handling echo')).toBe(true);
    expect(mine.some((l) => l.msg === 'logged through the root logger')).toBe(true);
    // exactly once per line, never duplicated
    for (const line of logs.raw.slice(before)) expect(line.match(/"request_id"/g)).toHaveLength(1);
    // outside a request, the root logger adds no request id
    app.log.info('outside');
    expect(logs.lines.at(-1)).not.toHaveProperty('request_id');
    const text = JSON.stringify(mine);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('rt-secret');
    expect(text).not.toContain('tkt-secret');
    expect(text).not.toContain('sekret');
    expect(text).toContain('[redacted]');
  });

  it('over a real socket too (the body arrives in stream callbacks), every line carries the request id', async () => {
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const before = logs.lines.length;
    const res = await fetch(`${address}/__probe/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'rid-socket' },
      body: JSON.stringify({ email: 'a@b.co', age: 3, pad: 'x'.repeat(20_000) }),
    });
    expect(res.status).toBe(200);
    const mine = logs.lines.slice(before);
    expect(mine.some((l) => l.msg === 'logged through the root logger')).toBe(true);
    for (const l of mine) expect(l.request_id).toBe('rid-socket');
  });

  it('security headers are set; no HSTS or upgrade-insecure-requests outside production', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBeTruthy();
    expect(res.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
    expect(res.headers['strict-transport-security']).toBeUndefined();
  });

  it('every answer carries the full precomputed security header set (Helmet\'s), errors and 404s too', async () => {
    const expected = securityHeaders({ httpsOnly: false });
    for (const url of ['/health', '/', '/nope', '/__probe/app-error']) {
      const res = await app.inject({ method: 'GET', url });
      for (const [k, v] of Object.entries(expected)) expect(res.headers[k], `${url} ${k}`).toBe(v);
    }
  });

  it("a server-to-server route (securityHeaders: 'errors') sends the browser headers on refusals only", async () => {
    const ok = await app.inject({ method: 'GET', url: '/__probe/server-to-server' });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['content-security-policy']).toBeUndefined();
    expect(ok.headers['x-request-id']).toBeTruthy();
    expect(ok.headers['x-process-time']).toBeTruthy();
    const refused = await app.inject({ method: 'GET', url: '/__probe/server-to-server?fail=1' });
    expect(refused.statusCode).toBe(401);
    for (const [k, v] of Object.entries(securityHeaders({ httpsOnly: false }))) expect(refused.headers[k], k).toBe(v);
  });

  it('Swagger UI at /docs and ReDoc at /redoc are served with a CSP that lets them load', async () => {
    const docs = await app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toContain('text/html');
    expect(docs.body).toContain('swagger');
    const initializer = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    expect(initializer.statusCode).toBe(200);
    const bundle = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    expect(bundle.statusCode).toBe(200);
    const redoc = await app.inject({ method: 'GET', url: '/redoc' });
    expect(redoc.statusCode).toBe(200);
    expect(redoc.body).toContain('spec-url="/openapi.json"');
    const csp = String(redoc.headers['content-security-policy']);
    // ReDoc's script is the package's own bundle, served here (no CDN: works offline).
    expect(redoc.body).toContain('src="/redoc/redoc.standalone.js"');
    expect(csp).not.toContain('cdn.redoc.ly');
    const script = await app.inject({ method: 'GET', url: '/redoc/redoc.standalone.js' });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toContain('javascript');
    expect(csp).toMatch(/worker-src[^;]*blob:/);
    const spec = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(spec.statusCode).toBe(200);
    expect(spec.json().openapi).toBe('3.1.0');
  });

  it('CORS with * answers any origin', async () => {
    const res = await app.inject({ method: 'OPTIONS', url: '/', headers: { origin: 'https://anywhere.example', 'access-control-request-method': 'GET' } });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });

  it('/metrics exposes the HTTP latency histogram by route pattern and status', async () => {
    await app.inject({ method: 'GET', url: '/__probe/app-error' });
    await app.inject({ method: 'GET', url: '/no/such/route/123' });
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: metricsAuth });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toMatch(/http_request_duration_seconds_bucket\{[^}]*route="\/__probe\/app-error"[^}]*status="409"/);
    expect(res.body).toMatch(/http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\}/);
    expect(res.body).not.toContain('/no/such/route/123');
    expect(res.body).toContain('authledger_events_appended_total');
    expect(res.body).toContain('process_cpu_user_seconds_total');
  });

  it('/metrics counts appended events by type', async () => {
    const value = async () => {
      const body = (await app.inject({ method: 'GET', url: '/metrics', headers: metricsAuth })).body;
      const m = /authledger_events_appended_total\{type="FeatureRegistered"\} (\d+)/.exec(body);
      return m ? Number(m[1]) : 0;
    };
    const before = await value();
    const name = `metrics-probe-${Date.now()}`;
    await services.store.appendToStream(streams.feature(name), [
      { type: 'FeatureRegistered', data: { name, description: 'probe' } },
    ], { expectedRevision: 'no_stream' });
    expect(await value()).toBe(before + 1);
  });

  it('/ready is 200 with every dependency checked', async () => {
    // The Redis projections have caught up (as the projector role does): otherwise redis_state is
    // `rebuilding` — the test above appended an event they handle and no projector runs here (issue 21).
    for (const p of projectionsFor(services.config).filter((x) => x.kind === 'redis')) {
      await new ProjectionRunner({ pool: services.pool, store: services.store, redis: services.redis, redisPrefix: services.prefix }, p).drain();
    }
    const res = await app.inject({ method: 'GET', url: '/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'ready',
      redis_state: 'ok',
      checks: { postgres: { ok: true }, redis: { ok: true }, event_store: { ok: true }, projections: { ok: true }, redis_state: { ok: true } },
    });
  });
});

describe('HTTP server with restrictive settings', () => {
  let services: TestServices;
  let app: FastifyInstance;
  beforeAll(async () => {
    services = await testServices('skhttp2', {
      NODE_ENV: 'production',
      CORS_ORIGINS: 'https://app.example, https://admin.example',
      RATE_LIMIT_PER_MINUTE: '3',
      TRUST_PROXY: '127.0.0.1',
    });
    app = await appWith(services, probeRoutes);
  });
  afterAll(async () => {
    await app?.close();
    await services?.close();
  });

  it('CORS allows only the listed origins, with credentials', async () => {
    const ok = await app.inject({ method: 'OPTIONS', url: '/', headers: { origin: 'https://admin.example', 'access-control-request-method': 'POST' } });
    expect(ok.headers['access-control-allow-origin']).toBe('https://admin.example');
    expect(ok.headers['access-control-allow-credentials']).toBe('true');
    const no = await app.inject({ method: 'OPTIONS', url: '/', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(no.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('production sends HSTS and upgrade-insecure-requests', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.headers['strict-transport-security']).toMatch(/max-age=31536000/);
    expect(res.headers['content-security-policy']).toContain('upgrade-insecure-requests');
  });

  it('rate limits per client IP in Redis, honouring TRUST_PROXY, with a 429 problem+json', async () => {
    const from = (ip: string) => app.inject({ method: 'GET', url: '/__probe/limited', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': ip } });
    for (let i = 0; i < 3; i++) expect((await from('203.0.113.7')).statusCode).toBe(200);
    const limited = await from('203.0.113.7');
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['content-type']).toContain('application/problem+json');
    expect(limited.json()).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // another client behind the same trusted proxy has its own budget
    expect((await from('203.0.113.8')).statusCode).toBe(200);
    // the counters live in Redis under this deployment's prefix
    const keys = await services.redis.keys(`${services.prefix}rl:*`);
    expect(keys.length).toBeGreaterThanOrEqual(2);
    // service routes are never limited
    for (let i = 0; i < 5; i++) expect((await app.inject({ method: 'GET', url: '/health', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.7' } })).statusCode).toBe(200);
  });

  it('an untrusted hop cannot spoof X-Forwarded-For', async () => {
    const spoof = (xff: string) => app.inject({ method: 'GET', url: '/__probe/limited', remoteAddress: '198.51.100.9', headers: { 'x-forwarded-for': xff } });
    for (let i = 0; i < 3; i++) expect((await spoof(`10.0.0.${i}`)).statusCode).toBe(200);
    expect((await spoof('10.0.0.99')).statusCode).toBe(429);
  });
});

describe('rate limiting off', () => {
  it('RATE_LIMIT_PER_MINUTE=0 never limits', async () => {
    const services = await testServices('skhttp3', { RATE_LIMIT_PER_MINUTE: '0' });
    const app = await appWith(services, probeRoutes);
    try {
      for (let i = 0; i < 30; i++) expect((await app.inject({ method: 'GET', url: '/__probe/limited' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await services.close();
    }
  });
});
