/**
 * The audit API over real routes: a history scripted through signup, login, feature, API key,
 * revoke and logout, then read back as events and as state at several moments; pagination,
 * filters, redaction, bad input, and who may read what. Runs on both adapters: PostgreSQL, and
 * EventStoreDB when EVENTSTORE_URL is set (skipped otherwise, with the reason in its name). An
 * EventStoreDB server is shared and keeps every run's events, so names are unique per run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { adminLogin, bearer, login, signup, signupAndLogin, type LoggedIn } from '../helpers/auth';
import { startProjector, type ProjectorHandle } from '../../src/projections/runtime';
import { caughtUp } from '../helpers/users';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A moment strictly between the previous request's events and the next one's. */
async function moment(): Promise<Date> {
  await sleep(15);
  const t = new Date();
  await sleep(15);
  return t;
}

const esdbUrl = process.env.EVENTSTORE_URL;
const adapters = [
  { name: 'PostgreSQL', label: 'auditapi', overrides: {} as Record<string, string>, skip: false },
  {
    name: `EventStoreDB${esdbUrl ? '' : ' (skipped: EVENTSTORE_URL not set, no EventStoreDB server on this machine)'}`,
    label: 'auditapiesdb',
    overrides: { EVENT_STORE: 'eventstoredb', EVENTSTORE_URL: esdbUrl ?? '' },
    skip: !esdbUrl,
  },
];

