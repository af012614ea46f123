/**
 * Read-your-writes at the HTTP edge. Rules:
 * - a query route declares the projections it reads, in one place: `config.readModels`
 *   (projection names, checked against the projector's list when the route is registered);
 * - a response to a request that appended events carries `X-Log-Position` (the newest one, in the
 *   adapter's own shape), and the position is remembered for the caller's session in Redis for
 *   READ_YOUR_WRITES_SESSION_TTL_SECONDS (for login/signup: the session the request started);
 *   a command route's caller is named after its authentication, so each append's position is
 *   remembered as the append returns (beside the command's inline step, src/infra/request-writes.ts);
 *   either way the answer leaves only once it is stored (or the failure is logged);
 * - a query on a route with `readModels` waits until every projection it reads has passed the
 *   newer of the session's remembered position and `X-Consistent-After`; past
 *   READ_YOUR_WRITES_TIMEOUT_MS it answers 503 `projection_behind` with Retry-After, never stale
 *   data as current;
 * - every GET route declares either `readModels` or `consistency`, the reason it needs no
 *   projection wait (CONSISTENCY; test/consistency/every-route.int.test.ts walks them all):
 *   `log` routes search the whole log below the visibility horizon and wait for the horizon to
 *   pass the position; `stream` routes read their aggregate's stream (visible once committed) and
 *   only check the header's shape; `inline`, `none` and `command` routes get no preHandler (the hot
 *   paths /auth/verify, /me and the access check are `inline`: no Redis round trip, no header parsing,
 *   not even the X-Log-Position onSend hook, which every other route gets);
 * - a malformed X-Consistent-After, or another adapter's position shape, is 400
 *   `invalid_log_position` wherever the header is read;
 * - a request without a session and without the header pays nothing but a header lookup;
 * - a session's write answered by this process is also kept in memory (RecentWrites): its next
 *   query here starts waiting for it while Redis is asked, and then waits for the newer of both;
 * - in the projector's process a waiter is woken by the runner's commit itself
 *   (src/projections/checkpoint-feed.ts, `localCheckpoints`), not by the NOTIFY's round trip.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import client from 'prom-client';
import type { Services } from '../services';
import { comparePositions, formatPosition, hasPagedLog, parsePosition, type Position } from '../events/store';
import { CheckpointFeed } from '../projections/checkpoint-feed';
import { projectionsFor } from '../projections/index';
import { sessionStateProjection, userProfilesProjection } from '../projections/session-state';
import { appendedInRequest, noteWriter, rememberedInRequest, sessionOfRequest, type RememberPosition } from '../infra/request-writes';
import { processMetrics } from '../infra/metrics';
import { errors } from '../errors';

/**
 * Why a query route reads its writes without waiting for a projection; every GET route without
 * `readModels` names one (the OpenAPI document and docs/CONTRACTS.md repeat these).
 */
export const CONSISTENCY = {
  inline: 'reads only the Redis read models that every command applies inline before it answers (src/projections/inline.ts): nothing to wait for; the header is not read (hot path)',
  stream: 'reads its aggregate\'s own stream from the event log, which shows every committed write at once: the header is checked, never waited for',
  log: 'searches the event log itself: waits only while an older transaction still holds the log\'s visibility horizon below the position (PostgreSQL; EventStoreDB: never)',
  none: 'reads no event-sourced state (documents, pages, keys, configuration, health, live connections, queues): the header is not read',
  command: 'a command answered by GET (a link or a redirect): it reads its streams from the log like every command; the header is not read',
} as const;
export type Consistency = keyof typeof CONSISTENCY;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Projections this query reads (read-your-writes waits for them; tested against what it queries). */
    readModels?: readonly string[];
    /** A query route without `readModels`: why it needs no projection wait (CONSISTENCY). */
    consistency?: Consistency;
  }
  interface FastifyInstance {
    /** Latest known checkpoints; waits for positions (src/projections/checkpoint-feed.ts). */
    checkpoints: CheckpointFeed;
  }
}

export const LOG_POSITION_HEADER = 'x-log-position';
export const CONSISTENT_AFTER_HEADER = 'x-consistent-after';

/** Redis key of the newest position a session wrote. */
export const sessionWriteKey = (prefix: string, sessionId: string): string => `${prefix}ryw:${sessionId}`;

/**
 * The stored form sorts as text in position order (each part zero-padded to 20 digits, the most a
 * 64-bit part has), so Redis keeps the newest with one compare-and-set: two writes of one session
 * answered out of order (concurrent requests) never leave the older position behind.
 */
