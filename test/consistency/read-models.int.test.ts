/**
 * Each query route declares the read models it reads (issue 11), checked by what it really reads:
 * every registered GET route (and the query routes answered by POST) is called once while the SQL
 * its handler sends is recorded; a read-model table (a PostgreSQL projection's view or table) in
 * that SQL must be declared in the route's `config.readModels`, and a declared PostgreSQL read model
 * must be read (no waits for nothing). The Redis read models are applied inline by the command that
 * wrote (src/projections/inline.ts), so their readers need no declaration; a Redis projection that is
 * not inline fails here until this test learns its keys. Also: every command route documents
 * X-Log-Position on its 2xx answers, every declaring route X-Consistent-After.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyInstance, RouteOptions } from 'fastify';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices, type TestServices } from '../helpers/app';
import { adminLogin, bearer, type LoggedIn } from '../helpers/auth';
import { queryPosts, routeFiller } from './support';
import { buildHttpApp } from '../../src/http/app';
import { registerRoutes } from '../../src/compose';
import { projectionsFor } from '../../src/projections/index';
import { createInlineProjections } from '../../src/projections/inline';
import { startProjector, type ProjectorHandle } from '../../src/projections/runtime';
import { ensureConsoleBuilt } from '../../scripts/build-console.mjs';

const tracing = new AsyncLocalStorage<string[]>();

/** Records the SQL text of every query a client of `pool` sends while tracing (pool.query goes through them too). */
function tracePool(pool: pg.Pool): void {
  const patch = (client: pg.ClientBase & { __traced?: boolean }) => {
    if (client.__traced) return;
    client.__traced = true;
    const query = client.query.bind(client) as (...a: unknown[]) => unknown;
    (client as unknown as { query: unknown }).query = (...args: unknown[]) => {
      const sql = tracing.getStore();
      const q = args[0] as string | { text?: string };
      if (sql) sql.push(typeof q === 'string' ? q : String(q?.text ?? ''));
      return query(...args);
    };
  };
  for (const c of (pool as unknown as { _clients: pg.ClientBase[] })._clients) patch(c);
  pool.on('connect', patch);
}

interface Seen {
  method: string;
  url: string;
  declared: readonly string[];
  consistency?: string;
}