for (const adapter of adapters) describe.skipIf(adapter.skip)(`audit API on ${adapter.name}`, () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  // As in production: the projector runs, so the routes that read the user_streams index answer
  // a session's read after its own write (read-your-writes waits for the index).
  let projector: ProjectorHandle | undefined;
  let a: LoggedIn;
  let b: LoggedIn;
  let admin: LoggedIn;
  let keyId: string;
  const feature = `reports${Math.random().toString(36).slice(2, 8)}`;
  const m = {} as Record<'start' | 'beforeSignup' | 'afterLogin' | 'afterKeyIssued' | 'afterKeyRevoked' | 'afterLogout', Date>;

  const get = (url: string, who?: LoggedIn) => t.app.inject({ method: 'GET', url, headers: who ? bearer(who.accessToken) : {} });

  beforeAll(async () => {
    t = await testApp(adapter.label, adapter.overrides);
    projector = startProjector(t.services);
    await caughtUp(t.services);
    m.start = await moment();
    admin = await adminLogin(t.app, t.services);
    const f = await t.app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.accessToken), payload: { name: feature, description: 'Reports' } });
    expect(f.statusCode).toBe(201);
    m.beforeSignup = await moment();
    const s = await signup(t.app, { name: 'Ada' });
    await sleep(5);
    a = await login(t.app, { email: s.email, deviceName: 'laptop', userAgent: 'AuditTest/1.0', ip: '203.0.113.9' });
    // A second device, still signed in at the end.
    await login(t.app, { email: s.email, deviceName: 'phone' });
    m.afterLogin = await moment();
    const k = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: { ...bearer(a.accessToken), 'x-request-id': 'issue-key-1' }, payload: { name: 'ci', features: [feature] } });
    expect(k.statusCode, k.body).toBe(201);
    keyId = k.json().id;
    m.afterKeyIssued = await moment();
    const r = await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${keyId}`, headers: bearer(a.accessToken) });
    expect([200, 204]).toContain(r.statusCode);
    m.afterKeyRevoked = await moment();
    const lo = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(a.accessToken) });
    expect(lo.statusCode).toBe(204);
    m.afterLogout = await moment();
    // A logs in again (the old token is dead after logout) to read their own audit trail.
    a = await login(t.app, { email: s.email, deviceName: 'laptop-2' });
    b = await signupAndLogin(t.app);
  });
  afterAll(async () => {
    await projector?.stop();
    await t?.close();
  });

  it("returns the user's history in order, with metadata, secrets redacted", async () => {
    const res = await get(`/api/v1/audit/users/${a.userId}/events?limit=200`, a);
    expect(res.statusCode, res.body).toBe(200);
    const { events, next_cursor } = res.json();
    expect(next_cursor).toBeNull();
    const types: string[] = events.map((e: { type: string }) => e.type);
    expect(types[0]).toBe('EmailReserved');
    expect(types).toContain('UserRegistered');
    const order = ['UserRegistered', 'SessionStarted', 'ApiKeyIssued', 'ApiKeyRevoked', 'SessionRevoked'].map((x) => types.indexOf(x));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((x, y) => x - y)).toEqual(order);
    const times = events.map((e: { time: string }) => e.time);
    expect([...times].sort()).toEqual(times);
    const started = events.find((e: { type: string; data: { deviceName?: string } }) => e.type === 'SessionStarted' && e.data.deviceName === 'laptop');
    expect(started.metadata).toMatchObject({ ip: '203.0.113.9', user_agent: 'AuditTest/1.0' });
    expect(started.metadata.request_id).toBeTruthy();
    const issued = events.find((e: { type: string }) => e.type === 'ApiKeyIssued');
    expect(issued.metadata).toMatchObject({ request_id: 'issue-key-1', actor_user_id: a.userId });
    const revoked = events.find((e: { type: string }) => e.type === 'SessionRevoked');
    expect(revoked.data.reason).toBe('logout');
    const registered = events.find((e: { type: string }) => e.type === 'UserRegistered');
    expect(registered.data.passwordHash).toBe('[redacted]');
    expect(started.data.refreshTokenHash).toBe('[redacted]');
    expect(issued.data.secretHash).toBe('[redacted]');
    expect(res.body).not.toMatch(/\$2[aby]\$/);
  });

  it('pages with a cursor and filters by type and time', async () => {
    const all = (await get(`/api/v1/audit/users/${a.userId}/events?limit=200`, a)).json().events.map((e: { id: string }) => e.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 50; i++) {
      const res = await get(`/api/v1/audit/users/${a.userId}/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`, a);
      expect(res.statusCode).toBe(200);
      const page = res.json();
      expect(page.events.length).toBeLessThanOrEqual(2);
      seen.push(...page.events.map((e: { id: string }) => e.id));
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(all);

    const sessions = (await get(`/api/v1/audit/users/${a.userId}/events?type=SessionStarted,SessionRevoked`, a)).json().events;
    expect(new Set(sessions.map((e: { type: string }) => e.type))).toEqual(new Set(['SessionStarted', 'SessionRevoked']));
    expect(sessions.filter((e: { type: string }) => e.type === 'SessionStarted')).toHaveLength(3);

    const window = (await get(`/api/v1/audit/users/${a.userId}/events?from=${m.afterLogin.toISOString()}&to=${m.afterKeyRevoked.toISOString()}`, a)).json().events;
    expect(window.map((e: { type: string }) => e.type)).toEqual(['ApiKeyIssued', 'ApiKeyRevoked']);
  });

  it('answers the state at several moments', async () => {
    const state = (at: Date) => get(`/api/v1/audit/users/${a.userId}/state?at=${encodeURIComponent(at.toISOString())}`, a);
    const before = await state(m.beforeSignup);
    expect(before.statusCode).toBe(404);
    expect(before.headers['content-type']).toContain('application/problem+json');

    const s1 = (await state(m.afterKeyIssued)).json();
    expect(s1.profile).toMatchObject({ name: 'Ada', status: 'active', source: 'signup' });
    expect(s1.sessions.map((s: { device_name: string }) => s.device_name).sort()).toEqual(['laptop', 'phone']);
    expect(s1.sessions.find((s: { device_name: string }) => s.device_name === 'laptop')).toMatchObject({ ip: '203.0.113.9', user_agent: 'AuditTest/1.0' });
    expect(s1.api_keys).toEqual([expect.objectContaining({ id: keyId, name: 'ci', features: [feature] })]);
    expect(s1.features).toEqual([feature]);

    const s2 = (await state(m.afterKeyRevoked)).json();
    expect(s2.api_keys).toEqual([]);
    expect(s2.features).toEqual([]);
    expect(s2.sessions).toHaveLength(2);

    const s3 = (await state(m.afterLogout)).json();
    expect(s3.sessions.map((s: { device_name: string }) => s.device_name)).toEqual(['phone']);
    expect(JSON.stringify(s3)).not.toMatch(/hash/i);

    const sLogin = (await state(m.afterLogin)).json();
    expect(sLogin.api_keys).toEqual([]);
  });

  it('refuses bad input with 400 problems', async () => {
    for (const url of [
      `/api/v1/audit/users/${a.userId}/state?at=yesterday`,
      `/api/v1/audit/users/${a.userId}/events?cursor=not-a-cursor`,
      `/api/v1/audit/users/${a.userId}/events?type=NoSuchEvent`,
      `/api/v1/audit/users/${a.userId}/events?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z`,
      `/api/v1/audit/users/${a.userId}/events?limit=0`,
      `/api/v1/audit/events?from=nope`,
    ]) {
      const res = await get(url, url.includes('/audit/events') ? admin : a);
      expect(res.statusCode, url).toBe(400);
      expect(res.headers['content-type'], url).toContain('application/problem+json');
    }
  });

  it('only the user or an admin may read a trail; anonymous callers get 401', async () => {
    expect((await get(`/api/v1/audit/users/${a.userId}/events`)).statusCode).toBe(401);
    expect((await get(`/api/v1/audit/users/${a.userId}/state`)).statusCode).toBe(401);
    expect((await get(`/api/v1/audit/events`)).statusCode).toBe(401);
    expect((await get(`/api/v1/audit/users/${a.userId}/events`, b)).statusCode).toBe(403);
    expect((await get(`/api/v1/audit/users/${a.userId}/state`, b)).statusCode).toBe(403);
    expect((await get(`/api/v1/audit/events`, b)).statusCode).toBe(403);
    expect((await get(`/api/v1/audit/users/${a.userId}/events`, admin)).statusCode).toBe(200);
    expect((await get(`/api/v1/audit/users/${a.userId}/state`, admin)).statusCode).toBe(200);
    expect((await get(`/api/v1/audit/users/does-not-exist/events`, admin)).statusCode).toBe(404);
  });

  it('lets admins search the whole log by type, stream, actor and time', async () => {
    const byType = (await get(`/api/v1/audit/events?type=FeatureRegistered&from=${m.start.toISOString()}`, admin)).json();
    expect(byType.events.map((e: { data: { name: string } }) => e.data.name)).toEqual([feature]);
    const byStream = (await get(`/api/v1/audit/events?stream=user-${a.userId}`, admin)).json();
    expect(byStream.events.length).toBeGreaterThan(0);
    expect(byStream.events.every((e: { stream: string }) => e.stream === `user-${a.userId}`)).toBe(true);
    const byActor = (await get(`/api/v1/audit/events?actor=${admin.userId}`, admin)).json();
    expect(byActor.events.map((e: { type: string }) => e.type)).toContain('FeatureRegistered');
    expect(byActor.events.every((e: { metadata: { actor_user_id: string } }) => e.metadata.actor_user_id === admin.userId)).toBe(true);
    const byPrefix = (await get(`/api/v1/audit/events?stream_prefix=apikey-&from=${m.afterLogin.toISOString()}&to=${m.afterLogout.toISOString()}`, admin)).json();
    expect(byPrefix.events.map((e: { type: string }) => e.type)).toEqual(['ApiKeyIssued', 'ApiKeyRevoked']);
    // Cursor pages over the whole log.
    const p1 = (await get('/api/v1/audit/events?limit=3', admin)).json();
    expect(p1.events).toHaveLength(3);
    const p2 = (await get(`/api/v1/audit/events?limit=3&cursor=${p1.next_cursor}`, admin)).json();
    expect(p2.events[0].position).not.toBe(p1.events[2].position);
    expect(p1.events.map((e: { id: string }) => e.id)).not.toContain(p2.events[0].id);
  });
});