const sortable = (p: Position): string => `${p.commit.toString().padStart(20, '0')}:${p.prepare.toString().padStart(20, '0')}`;
const KEEP_NEWEST = `local cur = redis.call('GET', KEYS[1])
if (not cur) or cur < ARGV[1] then return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])`;

/** Remembers `position` for the session unless it remembers a newer one (the TTL restarts either way). */
export async function rememberSessionPosition(redis: Services['redis'], prefix: string, sessionId: string, position: Position, ttlMs: number): Promise<void> {
  await redis.eval(KEEP_NEWEST, 1, sessionWriteKey(prefix, sessionId), sortable(position), String(ttlMs));
}

/** The newest position the session wrote (within the TTL), if any. */
export async function sessionPosition(redis: Services['redis'], prefix: string, sessionId: string): Promise<Position | undefined> {
  const raw = await redis.get(sessionWriteKey(prefix, sessionId));
  const m = raw ? /^(\d{20}):(\d{20})$/.exec(raw) : null;
  return m ? { commit: BigInt(m[1]!), prepare: BigInt(m[2]!) } : undefined;
}

const newest = (a: Position | undefined, b: Position | undefined): Position | undefined => (!a ? b : !b || comparePositions(a, b) >= 0 ? a : b);

/**
 * The newest position this process answered per session, for the session's TTL, at most `max`
 * sessions (the oldest entry goes first). Only a head start: the session's query waits for it
 * while the Redis lookup (the position across processes) is in flight.
 */
export class RecentWrites {
  private readonly entries = new Map<string, { position: Position; until: number }>();

  constructor(private readonly ttlMs: number, private readonly max = 10_000) {}

