/**
 * The edge rules every HTTP app of this server shares (the API, src/http/app.ts, and the gateway on
 * its own port, src/gateway/app.ts), so the two cannot drift apart:
 * - `edgeServerOptions`: request ids (`X-Request-ID` kept when sane, else a UUID), one access line
 *   per request (LOG_REQUESTS, ./access-log.ts), lazy request loggers, the body limit, trusted
 *   proxies, a bounded request time, router limits, and problem+json for URLs the router refuses;
 * - `edgeHooks`: the problem+json error and not-found handlers, the security headers (Helmet's set,
 *   precomputed: ./security-headers.ts; routes with `config.securityHeaders: 'errors'` send them on
 *   their non-2xx answers only), the request id echoed, credentials in URLs refused, the input net
 *   (NUL / unpaired surrogates, ./input.ts), `X-Process-Time` and the default no-store
 *   (./cache-control.ts). With `requestContext`, the rest of the request runs inside its log
 *   context (AsyncLocalStorage: any logger used while handling it adds the id, and the command
 *   runner notes its appends there, src/infra/request-writes.ts; on only while some
 *   request is in it, ./request-context.ts); the gateway app does without it
 *   (it runs no command in a request and logs through `request.log`, which carries the id), and
 *   so do routes with `config.requestContext: 'off'` (the gateway's routes on the API port).
 * Plain callback hooks: no promise per request.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Stream } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Services } from '../services';
import { errors } from '../errors';
import { accessLoggerOf, credentialShapeIn, redactUrl } from '../infra/logger';
import { runInRequestContext } from './request-context';
import { AccessLogController, lazyRequestLogger } from './access-log';
import { errorHandler, sendProblem, toDomainError } from './problem';
import { TEXT_MESSAGE, unsafeInputPath } from './input';
import { securityHeaders } from './security-headers';
import { defaultNoStore } from './cache-control';

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
    /**
     * 'off': the route's requests run outside a per-request log context even in an app that has
     * one (the gateway's proxy routes on the API port: they run no command and log through
     * `request.log`, which carries the id). Default: inside it when the app has one.
     */
    requestContext?: 'off';
  }
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The request id: the caller's `X-Request-ID` when sane, else a new UUID. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

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

/** @fastify/cors options for an origin list (`*`, or comma-separated origins, with credentials). */
export function corsOptions(origins: string): Record<string, unknown> {
  const exposedHeaders = ['x-request-id', 'x-process-time', 'etag', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];
  const o = origins.trim();
  return o === '*'
    ? { origin: '*', exposedHeaders }
    : { origin: o.split(',').map((x) => x.trim()).filter(Boolean), credentials: true, exposedHeaders };
}

/**
 * What @fastify/cors (with `corsOptions(origins)`) adds to the answer of a request without an
 * Origin header on a route with CORS: the fast path's (./fast-edge.ts; test/http/fast-edge.unit).
 */
export function corsHeadersWithoutOrigin(origins: string): Record<string, string> {
  const o = corsOptions(origins) as { origin: string | string[]; credentials?: boolean; exposedHeaders: string[] };
  const anyOrigin = o.origin === '*' || (Array.isArray(o.origin) && o.origin.includes('*'));
  const headers: Record<string, string> = {};
  // A list of origins is reflected per request (so caches must vary on Origin); `*` is not.
  if (!anyOrigin) headers.vary = 'Origin';
  else headers['access-control-allow-origin'] = '*';
  if (o.credentials) headers['access-control-allow-credentials'] = 'true';
  headers['access-control-expose-headers'] = o.exposedHeaders.join(', ');
  return headers;
}

/** The browser security headers of every answer (edgeHooks; the fast path's, ./fast-edge.ts). */
export function edgeSecurityHeaders(config: Services['config']): Readonly<Record<string, string>> {
  // HSTS and upgrade-insecure-requests only where the deployment is https (production by
  // default): over plain http in development they would break /docs and /redoc.
  const httpsOnly = config.HTTPS_ONLY ?? config.NODE_ENV === 'production';
  return securityHeaders({ httpsOnly });
}

/** The Fastify options of an app at the edge. */
export function edgeServerOptions(services: Pick<Services, 'config' | 'log'>): FastifyServerOptions & { loggerInstance: FastifyBaseLogger } {
  const { config } = services;
  return {
    loggerInstance: services.log as FastifyBaseLogger,
    bodyLimit: config.BODY_LIMIT_BYTES,
    trustProxy: parseTrustProxy(config.TRUST_PROXY) as boolean | string[],
    requestIdHeader: false,
    // One access line per request, on completion (LOG_REQUESTS), and request loggers made on
    // first use, marked so the logContext mixin does not add request_id twice: ./access-log.ts.
    logController: new AccessLogController(accessLoggerOf(services.log as Logger), config.LOG_REQUESTS),
    childLoggerFactory: lazyRequestLogger,
    // Bounded request time: a slow client cannot hold a connection forever.
    requestTimeout: 30_000,
    genReqId: (req) => requestIdOf(req.headers),
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
  };
}

/** The edge's handlers and hooks on `app` (see the rules above). */
export function edgeHooks(app: FastifyInstance, config: Services['config'], opts: { requestContext: boolean }): void {
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => sendProblem(reply, request, errors.notFound(`No route ${request.method} ${redactUrl(request.url.split('?')[0] ?? '')}.`, 'route_not_found')));

  const security = edgeSecurityHeaders(config);
  // Credentials never travel in a URL (proxies, browser history and logs keep URLs): an API key,
  // a JWT or a refresh token anywhere in the path or query, percent-encoded or not, is refused
  // before any handler sees it. API keys keep their pinned code (api_key_in_url).
  const urlCheck = (request: FastifyRequest, allowed: boolean, done: (err?: Error) => void) => {
    const shape = allowed ? undefined : credentialShapeIn(request.url);
    if (!shape) return done();
    done(credentialsInUrl(shape));
  };
  app.addHook('onRequest', (request, reply, done) => {
    // `routeOptions` is a getter that builds a new object on every read: read it once.
    const route = request.routeOptions.config;
    if (route.securityHeaders !== 'errors') reply.headers(security);
    reply.header('x-request-id', request.id);
    const allowed = route.credentialsInUrl === 'allowed';
    if (opts.requestContext && route.requestContext !== 'off') runInRequestContext(request.id, reply.raw, () => urlCheck(request, allowed, done));
    else urlCheck(request, allowed, done);
  });
  // The net under every route's schema (./input.ts): a NUL or an unpaired surrogate anywhere in
  // the params, query or body is refused before any handler or store sees it (issue 20 §5).
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
    // docs assets, answers the gateway relays): ./cache-control.ts.
    if (defaultNoStore(request, reply)) reply.header('cache-control', 'no-store');
    done(null, payload);
  });
}
