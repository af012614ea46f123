/**
 * Builds the Fastify API: request ids, timing, logging, CORS, security headers, body and rate
 * limits, OpenAPI from the zod route schemas, problem+json errors, then the route modules it is
 * given (`registerRoutes`, from the composition root src/compose.ts; this file imports no routes).
 */
import { randomUUID } from 'node:crypto';
import { Stream } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RouteOptions } from 'fastify';
import cors from '@fastify/cors';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { TEXT_MESSAGE, unsafeInputPath } from './input';
import { Redis } from 'ioredis';
import { closeRedis } from '../infra/redis';
import { leasedRateLimitStore } from './rate-limit-store';
import type { Services } from '../services';
import { errors } from '../errors';
import { errorHandler, sendProblem, toDomainError } from './problem';
import { configPlugin, eventStorePlugin, inlineProjectionsPlugin, pgPlugin, redisPlugin } from './plugins/infra';
import { metricsPlugin } from './plugins/metrics';
import { securityHeaders } from './security-headers';
import { withConsistencyDocs } from './read-your-writes';
import { finishOpenApi } from './openapi-docs';
import { VERSION } from '../version';
import type { Logger } from 'pino';
import { accessLoggerOf, credentialShapeIn, logContext, redactUrl } from '../infra/logger';
import { AccessLogController, lazyRequestLogger } from './access-log';
import { defaultNoStore } from './cache-control';

/** Registers every route module (the composition root, src/compose.ts, passes it in). */
export type RegisterRoutes = (app: FastifyInstance, services: Services) => Promise<void>;

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * 'errors': the route's 2xx answers go to servers, not browsers; the browser security headers
     * (CSP, frame options…) are sent on its other answers only. Default: on every answer.
     */
    securityHeaders?: 'errors';
    /**
     * 'allowed': the route's URL may carry credential-shaped values (a provider's redirect back
     * with its own `code`). Default: a URL with an API key, a JWT or a refresh token is refused
     * with 400 (issue 20 §6).
     */
    credentialsInUrl?: 'allowed';
  }
  interface FastifyInstance {
    /** Every route registered on this app (for the OpenAPI coverage test and diagnostics). */
    routeCatalog: RouteOptions[];
  }
}
const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

