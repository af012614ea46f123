/**
 * The gateway's own Fastify app (GATEWAY_PORT, or PORT in a process without the `api` role): only
 * what a proxied request needs. Rules:
 * - the edge rules of the API, from the same code (src/http/edge.ts): request ids (same header
 *   rules), one access line per request (LOG_REQUESTS), problem+json errors (the same handler),
 *   security headers on the gateway's own answers (relayed 2xx answers keep the upstream's),
 *   credentials in URLs refused, the input net, X-Process-Time, default no-store, body limits;
 * - the gateway's metrics are the per-service ones (src/gateway/metrics.ts, process registry,
 *   served by the METRICS_PORT listener); no per-route HTTP histogram, no OpenAPI, no cookies (the
 *   auth policies read headers only), no read-your-writes, no global per-IP limit (services have
 *   their own limits), no request log context (AsyncLocalStorage: nothing in a proxied request
 *   needs it; `request.log` carries the request id);
 * - CORS only when GATEWAY_CORS_ORIGINS is set; otherwise preflights go to the upstream like any
 *   request and its CORS headers are relayed;
 * - routes: `/health` and the proxy (GATEWAY_PREFIX/{service}/…, WebSocket upgrades).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import type { Services } from '../services';
import { corsOptions, edgeHooks, edgeServerOptions } from '../http/edge';
import { registerInfra } from '../http/plugins/infra';
import { keysPlugin } from '../http/plugins/keys';
import { authPlugin } from '../http/auth';
import { gatewayCorePlugin } from './runtime';
import { gatewayProxy } from './proxy';

export async function buildGatewayApp(services: Services): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify(edgeServerOptions(services));
  edgeHooks(app, config, { requestContext: false });
  await registerInfra(app, services);
  if (config.GATEWAY_CORS_ORIGINS?.trim()) await app.register(cors, corsOptions(config.GATEWAY_CORS_ORIGINS));
  await app.register(keysPlugin);
  await app.register(authPlugin);
  await app.register(gatewayCorePlugin, { services });
  app.get('/health', async () => ({ status: 'ok' as const }));
  await app.register(gatewayProxy, { mountPath: config.GATEWAY_PREFIX });
  return app;
}
