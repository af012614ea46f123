/**
 * Read-your-writes (issue 11) over a real HTTP server and one keep-alive connection: every chained
 * command → query pair reads its own write 200 times in a row, with the projector in this process
 * and in another process (ROLES=projector); a stopped projection answers 503 projection_behind;
 * other sessions are not held back (the wait counter says so). On both adapters: PostgreSQL always,
 * EventStoreDB when EVENTSTORE_URL is set (skipped otherwise, with the reason in its name).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { adminLogin, signupAndLogin, type LoggedIn } from '../helpers/auth';
import { startProjector, type ProjectorHandle } from '../../src/projections/runtime';
import { consistencyChecks, consistencyWait, rememberSessionPosition, sessionPosition, sessionWriteKey } from '../../src/http/read-your-writes';
import { formatPosition, parsePosition, type EventStore } from '../../src/events/store';
import { freePort, keepAliveClient, pairs, splitClient, type Client } from './support';

const ROUNDS = Number(process.env.RYW_ROUNDS ?? 200);
// RYW_TIMEOUT_MS: room for a loaded machine (the wait itself is what is tested; 1500 ms is plenty on an idle one).
const TIMEOUT_MS = Number(process.env.RYW_TIMEOUT_MS ?? 1500);

/** The wait histogram's count and sum (seconds). */
async function waits(): Promise<{ count: number; sum: number }> {
  const m = await consistencyWait.get();
  const v = (name: string) => m.values.find((x) => x.metricName === name)?.value ?? 0;
  return { count: v('authledger_read_your_writes_wait_seconds_count'), sum: v('authledger_read_your_writes_wait_seconds_sum') };
}

async function counts(): Promise<{ passed: number; waited: number; timeout: number }> {
  const m = await consistencyChecks.get();
  const out = { passed: 0, waited: 0, timeout: 0 } as Record<string, number> & { passed: number; waited: number; timeout: number };
  for (const v of m.values) out[String(v.labels.outcome)] = v.value;
  return out;
}

const esdbUrl = process.env.EVENTSTORE_URL;
const adapters: { name: string; kind: EventStore['kind']; run: boolean; overrides: Record<string, string> }[] = [
  { name: 'PostgreSQL', kind: 'postgres', run: true, overrides: {} },
  {
    name: `EventStoreDB${esdbUrl ? '' : ' (skipped: EVENTSTORE_URL not set, no EventStoreDB server on this machine)'}`,
    kind: 'eventstoredb', run: !!esdbUrl, overrides: { EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: esdbUrl ?? '' },
  },
];
/** The adapter's own position shape, as X-Log-Position carries it. */
const SHAPES: Record<EventStore['kind'], RegExp> = { postgres: /^\d+\.\d+$/, eventstoredb: /^C:\d+\/P:\d+$/ };

