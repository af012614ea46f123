/**
 * X-Consistent-After on every query route (issue 11). Every GET route of the app (and the query
 * routes answered by POST) is called by a session that did not write, with the position of a
 * write no projection has seen (the projector stopped):
 * - a route declaring `readModels` waits for them: 503 projection_behind (Retry-After) within
 *   the timeout, and once the projector runs, the same request answers as it does without the header;
 * - a route declaring a `consistency` (src/http/read-your-writes.ts CONSISTENCY: it reads only
 *   inline Redis state, its own stream, the log itself, or nothing event-sourced) answers at
 *   once, as it does without the header, and counts no wait;
 * - a malformed position, or the other adapter's shape, is 400 invalid_log_position (problem+json)
 *   wherever the header is read (`readModels`, `log`, `stream`), never a 5xx;
 * - a route declaring neither fails this test (bull-board's own routes excepted: BullMQ's state).
 * And the `log` route (GET /api/v1/audit/events): while an older transaction holds the log's
 * visibility horizon below the position it waits, then shows the write; past the timeout, 503
 * (PostgreSQL only: EventStoreDB assigns positions at commit). On both adapters: EventStoreDB when
 * EVENTSTORE_URL is set (skipped otherwise, with the reason in its name).
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices, type TestServices } from '../helpers/app';
import { adminLogin, bearer, login, type LoggedIn } from '../helpers/auth';
import { buildHttpApp } from '../../src/http/app';
import { registerRoutes } from '../../src/compose';
import { startProjector, type ProjectorHandle } from '../../src/projections/runtime';
import { consistencyChecks, CONSISTENCY } from '../../src/http/read-your-writes';
import { parsePosition } from '../../src/events/store';
import { queryPosts, routeFiller } from './support';

const esdbUrl = process.env.EVENTSTORE_URL;
const adapters = [
  { name: 'PostgreSQL', kind: 'postgres', run: true, overrides: {} as Record<string, string> },
  {
    name: `EventStoreDB${esdbUrl ? '' : ' (skipped: EVENTSTORE_URL not set, no EventStoreDB server on this machine)'}`,
    kind: 'eventstoredb', run: !!esdbUrl, overrides: { EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: esdbUrl ?? '' },
  },
] as const;

const TIMEOUT_MS = 400;

async function counts(): Promise<Record<'passed' | 'waited' | 'timeout', number>> {
  const out = { passed: 0, waited: 0, timeout: 0 };
  for (const v of (await consistencyChecks.get()).values) out[v.labels.outcome as keyof typeof out] = v.value;
  return out;
}

interface Route {
  method: string;
  url: string;
  readModels: readonly string[];
  consistency?: keyof typeof CONSISTENCY;
}

/** Not ours: @bull-board/fastify registers these (the queue dashboard reads BullMQ's state in Redis). */
const foreign = (url: string) => url.startsWith('/admin/queues');

