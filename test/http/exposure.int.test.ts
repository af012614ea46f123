/**
 * Endpoints that answered anyone (issue 20 §7): /metrics off the public surface on the API port,
 * the realtime hub port and behind METRICS_PORT; personal data never cacheable (no-store).
 * The attack class for /metrics: no header, wrong/short/prefixed tokens, other schemes, the token
 * in the query string, the token as Basic; on both ports and the dedicated listener.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp, testServices } from '../helpers/app';
import { adminLogin, bearer, signupAndLogin, type LoggedIn } from '../helpers/auth';
import { METRICS_ENV, METRICS_TEST_TOKEN, metricsAuth } from '../helpers/security';
import { startRealtime } from '../../src/realtime/index';
import { startMetricsListener } from '../../src/http/metrics-listener';
import client from 'prom-client';
import { runProjections } from '../helpers/users';

const WRONG: Array<Record<string, string>> = [
  {},
  { authorization: 'Bearer wrong-token-wrong-token-wrong-token-0000' },
  { authorization: `Bearer ${METRICS_TEST_TOKEN.slice(0, -1)}` },
  { authorization: `Bearer ${METRICS_TEST_TOKEN}x` },
  { authorization: `Basic ${Buffer.from(`metrics:${METRICS_TEST_TOKEN}`).toString('base64')}` },
  { authorization: METRICS_TEST_TOKEN },
  { authorization: 'Bearer ' },
];

describe('/metrics on the API port', () => {
  it('is 404 by default (neither METRICS_TOKEN nor METRICS_PORT), with or without a token', async () => {
    const t = await testApp('seca_metrics_off');
    try {
      for (const headers of [{}, metricsAuth]) {
        const res = await t.app.inject({ method: 'GET', url: '/metrics', headers });
        expect(res.statusCode).toBe(404);
        expect(res.body).not.toContain('http_request_duration_seconds');
      }
    } finally {
      await t.close();
    }
  });

  it('with METRICS_TOKEN: 401 for every wrong credential (also in the query string), 200 with the bearer', async () => {
    const t = await testApp('seca_metrics_tok', METRICS_ENV);
    try {
      for (const headers of WRONG) {
        const res = await t.app.inject({ method: 'GET', url: '/metrics', headers });
        expect(res.statusCode, JSON.stringify(headers)).toBe(401);
        expect(res.json().code).toBe('metrics_token_required');
        expect(res.body).not.toContain('process_cpu');
      }
      const q = await t.app.inject({ method: 'GET', url: `/metrics?token=${METRICS_TEST_TOKEN}` });
      expect([400, 401]).toContain(q.statusCode);
      const ok = await t.app.inject({ method: 'GET', url: '/metrics', headers: metricsAuth });
      expect(ok.statusCode).toBe(200);
      expect(ok.body).toContain('http_request_duration_seconds');
      expect(ok.headers['cache-control']).toBe('no-store');
    } finally {
      await t.close();
    }
  });

  it('with METRICS_PORT: 404 on the API port even with the token; the listener serves them (token required when set)', async () => {
    const t = await testApp('seca_metrics_port', { ...METRICS_ENV, METRICS_PORT: '9' });
    const listener = await startMetricsListener({ ...t.services.config, METRICS_PORT: 0 as unknown as number, METRICS_HOST: '127.0.0.1' }, () => [t.app.metrics]);
    try {
      expect((await t.app.inject({ method: 'GET', url: '/metrics', headers: metricsAuth })).statusCode).toBe(404);
      const base = `http://127.0.0.1:${listener.port}`;
      for (const headers of WRONG) expect((await fetch(`${base}/metrics`, { headers })).status, JSON.stringify(headers)).toBe(401);
      const ok = await fetch(`${base}/metrics`, { headers: metricsAuth });
      expect(ok.status).toBe(200);
      const body = await ok.text();
      expect(body).toContain('http_request_duration_seconds');
      expect(body).toContain('authledger_events_appended_total');
      expect((await fetch(`${base}/`, { headers: metricsAuth })).status).toBe(404);
      expect((await fetch(`${base}/api/v1/auth/me`, { headers: metricsAuth })).status).toBe(404);
    } finally {
      await listener.close();
      await t.close();
    }
  });

  it('the listener without METRICS_TOKEN serves anyone who reaches it (bound to loopback by default)', async () => {
    const registry = new client.Registry();
    const listener = await startMetricsListener({ METRICS_PORT: 0 as unknown as number, METRICS_HOST: '127.0.0.1', METRICS_TOKEN: undefined }, () => [registry]);
    try {
      expect((await fetch(`http://127.0.0.1:${listener.port}/metrics`)).status).toBe(200);
    } finally {
      await listener.close();
    }
  });
});

describe('/metrics on the realtime hub port', () => {
  it.each([
    ['default', {}, { none: 404, token: 404 }],
    ['METRICS_TOKEN', METRICS_ENV, { none: 401, token: 200 }],
    ['METRICS_PORT', { ...METRICS_ENV, METRICS_PORT: '9' }, { none: 404, token: 404 }],
  ] as const)('%s', async (_name, env, expected) => {
    const t = await testServices(`seca_hubm_${_name.toLowerCase().slice(0, 8)}`, env as Record<string, string>);
    const hub = await startRealtime(t, { port: 0, host: '127.0.0.1' });
    try {
      const url = `http://127.0.0.1:${hub.port}/metrics`;
      expect((await fetch(url)).status).toBe(expected.none);
      for (const headers of WRONG.slice(1)) {
        expect((await fetch(url, { headers })).status, JSON.stringify(headers)).toBe(expected.none);
      }
      const ok = await fetch(url, { headers: metricsAuth });
      expect(ok.status).toBe(expected.token);
      const body = await ok.text();
      if (expected.token === 200) expect(body).toContain('authledger_realtime_connections');
      else expect(body).not.toContain('authledger_realtime_connections');
    } finally {
      await hub.stop();
      await t.close();
    }
  });
});

describe('Cache-Control: no-store on personal data', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let app: FastifyInstance;
  let admin: LoggedIn;
  let user: LoggedIn;
  let projector: ReturnType<typeof runProjections>;

  beforeAll(async () => {
    t = await testApp('seca_nostore');
    app = t.app;
    projector = runProjections(t.services);
    admin = await adminLogin(app, t.services);
    user = await signupAndLogin(app);
    await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(user.accessToken), payload: { name: 'k', features: '*' } });
  });
  afterAll(async () => {
    await projector.stop();
    await t.close();
  });

  it.each([
    ['/api/v1/auth/me', 'user'],
    ['/api/v1/auth/sessions', 'user'],
    ['/api/v1/users/me', 'user'],
    ['/api/v1/api-keys', 'user'],
    ['/api/v1/users', 'admin'],
    ['/api/v1/audit/events', 'admin'],
    ['/api/v1/audit/users/{me}/events', 'user'],
    ['/api/v1/audit/users/{me}/state', 'user'],
    ['/api/v1/auth/identities', 'user'],
  ] as const)('GET %s', async (url, who) => {
    const s = who === 'admin' ? admin : user;
    const res = await app.inject({ method: 'GET', url: url.replace('{me}', s.userId), headers: bearer(s.accessToken) });
    expect(res.statusCode, res.body).toBeLessThan(300);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('GET /api/v1/users/{id} and the refusals (401/403) too', async () => {
    const one = await app.inject({ method: 'GET', url: `/api/v1/users/${user.userId}`, headers: bearer(admin.accessToken) });
    expect(one.statusCode).toBe(200);
    expect(one.headers['cache-control']).toBe('no-store');
    for (const res of [
      await app.inject({ method: 'GET', url: '/api/v1/auth/me' }),
      await app.inject({ method: 'GET', url: '/api/v1/users', headers: bearer(user.accessToken) }),
    ]) expect(res.headers['cache-control']).toBe('no-store');
  });

  it('public keys stay cacheable', async () => {
    const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.headers['cache-control']).toMatch(/public, max-age=\d+/);
  });
});
