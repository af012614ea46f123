/**
 * Builds the Fastify API: request ids, timing, logging, CORS, security headers, body and rate
 * limits, OpenAPI from the zod route schemas, problem+json errors, then the route modules it is
 * given (`registerRoutes`, from the composition root src/compose.ts; this file imports no routes).
 */
import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify';
import cors from '@fastify/cors';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { Redis } from 'ioredis';
import { closeRedis } from '../infra/redis';
import { leasedRateLimitStore } from './rate-limit-store';
import type { Services } from '../services';
import { registerInfra } from './plugins/infra';
import { metricsPlugin } from './plugins/metrics';
import { withConsistencyDocs } from './read-your-writes';
import { finishOpenApi } from './openapi-docs';
import { VERSION } from '../version';
import { corsHeadersWithoutOrigin, corsOptions, edgeHooks, edgeSecurityHeaders, edgeServerOptions, parseTrustProxy } from './edge';
import { FastPath } from './fast-path';
import { FastEdge } from './fast-edge';
import { accessLoggerOf } from '../infra/logger';
import type { Logger } from 'pino';

/** Registers every route module (the composition root, src/compose.ts, passes it in). */
export type RegisterRoutes = (app: FastifyInstance, services: Services) => Promise<void>;

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered on this app (for the OpenAPI coverage test and diagnostics). */
    routeCatalog: RouteOptions[];
    /** Fast handlers for the plain 200s of the hottest routes (./fast-path.ts). */
    fastPath: FastPath;
    /** The edge's headers and per-IP budget for fast answers of browser routes (./fast-edge.ts). */
    fastEdge: FastEdge;
  }
}

/** The per-IP limiter's IPv6 bucket: one per /64; its window: a minute. */
const IPV6_SUBNET = 64;
const RATE_WINDOW_MS = 60_000;

export { parseTrustProxy } from './edge';

export async function buildHttpApp(services: Services, registerRoutes: RegisterRoutes): Promise<FastifyInstance> {
  const { config } = services;
  // Request ids, the access log, limits, framework errors: the edge's (./edge.ts).
  const app = Fastify(edgeServerOptions(services));
  // The plain 200s of forward auth, /me and the access check, before Fastify routes (./fast-path.ts).
  const fastPath = new FastPath(accessLoggerOf(services.log as Logger), config.LOG_REQUESTS);
  fastPath.install(app);
  app.decorate('fastPath', fastPath);

  const routeCatalog: RouteOptions[] = [];
  app.decorate('routeCatalog', routeCatalog);
  app.addHook('onRoute', (route) => {
    routeCatalog.push(route);
  });

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Error and not-found handlers, security headers, the request id echoed and the request's log
  // context, credentials in URLs, the input net, X-Process-Time, default no-store: ./edge.ts.
  edgeHooks(app, config, { requestContext: true });

  await registerInfra(app, services);
  await app.register(metricsPlugin);

  await app.register(cors, corsOptions(config.CORS_ORIGINS));

  await app.register(cookie);

  // The limiter gets its own connection: it defines Lua commands on it.
  const limiterRedis = services.redis.duplicate({ enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
  limiterRedis.on('error', () => undefined);
  app.addHook('onClose', async () => closeRedis(limiterRedis));
  // One store instance, made here: the plugin's (it calls `new` on the function below, which hands
  // it this one) and the fast path's (./fast-edge.ts spends from its leased blocks).
  const LimitStore = leasedRateLimitStore(limiterRedis as Redis, `${services.prefix}rl:`);
  const limitStore = new LimitStore();
  app.decorate('fastEdge', new FastEdge({
    headers: { ...edgeSecurityHeaders(config), ...corsHeadersWithoutOrigin(config.CORS_ORIGINS) },
    limit: config.RATE_LIMIT_PER_MINUTE > 0 ? { store: limitStore, max: config.RATE_LIMIT_PER_MINUTE, timeWindowMs: RATE_WINDOW_MS, ipv6Subnet: IPV6_SUBNET } : undefined,
    trustProxy: parseTrustProxy(config.TRUST_PROXY) !== false,
  }));
  await app.register(rateLimit, {
    global: config.RATE_LIMIT_PER_MINUTE > 0,
    max: config.RATE_LIMIT_PER_MINUTE || 1_000_000,
    timeWindow: RATE_WINDOW_MS,
    // One bucket per IPv6 /64 (a single host or customer usually has a whole /64; per address,
    // one client would get 2^64 budgets). IPv4-mapped addresses count as their IPv4 address.
    ipv6Subnet: IPV6_SUBNET,
    // Budget leased from Redis in blocks (one round trip per block, not per request): see
    // src/http/rate-limit-store.ts for the accuracy this trades.
    store: function sharedLimitStore() { return limitStore; } as never,
    // Availability over strictness for the global limiter while Redis is down; auth routes
    // still have the per-account lockout, which fails closed.
    skipOnError: true,
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'authledger', version: VERSION, description: 'Event-sourced authentication and access control.' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          accessTokenHeader: { type: 'apiKey', in: 'header', name: 'Access-Token' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          basicClient: { type: 'http', scheme: 'basic', description: 'Token endpoints: client credentials from TOKEN_CLIENTS' },
          metricsToken: { type: 'http', scheme: 'bearer', description: '/metrics: METRICS_TOKEN' },
        },
      },
    },
    transform: withConsistencyDocs(jsonSchemaTransform as never) as never, // X-Log-Position / X-Consistent-After (issue 11)
    // problem+json media type on error responses, forward-auth headers (issue 12)
    transformObject: (d) => finishOpenApi('openapiObject' in d ? d.openapiObject : d.swaggerObject),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await registerRoutes(app, services);
  return app;
}
