/**
 * Operations of the queues over HTTP:
 * - Bull Board at /admin/queues, admins only: every request (page, static file, API call) passes
 *   `app.requireAdmin` first — anonymous callers get 401, non-admins 403, as problem+json;
 *   a browser can open it with the admin's access token in `Authorization` (a header-injecting
 *   proxy or extension) or via the short-lived cookie set by `POST /admin/queues/session`;
 * - gauges on `app.metrics` (served at /metrics): jobs per queue and state (waiting, active,
 *   delayed, prioritized, failed, completed…) and the event consumer's lag.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import client from 'prom-client';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Services } from '../src/services';
import { sendProblem, toAppError } from '../src/http/problem';
import { problems } from '../src/http/schemas';
import { cookieCredential } from '../src/http/request-origin';
import fp from 'fastify-plugin';
import { createQueues, type Queues } from './queues';
import { consumerLag } from './consumer';
import { cleanupSchedulesCheck } from './cleanup';

export const BOARD_PATH = '/admin/queues';
const BOARD_COOKIE = 'al_board';
const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed', 'paused', 'waiting-children'] as const;

declare module 'fastify' {
  interface FastifyInstance {
    /** The BullMQ queues (for inspection; jobs are enqueued by the event consumer only). */
    queues: Queues;
  }
}

/** The queues as one infrastructure plugin: created with the app, closed with it. */
export const queuesPlugin = fp<{ services: Services }>(async (app, opts) => {
  const queues = createQueues(opts.services);
  app.decorate('queues', queues);
  app.addHook('onClose', async () => queues.close());
}, { name: 'queues' });

export async function workerRoutes(app: FastifyInstance, services: Services): Promise<void> {
  await app.register(queuesPlugin, { services });
  const queues = app.queues;
  // The worker role keeps the cleanup schedulers registered (issue 21); /ready says when they are not.
  app.readinessChecks.set('cleanup_schedules', cleanupSchedulesCheck);

  // Bull Board, inside its own encapsulated scope guarded by requireAdmin.
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({ queues: queues.all.map((q) => new BullMQAdapter(q)), serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'], options: { uiConfig: { boardTitle: 'authledger jobs' } } });
  const guard = async (request: FastifyRequest, reply: FastifyReply) => {
    // The board's own error handler would turn our 401/403 into 500s: answer here instead.
    try {
      if (!request.headers.authorization && !request.headers['access-token']) {
        // The board cookie counts only from our own origin (CSRF, issue 20 §4).
        const fromCookie = cookieCredential(request, BOARD_COOKIE);
        if (fromCookie) request.headers.authorization = `Bearer ${fromCookie}`;
      }
      await app.requireAdmin.call(app, request, reply);
    } catch (err) {
      return sendProblem(reply, request, toAppError(err));
    }
  };
  await app.register(async (scope) => {
    scope.addHook('onRequest', guard);
    await scope.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
  });

  // A browser cannot add headers to page loads: trade the admin's access token for a cookie
  // scoped to the board, HttpOnly, SameSite=Strict, living no longer than the token.
  app.withTypeProvider<ZodTypeProvider>().post(`${BOARD_PATH}/session`, {
    schema: {
      tags: ['operations'], summary: 'Open Bull Board in a browser: sets a short-lived cookie for /admin/queues (admins only)',
      security: [{ bearer: [] }, { accessTokenHeader: [] }],
      response: { 204: z.null(), ...problems(401, 403) },
    },
    preHandler: app.requireAdmin,
  }, async (request, reply) => {
    const header = request.headers.authorization ?? '';
    const token = header.toLowerCase().startsWith('bearer ') ? header.slice(7) : String(request.headers['access-token'] ?? '');
    const maxAge = Math.max(1, request.auth!.expiresAt - Math.floor(Date.now() / 1000));
    reply.setCookie(BOARD_COOKIE, token, { path: BOARD_PATH, httpOnly: true, sameSite: 'strict', secure: services.config.COOKIE_SECURE, maxAge });
    return reply.code(204).send(null);
  });

  new client.Gauge({
    name: 'authledger_queue_jobs',
    help: 'BullMQ jobs per queue and state (failed = exhausted retries, kept for inspection and retry)',
    labelNames: ['queue', 'state'] as const,
    registers: [app.metrics],
    async collect() {
      this.reset();
      await Promise.all(queues.all.map(async (q) => {
        const counts = await q.getJobCounts(...JOB_STATES).catch(() => undefined);
        if (!counts) return;
        for (const s of JOB_STATES) this.set({ queue: q.name, state: s }, counts[s] ?? 0);
      }));
    },
  });
  new client.Gauge({
    name: 'authledger_jobs_consumer_lag_events',
    help: 'Events in the log not yet turned into jobs by the event consumer',
    registers: [app.metrics],
    async collect() {
      const lag = await consumerLag(services.pool, services.store).catch(() => undefined);
      if (lag !== undefined) this.set(lag);
    },
  });
}
