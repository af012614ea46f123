/**
 * Issue 20 §2: one's own e-mail change is pending until the new address confirms it by a mailed
 * link; the old address gets a notice whose link cancels (or reverts) the change and revokes every
 * session; an admin's edit is immediate and both addresses are told. Real SMTP server (the sink),
 * real workers (consumer → BullMQ → mail), real PostgreSQL and Redis, the projector running.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp } from '../helpers/app';
import { adminLogin, bearer, DEFAULT_PASSWORD, login, signupAndLogin, uniqueEmail, type LoggedIn } from '../helpers/auth';
import { startSmtpSink, linkIn, type SmtpSink, type ReceivedMail } from '../workers/smtp-sink';
import { startWorkers, type WorkersHandle } from '../../workers/index';
import { startProjector, type ProjectorHandle } from '../../src/projections/runtime';
import { streams } from '../../src/events/streams';
import type { Services } from '../../src/services';
import { confirmEmailChange } from '../../src/commands/email/change';

let sink: SmtpSink;
let app: FastifyInstance;
let services: Services;
let close: () => Promise<void>;
let workers: WorkersHandle;
let projector: ProjectorHandle;

const PUBLIC_URL = 'http://auth.example.test:8000';
const CONFIRM = 'Confirm your new e-mail address';
const NOTICE = 'Your e-mail address is being changed';
const CHANGED = 'Your e-mail address was changed';
const tokenOf = (url: URL) => new URLSearchParams(url.hash.slice(1)).get('token')!;
const to = (email: string, subject: string) => (m: ReceivedMail) => m.to.includes(email) && m.subject === subject;
const patch = (who: LoggedIn, id: string, payload: object) => app.inject({ method: 'PATCH', url: `/api/v1/users/${id}`, headers: bearer(who.accessToken), payload });
const post = (url: string, payload: object) => app.inject({ method: 'POST', url, payload });
const me = (who: LoggedIn) => app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(who.accessToken) });
const typesOf = async (userId: string) => (await services.store.readStream(streams.user(userId))).map((e) => e.type);

/** Requests a change as the owner and returns the two mailed tokens. */
async function requestChange(s: LoggedIn, newEmail: string) {
  const res = await patch(s, s.userId, { email: newEmail });
  expect(res.statusCode, res.body).toBe(200);
  const confirmMail = await sink.waitFor(to(newEmail, CONFIRM));
  const notice = await sink.waitFor((m) => to(s.email, NOTICE)(m) && m.text.includes(newEmail));
  return { res, confirm: tokenOf(linkIn(confirmMail, '/api/v1/auth/email-change/confirm')), cancel: tokenOf(linkIn(notice, '/api/v1/auth/email-change/cancel')), notice };
}

beforeAll(async () => {
  sink = await startSmtpSink();
  const t = await testApp('emchange', { SMTP_URL: sink.url, PUBLIC_URL, WORKER_LOCK_DURATION_MS: '5000', CLEANUP_INTERVAL: '3600' });
  app = t.app;
  services = t.services;
  close = t.close;
  workers = await startWorkers(services, { consumer: { idleWaitMs: 100 } });
  projector = startProjector(services);
});
afterAll(async () => {
  await projector?.stop();
  await workers?.stop();
  await close?.();
  await sink?.close();
});

