/**
 * Realtime groups and client ids as rules in the event log (issue 20 §8): private groups (creator,
 * invitation by a member, role), their listing, REST senders named, and a client id that stays its
 * user's across a Redis loss until released or until the user is deleted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { testApp } from '../helpers/app';
import { startRealtime } from '../../src/realtime/index';
import { streams } from '../../src/events/streams';
import { accessToken, activeUser, connect, isRefused, open, type TestUser } from './helpers';

let ctx: Awaited<ReturnType<typeof testApp>>;
let app: FastifyInstance;
let hub: Awaited<ReturnType<typeof startRealtime>>;
let base: string;
const tokens = new Map<TestUser, string>();
const s = randomUUID().slice(0, 6);

beforeAll(async () => {
  ctx = await testApp('rtgroups');
  app = ctx.app;
  hub = await startRealtime(ctx.services, { port: 0, host: '127.0.0.1' });
  base = `ws://127.0.0.1:${hub.port}`;
});
afterAll(async () => {
  await hub?.stop();
  await ctx?.close();
});

async function user(roles: TestUser['roles'] = ['user']): Promise<TestUser> {
  const u = await activeUser(ctx.services, roles);
  tokens.set(u, await accessToken(ctx.services, u));
  return u;
}
const bearer = (u: TestUser) => ({ authorization: `Bearer ${tokens.get(u)}` });
async function ws(path: string, u: TestUser) {
  const res = await app.inject({ method: 'POST', url: '/api/v1/realtime/ticket', headers: bearer(u) });
  return `${base}${path}?ticket=${res.json<{ ticket: string }>().ticket}`;
}
const post = (url: string, u: TestUser, payload: object) => app.inject({ method: 'POST', url, headers: bearer(u), payload });

describe('private groups', () => {
  it('only the creator, invited users and role holders join; a non-member cannot invite', async () => {
    const [owner, guest, stranger, staff] = [await user(), await user(), await user(), await user(['admin', 'user'])];
    const g = `priv-${s}`;
    const created = await post('/api/v1/realtime/groups', owner, { name: g, visibility: 'private', roles: ['admin'] });
    expect([created.statusCode, created.json()]).toEqual([201, { group: g, visibility: 'private', roles: ['admin'], created_by: owner.userId }]);

    // Upgrade with the group in the path: refused for a stranger, with the shared problem shape.
    const refused = await connect(await ws(`/ws/str-${s}/${g}`, stranger));
    expect(isRefused(refused) && [refused.status, refused.body.code]).toEqual([403, 'group_private']);
    // /join over a socket: an error frame, and the socket is not in the group.
    const strangerWs = await open(await ws(`/ws/str-${s}`, stranger));
    strangerWs.send(JSON.stringify({ type: 'join', group: g, id: 'j1' }));
    expect(await strangerWs.next((f) => f.id === 'j1')).toMatchObject({ type: 'error', code: 'group_private' });
    // Text command too.
    strangerWs.send(`/join ${g}`);
    expect(await strangerWs.next((f) => f.type === 'error' && f.code === 'group_private')).toBeTruthy();

    const ownerWs = await open(await ws(`/ws/own-${s}/${g}`, owner));
    const staffWs = await open(await ws(`/ws/staff-${s}/${g}`, staff)); // by role
    // A stranger cannot invite (even themselves); the creator can.
    const selfInvite = await post(`/api/v1/realtime/groups/${g}/invitations`, stranger, { user_id: stranger.userId });
    expect([selfInvite.statusCode, selfInvite.json().code]).toEqual([403, 'group_private']);
    const inv = await post(`/api/v1/realtime/groups/${g}/invitations`, owner, { user_id: guest.userId });
    expect([inv.statusCode, inv.json()]).toEqual([201, { group: g, user_id: guest.userId, invited: true }]);
    expect((await post(`/api/v1/realtime/groups/${g}/invitations`, owner, { user_id: guest.userId })).json().invited).toBe(false);
    const guestWs = await open(await ws(`/ws/guest-${s}`, guest));
    guestWs.send(JSON.stringify({ type: 'join', group: g, id: 'j2' }));
    expect(await guestWs.next((f) => f.id === 'j2')).toMatchObject({ type: 'joined', group: g });
    // An invited member may invite in turn.
    expect((await post(`/api/v1/realtime/groups/${g}/invitations`, guest, { user_id: randomUUID() })).statusCode).toBe(201);

    // Messages reach members only.
    ownerWs.send(JSON.stringify({ type: 'group', text: `secret ${s}` }));
    expect(await guestWs.next((f) => f.type === 'group_message' && f.text === `secret ${s}`)).toBeTruthy();
    expect(await staffWs.next((f) => f.type === 'group_message' && f.text === `secret ${s}`)).toBeTruthy();
    await expect(strangerWs.next((f) => f.type === 'group_message' && f.text === `secret ${s}`, 300)).rejects.toThrow();

    // Listing: the private group is hidden from the stranger (socket and REST), shown to members and admins.
    strangerWs.send(JSON.stringify({ type: 'list_groups', id: 'l1' }));
    const listed = await strangerWs.next((f) => f.id === 'l1');
    expect((listed.groups as { name: string }[]).map((x) => x.name)).not.toContain(g);
    const restStranger = await app.inject({ method: 'GET', url: '/api/v1/realtime/groups', headers: bearer(stranger) });
    expect(restStranger.json<{ groups: { name: string }[] }>().groups.map((x) => x.name)).not.toContain(g);
    const restGuest = await app.inject({ method: 'GET', url: '/api/v1/realtime/groups', headers: bearer(guest) });
    expect(restGuest.json<{ groups: { name: string }[] }>().groups.map((x) => x.name)).toContain(g);
    const admin = await user(['admin', 'user']);
    const restAdmin = await app.inject({ method: 'GET', url: '/api/v1/realtime/groups', headers: bearer(admin) });
    expect(restAdmin.json<{ groups: { name: string }[] }>().groups.map((x) => x.name)).toContain(g);

    // The rules are events in the log, with the actor.
    const log = await ctx.services.store.readStream(streams.realtimeGroup(g));
    expect(log.map((e) => e.type)).toEqual(['RealtimeGroupCreated', 'RealtimeGroupMemberInvited', 'RealtimeGroupMemberInvited']);
    expect(log[1]!.metadata?.actorUserId).toBe(owner.userId);
    for (const c of [strangerWs, ownerWs, staffWs, guestWs]) c.close();
  });

  it('a group is created once; a group with members (made by joining) cannot be taken private; invitations are for private groups', async () => {
    const [a, b] = [await user(), await user()];
    const g = `open-${s}`;
    expect((await post('/api/v1/realtime/groups', a, { name: g })).json()).toMatchObject({ visibility: 'open' });
    const again = await post('/api/v1/realtime/groups', b, { name: g, visibility: 'private' });
    expect([again.statusCode, again.json().code]).toEqual([409, 'group_exists']);
    const inv = await post(`/api/v1/realtime/groups/${g}/invitations`, a, { user_id: b.userId });
    expect([inv.statusCode, inv.json().code]).toEqual([400, 'bad_group']);

    const busy = `busy-${s}`;
    const member = await open(await ws(`/ws/m-${s}/${busy}`, a));
    const hijack = await post('/api/v1/realtime/groups', b, { name: busy, visibility: 'private' });
    expect([hijack.statusCode, hijack.json().code]).toEqual([409, 'group_exists']);
    member.close();
    expect((await post('/api/v1/realtime/groups', b, { name: 'bad name', visibility: 'private' })).statusCode).toBe(400);
    expect((await post('/api/v1/realtime/groups', b, { name: `x-${s}`, visibility: 'secret' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/api/v1/realtime/groups', payload: { name: `y-${s}` } })).statusCode).toBe(401);
  });
});

describe('client ids', () => {
  it('stay their user\'s across a Redis loss, until the owner releases them', async () => {
    const [owner, other] = [await user(), await user()];
    const id = `mine-${s}`;
    const first = await open(await ws(`/ws/${id}`, owner));
    first.close();
    await first.closed;
    // Redis forgets everything about the id: the log still binds it.
    const keys = await ctx.services.redis.keys(`${ctx.services.prefix}rt:*${id}*`);
    if (keys.length) await ctx.services.redis.del(...keys);
    const taken = await connect(await ws(`/ws/${id}`, other));
    expect(isRefused(taken) && [taken.status, taken.body.code]).toEqual([403, 'client_id_taken']);
    // Only the owner releases it.
    const notYours = await app.inject({ method: 'DELETE', url: `/api/v1/realtime/clients/${id}`, headers: bearer(other) });
    expect([notYours.statusCode, notYours.json().code]).toEqual([403, 'client_id_not_yours']);
    expect((await app.inject({ method: 'DELETE', url: `/api/v1/realtime/clients/${id}`, headers: bearer(owner) })).statusCode).toBe(204);
    const twice = await app.inject({ method: 'DELETE', url: `/api/v1/realtime/clients/${id}`, headers: bearer(owner) });
    expect([twice.statusCode, twice.json().code]).toEqual([404, 'client_id_not_claimed']);
    // Released: the other user may take it, and then it is theirs.
    const now = await open(await ws(`/ws/${id}`, other));
    now.close();
    await now.closed;
    const back = await connect(await ws(`/ws/${id}`, owner));
    expect(isRefused(back) && back.body.code).toBe('client_id_taken');
    const log = await ctx.services.store.readStream(streams.realtimeClient(id));
    expect(log.map((e) => e.type)).toEqual(['RealtimeClientIdClaimed', 'RealtimeClientIdReleased', 'RealtimeClientIdClaimed']);
  });

  it('a deleted user\'s id may be taken', async () => {
    const [gone, heir] = [await user(), await user()];
    const id = `left-${s}`;
    const c = await open(await ws(`/ws/${id}`, gone));
    c.close();
    await c.closed;
    const before = await connect(await ws(`/ws/${id}`, heir));
    expect(isRefused(before) && before.body.code).toBe('client_id_taken');
    await ctx.services.store.appendToStream(streams.user(gone.userId), [{ type: 'UserDeleted', data: { userId: gone.userId } }]);
    const after = await open(await ws(`/ws/${id}`, heir));
    after.close();
  });
});
