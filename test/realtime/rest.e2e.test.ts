/**
 * The realtime REST routes (Fastify, via inject) against a live hub on a real socket: tickets,
 * clients, groups, members, send_to, broadcast_to_group — under /api/ws and /api/v1/realtime —
 * the access token in Sec-WebSocket-Protocol, and the test page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { testApp } from '../helpers/app';
import { startRealtime } from '../../src/realtime/index';
import { accessToken, activeUser, connect, isRefused, open, type Client, type TestUser } from './helpers';

let ctx: Awaited<ReturnType<typeof testApp>>;
let app: FastifyInstance;
let hub: Awaited<ReturnType<typeof startRealtime>>;
let base: string;
let admin: TestUser;
let alice: TestUser;
let bob: TestUser;
const tokens = new Map<TestUser, string>();
const s = randomUUID().slice(0, 6);
const G = `room-${s}`;
let aliceWs: Client;
let bobWs: Client;

const bearer = (u: TestUser) => ({ authorization: `Bearer ${tokens.get(u)}` });
async function ticketVia(u: TestUser): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/realtime/ticket', headers: bearer(u) });
  expect(res.statusCode).toBe(201);
  return res.json<{ ticket: string }>().ticket;
}

beforeAll(async () => {
  ctx = await testApp('rtrest');
  app = ctx.app;
  hub = await startRealtime(ctx.services, { port: 0, host: '127.0.0.1' });
  base = `ws://127.0.0.1:${hub.port}`;
  admin = await activeUser(ctx.services, ['admin', 'user']);
  alice = await activeUser(ctx.services);
  bob = await activeUser(ctx.services);
  for (const u of [admin, alice, bob]) tokens.set(u, await accessToken(ctx.services, u));
  aliceWs = await open(`${base}/ws/alice-${s}/${G}?ticket=${await ticketVia(alice)}`);
  bobWs = await open(`${base}/ws/bob-${s}/other-${s}?ticket=${await ticketVia(bob)}`);
});
afterAll(async () => {
  aliceWs?.close();
  bobWs?.close();
  await hub?.stop();
  await ctx?.close();
});

describe('POST /api/v1/realtime/ticket', () => {
  it('needs an access token; returns a 30 s single-use ticket, not cached', async () => {
    expect((await app.inject({ method: 'POST', url: '/api/v1/realtime/ticket' })).statusCode).toBe(401);
    const res = await app.inject({ method: 'POST', url: '/api/v1/realtime/ticket', headers: bearer(alice) });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json<{ ticket: string; expires_in: number }>();
    expect(body.expires_in).toBe(30);
    expect(body.ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Stored hashed: the ticket itself is nowhere in Redis.
    const keys = await ctx.services.redis.keys(`${ctx.services.prefix}rt:ticket:*`);
    expect(keys.some((k) => k.includes(body.ticket))).toBe(false);
    expect(await ctx.services.redis.ttl(keys[0]!)).toBeLessThanOrEqual(30);
  });
});

describe('access token in Sec-WebSocket-Protocol', () => {
  it('is accepted beside authledger.v1 (and never echoed back)', async () => {
    const c = await connect(`${base}/ws`, { protocols: ['authledger.v1', `bearer.${tokens.get(alice)}`] });
    if (isRefused(c)) throw new Error(`refused ${c.status}`);
    expect(c.ws.protocol).toBe('authledger.v1');
    expect(await c.next('welcome')).toMatchObject({ user_id: alice.userId });
    c.close();
  });
  it('a bad token is refused', async () => {
    const c = await connect(`${base}/ws`, { protocols: ['authledger.v1', 'bearer.eyJhbGciOiJFZERTQSJ9.e30.c2ln'] });
    expect(isRefused(c) && [c.status, c.body.code]).toEqual([401, 'invalid_token']);
  });
});

for (const prefix of ['/api/ws', '/api/v1/realtime']) {
  describe(`REST under ${prefix}`, () => {
    it('GET clients: everyone for admins, one’s own otherwise, 401 without a token', async () => {
      expect((await app.inject({ method: 'GET', url: `${prefix}/clients` })).statusCode).toBe(401);
      const all = (await app.inject({ method: 'GET', url: `${prefix}/clients`, headers: bearer(admin) })).json<{ clients: { client_id: string; user_id: string; group: string | null }[] }>();
      expect(all.clients.map((c) => c.client_id)).toEqual(expect.arrayContaining([`alice-${s}`, `bob-${s}`]));
      expect(all.clients.find((c) => c.client_id === `alice-${s}`)).toMatchObject({ user_id: alice.userId, group: G });
      const own = (await app.inject({ method: 'GET', url: `${prefix}/clients`, headers: bearer(alice) })).json<{ clients: { client_id: string }[] }>();
      expect(own.clients.map((c) => c.client_id)).toEqual([`alice-${s}`]);
    });

    it('GET groups: names and member counts', async () => {
      const res = await app.inject({ method: 'GET', url: `${prefix}/groups`, headers: bearer(bob) });
      expect(res.statusCode).toBe(200);
      expect(res.json<{ groups: unknown[] }>().groups).toEqual(expect.arrayContaining([{ name: G, members: 1 }, { name: `other-${s}`, members: 1 }]));
    });

    it('GET groups/{group}: members for members (client ids) and admins (with user ids); 403/404/400 otherwise', async () => {
      const mine = await app.inject({ method: 'GET', url: `${prefix}/groups/${G}`, headers: bearer(alice) });
      expect(mine.json()).toEqual({ group: G, members: [{ client_id: `alice-${s}` }] });
      const asAdmin = await app.inject({ method: 'GET', url: `${prefix}/groups/${G}`, headers: bearer(admin) });
      expect(asAdmin.json()).toEqual({ group: G, members: [{ client_id: `alice-${s}`, user_id: alice.userId }] });
      const notMine = await app.inject({ method: 'GET', url: `${prefix}/groups/${G}`, headers: bearer(bob) });
      expect([notMine.statusCode, notMine.json<{ code: string }>().code]).toEqual([403, 'not_a_member']);
      expect(notMine.headers['content-type']).toContain('application/problem+json');
      expect((await app.inject({ method: 'GET', url: `${prefix}/groups/none-${s}`, headers: bearer(admin) })).statusCode).toBe(404);
      expect((await app.inject({ method: 'GET', url: `${prefix}/groups/bad%20name`, headers: bearer(admin) })).statusCode).toBe(400);
    });

    it('POST send_to/{client_id}: delivers a direct message; 404 when not connected; 400 on bad input', async () => {
      const res = await app.inject({ method: 'POST', url: `${prefix}/send_to/alice-${s}`, headers: bearer(bob), payload: { message: `hi from ${prefix}` } });
      expect(res.statusCode).toBe(202);
      expect(await aliceWs.next((f) => f.type === 'direct_message' && f.text === `hi from ${prefix}`)).toMatchObject({ from: { user: bob.userId }, via: 'api', to: `alice-${s}` });
      const gone = await app.inject({ method: 'POST', url: `${prefix}/send_to/ghost-${s}`, headers: bearer(bob), payload: { message: 'x' } });
      expect([gone.statusCode, gone.json<{ code: string }>().code]).toEqual([404, 'client_not_connected']);
      expect((await app.inject({ method: 'POST', url: `${prefix}/send_to/alice-${s}`, headers: bearer(bob), payload: { message: '' } })).statusCode).toBe(400);
      expect((await app.inject({ method: 'POST', url: `${prefix}/send_to/alice-${s}`, headers: bearer(bob), payload: {} })).statusCode).toBe(400);
      expect((await app.inject({ method: 'POST', url: `${prefix}/send_to/alice-${s}`, headers: bearer(bob), payload: { message: 'x'.repeat(16385) } })).statusCode).toBe(400);
      expect((await app.inject({ method: 'POST', url: `${prefix}/send_to/alice-${s}`, payload: { message: 'x' } })).statusCode).toBe(401);
    });

    it('POST broadcast_to_group/{group}: members and admins; others 403; empty groups 404', async () => {
      const res = await app.inject({ method: 'POST', url: `${prefix}/broadcast_to_group/${G}`, headers: bearer(admin), payload: { message: `all of ${prefix}` } });
      expect(res.statusCode).toBe(202);
      expect(res.json()).toEqual({ group: G, members: 1 });
      expect(await aliceWs.next((f) => f.type === 'group_message' && f.text === `all of ${prefix}`)).toMatchObject({ group: G, from: { admin: admin.userId }, via: 'api' });
      expect((await app.inject({ method: 'POST', url: `${prefix}/broadcast_to_group/${G}`, headers: bearer(alice), payload: { message: 'me too' } })).statusCode).toBe(202);
      const denied = await app.inject({ method: 'POST', url: `${prefix}/broadcast_to_group/${G}`, headers: bearer(bob), payload: { message: 'let me in' } });
      expect(denied.statusCode).toBe(403);
      expect((await app.inject({ method: 'POST', url: `${prefix}/broadcast_to_group/none-${s}`, headers: bearer(admin), payload: { message: 'x' } })).statusCode).toBe(404);
    });
  });
}

describe('OpenAPI', () => {
  it('documents the realtime routes', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const paths = Object.keys(res.json<{ paths: Record<string, unknown> }>().paths);
    for (const p of ['/api/v1/realtime/ticket', '/api/ws/clients', '/api/ws/groups/{group}', '/api/ws/send_to/{client_id}', '/api/v1/realtime/broadcast_to_group/{group}']) expect(paths).toContain(p);
  });
});

describe('test page', () => {
  it('GET /realtime/test serves the group-chat page with the hub port', async () => {
    const res = await app.inject({ method: 'GET', url: '/realtime/test' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('/api/v1/realtime/ticket');
    expect(res.body).toContain(`:${ctx.services.config.REALTIME_PORT}`);
    expect((await app.inject({ method: 'GET', url: '/static/group-chat.html' })).statusCode).toBe(200);
  });
});