  remember(sid: string, position: Position): void {
    const cur = this.get(sid);
    this.entries.delete(sid);
    this.entries.set(sid, { position: newest(cur, position)!, until: Date.now() + this.ttlMs });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  get(sid: string): Position | undefined {
    const e = this.entries.get(sid);
    if (!e) return undefined;
    if (e.until > Date.now()) return e.position;
    this.entries.delete(sid);
    return undefined;
  }
}

/** Outcomes: passed (already there), waited (woke on an advance), timeout (answered 503). */
export const consistencyChecks = new client.Counter({
  name: 'authledger_read_your_writes_total',
  help: 'Queries with a position to wait for (their session wrote, or X-Consistent-After), by outcome: passed, waited, timeout',
  labelNames: ['outcome'] as const,
  registers: [processMetrics],
});

/** How long queries with a position waited for it (0 when already passed), timeouts included. */
export const consistencyWait = new client.Histogram({
  name: 'authledger_read_your_writes_wait_seconds',
  help: 'Time a query with a position to wait for spent waiting for its projections (or the log\'s visibility horizon) to pass it; 0 when they already had',
  buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
  registers: [processMetrics],
});

/** Projections a route may name: every projection the projector runs, plus the inline Redis ones. */
function readableProjections(services: Services) {
  const list = projectionsFor(services.config);
  const names = new Set(list.map((p) => p.name));
  for (const p of [sessionStateProjection(services.config), userProfilesProjection]) if (!names.has(p.name)) list.push(p);
  return list;
}

export const readYourWritesPlugin = fp(async (app: FastifyInstance, opts: { services: Services }) => {
  const { config, store, redis, prefix, pool, log } = opts.services;
  const feed = new CheckpointFeed({ pool, redis, prefix, projections: readableProjections(opts.services), log });
  await feed.start();
  app.addHook('onClose', async () => feed.stop());
  app.decorate('checkpoints', feed);
  // Off (READ_YOUR_WRITES=off, for cost comparisons): no hooks at all.
  if (config.READ_YOUR_WRITES === 'off') return;
  const known = new Set(feed.names);
  const timeoutMs = config.READ_YOUR_WRITES_TIMEOUT_MS;
  const ttlMs = config.READ_YOUR_WRITES_SESSION_TTL_SECONDS * 1000;
  const retryAfter = Math.max(1, Math.ceil(timeoutMs / 1000));
  const recent = new RecentWrites(ttlMs);

  /** The X-Consistent-After position, if sent; 400 when it is not one of this adapter's positions. */
  function explicitTarget(request: FastifyRequest): Position | undefined {
    const header = request.headers[CONSISTENT_AFTER_HEADER];
    if (header === undefined) return undefined;
    const at = parsePosition(store.kind, Array.isArray(header) ? (header[0] ?? '') : header);
    if (!at) throw errors.badRequest('X-Consistent-After is not a log position of this server (use an X-Log-Position value).', 'invalid_log_position');
    return at;
  }

  /** The session's remembered position (Redis: any API process may have answered its write). */
  function sessionTarget(sid: string | undefined): Promise<Position | undefined> {
    if (!sid) return Promise.resolve(undefined);
    return sessionPosition(app.redisReads, prefix, sid).catch((err: unknown) => {
      throw errors.unavailable('redis', err);
    });
  }

  /** The position this request must read at or after, if any. */
  async function target(request: FastifyRequest): Promise<Position | undefined> {
    return newest(explicitTarget(request), await sessionTarget(request.auth?.sessionId));
  }

  function consistencyHook(models: readonly string[]) {
    return async function readYourWrites(request: FastifyRequest): Promise<void> {
      const explicit = explicitTarget(request);
      const sid = request.auth?.sessionId;
      const stored = sessionTarget(sid);
      // A write this process answered for the session: wait for it while Redis answers (the
      // newest position may still be another process's, so Redis is asked all the same).
      const local = sid ? recent.get(sid) : undefined;
      const deadline = Date.now() + timeoutMs;
      const early = local && !feed.passed(models, local) ? feed.wait(models, local, timeoutMs) : undefined;
      const at = newest(newest(explicit, await stored), local);
      if (!at) return;
      if (!early && feed.passed(models, at)) {
        consistencyChecks.inc({ outcome: 'passed' });
        consistencyWait.observe(0);
        return;
      }
      const since = performance.now();
      if (early) await early;
      const passed = feed.passed(models, at) || (await feed.wait(models, at, Math.max(0, deadline - Date.now())));
      consistencyWait.observe((performance.now() - since) / 1000);
      if (passed) {
        consistencyChecks.inc({ outcome: 'waited' });
        return;
      }
      consistencyChecks.inc({ outcome: 'timeout' });
      throw errors.projectionBehind(models.filter((m) => !feed.passed([m], at)), retryAfter);
    };
  }

  /**
   * The log is readable through `at` once no transaction below it can still commit (PostgreSQL:
   * the visibility horizon is past its transaction; EventStoreDB assigns positions at commit, so
   * always). Checked once; while an older transaction holds the horizon (milliseconds) it is
   * checked again on each append notice, and at least every 25 ms (a rollback sends none).
   */
  async function logReadable(at: Position, ms: number): Promise<'passed' | 'waited' | 'timeout'> {
    if (!hasPagedLog(store)) return 'passed';
    const readable = async () => BigInt(await store.horizon()) > at.commit;
    if (await readable()) return 'passed';
    const until = Date.now() + ms;
    while (Date.now() < until) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(25, Math.max(1, until - Date.now())));
        const off = store.onAppended(done);
        function done() {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
      if (await readable()) return 'waited';
    }
    return 'timeout';
  }

  async function logHook(request: FastifyRequest): Promise<void> {
    const at = await target(request);
    if (!at) return;
    const since = performance.now();
    const outcome = await logReadable(at, timeoutMs);
    consistencyWait.observe(outcome === 'passed' ? 0 : (performance.now() - since) / 1000);
    consistencyChecks.inc({ outcome });
    if (outcome === 'timeout') throw errors.projectionBehind(['event_log'], retryAfter);
  }

  /** `stream` routes: the header's shape only (a typo answers 400 here as on every other query). */
  async function checkHeader(request: FastifyRequest): Promise<void> {
    explicitTarget(request);
  }

  const appendPreHandler = (route: RouteOptions, hook: (request: FastifyRequest) => Promise<void>) => {
    // After the route's own preHandlers (authentication sets request.auth).
    const own = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
    route.preHandler = [...own, hook];
  };

  /** Remembers a write for the session; a failure is logged and fails nothing (the write is committed). */
  const remember: RememberPosition = (sid, position) => rememberSessionPosition(redis, prefix, sid, position, ttlMs).catch((err: unknown) => {
    log.warn({ err }, 'read-your-writes: could not remember the session position');
  });

  /**
   * Command routes, after their authentication: the caller's session is the one to remember this
   * request's appends for, as each append returns (src/infra/request-writes.ts), beside the
   * command's inline step. Callback style: no promise per request.
   */
  function noteCaller(request: FastifyRequest, _reply: FastifyReply, done: () => void): void {
    if (request.auth) noteWriter(request.auth.sessionId, remember);
    done();
  }

  app.addHook('onRoute', (route: RouteOptions) => {
    const models = route.config?.readModels;
    const consistency = route.config?.consistency;
    if (consistency && models?.length) throw new Error(`route ${route.method} ${route.url} declares both readModels and consistency`);
    if (consistency !== 'inline') {
      const own = route.onSend === undefined ? [] : Array.isArray(route.onSend) ? route.onSend : [route.onSend];
      route.onSend = [...own, positionHeader as never];
    }
    if (consistency === 'log') return appendPreHandler(route, logHook);
    if (consistency === 'stream') return appendPreHandler(route, checkHeader);
    if (!models?.length) {
      // Queries that read nothing event-sourced, and the hot `inline` paths, append nothing.
      if (consistency !== 'inline' && consistency !== 'none' && route.config?.requestContext !== 'off') appendPreHandler(route, noteCaller as never);
      return;
    }
    for (const m of models) if (!known.has(m)) throw new Error(`route ${route.method} ${route.url} declares unknown read model ${m}`);
    appendPreHandler(route, consistencyHook(models));
  });

  // Callback style: requests that appended nothing pass straight through. A hook of each route
  // that may append (every route but the `inline` hot paths, which read Redis and append nothing:
  // they run no hook of this plugin at all).
  function positionHeader(request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: Error | null, p?: unknown) => void): void {
    const written = appendedInRequest();
    if (!written) return done(null, payload);
    const text = formatPosition(store.kind, written);
    reply.header(LOG_POSITION_HEADER, text);
    // The caller's session, or the one this request started (login, signup, OAuth callback).
    const sid = request.auth?.sessionId ?? sessionOfRequest();
    if (!sid) return done(null, payload);
    recent.remember(sid, written);
    // Before the answer leaves: the session's next query (on any API process) must find it.
    // Failing to remember it fails nothing (the write is committed): that query may then read
    // an older state, as before this feature; it is logged. Remembered already (as the append
    // returned) when the request named its session before its command ran: then awaited here.
    const early = rememberedInRequest();
    const remembering = early && early.sessionId === sid && comparePositions(early.position, written) === 0 ? early.done : remember(sid, written);
    remembering.then(() => done(null, payload));
  }
}, { name: 'read-your-writes', dependencies: ['auth'] });

