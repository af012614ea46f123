/**
 * The gateway's proxy routes on the API port run outside the per-request log context
 * (`config.requestContext: 'off'`, src/http/edge.ts); the API's routes keep theirs. Checked on a
 * Fastify app with the edge's hooks (requestContext on, as the API app) and on the real API app
 * with the gateway mounted (the route option is set).
 */
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeHooks } from '../../src/http/edge';
import { logContext } from '../../src/infra/logger';
import { testConfig } from '../helpers/app';
import { startGatewayApp, type GatewayApp } from './harness';

describe('per-request log context and the gateway routes', () => {
  it('an edge app with a log context: routes have it, routes with requestContext off do not', async () => {
    const app = Fastify();
    edgeHooks(app, testConfig(), { requestContext: true });
    const seen = () => ({ id: logContext.getStore()?.request_id ?? null });
    app.get('/with', seen);
    app.get('/without', { config: { requestContext: 'off' } }, seen);
    await app.ready();
    try {
      const w = await app.inject({ url: '/with' });
      expect(w.json()).toEqual({ id: w.headers['x-request-id'] });
      expect(w.json().id).toBeTruthy();
      const wo = await app.inject({ url: '/without' });
      expect(wo.json()).toEqual({ id: null });
      expect(wo.headers['x-request-id']).toBeTruthy();
    } finally {
      await app.close();
    }
  });

  describe('on the API port', () => {
    let gw: GatewayApp;
    beforeAll(async () => {
      gw = await startGatewayApp('gateway-reqctx');
    });
    afterAll(async () => gw?.close());

    it('the proxy routes are marked requestContext off; an API route is not', async () => {
      const routes = gw.app.routeCatalog.filter((r) => typeof r.url === 'string' && r.url.startsWith('/api/:service'));
      expect(routes.length).toBeGreaterThan(0);
      for (const r of routes) expect(r.config?.requestContext).toBe('off');
      const api = gw.app.routeCatalog.find((r) => r.url === '/api/v1/auth/verify');
      expect(api?.config?.requestContext).toBeUndefined();
    });
  });
});