describe.each(adapters.map((a) => [a.name, a] as const))('X-Consistent-After on every query route, %s', (_name, adapter) => {
  if (!adapter.run) {
    it.skip('skipped: no EventStoreDB server here (EVENTSTORE_URL is not set)', () => undefined);
    return;
  }
  let t: TestServices;
  let app: FastifyInstance;
  let writer: LoggedIn;
  let reader: LoggedIn;
  let projector: ProjectorHandle | undefined;
  let fill: (url: string) => string;
  const routes: Route[] = [];

  beforeAll(async () => {
    t = await testServices(adapter.kind === 'postgres' ? 'rywall' : 'rywallesdb', { READ_YOUR_WRITES_TIMEOUT_MS: String(TIMEOUT_MS), ...adapter.overrides });
    app = await buildHttpApp(t, async (a, s) => {
      a.addHook('onRoute', (r: RouteOptions) => {
        routes.push({ method: String(r.method), url: r.url, readModels: r.config?.readModels ?? [], consistency: r.config?.consistency });
      });
      await registerRoutes(a, s);
    });
    await app.ready();
    writer = await adminLogin(app, t);
    // A second session of the same admin: it reads, it never writes after its login.
    reader = await login(app, { email: writer.email, password: writer.password });
    const feature = `every${Date.now()}`;
    expect((await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(writer.accessToken), payload: { name: feature } })).statusCode).toBe(201);
    const key = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(writer.accessToken), payload: { name: 'k', features: '*' } });
    expect(key.statusCode).toBe(201);
    fill = routeFiller({ userId: writer.userId, keyId: key.json().id, feature });
    // Everything so far projected, then the projector stops.
    const warm = startProjector(t);
    expect(await app.checkpoints.wait(app.checkpoints.names, await t.store.headPosition(), 60_000)).toBe(true);
    await warm.stop();
  }, 120_000);

  afterAll(async () => {
    await projector?.stop();
    await app?.close();
    await t?.close();
  });

  /** The routes this test calls: every GET route (not wildcards, not the test-only sleep) and the query POSTs. */
  function queryRoutes(): (Route & { call: 'GET' | 'POST' })[] {
    const posts = queryPosts('');
    const out: (Route & { call: 'GET' | 'POST' })[] = [];
    for (const r of routes) {
      const methods = r.method.split(',');
      if (r.url.includes('*') || r.url.startsWith('/__test') || foreign(r.url)) continue;
      if (methods.includes('GET')) out.push({ ...r, call: 'GET' });
      else if (methods.includes('POST') && r.url in posts) out.push({ ...r, call: 'POST' });
    }
    return out;
  }

  function call(r: Route & { call: 'GET' | 'POST' }, headers: Record<string, string> = {}) {
    return app.inject({
      method: r.call, url: fill(r.url), headers: { ...bearer(reader.accessToken), 'x-api-key': 'x', ...headers },
      ...(r.call === 'POST' ? { payload: queryPosts(reader.accessToken)[r.url] } : {}),
    });
  }

  it('every GET route declares readModels or a consistency (wildcard asset routes and bull-board aside)', () => {
    const undeclared = routes
      .filter((r) => r.method.split(',').includes('GET') && !r.url.includes('*') && !foreign(r.url))
      .filter((r) => !r.readModels.length && !r.consistency)
      .map((r) => `${r.method} ${r.url}`);
    expect(undeclared).toEqual([]);
    for (const r of routes) if (r.consistency) expect(Object.keys(CONSISTENCY)).toContain(r.consistency);
  });

  it('each query waits for its declared projections, or answers at once for the reason it declares; bad positions are 400', async () => {
    // The writer's write, seen by no projection (the projector is stopped).
    const w = await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(writer.accessToken), payload: { name: `unseen${Date.now()}` } });
    expect(w.statusCode).toBe(201);
    const position = String(w.headers['x-log-position']);
    const otherShape = t.store.kind === 'postgres' ? 'C:1/P:1' : '1.1';
    const problems: string[] = [];
    const waiting: (Route & { call: 'GET' | 'POST' })[] = [];
    const list = queryRoutes();
    expect(list.length).toBeGreaterThan(40);
    for (const r of list) {
      const name = `${r.call} ${r.url} (${r.readModels.length ? r.readModels.join(',') : r.consistency})`;
      const plain = await call(r);
      const before = await counts();
      const started = Date.now();
      const res = await call(r, { 'x-consistent-after': position });
      const took = Date.now() - started;
      const after = await counts();
      if (res.statusCode >= 500 && res.statusCode !== 503 && res.statusCode !== plain.statusCode) problems.push(`${name}: ${res.statusCode} with a position`);
      if (r.readModels.length) {
        waiting.push(r);
        if (res.statusCode !== 503 || res.json().code !== 'projection_behind') problems.push(`${name}: ${res.statusCode} with an unprojected position, expected 503 projection_behind`);
        else if (!(Number(res.headers['retry-after']) >= 1)) problems.push(`${name}: 503 without Retry-After`);
        if (took > TIMEOUT_MS + 3000) problems.push(`${name}: took ${took} ms (timeout ${TIMEOUT_MS})`);
        if (after.timeout !== before.timeout + 1) problems.push(`${name}: the timeout was not counted`);
      } else {
        // /ready may change between two calls (it reads the projections' lag); every other answer is the same.
        if (r.url !== '/ready' && res.statusCode !== plain.statusCode) problems.push(`${name}: ${res.statusCode} with a position, ${plain.statusCode} without`);
        if (after.waited !== before.waited || after.timeout !== before.timeout) problems.push(`${name}: waited, though it declares ${r.consistency}`);
        const counted = after.passed - before.passed;
        if (counted !== (r.consistency === 'log' ? 1 : 0)) problems.push(`${name}: ${counted} consistency checks`);
      }
      const reads = r.readModels.length > 0 || r.consistency === 'log' || r.consistency === 'stream';
      for (const bad of ['yesterday', otherShape, '1.2.3', `${2n ** 64n}.1`, '', ' ']) {
        const b = await call(r, { 'x-consistent-after': bad });
        if (b.statusCode >= 500 && b.statusCode !== plain.statusCode && r.url !== '/ready') problems.push(`${name}: ${b.statusCode} for X-Consistent-After ${JSON.stringify(bad)}`);
        if (!reads) continue;
        if (b.statusCode !== 400 || b.json().code !== 'invalid_log_position' || !String(b.headers['content-type']).includes('application/problem+json')) {
          problems.push(`${name}: ${b.statusCode} ${b.body.slice(0, 80)} for X-Consistent-After ${JSON.stringify(bad)}, expected 400 invalid_log_position`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(waiting.length).toBeGreaterThan(15);

    // The projector runs (and has passed the position: a cold start can outlast the short timeout
    // here): each waiting route now answers as it does without the header.
    projector = startProjector(t);
    expect(await app.checkpoints.wait(app.checkpoints.names, parsePosition(t.store.kind, position)!, 60_000)).toBe(true);
    for (const r of waiting) {
      const plain = await call(r);
      const res = await call(r, { 'x-consistent-after': position });
      if (res.statusCode !== plain.statusCode || res.statusCode === 503) problems.push(`${r.call} ${r.url}: ${res.statusCode} with a projected position, ${plain.statusCode} without`);
    }
    expect(problems).toEqual([]);
  }, 120_000);

  describe.runIf(adapter.kind === 'postgres')('the log route waits for the visibility horizon', () => {
    let held: pg.Client | undefined;
    afterAll(async () => {
      await held?.query('ROLLBACK').catch(() => undefined);
      await held?.end().catch(() => undefined);
    });

    it('GET /api/v1/audit/events with the position of a write behind an open older transaction waits, then shows it', async () => {
      held = new pg.Client({ connectionString: t.config.DATABASE_URL });
      await held.connect();
      await held.query('BEGIN');
      await held.query('SELECT pg_current_xact_id()'); // an xid older than the write's: the horizon stays below it
      const name = `held${Date.now()}`;
      const w = await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(writer.accessToken), payload: { name } });
      expect(w.statusCode).toBe(201);
      const position = String(w.headers['x-log-position']);
      const url = '/api/v1/audit/events?type=FeatureRegistered&limit=100';
      const shows = (body: string) => body.includes(name);

      // Without the header, a session that did not write reads the stable log at once: not there yet.
      const plain = await app.inject({ method: 'GET', url, headers: bearer(reader.accessToken) });
      expect(plain.statusCode).toBe(200);
      expect(shows(plain.body)).toBe(false);

      // With it: past the timeout while the older transaction stays open, 503.
      let before = await counts();
      const late = await app.inject({ method: 'GET', url, headers: { ...bearer(reader.accessToken), 'x-consistent-after': position } });
      expect(late.statusCode).toBe(503);
      expect(late.json().code).toBe('projection_behind');
      expect(Number(late.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect((await counts()).timeout).toBe(before.timeout + 1);

      // The older transaction ends while the query waits: it answers with the write.
      before = await counts();
      const pending = app.inject({ method: 'GET', url, headers: { ...bearer(reader.accessToken), 'x-consistent-after': position } });
      setTimeout(() => void held!.query('COMMIT'), 100);
      const ok = await pending;
      expect(ok.statusCode).toBe(200);
      expect(shows(ok.body)).toBe(true);
      expect((await counts()).waited).toBe(before.waited + 1);

      // The writing session needs no header: its own position is remembered.
      const own = await app.inject({ method: 'GET', url, headers: bearer(writer.accessToken) });
      expect(own.statusCode).toBe(200);
      expect(shows(own.body)).toBe(true);
    }, 30_000);
  });
});