describe.each(adapters.map((a) => [a.name, a] as const))('read-your-writes on %s', (_name, adapter) => {
  if (!adapter.run) {
    it.skip('skipped: no EventStoreDB server here (EVENTSTORE_URL is not set)', () => undefined);
    return;
  }
  const shape = SHAPES[adapter.kind];
  let t: Awaited<ReturnType<typeof testApp>>;
  let port: number;
  let c: Client;
  let admin: LoggedIn;
  let other: LoggedIn;
  let projector: ProjectorHandle | undefined;

  beforeAll(async () => {
    // The suite can outlast the default 15-minute access token on a busy CI machine (it did: 401 in round ~150 of mode 3).
    t = await testApp(adapter.kind === 'postgres' ? 'ryw' : 'rywesdb', { READ_YOUR_WRITES_TIMEOUT_MS: String(TIMEOUT_MS), ACCESS_TOKEN_TTL: '2h', ...adapter.overrides });
    port = await freePort();
    await t.app.listen({ port, host: '127.0.0.1' });
    admin = await adminLogin(t.app, t.services);
    other = await signupAndLogin(t.app);
    // The logins' own writes projected (a session's login is its first write): then stopped, so
    // the first test starts with every projection current and none running. A long-lived
    // EventStoreDB holds every earlier run's events, which a new prefix's projections read from
    // the start (about 57 s for ~12k events against the KurrentDB-protocol peer): hence 240 s.
    const warm = startProjector(t.services);
    const started = Date.now();
    expect(await t.app.checkpoints.wait(t.app.checkpoints.names, await t.services.store.headPosition(), 240_000)).toBe(true);
    if (adapter.kind !== 'postgres') console.log(`[read-your-writes] ${adapter.name}: projections caught up with the store in ${Date.now() - started} ms`);
    await warm.stop();
    c = keepAliveClient(port);
  }, 300_000);

  afterAll(async () => {
    c?.close();
    await projector?.stop();
    await t?.close();
  });

  it('a session keeps its newest position when its writes are answered out of order', async () => {
    const sid = `s-${Date.now()}`;
    const newer = { commit: 900n, prepare: 10n };
    await rememberSessionPosition(t.services.redis, t.services.prefix, sid, newer, 60_000);
    await rememberSessionPosition(t.services.redis, t.services.prefix, sid, { commit: 899n, prepare: 99_999n }, 60_000);
    await rememberSessionPosition(t.services.redis, t.services.prefix, sid, { commit: 900n, prepare: 9n }, 60_000);
    expect(await sessionPosition(t.services.redis, t.services.prefix, sid)).toEqual(newer);
    await rememberSessionPosition(t.services.redis, t.services.prefix, sid, { commit: 900n, prepare: 11n }, 60_000);
    expect(await sessionPosition(t.services.redis, t.services.prefix, sid)).toEqual({ commit: 900n, prepare: 11n });
    // Digits of different lengths still order by value.
    await rememberSessionPosition(t.services.redis, t.services.prefix, sid, { commit: 10_000n, prepare: 1n }, 60_000);
    expect(await sessionPosition(t.services.redis, t.services.prefix, sid)).toEqual({ commit: 10_000n, prepare: 1n });
    expect(await t.services.redis.pttl(sessionWriteKey(t.services.prefix, sid))).toBeGreaterThan(50_000);
  });

  it('a command of a signed-in session has its position remembered as its append returns: the stored position is the answer\'s X-Log-Position, once per request', async () => {
    const eval0 = t.services.redis.eval.bind(t.services.redis);
    let remembers = 0;
    const spy = ((...args: Parameters<typeof eval0>) => {
      if (String(args[0]).includes("redis.call('GET', KEYS[1])")) remembers++;
      return eval0(...args);
    }) as typeof eval0;
    // A session of its own: with the projector stopped here, a session that wrote waits on its reads.
    const writer = await signupAndLogin(t.app);
    t.services.redis.eval = spy;
    try {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: { authorization: `Bearer ${writer.accessToken}` }, payload: { name: 'ryw', features: '*' } });
      expect(res.statusCode, res.body).toBe(201);
      const header = String(res.headers['x-log-position']);
      expect(header).toMatch(shape);
      expect(await sessionPosition(t.services.redis, t.services.prefix, writer.sessionId)).toEqual(parsePosition(adapter.kind, header));
      expect(remembers).toBe(1);
    } finally {
      t.services.redis.eval = eval0;
    }
  });

  it('positions are opaque per adapter and round-trip', () => {
    const p = { commit: 123n, prepare: 45n };
    expect(formatPosition('postgres', p)).toBe('123.45');
    expect(parsePosition('postgres', '123.45')).toEqual(p);
    expect(parsePosition('eventstoredb', formatPosition('eventstoredb', p))).toEqual(p);
    for (const bad of ['', '1', '1.', '.1', '1.2.3', 'C:1/P:2', '-1.2', `${2n ** 64n}.1`, '1.2 ']) {
      expect(parsePosition('postgres', bad.trimEnd() === bad ? bad : `${bad}x`)).toBeUndefined();
    }
  });

  it('with the projector stopped, a query that must see the session\u2019s write answers 503 projection_behind within the timeout', async () => {
    // A name of this run: an EventStoreDB server is shared by every run (feature streams are named after the feature).
    const stopped = `stopped-${Date.now()}`;
    const w = await c.req('POST', '/api/v1/features', { token: admin.accessToken, body: { name: stopped } });
    expect(w.status).toBe(201);
    const position = w.headers['x-log-position'] as string;
    expect(position).toMatch(shape);
    const before = await counts();
    const waitedBefore = await waits();
    const started = Date.now();
    const r = await c.req('GET', `/api/v1/features/${stopped}`, { token: admin.accessToken });
    expect(r.status).toBe(503);
    expect(r.headers['content-type']).toContain('application/problem+json');
    expect(r.body.code).toBe('projection_behind');
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 5000);
    expect((await counts()).timeout).toBe(before.timeout + 1);
    // The wait histogram holds that query, having waited the whole timeout (within its bounds).
    const waitedAfter = await waits();
    expect(waitedAfter.count).toBe(waitedBefore.count + 1);
    expect(waitedAfter.sum - waitedBefore.sum).toBeGreaterThanOrEqual((TIMEOUT_MS - 50) / 1000);
    expect(waitedAfter.sum - waitedBefore.sum).toBeLessThan((TIMEOUT_MS + 5000) / 1000);

    // Another session did not write: it reads at once (no wait counted) and is not held back.
    const mid = await counts();
    const o = await c.req('GET', '/api/v1/features', { token: other.accessToken });
    expect(o.status).toBe(200);
    const k = await c.req('GET', '/api/v1/api-keys', { token: other.accessToken });
    expect(k.status).toBe(200);
    // Its own login is projected already: it may pass the check, it never waits.
    const now = await counts();
    expect({ waited: now.waited, timeout: now.timeout }).toEqual({ waited: mid.waited, timeout: mid.timeout });

    // … unless it asks for that position explicitly.
    const explicit = await c.req('GET', '/api/v1/features', { token: other.accessToken, headers: { 'x-consistent-after': position } });
    expect(explicit.status).toBe(503);
    const bad = await c.req('GET', '/api/v1/features', { token: other.accessToken, headers: { 'x-consistent-after': 'yesterday' } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_log_position');
    // The other adapter's position shape is not one of this server's positions.
    const foreign = await c.req('GET', '/api/v1/features', { token: other.accessToken, headers: { 'x-consistent-after': adapter.kind === 'postgres' ? 'C:1/P:2' : '1.2' } });
    expect(foreign.status).toBe(400);
    expect(foreign.body.code).toBe('invalid_log_position');

    // The hot paths never wait (nor read the session's position), even for the writing session.
    const hot = await counts();
    expect((await c.req('GET', '/api/v1/auth/verify', { token: admin.accessToken })).status).toBe(200);
    expect((await c.req('GET', '/api/v1/auth/me', { token: admin.accessToken })).status).toBe(200);
    expect(await counts()).toEqual(hot);

    // A session started by a login (no session of its own yet) reads its own login: the position
    // is remembered for the new session, so its first query waits for the user_streams index too.
    const li = await c.req('POST', '/api/v1/auth/login', { body: { email: other.email, password: other.password } });
    expect(li.status).toBe(200);
    expect(li.headers['x-log-position']).toMatch(shape);
    const fresh = await c.req('GET', `/api/v1/audit/users/${other.userId}/events`, { token: li.body.access_token });
    expect(fresh.status).toBe(503);
    expect(fresh.body.code).toBe('projection_behind');

    // The projector starts: the same query now waits for it and answers.
    projector = startProjector(t.services);
    const after = await c.req('GET', `/api/v1/features/${stopped}`, { token: admin.accessToken, headers: { 'x-consistent-after': position } });
    expect(after.status).toBe(200);
    expect(after.body.name).toBe(stopped);
  }, 30_000);

  // Three deployments of the same chained pairs (each with a fresh user, so a list's first page is
  // not filled by an earlier mode's keys):
  // - 'in this process': the projector runs beside the API that serves both the write and the read;
  // - 'in another process (ROLES=projector)': this API only hears the checkpoint notices;
  // - 'write through another API process': the write goes to a second API process (ROLES=api,projector,
  //   the same DB and Redis), the read to this one: the session's position was remembered by the other
  //   process and this process's feed only hears the other process's notices.
  describe.each([['in this process'], ['in another process (ROLES=projector)'], ['write through another API process (ROLES=api,projector), read here']])('projector %s', (mode) => {
    let child: ChildProcess | undefined;
    let childPort = 0;
    let output = '';
    let writer: Client;
    let reader: Client;
    let mine: LoggedIn;

    beforeAll(async () => {
      mine = await signupAndLogin(t.app);
      reader = keepAliveClient(port);
      writer = reader;
      if (mode.startsWith('in this')) {
        projector ??= startProjector(t.services);
        return;
      }
      await projector?.stop();
      projector = undefined;
      const cfg = t.services.config;
      const api = mode.startsWith('write through');
      childPort = await freePort();
      child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        env: {
          ...process.env, NODE_ENV: 'test', ROLES: api ? 'api,projector' : 'projector', LOG_LEVEL: 'warn', PORT: String(childPort), HOST: '127.0.0.1',
          DATABASE_URL: cfg.DATABASE_URL, REDIS_URL: cfg.REDIS_URL, REDIS_PREFIX: t.services.prefix, DATA_DIR: cfg.DATA_DIR,
          PASSWORD_PEPPER: cfg.PASSWORD_PEPPER, BCRYPT_COST: '4', READ_YOUR_WRITES_TIMEOUT_MS: String(TIMEOUT_MS), ACCESS_TOKEN_TTL: '2h',
          RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_AUTH_PER_MINUTE: '0', COOKIE_SECURE: 'false', ...adapter.overrides,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.on('data', (d) => (output += d));
      child.stderr!.on('data', (d) => (output += d));
      if (api) writer = keepAliveClient(childPort);
      // Up when it has projected a fresh write (this process's feed hears it from the other process).
      const started = Date.now();
      for (;;) {
        const w = await writer.req('POST', '/api/v1/features', { token: admin.accessToken, body: { name: `probe-${Date.now()}` } }).catch(() => undefined);
        const at = w?.status === 201 ? parsePosition(adapter.kind, String(w.headers['x-log-position'])) : undefined;
        if (at && (await t.app.checkpoints.wait(t.app.checkpoints.names, at, 2000))) break;
        if (Date.now() - started > 60_000 || child.exitCode !== null) throw new Error(`${mode} did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }, 90_000);

    afterAll(async () => {
      if (writer !== reader) writer?.close();
      reader?.close();
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });

    it(`every chained pair reads its own write ${ROUNDS} times in a row over one keep-alive connection`, async () => {
      // Unique per run: an EventStoreDB server keeps the feature streams of earlier runs.
      const tag = `${mode.startsWith('in this') ? 'a' : mode.startsWith('in another') ? 'b' : 'c'}${Date.now().toString(36)}`;
      const c = splitClient(writer, reader);
      const list = pairs(c, { token: mine.accessToken, userId: mine.userId, email: mine.email, password: mine.password }, { token: admin.accessToken, userId: admin.userId }, tag, shape);
      const sockets = { reader: reader.sockets(), writer: writer.sockets() };
      const before = await counts();
      const seen: Record<string, number> = {};
      for (const pair of list) {
        for (let i = 0; i < ROUNDS; i++) {
          await pair.round(i);
          seen[pair.name] = (seen[pair.name] ?? 0) + 1;
        }
      }
      for (const pair of list) expect(seen[pair.name]).toBe(ROUNDS);
      // One keep-alive connection all along to each API process.
      expect(reader.sockets()).toBe(Math.max(1, sockets.reader));
      expect(writer.sockets()).toBe(Math.max(1, sockets.writer));
      const after = await counts();
      expect(after.timeout).toBe(before.timeout);
      // The reads here went through the consistency check (passed at once or woke on an advance).
      expect(after.passed + after.waited - before.passed - before.waited).toBeGreaterThan(ROUNDS * list.length);
    }, 900_000);
  });
});