export function parseTrustProxy(value: string): boolean | number | string[] {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false' || v === '') return false;
  if (/^\d+$/.test(v)) return Number(v);
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

const credentialsInUrl = (shape: 'api_key' | 'jwt' | 'refresh_token') => (shape === 'api_key'
  ? errors.badRequest('API keys are never accepted in a URL; send the X-API-Key header.', 'api_key_in_url')
  : errors.badRequest('Credentials are never accepted in a URL; send them in a header or the body.', 'credentials_in_url'));

export async function buildHttpApp(services: Services, registerRoutes: RegisterRoutes): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    loggerInstance: services.log as FastifyBaseLogger,
    bodyLimit: config.BODY_LIMIT_BYTES,
    trustProxy: parseTrustProxy(config.TRUST_PROXY) as boolean | string[],
    requestIdHeader: false,
    // One access line per request, on completion (LOG_REQUESTS), and request loggers made on
    // first use, marked so the logContext mixin does not add request_id twice: src/http/access-log.ts.
    logController: new AccessLogController(accessLoggerOf(services.log as Logger), config.LOG_REQUESTS),
    childLoggerFactory: lazyRequestLogger,
    // Bounded request time: a slow client cannot hold a connection forever.
    requestTimeout: 30_000,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    // URLs the router refuses (bad percent-encoding, an over-long path parameter) answer
    // problem+json like everything else, and never echo the URL (it may carry a credential).
    frameworkErrors: (error, request, reply) => {
      const shape = credentialShapeIn(request.raw.url ?? '');
      if (shape) return sendProblem(reply, request, credentialsInUrl(shape));
      if ((error as { code?: string }).code === 'FST_ERR_MAX_PARAM_LENGTH') return sendProblem(reply, request, errors.badRequest('A path parameter of the URL is too long.', 'bad_url'));
      return sendProblem(reply, request, toDomainError(error));
    },
    ajv: { customOptions: { removeAdditional: false } },
  });

  const routeCatalog: RouteOptions[] = [];
  app.decorate('routeCatalog', routeCatalog);
  app.addHook('onRoute', (route) => {
    routeCatalog.push(route);
  });

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => sendProblem(reply, request, errors.notFound(`No route ${request.method} ${redactUrl(request.url.split('?')[0] ?? '')}.`, 'route_not_found')));

  // Security headers (Helmet's set, computed once: src/http/security-headers.ts; HSTS and
  // upgrade-insecure-requests only where the deployment is https, production by default: over plain
  // http in development they would break /docs and /redoc), the request id echoed, and the rest of
  // the request run inside its log context, so any logger used while handling it (not only
  // request.log) adds the id (a test covers a real socket). Plain callback hooks: no promise per
  // request.
  // A route whose 2xx answer goes to a server, never to a browser (config.securityHeaders:
  // 'errors': gateway forward auth, the API-key access check) sends these browser-document headers
  // on its other answers only, which a gateway may relay to the browser.
  const httpsOnly = config.HTTPS_ONLY ?? config.NODE_ENV === 'production';
  const security = securityHeaders({ httpsOnly });
  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.config.securityHeaders !== 'errors') reply.headers(security);
    reply.header('x-request-id', request.id);
    logContext.run({ request_id: request.id }, () => {
      // Credentials never travel in a URL (proxies, browser history and logs keep URLs): an API
      // key, a JWT or a refresh token anywhere in the path or query, percent-encoded or not, is
      // refused before any handler sees it. API keys keep their pinned code (api_key_in_url).
      const shape = request.routeOptions.config.credentialsInUrl === 'allowed' ? undefined : credentialShapeIn(request.url);
      if (!shape) return done();
      done(credentialsInUrl(shape));
    });
  });
  // The net under every route's schema (src/http/input.ts): a NUL or an unpaired surrogate
  // anywhere in the params, query or body is refused before any handler or store sees it (issue 20 §5).
  // A streamed body (the gateway's, handed on unread) is not walked: its fields are the stream's.
  app.addHook('preValidation', (request, _reply, done) => {
    const body = request.body instanceof Stream ? undefined : request.body;
    const field = unsafeInputPath(request.params, 'params') ?? unsafeInputPath(request.query, 'querystring') ?? unsafeInputPath(body, 'body');
    if (field) done(errors.validation([{ field, message: TEXT_MESSAGE }]));
    else done();
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode >= 300 && request.routeOptions.config.securityHeaders === 'errors') reply.headers(security);
    reply.header('x-process-time', (reply.elapsedTime / 1000).toFixed(6));
    // No answer is stored by a browser or a shared cache unless its route says otherwise (JWKS,
    // docs assets, answers the gateway relays): src/http/cache-control.ts.
    if (defaultNoStore(request, reply)) reply.header('cache-control', 'no-store');
    done(null, payload);
  });

  await app.register(configPlugin, { config });
  await app.register(pgPlugin, { pool: services.pool });
  await app.register(redisPlugin, { redis: services.redis, prefix: services.prefix });
  await app.register(eventStorePlugin, { store: services.store });
  await app.register(inlineProjectionsPlugin, { inline: services.inline });
  await app.register(metricsPlugin);

  const origins = config.CORS_ORIGINS.trim();
  const exposedHeaders = ['x-request-id', 'x-process-time', 'etag', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];
  await app.register(cors, origins === '*'
    ? { origin: '*', exposedHeaders }
    : { origin: origins.split(',').map((o) => o.trim()).filter(Boolean), credentials: true, exposedHeaders });

  await app.register(cookie);

  // The limiter gets its own connection: it defines Lua commands on it.
  const limiterRedis = services.redis.duplicate({ enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
  limiterRedis.on('error', () => undefined);
  app.addHook('onClose', async () => closeRedis(limiterRedis));
  await app.register(rateLimit, {
    global: config.RATE_LIMIT_PER_MINUTE > 0,
    max: config.RATE_LIMIT_PER_MINUTE || 1_000_000,
    timeWindow: '1 minute',
    // One bucket per IPv6 /64 (a single host or customer usually has a whole /64; per address,
    // one client would get 2^64 budgets). IPv4-mapped addresses count as their IPv4 address.
    ipv6Subnet: 64,
    // Budget leased from Redis in blocks (one round trip per block, not per request): see
    // src/http/rate-limit-store.ts for the accuracy this trades.
    store: leasedRateLimitStore(limiterRedis as Redis, `${services.prefix}rl:`) as never,
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
