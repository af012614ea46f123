import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from './helpers/app';

describe('system routes', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  beforeAll(async () => {
    t = await testApp('system');
  });
  afterAll(async () => t.close());

  it('GET / answers the seed health shape', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ready', name: 'authledger', docs: '/docs' });
  });

  it('echoes a sane X-Request-ID and replaces an insane one', async () => {
    const ok = await t.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'abc-123' } });
    expect(ok.headers['x-request-id']).toBe('abc-123');
    expect(Number(ok.headers['x-process-time'])).toBeGreaterThanOrEqual(0);
    const bad = await t.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'x'.repeat(500) } });
    expect(bad.headers['x-request-id']).not.toBe('x'.repeat(500));
    expect(String(bad.headers['x-request-id'])).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('unknown routes are 404 problem+json with the request id', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'rid-1' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 404, code: 'route_not_found', request_id: 'rid-1' });
  });

  it('/ready reports each dependency', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json().checks).toMatchObject({ postgres: { ok: true }, redis: { ok: true }, event_store: { ok: true } });
  });
});