describe('one’s own e-mail change', () => {
  it('stays pending: login, /me and password reset keep the old address; the confirm link works once', async () => {
    const s = await signupAndLogin(app);
    const newEmail = uniqueEmail('moved');
    const { res, confirm, notice } = await requestChange(s, newEmail);
    expect(res.json()).toMatchObject({ email: s.email, pending_email: newEmail });
    expect(notice.text).toContain(newEmail);
    expect(notice.raw).not.toContain(confirm); // the old address never sees the confirm token

    // Nothing moved yet.
    expect((await me(s)).json().user?.email ?? (await me(s)).json().email).toBe(s.email);
    await login(app, { email: s.email });
    await expect(login(app, { email: newEmail })).rejects.toThrow(/401/);
    expect((await post('/api/v1/auth/password-reset/request', { email: newEmail })).statusCode).toBe(202);
    expect((await post('/api/v1/auth/password-reset/request', { email: s.email })).statusCode).toBe(202);
    await sink.waitFor(to(s.email, 'Reset your password'));
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.mails.some(to(newEmail, 'Reset your password'))).toBe(false);

    // The link's page exists; the POST confirms, once.
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/email-change/confirm' })).statusCode).toBe(200);
    const ok = await post('/api/v1/auth/email-change/confirm', { token: confirm });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toEqual({ status: 'email_changed', user_id: s.userId, email: newEmail });
    const again = await post('/api/v1/auth/email-change/confirm', { token: confirm });
    expect(again.statusCode).toBe(400);
    expect(again.json().code).toBe('invalid_token');

    await login(app, { email: newEmail });
    await expect(login(app, { email: s.email })).rejects.toThrow(/401/);
    // The old address is told once more, and stays reserved while the cancel link may revert.
    await sink.waitFor(to(s.email, CHANGED));
    const taken = await post('/api/v1/auth/signup', { email: s.email, password: DEFAULT_PASSWORD, name: 'Squatter' });
    expect(taken.statusCode).toBe(409);
    const user = await app.inject({ method: 'GET', url: `/api/v1/users/${s.userId}`, headers: bearer((await login(app, { email: newEmail })).accessToken) });
    expect(user.json()).toMatchObject({ email: newEmail, email_verified: true });

    // The audit trail shows the request and the confirmation (and never the tokens).
    const audit = await app.inject({ method: 'GET', url: `/api/v1/audit/users/${s.userId}/events`, headers: bearer((await login(app, { email: newEmail })).accessToken) });
    expect(audit.statusCode, audit.body).toBe(200);
    const types = (audit.json().events as { type: string }[]).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['EmailChangeRequested', 'EmailChangeConfirmed', 'UserProfileUpdated', 'EmailVerified', 'EmailHeld']));
    expect(audit.body).not.toContain(confirm.split('.')[1]);
  });

  it('the cancel link ends the pending change and revokes every session at once', async () => {
    const s = await signupAndLogin(app);
    const other = await login(app, { email: s.email, deviceName: 'phone' });
    const newEmail = uniqueEmail('thief');
    const { confirm, cancel } = await requestChange(s, newEmail);
    for (const x of [s, other]) expect((await me(x)).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/api/v1/auth/email-change/cancel' })).statusCode).toBe(200);

    const res = await post('/api/v1/auth/email-change/cancel', { token: cancel });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ status: 'cancelled', sessions_revoked: 2 });
    for (const x of [s, other]) expect((await me(x)).statusCode).toBe(401);
    for (const x of [s, other]) {
      const ev = await services.store.readStream(streams.session(x.sessionId));
      expect(ev.at(-1)).toMatchObject({ type: 'SessionRevoked', data: { reason: 'email_change_cancelled' } });
    }
    expect((await post('/api/v1/auth/email-change/confirm', { token: confirm })).statusCode).toBe(400);
    expect((await post('/api/v1/auth/email-change/cancel', { token: cancel })).statusCode).toBe(400);
    await login(app, { email: s.email });
    expect(await typesOf(s.userId)).toContain('EmailChangeCancelled');
  });

  it('the cancel link after a confirm puts the old address back, frees the new one and signs out everywhere', async () => {
    const s = await signupAndLogin(app);
    const newEmail = uniqueEmail('taken-over');
    const { confirm, cancel } = await requestChange(s, newEmail);
    expect((await post('/api/v1/auth/email-change/confirm', { token: confirm })).statusCode).toBe(200);
    const attacker = await login(app, { email: newEmail });
    const res = await post('/api/v1/auth/email-change/cancel', { token: cancel });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'cancelled', reverted_to: s.email });
    expect((await me(attacker)).statusCode).toBe(401);
    await login(app, { email: s.email });
    await expect(login(app, { email: newEmail })).rejects.toThrow(/401/);
    const free = await post('/api/v1/auth/signup', { email: newEmail, password: DEFAULT_PASSWORD, name: 'Now free' });
    expect(free.statusCode, free.body).toBe(201);
  });

  it('a newer request supersedes the older one (its link is refused, no confirm mail is sent for it late)', async () => {
    const s = await signupAndLogin(app);
    const first = await requestChange(s, uniqueEmail('first'));
    const secondEmail = uniqueEmail('second');
    const second = await requestChange(s, secondEmail);
    const old = await post('/api/v1/auth/email-change/confirm', { token: first.confirm });
    expect(old.statusCode).toBe(400);
    expect(old.json().code).toBe('invalid_token');
    expect((await post('/api/v1/auth/email-change/confirm', { token: second.confirm })).statusCode).toBe(200);
    await login(app, { email: secondEmail });
  });

  it('a confirm link expires (EMAIL_CHANGE_TTL)', async () => {
    const s = await signupAndLogin(app);
    const { confirm } = await requestChange(s, uniqueEmail('late'));
    const late = new Date(Date.now() + (services.config.EMAIL_CHANGE_TTL + 5) * 1000);
    await expect(confirmEmailChange(services, confirm, {}, late)).rejects.toMatchObject({ code: 'invalid_token' });
    expect(await typesOf(s.userId)).not.toContain('EmailChangeConfirmed');
  });

  it('answers alike whether the new address is taken; the confirm then says 409 and changes nothing', async () => {
    const s = await signupAndLogin(app);
    const holder = await signupAndLogin(app);
    const free = await patch(s, s.userId, { email: uniqueEmail('free') });
    const taken = await patch(s, s.userId, { email: holder.email });
    expect([free.statusCode, taken.statusCode]).toEqual([200, 200]);
    expect(Object.keys(taken.json()).sort()).toEqual(Object.keys(free.json()).sort());
    const mail = await sink.waitFor(to(holder.email, CONFIRM));
    const res = await post('/api/v1/auth/email-change/confirm', { token: tokenOf(linkIn(mail, '/email-change/confirm')) });
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('email_taken');
    await login(app, { email: s.email });
    await login(app, { email: holder.email, password: DEFAULT_PASSWORD });
    expect(await typesOf(s.userId)).not.toContain('EmailChangeConfirmed');
  });

  it('refuses forged, malformed and cross-kind tokens with the same 400', async () => {
    const s = await signupAndLogin(app);
    const { confirm, cancel } = await requestChange(s, uniqueEmail('forged'));
    const [rid, mac, uid] = confirm.split('.');
    for (const token of ['nope', `${rid}.${'A'.repeat(43)}.${uid}`, `${rid}.${mac}.someone-else`, cancel.replace(/^[^.]+/, rid!), `${confirm}\u0000`]) {
      const res = await post('/api/v1/auth/email-change/confirm', { token });
      expect(res.statusCode, token).toBe(400);
    }
    expect((await post('/api/v1/auth/email-change/cancel', { token: confirm })).statusCode).toBe(400);
    expect((await post('/api/v1/auth/email-change/confirm', { token: confirm })).statusCode).toBe(200);
  });

  it('a wrong current_password is refused and requests nothing (the re-authentication still applies)', async () => {
    const s = await signupAndLogin(app);
    const wrong = await patch(s, s.userId, { email: uniqueEmail('x'), current_password: 'not it at all 123' });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().code).toBe('wrong_password');
    expect(await typesOf(s.userId)).not.toContain('EmailChangeRequested');
  });
});

