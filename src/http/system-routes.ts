/**
 * Service routes: welcome, liveness, readiness with per-dependency status, metrics, API docs.
 * Rules: none of them is rate limited; `/ready` answers 503 while any check fails (each check is
 * bounded to 2 s); `/metrics` labels HTTP latency by route pattern, never by raw URL, and answers
 * only as ./metrics-access.ts says (404 by default, METRICS_TOKEN bearer, or METRICS_PORT).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { VERSION } from '../version';
import type { Services } from '../services';
import { processMetrics } from '../infra/metrics';
import { plainJsonSerializer, problems } from './schemas';
import { errors } from '../errors';
import { publicMetricsVerdict } from './metrics-access';

export type ReadinessCheck = () => Promise<{ ok: boolean; detail?: unknown }>;

declare module 'fastify' {
  interface FastifyInstance {
    /** Readiness checks by name; modules add theirs (projection lag: src/projections/health.ts). */
    readinessChecks: Map<string, ReadinessCheck>;
  }
}

const dependency = z.object({ ok: z.boolean(), latency_ms: z.number(), detail: z.unknown().optional() });
const readiness = z.object({
  status: z.enum(['ready', 'not_ready']),
  /** Redis read models: `rebuilding` after Redis lost its data, until the projections replayed (issue 21). */
  redis_state: z.enum(['ok', 'rebuilding', 'unavailable']).optional(),
  checks: z.record(z.string(), dependency),
});

async function timed(check: ReadinessCheck, timeoutMs = 2000) {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
      }),
    ]);
    return { ...result, latency_ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, detail: (err as Error).message, latency_ms: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
}

/** Whether an Accept header prefers an HTML page over JSON (a browser's navigation). */
export function wantsHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const html = accept.indexOf('text/html');
  if (html === -1) return false;
  const json = accept.indexOf('application/json');
  return json === -1 || html < json;
}

export async function systemRoutes(app: FastifyInstance, services: Services) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  app.decorate('readinessChecks', new Map<string, ReadinessCheck>([
    ['postgres', async () => { await services.pool.query('SELECT 1'); return { ok: true }; }],
    ['redis', async () => ({ ok: (await services.redis.ping()) === 'PONG' })],
    ['event_store', async () => { await services.store.healthCheck(); return { ok: true }; }],
  ]));

  r.get('/', {
    schema: {
      tags: ['system'],
      summary: 'Welcome and status',
      description: 'A browser (Accept: text/html before application/json) is redirected to the web console, /console/.',
      response: {
        200: z.object({ status: z.literal('ready'), name: z.string(), version: z.string(), docs: z.string() }),
        302: z.null().describe('Accept: text/html: redirect to /console/'),
      },
    },
    config: { rateLimit: false, consistency: 'none' },
  }, async (request, reply) => {
    // A browser (Accept: text/html) goes to the console; API clients keep this JSON answer.
    if (wantsHtml(request.headers.accept)) return reply.redirect('/console/', 302);
    return { status: 'ready' as const, name: 'authledger', version: VERSION, docs: '/docs' };
  });

  r.get('/health', {
    schema: { tags: ['system'], summary: 'Liveness: the process is up (no dependency checks)', response: { 200: z.object({ status: z.literal('ok') }) } },
    config: { rateLimit: false, consistency: 'none' },
    serializerCompiler: plainJsonSerializer,
  }, async () => ({ status: 'ok' as const }));

  r.get('/ready', {
    schema: {
      tags: ['system'],
      summary: 'Readiness with per-dependency status (PostgreSQL, Redis, event store, projection lag)',
      response: { 200: readiness, 503: readiness },
    },
    config: { rateLimit: false, consistency: 'none' },
  }, async (_req, reply) => {
    const entries = await Promise.all([...app.readinessChecks].map(async ([name, check]) => [name, await timed(check)] as const));
    const checks = Object.fromEntries(entries);
    const ok = entries.every(([, c]) => c.ok);
    if (!ok) reply.header('retry-after', '1');
    const rs = checks.redis_state as { ok: boolean; detail?: unknown } | undefined;
    const state = (rs?.detail as { state?: string } | undefined)?.state;
    const redis_state = rs ? (state === 'ok' || state === 'rebuilding' ? state : 'unavailable') : undefined;
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready', ...(redis_state ? { redis_state } : {}), checks });
  });

  r.get('/metrics', {
    schema: {
      tags: ['system'],
      summary: 'Prometheus metrics (text exposition format; METRICS_TOKEN bearer)',
      description: 'Off the public surface by default (docs/security.md §7): 404 unless METRICS_TOKEN is set (then `Authorization: Bearer <METRICS_TOKEN>`, else 401); ' +
        'with METRICS_PORT the metrics are served on METRICS_HOST:METRICS_PORT only, and this route answers 404.',
      security: [{ metricsToken: [] }],
      response: { 200: z.string().describe('Prometheus text format 0.0.4'), ...problems(401, 404) },
    },
    config: { rateLimit: false, consistency: 'none' },
  }, async (request, reply) => {
    const verdict = publicMetricsVerdict(services.config, request.headers.authorization);
    if (verdict === 'not_found') throw errors.notFound(`No route GET ${request.url.split('?')[0]}.`, 'route_not_found');
    if (verdict === 'unauthorized') throw errors.unauthorized('Send Authorization: Bearer <METRICS_TOKEN>.', 'metrics_token_required');
    reply.header('cache-control', 'no-store');
    const [own, shared] = await Promise.all([app.metrics.metrics(), processMetrics.metrics()]);
    reply.type(app.metrics.contentType);
    return `${own.trimEnd()}\n${shared}`;
  });

  app.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false, consistency: 'none' } }, async () => app.swagger());

  app.get('/redoc', { schema: { hide: true }, config: { rateLimit: false, consistency: 'none' } }, async (_req, reply) => {
    reply.type('text/html; charset=utf-8');
    return `<!doctype html><html><head><title>authledger API — ReDoc</title><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="/redoc/redoc.standalone.js"></script></body></html>`;
  });

  if (services.config.NODE_ENV === 'test') {
    // Test-only (NODE_ENV=test): a slow request, so shutdown tests can prove in-flight requests finish.
    app.get('/__test/sleep', { schema: { hide: true }, config: { rateLimit: false, consistency: 'none' } }, async (request) => {
      const ms = Math.min(Number((request.query as { ms?: string }).ms ?? 1000) || 0, 10_000);
      // The access line comes on completion; tests wait for this one to know the request is in hand.
      request.log.info({ ms }, 'test sleep started');
      await new Promise((resolve) => setTimeout(resolve, ms));
      return { slept_ms: ms };
    });
  }
}