type Transform = (arg: { schema: Record<string, unknown>; url: string; route: RouteOptions } & Record<string, unknown>) => { schema?: Record<string, unknown>; url: string };

const CONSISTENT_AFTER_DOC = {
  type: 'string',
  description: 'Read-your-writes: answer only once every read model this query reads has passed this log position '
    + '(an X-Log-Position value); 503 projection_behind (with Retry-After) when that takes longer than READ_YOUR_WRITES_TIMEOUT_MS.',
};
const LOG_POSITION_DOC = {
  type: 'string',
  description: 'Log position of the last event this request appended (opaque, adapter-specific: PostgreSQL `<commit>.<prepare>`). '
    + 'Present when events were appended. Send it as X-Consistent-After to read this write elsewhere; the same session waits for it automatically.',
};

/**
 * The OpenAPI side, in one place: every query route with `readModels` or a `consistency` documents
 * `X-Consistent-After` (with the route's reason); every other non-GET route (the commands), and
 * the GET commands (`consistency: 'command'`), document `X-Log-Position` on their 2xx responses.
 * Wraps the zod transform.
 */
export function withConsistencyDocs(transform: Transform): Transform {
  return (arg) => {
    const out = transform(arg);
    const schema = out.schema;
    if (!schema || schema.hide) return out;
    const method = ([] as string[]).concat(arg.route.method as string | string[]);
    const consistency = arg.route.config?.consistency;
    if (arg.route.config?.readModels?.length || consistency) {
      const doc = consistency ? { ...CONSISTENT_AFTER_DOC, description: `${CONSISTENT_AFTER_DOC.description} This route: ${CONSISTENCY[consistency]}.` } : CONSISTENT_AFTER_DOC;
      const headers = (schema.headers as { type?: string; properties?: Record<string, unknown> } | undefined) ?? { type: 'object', properties: {} };
      schema.headers = { ...headers, type: 'object', properties: { ...(headers.properties ?? {}), [CONSISTENT_AFTER_HEADER]: doc } };
    }
    const query = arg.route.config?.readModels?.length || (consistency && consistency !== 'command');
    if (consistency === 'command' || (!query && !method.every((m) => m === 'GET' || m === 'HEAD'))) {
      const response = (schema.response ?? {}) as Record<string, Record<string, unknown>>;
      for (const [code, r] of Object.entries(response)) {
        if (!/^2/.test(code) || typeof r !== 'object' || r === null) continue;
        response[code] = { ...r, headers: { ...((r.headers as object | undefined) ?? {}), [LOG_POSITION_HEADER]: LOG_POSITION_DOC } };
      }
    }
    return out;
  };
}
