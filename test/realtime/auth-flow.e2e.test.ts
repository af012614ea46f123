/**
 * The whole path through identity's real routes: sign up and log in, get a ticket, open a socket;
 * another login pushes `new_login`; ending a session (logout of that device from elsewhere,
 * refresh-token reuse, an admin disabling the user) closes its sockets within 1 s; the admin
 * audit feed carries those events without secrets; the access token works as a subprotocol.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp } from '../helpers/app';
import { adminLogin, bearer, login, signupAndLogin, type LoggedIn } from '../helpers/auth';
import { startRealtime } from '../../src/realtime/index';
import { connect, isRefused, open } from './helpers';

let ctx: Awaited<ReturnType<typeof testApp>>;
let app: FastifyInstance;
let hub: Awaited<ReturnType<typeof startRealtime>>;
let base: string;

beforeAll(async () => {
  ctx = await testApp('rtflow');
  app = ctx.app;
  hub = await startRealtime(ctx.services, { port: 0, host: '127.0.0.1' });
  base = `ws://127.0.0.1:${hub.port}`;
});
afterAll(async () => {
  await hub?.stop();
  await ctx?.close();
});

async function ticketOf(s: LoggedIn): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/realtime/ticket', headers: bearer(s.accessToken) });
  expect(res.statusCode).toBe(201);
  return res.json<{ ticket: string }>().ticket;
}

describe('through the identity routes', () => {
  it('login elsewhere → new_login; that device ends this session → session_revoked and close within 1 s', async () => {
    const laptop = await signupAndLogin(app, { deviceName: 'Laptop' });
    const ws = await open(`${base}/ws/laptop-${laptop.userId.slice(0, 8)}/home?ticket=${await ticketOf(laptop)}`);
    const phone = await login(app, { email: laptop.email, deviceName: 'Phone', userAgent: 'PhoneBrowser/1.0' });
    expect(await ws.next('new_login', 2000)).toMatchObject({ session_id: phone.sessionId, device_name: 'Phone', user_agent: 'PhoneBrowser/1.0' });
    const phoneWs = await open(`${base}/ws?ticket=${await ticketOf(phone)}`);

    const started = Date.now();
    const res = await app.inject({ method: 'DELETE', url: `/api/v1/auth/sessions/${laptop.sessionId}`, headers: bearer(phone.accessToken) });
    expect(res.statusCode).toBe(204);
    expect(await ws.next('session_revoked', 1000)).toMatchObject({ session_id: laptop.sessionId, reason: 'user_revoked' });
    const closed = await ws.closed;
    expect(closed.code).toBe(4401);
    expect(closed.at - started).toBeLessThan(1000);
    expect(phoneWs.ws.readyState).toBe(phoneWs.ws.OPEN);
    // The ended session can no longer get tickets.
    expect((await app.inject({ method: 'POST', url: '/api/v1/realtime/ticket', headers: bearer(laptop.accessToken) })).statusCode).toBe(401);
    phoneWs.close();
  });

  it('logout closes the socket of that device', async () => {
    const s = await signupAndLogin(app);
    const ws = await open(`${base}/ws?ticket=${await ticketOf(s)}`);
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(s.accessToken) })).statusCode).toBe(204);
    expect(await ws.next('session_revoked', 1000)).toMatchObject({ reason: 'logout' });
    expect((await ws.closed).code).toBe(4401);
  });

  it('refresh-token reuse ends the session and its sockets', async () => {
    const s = await signupAndLogin(app);
    const ws = await open(`${base}/ws?ticket=${await ticketOf(s)}`);
    const first = await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refreshToken } });
    expect(first.statusCode).toBe(200);
    const reuse = await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refreshToken } });
    expect(reuse.statusCode).toBe(401);
    expect(await ws.next('session_revoked', 1000)).toMatchObject({ reason: 'reuse_detected' });
    expect((await ws.closed).code).toBe(4401);
  });

  it('an admin disabling the user closes all its sockets; the admin audit feed shows it, redacted', async () => {
    const admin = await adminLogin(app, ctx.services);
    const adminWs = await open(`${base}/ws?ticket=${await ticketOf(admin)}`);
    adminWs.send({ type: 'subscribe', channel: 'audit' });
    await adminWs.next('subscribed');

    const user = await signupAndLogin(app);
    const second = await login(app, { email: user.email });
    const a = await open(`${base}/ws?ticket=${await ticketOf(user)}`);
    const b = await open(`${base}/ws?ticket=${await ticketOf(second)}`);
    const started = Date.now();
    const res = await app.inject({ method: 'POST', url: `/api/v1/users/${user.userId}/disable`, headers: bearer(admin.accessToken), payload: { reason: 'test' } });
    expect(res.statusCode).toBe(200);
    for (const c of [a, b]) {
      expect(await c.next('session_revoked', 1000)).toMatchObject({ type: 'session_revoked' });
      const closed = await c.closed;
      expect(closed.code).toBe(4401);
      expect(closed.at - started).toBeLessThan(1000);
    }
    const seen = await adminWs.next((f) => f.type === 'audit_event' && (f.event as { type: string }).type === 'UserDisabled', 2000);
    expect((seen.event as { data: { userId: string } }).data.userId).toBe(user.userId);
    // Every audit frame so far is free of password hashes and refresh-token hashes.
    const all = JSON.stringify(adminWs.frames);
    expect(all).not.toMatch(/\$2[aby]\$/);
    expect(all).not.toContain(user.refreshToken);
    adminWs.close();
  });

  it('the access token in Sec-WebSocket-Protocol works; after logout it does not', async () => {
    const s = await signupAndLogin(app);
    const c = await connect(`${base}/ws`, { protocols: ['authledger.v1', `bearer.${s.accessToken}`] });
    if (isRefused(c)) throw new Error(`refused ${c.status}`);
    expect(await c.next('welcome')).toMatchObject({ user_id: s.userId, session_id: s.sessionId });
    await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(s.accessToken) });
    expect((await c.closed).code).toBe(4401);
    const again = await connect(`${base}/ws`, { protocols: ['authledger.v1', `bearer.${s.accessToken}`] });
    expect(isRefused(again) && again.status).toBe(401);
  });
});