describe('query routes declare the read models they read', () => {
  let t: TestServices;
  let app: FastifyInstance;
  let admin: LoggedIn;
  let projector: ProjectorHandle;
  const routes: Seen[] = [];
  const readBy = new Map<string, string[]>(); // "METHOD url" → SQL sent by its handler

  beforeAll(async () => {
    // GET /console is one of the routes walked: it answers 503 until the console is built.
    await ensureConsoleBuilt();
    t = await testServices('rywdecl');
    tracePool(t.pool);
    app = await buildHttpApp(t, async (a, s) => {
      // Before every route module: wrap each handler so what it reads is recorded (after the
      // preHandlers, so authentication and the read-your-writes wait are not counted).
      a.addHook('onRoute', (route: RouteOptions) => {
        const key = `${route.method} ${route.url}`;
        routes.push({ method: String(route.method), url: route.url, declared: route.config?.readModels ?? [], consistency: route.config?.consistency });
        const handler = route.handler;
        route.handler = function traced(this: unknown, ...args: unknown[]) {
          const sql: string[] = [];
          readBy.set(key, sql);
          return tracing.run(sql, () => (handler as (...x: unknown[]) => unknown).apply(this, args));
        } as RouteOptions['handler'];
      });
      await registerRoutes(a, s);
    });
    await app.ready();
    projector = startProjector(t);
    admin = await adminLogin(app, t);
  }, 180_000);

  afterAll(async () => {
    await projector?.stop();
    await app?.close();
    await t?.close();
  });

  const pg = projectionsFor({ ACCESS_TOKEN_TTL: 900 }).filter((p) => p.kind === 'postgres');
  const pgProjectionNames = pg.map((p) => p.name);
  /** Projection name → the relations its readers query (views and tables named after its bases). */
  const relations = new Map(pg.map((p) => [p.name, Object.keys(p.tables)]));
  function readModelsIn(sql: readonly string[]): Set<string> {
    const out = new Set<string>();
    for (const [name, bases] of relations) {
      for (const base of bases) {
        const re = new RegExp(`\\b(from|join)\\s+"?${base}(_v\\d+)?"?(\\s|$|\\)|,)`, 'i');
        if (sql.some((s) => re.test(s))) out.add(name);
      }
    }
    return out;
  }

  it('every Redis read model is applied inline (so its readers read their own writes without a declaration)', () => {
    const inline = new Set(createInlineProjections({ ACCESS_TOKEN_TTL: 900 }).projections.map((p) => p.name));
    const redis = projectionsFor({ ACCESS_TOKEN_TTL: 900 }).filter((p) => p.kind === 'redis').map((p) => p.name);
    expect(redis.filter((n) => !inline.has(n))).toEqual([]);
  });

  it('each GET (and query POST) route reads exactly the PostgreSQL read models it declares', async () => {
    // Something to read: a feature, an API key.
    const feature = `decl${Date.now()}`;
    expect((await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.accessToken), payload: { name: feature } })).statusCode).toBe(201);
    const key = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(admin.accessToken), payload: { name: 'k', features: '*' } });
    expect(key.statusCode).toBe(201);
    const fill = routeFiller({ userId: admin.userId, keyId: key.json().id, feature });
    const posts = queryPosts(admin.accessToken);
    // Declared read models a route reads only on a fallback path (not taken here).
    const fallbacks: Record<string, string[]> = {
      'GET /api/v1/users/me': ['users'], // when the Redis profile is missing (Redis lost its data)
      'GET /api/v1/users/:id': ['users'],
      // Reads every view through the read-model browser role's own connection (src/queries/admin-sql), not this pool.
      'GET /api/v1/admin/read-models': pgProjectionNames,
      'POST /api/v1/admin/read-models/query': pgProjectionNames,
    };
    const problems: string[] = [];
    let checked = 0;
    for (const r of routes) {
      const methods = r.method.split(',');
      const isQueryPost = methods.includes('POST') && r.url in posts;
      if (!methods.includes('GET') && !isQueryPost) continue;
      if (r.url.includes('*') || r.url.startsWith('/__test') || r.url.startsWith('/docs') || r.url.startsWith('/admin/queues')) continue;
      const method = methods.includes('GET') ? 'GET' : 'POST';
      const res = await app.inject({
        method, url: fill(r.url), headers: { ...bearer(admin.accessToken), 'x-api-key': 'x' },
        ...(method === 'POST' ? { payload: posts[r.url] } : {}),
      });
      if (r.url !== '/ready') expect(res.statusCode, `${method} ${r.url}: ${res.body.slice(0, 200)}`).toBeLessThan(500);
      const sql = readBy.get(`${r.method} ${r.url}`) ?? [];
      const read = readModelsIn(sql);
      const declaredPg = r.declared.filter((d) => relations.has(d));
      for (const m of read) if (!r.declared.includes(m)) problems.push(`${method} ${r.url} reads ${m} but does not declare it`);
      for (const m of declaredPg) if (!read.has(m) && !fallbacks[`${method} ${r.url}`]?.includes(m)) problems.push(`${method} ${r.url} declares ${m} but did not read it (status ${res.statusCode})`);
      checked++;
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(15);
  }, 60_000);

  it('OpenAPI: every command route documents X-Log-Position on its 2xx answers, every GET route declaring readModels or a consistency documents X-Consistent-After', async () => {
    const doc = app.swagger() as { paths: Record<string, Record<string, { parameters?: { in: string; name: string }[]; responses?: Record<string, { headers?: Record<string, unknown> }> }>> };
    const declaring = new Set(routes.filter((r) => r.declared.length || r.consistency).map((r) => r.url.replace(/:(\w+)/g, '{$1}')));
    const queryPostPaths = new Set(Object.keys(queryPosts('')).map((u) => u.replace(/:(\w+)/g, '{$1}')));
    const missing: string[] = [];
    let commands = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (method === 'get' || method === 'head' || method === 'parameters') {
          if (method === 'get' && declaring.has(path) && !op.parameters?.some((p) => p.in === 'header' && p.name.toLowerCase() === 'x-consistent-after')) missing.push(`GET ${path}: X-Consistent-After`);
          continue;
        }
        if (method === 'post' && queryPostPaths.has(path)) continue;
        commands++;
        for (const [code, r] of Object.entries(op.responses ?? {})) {
          if (/^2/.test(code) && !Object.keys(r.headers ?? {}).some((h) => h.toLowerCase() === 'x-log-position')) missing.push(`${method.toUpperCase()} ${path} ${code}: X-Log-Position`);
        }
      }
    }
    expect(missing).toEqual([]);
    expect(commands).toBeGreaterThan(20);
  });
});