describe('admin edits and password changes notify', () => {
  it('an admin changes another user’s e-mail at once; old and new addresses are told', async () => {
    const admin = await adminLogin(app, services);
    const u = await signupAndLogin(app);
    const newEmail = uniqueEmail('by-admin');
    const res = await patch(admin, u.userId, { email: newEmail });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().email).toBe(newEmail);
    expect(res.json().pending_email).toBeUndefined();
    const old = await sink.waitFor(to(u.email, CHANGED));
    expect(old.text).toContain(newEmail);
    expect(old.text).toContain('administrator');
    await sink.waitFor(to(newEmail, CHANGED));
    await sink.waitFor(to(newEmail, 'Confirm your e-mail address'));
    const updated = (await services.store.readStream(streams.user(u.userId))).filter((e) => e.type === 'UserProfileUpdated').at(-1)!;
    expect(updated.metadata.actorUserId).toBe(admin.userId);
    await login(app, { email: newEmail });
  });

  it('the owner’s password change is notified', async () => {
    const s = await signupAndLogin(app);
    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/password', headers: bearer(s.accessToken), payload: { current_password: DEFAULT_PASSWORD, new_password: 'another long passphrase 31' } });
    expect(res.statusCode, res.body).toBe(204);
    const mail = await sink.waitFor(to(s.email, 'Your password was changed'));
    expect(mail.text).toContain('changed');
  });
});
