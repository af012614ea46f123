/**
 * Two hub processes (one in this process, one a child process) on the same Redis prefix: group and
 * direct messages cross between them, presence is shared, a client id moves between hubs, each
 * hub ends its own sockets on revocation, and a stopping hub takes its presence with it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { testServices, type TestServices } from '../helpers/app';
import { startRealtime } from '../../src/realtime/index';
import { RealtimeState } from '../../src/realtime/state';
import { accessToken, activeUser, open, sessionEvent, sleep, ticket, type TestUser } from './helpers';
import { buildApp } from '../../src/compose';
import { spawnHub, type ChildHub } from './spawn-hub';

let t: TestServices;
let local: Awaited<ReturnType<typeof startRealtime>>;
let child: ChildHub;
let state: RealtimeState;
const s = randomUUID().slice(0, 6);

beforeAll(async () => {
  t = await testServices('rtmulti');
  local = await startRealtime(t, { port: 0, host: '127.0.0.1' });
  child = await spawnHub({ DATABASE_URL: t.config.DATABASE_URL, REDIS_PREFIX: t.prefix, DATA_DIR: t.config.DATA_DIR });
  state = new RealtimeState(t.redis, t.prefix);
}, 60_000);
afterAll(async () => {
  await child?.stop();
  await local?.stop();
  await t?.close();
});

const at = async (hubPort: number, path: string, user?: TestUser) =>
  `ws://127.0.0.1:${hubPort}${path}?ticket=${await ticket(t, user ?? (await activeUser(t)))}`;

describe('two hub processes', () => {
  it('are different processes with different hub ids', () => {
    expect(child.hub).not.toBe(local.hub.hubId);
    expect(child.child.pid).not.toBe(process.pid);
  });

  it('a group message reaches members on both hubs', async () => {
    const g = `cross-${s}`;
    const a = await open(await at(local.port, `/ws/a-${s}/${g}`));
    const b = await open(await at(child.port, `/ws/b-${s}/${g}`));
    const b2 = await open(await at(child.port, `/ws/b2-${s}/${g}`));
    a.send('/group from the first hub');
    for (const c of [a, b, b2]) expect(await c.next('group_message')).toMatchObject({ text: 'from the first hub', from: `a-${s}` });
    b.send({ type: 'group', text: 'from the second hub' });
    for (const c of [a, b, b2]) expect(await c.next((f) => f.type === 'group_message' && f.text === 'from the second hub')).toMatchObject({ from: `b-${s}` });
    // Exactly once each (no echo from Redis back into the sending hub).
    await sleep(200);
    expect(a.frames.filter((f) => f.type === 'group_message')).toEqual([]);
    // Presence is shared: both hubs' members in one list.
    expect(await state.groupMembers(g)).toEqual([`a-${s}`, `b-${s}`, `b2-${s}`]);
    const hubs = new Set((await state.clients()).filter((c) => c.group === g).map((c) => c.hub));
    expect(hubs).toEqual(new Set([local.hub.hubId, child.hub]));
    for (const c of [a, b, b2]) c.close();
  });

  it('a member joining later on the other hub receives the group’s messages', async () => {
    const g = `late-${s}`;
    const a = await open(await at(local.port, `/ws/la-${s}/${g}`));
    const b = await open(await at(child.port, `/ws/lb-${s}`));
    b.send(`/join ${g}`);
    await b.next('joined');
    a.send('/group welcome late joiner');
    expect(await b.next('group_message')).toMatchObject({ text: 'welcome late joiner' });
    a.close();
    b.close();
  });

  it('a direct message crosses hubs; the sender gets "sent"', async () => {
    const a = await open(await at(local.port, `/ws/da-${s}`));
    const b = await open(await at(child.port, `/ws/db-${s}`));
    a.send(`/send_to db-${s} over Redis`);
    expect(await b.next('direct_message')).toMatchObject({ from: `da-${s}`, text: 'over Redis' });
    expect(await a.next('sent')).toMatchObject({ to: `db-${s}` });
    b.send({ type: 'send_to', to: `da-${s}`, text: 'and back' });
    expect(await a.next('direct_message')).toMatchObject({ from: `db-${s}`, text: 'and back' });
    a.close();
    b.close();
  });

  it('REST in the API reaches clients on a hub in another process', async () => {
    const app = await buildApp(t);
    try {
      const admin = await activeUser(t, ['admin', 'user']);
      const headers = { authorization: `Bearer ${await accessToken(t, admin)}` };
      const b = await open(await at(child.port, `/ws/rb-${s}/api-${s}`));
      const clients = (await app.inject({ method: 'GET', url: '/api/ws/clients', headers })).json<{ clients: { client_id: string; hub: string }[] }>();
      expect(clients.clients.find((c) => c.client_id === `rb-${s}`)?.hub).toBe(child.hub);
      expect((await app.inject({ method: 'POST', url: `/api/ws/broadcast_to_group/api-${s}`, headers, payload: { message: 'via REST' } })).statusCode).toBe(202);
      expect(await b.next('group_message')).toMatchObject({ text: 'via REST', via: 'api' });
      expect((await app.inject({ method: 'POST', url: `/api/v1/realtime/send_to/rb-${s}`, headers, payload: { message: 'dm via REST' } })).statusCode).toBe(202);
      expect(await b.next('direct_message')).toMatchObject({ text: 'dm via REST' });
      b.close();
    } finally {
      await app.close();
    }
  });

  it('a client id reconnecting on the other hub replaces the old connection there', async () => {
    const user = await activeUser(t);
    const first = await open(await at(local.port, `/ws/mover-${s}/g-${s}`, user));
    const second = await open(await at(child.port, `/ws/mover-${s}`, user));
    expect((await first.closed).code).toBe(4409);
    await sleep(100);
    const p = await state.client(`mover-${s}`);
    expect(p?.hub).toBe(child.hub);
    // The remembered group followed it (state in Redis).
    expect(p?.group).toBe(`g-${s}`);
    second.close();
  });

  it('each hub ends its own sockets of a revoked session within 1 s', async () => {
    const user = await activeUser(t);
    const a = await open(await at(local.port, '/ws', user));
    const b = await open(await at(child.port, '/ws', user));
    const started = Date.now();
    await sessionEvent(t, 'SessionRevoked', { sessionId: user.sessionId, userId: user.userId, reason: 'admin' });
    const [ca, cb] = await Promise.all([a.closed, b.closed]);
    expect([ca.code, cb.code]).toEqual([4401, 4401]);
    expect({ local: ca.at - started < 1000, child: cb.at - started < 1000 }).toEqual({ local: true, child: true });
    for (const c of [a, b]) expect(await c.next('session_revoked', 0)).toMatchObject({ reason: 'admin' });
  });

  it('a stopping hub removes its presence from Redis', async () => {
    const extra = await spawnHub({ DATABASE_URL: t.config.DATABASE_URL, REDIS_PREFIX: t.prefix, DATA_DIR: t.config.DATA_DIR });
    const c = await open(await at(extra.port, `/ws/leaving-${s}/bye-${s}`));
    expect((await state.client(`leaving-${s}`))?.hub).toBe(extra.hub);
    await extra.stop();
    expect((await c.closed).code).toBe(1001);
    expect(await state.client(`leaving-${s}`)).toBeNull();
    expect(await state.groupMembers(`bye-${s}`)).toEqual([]);
  }, 60_000);

  it('a hub that was purged (e.g. cut off from Redis too long) registers its connections again', async () => {
    const c = await open(await at(local.port, `/ws/heal-${s}/heal-${s}`));
    await t.redis.zadd(`${state.base}hubs`, Date.now() - 1, local.hub.hubId);
    await state.purgeDeadHubs();
    expect(await state.client(`heal-${s}`)).toBeNull();
    await local.hub.beat();
    expect((await state.client(`heal-${s}`))?.hub).toBe(local.hub.hubId);
    expect(await state.groupMembers(`heal-${s}`)).toEqual([`heal-${s}`]);
    c.close();
  });

  it('a crashed hub’s presence is purged once its heartbeat expires', async () => {
    // Simulate a hub that died without retiring: presence with a heartbeat already in the past.
    await t.redis.zadd(`${state.base}hubs`, Date.now() - 1, 'deadbeefdeadbeef');
    await state.register({ client_id: `ghost-${s}`, user_id: 'u', session_id: 's', group: `haunt-${s}`, hub: 'deadbeefdeadbeef', conn: 'c', since: new Date().toISOString() });
    expect((await state.groups()).find((g) => g.name === `haunt-${s}`)).toBeUndefined();
    expect(await state.client(`ghost-${s}`)).toBeNull();
  });
});
