/** Service routes: welcome/health, readiness with per-dependency status, metrics, API docs. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { VERSION } from './app';
import type { Services } from '../services';

export type ReadinessCheck = () => Promise<{ ok: boolean; detail?: unknown }>;

declare module 'fastify' {
  interface FastifyInstance {
    /** Extra readiness checks (projection lag, queues…) that other modules add by name. */
    readinessChecks: Map<string, ReadinessCheck>;
  }
}

const dependency = z.object({ ok: z.boolean(), latency_ms: z.number(), detail: z.unknown().optional() });

async function timed(check: ReadinessCheck, timeoutMs = 2000) {
  const started = performance.now();
  try {
    const result = await Promise.race([
      check(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
    ]);
    return { ...result, latency_ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, detail: (err as Error).message, latency_ms: Math.round(performance.now() - started) };
  }
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
      response: { 200: z.object({ status: z.literal('ready'), name: z.string(), version: z.string(), docs: z.string() }) },
    },
    config: { rateLimit: false },
  }, async () => ({ status: 'ready' as const, name: 'authledger', version: VERSION, docs: '/docs' }));

  r.get('/health', {
    schema: { tags: ['system'], summary: 'Liveness', response: { 200: z.object({ status: z.literal('ok') }) } },
    config: { rateLimit: false },
  }, async () => ({ status: 'ok' as const }));

  r.get('/ready', {
    schema: {
      tags: ['system'],
      summary: 'Readiness with per-dependency status',
      response: {
        200: z.object({ status: z.enum(['ready', 'not_ready']), checks: z.record(z.string(), dependency) }),
        503: z.object({ status: z.enum(['ready', 'not_ready']), checks: z.record(z.string(), dependency) }),
      },
    },
    config: { rateLimit: false },
  }, async (_req, reply) => {
    const entries = await Promise.all([...app.readinessChecks].map(async ([name, check]) => [name, await timed(check)] as const));
    const checks = Object.fromEntries(entries);
    const ok = entries.every(([, c]) => c.ok);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready', checks });
  });

  app.get('/metrics', { schema: { tags: ['system'], summary: 'Prometheus metrics', hide: false }, config: { rateLimit: false } }, async (_req, reply) => {
    reply.type(app.metrics.contentType);
    return app.metrics.metrics();
  });

  app.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => app.swagger());

  app.get('/redoc', { schema: { hide: true }, config: { rateLimit: false } }, async (_req, reply) => {
    reply.type('text/html; charset=utf-8');
    return `<!doctype html><html><head><title>authledger API — ReDoc</title><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="https://cdn.redoc.ly/redoc/v2.5.0/bundles/redoc.standalone.js"></script></body></html>`;
  });
}
