/**
 * Issue 20 §2 (re-authentication part): a stolen access token alone cannot change the account's
 * e-mail. The owner needs the current password, or a session that logged in within
 * REAUTH_MAX_AGE_SECONDS — judged from the session's login, not from the token's issue time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { streams } from '../../src/events/streams';
import { adminLogin, bearer, DEFAULT_PASSWORD, login, signupAndLogin, uniqueEmail } from '../helpers/auth';
import { confirmPendingEmailChange } from '../helpers/email-change';

type T = Awaited<ReturnType<typeof testApp>>;
const patch = (t: T, token: string, id: string, payload: object) =>
  t.app.inject({ method: 'PATCH', url: `/api/v1/users/${id}`, headers: bearer(token), payload });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('changing one’s own e-mail needs a re-authentication', () => {
  let t: T;
  beforeAll(async () => {
    t = await testApp('secb2reauth', { REAUTH_MAX_AGE_SECONDS: '1' });
  });
  afterAll(async () => t.close());

  it('an old session with a freshly refreshed access token, no password: refused; wrong password: refused', async () => {
    const s = await signupAndLogin(t.app);
    await sleep(1300);
    // a refresh issues a brand-new access token: the session's login is still old
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: s.refreshToken } });
    const fresh = r.json().access_token as string;
    for (const token of [s.accessToken, fresh]) {
      const res = await patch(t, token, s.userId, { email: uniqueEmail('takeover') });
      expect(res.statusCode, res.body).toBe(401);
      expect(res.json().code).toBe('reauth_required');
    }
    const wrong = await patch(t, fresh, s.userId, { email: uniqueEmail('takeover'), current_password: 'not the password at all 1' });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().code).toBe('wrong_password');
    // the e-mail did not change: the owner still logs in with it
    await login(t.app, { email: s.email });
    // variants of the same address are not a change and need nothing; a name change needs nothing
    expect((await patch(t, fresh, s.userId, { email: s.email.toUpperCase() })).statusCode).toBe(200);
    expect((await patch(t, fresh, s.userId, { name: 'Renamed' })).statusCode).toBe(200);
  });

  it('with the current password, or right after logging in, the owner may change it', async () => {
    const s = await signupAndLogin(t.app);
    await sleep(1300);
    const next = uniqueEmail('moved');
    const ok = await patch(t, s.accessToken, s.userId, { email: next, current_password: DEFAULT_PASSWORD });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().pending_email).toBe(next); // pending until the new address confirms (email-change.int.test.ts)
    await confirmPendingEmailChange(t.app, t.services, s.userId);
    const again = await login(t.app, { email: next });
    const ok2 = await patch(t, again.accessToken, s.userId, { email: uniqueEmail('moved-again') });
    expect(ok2.statusCode, ok2.body).toBe(200);
  });

  it('an admin edits someone else’s e-mail without re-authentication; the event names the admin', async () => {
    const admin = await adminLogin(t.app, t.services);
    const u = await signupAndLogin(t.app);
    await sleep(1300);
    const res = await patch(t, admin.accessToken, u.userId, { email: uniqueEmail('by-admin') });
    expect(res.statusCode, res.body).toBe(200);
    const events = await t.services.store.readStream(streams.user(u.userId));
    const updated = events.filter((e) => e.type === 'UserProfileUpdated').at(-1)!;
    expect(updated.metadata.actorUserId).toBe(admin.userId);
  });
});
