/**
 * E-mail flows end to end: HTTP command → event → consumer → BullMQ job → worker → a real SMTP
 * server started here, reading what arrives; then the mailed link drives the next command.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp } from '../helpers/app';
import { adminLogin, bearer, login, signup, uniqueEmail } from '../helpers/auth';
import { startSmtpSink, linkIn, type SmtpSink } from './smtp-sink';
import { startWorkers, type WorkersHandle } from '../../workers/index';
import { streams } from '../../src/events/streams';
import type { Services } from '../../src/services';
import { METRICS_ENV, metricsAuth } from '../helpers/security';

let sink: SmtpSink;
let app: FastifyInstance;
let services: Services;
let close: () => Promise<void>;
let workers: WorkersHandle;

const PUBLIC_URL = 'http://auth.example.test:8000';
const tokenOf = (url: URL) => new URLSearchParams(url.hash.slice(1)).get('token')!;
const to = (email: string, subject: string) => (m: { to: string[]; subject: string }) => m.to.includes(email) && m.subject === subject;

beforeAll(async () => {
  sink = await startSmtpSink();
  const t = await testApp('wmail', { SMTP_URL: sink.url, PUBLIC_URL, WORKER_LOCK_DURATION_MS: '5000', CLEANUP_INTERVAL: '3600', ...METRICS_ENV });
  app = t.app;
  services = t.services;
  close = t.close;
  workers = await startWorkers(services, { consumer: { idleWaitMs: 100 } });
});
afterAll(async () => {
  await workers?.stop();
  await close?.();
  await sink?.close();
});

describe('email verification', () => {
  it('signup → the mail arrives with a working link → verify → EmailVerified; the token works once', async () => {
    const u = await signup(app, { name: 'Ada <b>Lovelace</b>' });
    const mail = await sink.waitFor(to(u.email, 'Confirm your e-mail address'));
    expect(mail.raw).toContain('Ada &lt;b&gt;Lovelace&lt;/b&gt;'); // HTML part escapes user input
    const link = linkIn(mail, '/api/v1/auth/verify-email');
    expect(link.origin).toBe(PUBLIC_URL);
    // The token is in the fragment (never sent to a server); the link leads to the console's page
    // (the browser keeps the fragment across the redirect).
    const page = await app.inject({ method: 'GET', url: link.pathname });
    expect(page.statusCode).toBe(302);
    expect(page.headers.location).toBe('/console/verify-email');
    const token = tokenOf(link);
    expect(token).toMatch(/^[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}$/);

    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'verified', user_id: u.userId, email: u.email });
    const events = await services.store.readStream(streams.user(u.userId));
    expect(events.filter((e) => e.type === 'EmailVerified')).toHaveLength(1);
    // The log never holds the token itself.
    const tokenEvents = await services.store.readAll({ filter: { eventTypes: ['EmailVerificationRequested'] } });
    expect(JSON.stringify(tokenEvents.map((e) => e.data))).not.toContain(token.split('.')[1]);

    const again = await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token } });
    expect(again.statusCode).toBe(400);
    expect(again.json().code).toBe('invalid_token');
    expect(again.headers['content-type']).toContain('application/problem+json');
  });

  it('refuses malformed and forged tokens with the same 400', async () => {
    for (const token of ['nope', `${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}.${'A'.repeat(43)}`]) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token } });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('invalid_token');
    }
    const empty = await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: {} });
    expect(empty.statusCode).toBe(400);
  });

  it('resend mails a new link (signed in); once verified it answers 409', async () => {
    const u = await signup(app);
    const first = await sink.waitFor(to(u.email, 'Confirm your e-mail address'));
    const s = await login(app, { email: u.email });
    expect((await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email/resend' })).statusCode).toBe(401);
    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email/resend', headers: bearer(s.accessToken) });
    expect(res.statusCode).toBe(202);
    const second = await sink.waitFor((m) => to(u.email, 'Confirm your e-mail address')(m) && m.messageId !== first.messageId);
    const ok = await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token: tokenOf(linkIn(second, '/verify-email')) } });
    expect(ok.statusCode).toBe(200);
    const done = await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email/resend', headers: bearer(s.accessToken) });
    expect(done.statusCode).toBe(409);
  });
  it('a changed address gets its own verification mail', async () => {
    const u = await signup(app);
    // An admin's edit is immediate (the owner's own change is confirmed by its link: test/users/email-change.int.test.ts).
    const admin = await adminLogin(app, services);
    const newEmail = uniqueEmail('moved');
    const res = await app.inject({ method: 'PATCH', url: `/api/v1/users/${u.userId}`, headers: bearer(admin.accessToken), payload: { email: newEmail } });
    expect(res.statusCode).toBe(200);
    const mail = await sink.waitFor(to(newEmail, 'Confirm your e-mail address'));
    const ok = await app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token: tokenOf(linkIn(mail, '/verify-email')) } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().email).toBe(newEmail);
  });
});

describe('password reset', () => {
  it('request → mail → confirm → PasswordReset; every old session dies; the token works once', async () => {
    const u = await signup(app);
    const a = await login(app, { email: u.email, deviceName: 'laptop' });
    const b = await login(app, { email: u.email, deviceName: 'phone', userAgent: 'PhoneApp/1.0' });
    for (const s of [a, b]) expect((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(s.accessToken) })).statusCode).toBe(200);

    const known = await app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/request', payload: { email: `  ${u.email.toUpperCase()} ` } });
    const unknown = await app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/request', payload: { email: uniqueEmail('nobody') } });
    expect(known.statusCode).toBe(202);
    expect(unknown.statusCode).toBe(202);
    expect(unknown.body).toBe(known.body);

    const mail = await sink.waitFor(to(u.email, 'Reset your password'));
    const token = tokenOf(linkIn(mail, '/api/v1/auth/password-reset'));
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/password-reset' })).headers.location).toBe('/console/reset-password');

    // A refused password leaves the link usable.
    const weak = await app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/confirm', payload: { token, new_password: 'password' } });
    expect(weak.statusCode).toBe(400);
    expect(weak.json().code).toBe('weak_password');

    const newPassword = 'a brand new passphrase 77';
    const ok = await app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/confirm', payload: { token, new_password: newPassword } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ status: 'password_reset', sessions_revoked: 2 });

    for (const s of [a, b]) expect((await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(s.accessToken) })).statusCode).toBe(401);
    const revoked = await Promise.all([a, b].map((s) => services.store.readStream(streams.session(s.sessionId))));
    for (const ev of revoked) expect(ev.at(-1)).toMatchObject({ type: 'SessionRevoked', data: { reason: 'password_reset' } });
    const userEvents = await services.store.readStream(streams.user(u.userId));
    expect(userEvents.filter((e) => e.type === 'PasswordReset')).toHaveLength(1);

    const reuse = await app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/confirm', payload: { token, new_password: 'yet another passphrase 99' } });
    expect(reuse.statusCode).toBe(400);
    expect(reuse.json().code).toBe('invalid_token');

    await expect(login(app, { email: u.email })).rejects.toThrow(/401/);
    await login(app, { email: u.email, password: newPassword });
    // The security notice follows the reset.
    const notice = await sink.waitFor(to(u.email, 'Your password was changed'));
    expect(notice.text).toContain('reset with an e-mailed link');
  });

  it('an unknown address gets no mail', async () => {
    const email = uniqueEmail('ghost');
    await app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/request', payload: { email } });
    await new Promise((r) => setTimeout(r, 1500));
    expect(sink.mails.some((m) => m.to.includes(email))).toBe(false);
  });
});

describe('security notices', () => {
  it('a login from a new device (not the first one, not a known one) is notified once', async () => {
    const u = await signup(app);
    await login(app, { email: u.email, userAgent: 'Browser/1' });
    await new Promise((r) => setTimeout(r, 1000)); // let the first device be recorded first
    await login(app, { email: u.email, userAgent: 'Browser/1' });
    await login(app, { email: u.email, userAgent: 'Stranger/9', deviceName: 'unknown box' });
    const mail = await sink.waitFor(to(u.email, 'New sign-in to your account'));
    expect(mail.text).toContain('Stranger/9');
    await new Promise((r) => setTimeout(r, 1000));
    expect(sink.mails.filter(to(u.email, 'New sign-in to your account'))).toHaveLength(1);
  });
});

describe('more security notices', () => {
  it('an API key created on the account is notified', async () => {
    const u = await signup(app);
    const s = await login(app, { email: u.email });
    const res = await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(s.accessToken), payload: { name: 'deploy <bot>', features: '*' } });
    expect(res.statusCode).toBe(201);
    const mail = await sink.waitFor(to(u.email, 'A new API key was created'));
    expect(mail.text).toContain(res.json().prefix);
    expect(mail.raw).not.toContain(res.json().api_key); // never the key itself
  });

  it('a reused refresh token is notified', async () => {
    const u = await signup(app);
    const s = await login(app, { email: u.email });
    const first = await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refreshToken } });
    expect(first.statusCode).toBe(200);
    const reuse = await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refreshToken }, headers: { 'user-agent': 'Thief/1.0' } });
    expect(reuse.statusCode).toBe(401);
    const mail = await sink.waitFor(to(u.email, 'Security alert: a session of yours was signed out'));
    expect(mail.text).toContain('Thief/1.0');
  });
});

describe('operations', () => {
  it('Bull Board is for admins only; queue gauges are in /metrics', async () => {
    const anon = await app.inject({ method: 'GET', url: '/admin/queues' });
    expect(anon.statusCode).toBe(401);
    const anonApi = await app.inject({ method: 'GET', url: '/admin/queues/api/queues' });
    expect(anonApi.statusCode).toBe(401);
    const u = await signup(app);
    const s = await login(app, { email: u.email });
    expect((await app.inject({ method: 'GET', url: '/admin/queues', headers: bearer(s.accessToken) })).statusCode).toBe(403);
    const admin = await adminLogin(app, services);
    const page = await app.inject({ method: 'GET', url: '/admin/queues', headers: bearer(admin.accessToken) });
    expect(page.statusCode).toBe(200);
    const api = await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: bearer(admin.accessToken) });
    expect(api.statusCode).toBe(200);
    expect(api.json().queues.map((q: { name: string }) => q.name).sort()).toEqual(['default', 'high', 'low']);
    // The browser path: an HttpOnly cookie scoped to the board.
    const sess = await app.inject({ method: 'POST', url: '/admin/queues/session', headers: bearer(admin.accessToken) });
    expect(sess.statusCode).toBe(204);
    const cookie = String(sess.headers['set-cookie']).split(';')[0]!;
    expect(String(sess.headers['set-cookie'])).toMatch(/HttpOnly/i);
    const board = await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie } });
    expect(board.statusCode).toBe(200);
    // Its assets load under the same guard.
    const script = /<script[^>]+src="([^"]+)"/.exec(board.body)?.[1];
    expect(script).toBeDefined();
    const asset = new URL(script!, 'http://x/admin/queues/').pathname;
    expect((await app.inject({ method: 'GET', url: asset, headers: { cookie } })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: asset })).statusCode).toBe(401);

    const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: metricsAuth });
    expect(metrics.body).toMatch(/authledger_queue_jobs\{queue="high",state="failed"\} \d+/);
    expect(metrics.body).toContain('authledger_jobs_consumer_lag_events');
  });
});
