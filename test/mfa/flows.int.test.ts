/**
 * MFA through the real routes (issue 17): TOTP enrolment and login, replay, recovery codes, the
 * mfa_token's limits, passkeys with a software authenticator (registration, second factor,
 * passwordless, clone detection), step-up refusals, the role policy, lockout, the admin reset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { adminLogin, bearer, DEFAULT_PASSWORD, login, signup, signupAndLogin } from '../helpers/auth';
import { SoftAuthenticator } from './authenticator';
import { claimsOf, enrolTotp, MFA_ENV, ORIGIN, passwordStep, registerPasskey, totpCode } from './helpers';

let t: Awaited<ReturnType<typeof testApp>>;
beforeAll(async () => {
  t = await testApp('mfa_flows', { ...MFA_ENV, LOCKOUT_THRESHOLD: '4' });
});
afterAll(async () => t?.close());

const verify = (payload: object) => t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/verify', payload });

describe('TOTP', () => {
  it('enrol → the password alone gives no session → the code completes the login with amr and acr; each code works once', async () => {
    const s = await signupAndLogin(t.app);
    const { secret, recoveryCodes } = await enrolTotp(t.app, s.accessToken);
    expect(recoveryCodes).toHaveLength(10);

    const step = await passwordStep(t.app, s.email, s.password);
    expect(step.methods).toEqual(['totp', 'recovery_code']);
    expect(step.mfa_enrolment_required).toBe(false);

    // The mfa_token is no access token.
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(step.mfa_token) });
    expect(me.statusCode).toBe(401);

    const wrong = await verify({ mfa_token: step.mfa_token, method: 'totp', code: '000000' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().code).toBe('mfa_code_invalid');

    const code = await totpCode(secret);
    const ok = await verify({ mfa_token: step.mfa_token, method: 'totp', code, return_refresh_in_body: true });
    expect(ok.statusCode, ok.body).toBe(200);
    const claims = claimsOf(ok.json().access_token);
    expect(claims.amr).toEqual(['pwd', 'otp']);
    expect(claims.acr).toBe('aal2');
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(ok.json().access_token) })).statusCode).toBe(200);

    // The mfa_token is spent; and the same code on a fresh token is a replay.
    const again = await verify({ mfa_token: step.mfa_token, method: 'totp', code: await totpCode(secret, 1) });
    expect(again.json().code).toBe('mfa_token_invalid');
    const fresh = await passwordStep(t.app, s.email, s.password);
    const replay = await verify({ mfa_token: fresh.mfa_token, method: 'totp', code });
    expect(replay.statusCode).toBe(401);
    expect(replay.json().code).toBe('mfa_code_invalid');
    expect(replay.json().detail ?? replay.json().title).toBe(wrong.json().detail ?? wrong.json().title); // indistinguishable

    // The refresh keeps amr.
    const refreshed = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: ok.json().refresh_token } });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(claimsOf(refreshed.json().access_token).amr).toEqual(['pwd', 'otp']);
    // The session's events carry amr (SessionStarted, and SessionRotated copies it).
    const session = await t.services.store.readStream(`session-${ok.json().session_id}`);
    expect(session.map((e) => (e.data as { amr?: string[] }).amr)).toEqual([['pwd', 'otp'], ['pwd', 'otp']]);
  });

  it('the secret never appears in the log in clear; factors list shows no secret', async () => {
    const s = await signupAndLogin(t.app);
    const { secret } = await enrolTotp(t.app, s.accessToken);
    const events = await t.services.store.readStream(`mfa-${s.userId}`);
    expect(JSON.stringify(events.map((e) => e.data))).not.toContain(secret);
    expect(events.every((e) => (e.data as { userId: string }).userId === s.userId)).toBe(true);
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/auth/mfa/factors', headers: bearer(s.accessToken) });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(secret);
    expect(list.json().factors.map((f: { method: string }) => f.method)).toEqual(['totp', 'recovery_code']);
  });

  it('an mfa_token allows 5 checks, then none', async () => {
    const s = await signupAndLogin(t.app);
    const { secret } = await enrolTotp(t.app, s.accessToken);
    const step = await passwordStep(t.app, s.email, s.password);
    // LOCKOUT_THRESHOLD is 4: the account locks before the token runs out; a second user shows the token limit.
    for (let i = 0; i < 3; i++) expect((await verify({ mfa_token: step.mfa_token, method: 'totp', code: '111111' })).statusCode).toBe(401);
    const locked = await verify({ mfa_token: step.mfa_token, method: 'totp', code: '111111' });
    expect(locked.statusCode).toBe(401); // the 4th failure locks (and is refused like the others)
    const afterLock = await verify({ mfa_token: step.mfa_token, method: 'totp', code: await totpCode(secret) });
    expect(afterLock.statusCode).toBe(429);
    expect(afterLock.json().code).toBe('mfa_locked');
    const sixth = await verify({ mfa_token: step.mfa_token, method: 'totp', code: await totpCode(secret) });
    expect(sixth.json().code).toBe('mfa_token_invalid');
  }, 20_000);
});

describe('recovery codes', () => {
  it('each works once; regenerating (after a step-up) invalidates the old set', async () => {
    const s = await signupAndLogin(t.app);
    const { secret, recoveryCodes } = await enrolTotp(t.app, s.accessToken);
    const step = await passwordStep(t.app, s.email, s.password);
    const ok = await verify({ mfa_token: step.mfa_token, method: 'recovery_code', code: recoveryCodes[0] });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(claimsOf(ok.json().access_token).amr).toEqual(['pwd', 'rec']);

    const step2 = await passwordStep(t.app, s.email, s.password);
    expect((await verify({ mfa_token: step2.mfa_token, method: 'recovery_code', code: recoveryCodes[0] })).json().code).toBe('mfa_code_invalid');
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/auth/mfa/factors', headers: bearer(s.accessToken) });
    expect(list.json().factors.find((f: { method: string }) => f.method === 'recovery_code').remaining).toBe(9);

    // s logged in with the password before enrolling: no second factor on its session → step-up first.
    const refused = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/recovery-codes', headers: bearer(s.accessToken) });
    expect(refused.statusCode).toBe(401);
    expect(refused.json().code).toBe('step_up_required');
    expect(refused.json().methods).toEqual(['totp', 'recovery_code']);
    const up = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/step-up', headers: bearer(s.accessToken), payload: { method: 'totp', code: await totpCode(secret) } });
    expect(up.statusCode, up.body).toBe(204);
    const regen = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/recovery-codes', headers: bearer(s.accessToken) });
    expect(regen.statusCode, regen.body).toBe(200);
    const fresh = regen.json().recovery_codes as string[];
    const step3 = await passwordStep(t.app, s.email, s.password);
    expect((await verify({ mfa_token: step3.mfa_token, method: 'recovery_code', code: recoveryCodes[1] })).json().code).toBe('mfa_code_invalid');
    expect((await verify({ mfa_token: step3.mfa_token, method: 'recovery_code', code: fresh[1] })).statusCode).toBe(200);
  });
});

describe('passkeys (software authenticator)', () => {
  it('register → second factor at login → passwordless sign-in → a replayed or cloned assertion is refused', async () => {
    const s = await signupAndLogin(t.app);
    const authenticator = new SoftAuthenticator(ORIGIN, { backedUp: true });
    const reg = await registerPasskey(t.app, s.accessToken, authenticator);
    expect(reg.recovery_codes).toHaveLength(10);

    const list = await t.app.inject({ method: 'GET', url: '/api/v1/auth/mfa/factors', headers: bearer(s.accessToken) });
    const pk = list.json().factors.find((f: { method: string }) => f.method === 'passkey');
    expect(pk).toMatchObject({ name: 'laptop', backed_up: true, device_type: 'multiDevice' });

    // Second factor after the password.
    const step = await passwordStep(t.app, s.email, s.password);
    expect(step.methods).toContain('passkey');
    const opts = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/passkey-options', payload: { mfa_token: step.mfa_token } });
    expect(opts.statusCode, opts.body).toBe(200);
    expect(opts.json().allowCredentials).toHaveLength(1);
    const assertion = authenticator.get(opts.json());
    const ok = await verify({ mfa_token: step.mfa_token, method: 'passkey', assertion });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(claimsOf(ok.json().access_token).amr).toEqual(['pwd', 'hwk', 'user']);

    // Passwordless: no e-mail, no password.
    const pwl = await t.app.inject({ method: 'POST', url: '/api/v1/auth/passkeys/options' });
    expect(pwl.statusCode).toBe(200);
    expect(pwl.json().allowCredentials ?? []).toHaveLength(0);
    const a2 = authenticator.get(pwl.json());
    const signedIn = await t.app.inject({ method: 'POST', url: '/api/v1/auth/passkeys/verify', payload: { assertion: a2 } });
    expect(signedIn.statusCode, signedIn.body).toBe(200);
    expect(signedIn.json().user.id).toBe(s.userId);
    const c = claimsOf(signedIn.json().access_token);
    expect(c.amr).toEqual(['hwk', 'user']);
    expect(c.acr).toBe('aal2');

    // The same assertion again: its challenge is spent.
    const replay = await t.app.inject({ method: 'POST', url: '/api/v1/auth/passkeys/verify', payload: { assertion: a2 } });
    expect(replay.statusCode).toBe(400);
    expect(replay.json().code).toBe('webauthn_challenge_invalid');

    // A clone: the counter goes back.
    authenticator.credentials[0]!.counter = 0;
    const pwl2 = await t.app.inject({ method: 'POST', url: '/api/v1/auth/passkeys/options' });
    const cloned = await t.app.inject({ method: 'POST', url: '/api/v1/auth/passkeys/verify', payload: { assertion: authenticator.get(pwl2.json()) } });
    expect(cloned.statusCode).toBe(401);
    expect(cloned.json().code).toBe('mfa_code_invalid');

    // Another origin's assertion.
    const pwl3 = await t.app.inject({ method: 'POST', url: '/api/v1/auth/passkeys/options' });
    authenticator.credentials[0]!.counter = 100;
    const foreign = await t.app.inject({ method: 'POST', url: '/api/v1/auth/passkeys/verify', payload: { assertion: authenticator.get(pwl3.json(), { origin: 'https://evil.example' }) } });
    expect(foreign.statusCode).toBe(401);
  });

  it('a user verification-less passkey does not sign in alone; several passkeys, each removable after a step-up', async () => {
    const s = await signupAndLogin(t.app);
    const noUv = new SoftAuthenticator(ORIGIN, { uv: false });
    await registerPasskey(t.app, s.accessToken, noUv, 'key');
    const second = new SoftAuthenticator(ORIGIN);
    const reg2 = await registerPasskey(t.app, s.accessToken, second, 'phone');
    const pwl = await t.app.inject({ method: 'POST', url: '/api/v1/auth/passkeys/options' });
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/passkeys/verify', payload: { assertion: noUv.get(pwl.json()) } });
    expect(res.statusCode).toBe(401);

    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/auth/mfa/factors/${reg2.factor_id}`, headers: bearer(s.accessToken) });
    expect(del.json().code).toBe('step_up_required');
    const opts = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/passkey-options', headers: bearer(s.accessToken) });
    const up = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/step-up', headers: bearer(s.accessToken), payload: { method: 'passkey', assertion: second.get(opts.json(), { credential: second.credentials[0] }) } });
    expect(up.statusCode, up.body).toBe(204);
    const del2 = await t.app.inject({ method: 'DELETE', url: `/api/v1/auth/mfa/factors/${reg2.factor_id}`, headers: bearer(s.accessToken) });
    expect(del2.statusCode, del2.body).toBe(204);
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/auth/mfa/factors', headers: bearer(s.accessToken) });
    expect(list.json().factors.filter((f: { method: string }) => f.method === 'passkey').map((f: { name: string }) => f.name)).toEqual(['key']);
  });
});

describe('step-up on sensitive operations', () => {
  it('password change and an API key for "*" need a recent second factor; a login with one counts', async () => {
    const s = await signupAndLogin(t.app);
    const { secret } = await enrolTotp(t.app, s.accessToken);
    const pw = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password', headers: bearer(s.accessToken), payload: { current_password: s.password, new_password: 'another long password 77' } });
    expect(pw.statusCode).toBe(401);
    expect(pw.json().code).toBe('step_up_required');
    const key = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(s.accessToken), payload: { name: 'all', features: '*' } });
    expect(key.json().code).toBe('step_up_required');

    const step = await passwordStep(t.app, s.email, s.password);
    const ok = await verify({ mfa_token: step.mfa_token, method: 'totp', code: await totpCode(secret) });
    const token = ok.json().access_token;
    const key2 = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(token), payload: { name: 'all', features: '*' } });
    expect(key2.statusCode, key2.body).toBe(201);
  });

  it('admin role changes need the admin\'s second factor; users without a factor are not asked', async () => {
    const admin = await adminLogin(t.app, t.services);
    const u = await signup(t.app);
    const grant = await t.app.inject({ method: 'POST', url: `/api/v1/users/${u.userId}/roles`, headers: bearer(admin.accessToken), payload: { role: 'admin' } });
    expect(grant.statusCode, grant.body).toBe(200);
    await enrolTotp(t.app, admin.accessToken);
    const revoke = await t.app.inject({ method: 'DELETE', url: `/api/v1/users/${u.userId}/roles/admin`, headers: bearer(admin.accessToken) });
    expect(revoke.statusCode).toBe(401);
    expect(revoke.json().code).toBe('step_up_required');
  });
});

describe('admin view and reset', () => {
  it('an admin sees names and kinds (no secrets) and resets; the user then signs in with the password alone', async () => {
    const s = await signupAndLogin(t.app);
    const { secret } = await enrolTotp(t.app, s.accessToken);
    const admin = await adminLogin(t.app, t.services);
    const view = await t.app.inject({ method: 'GET', url: `/api/v1/users/${s.userId}/mfa`, headers: bearer(admin.accessToken) });
    expect(view.statusCode).toBe(200);
    expect(view.body).not.toContain(secret);
    expect(view.json().methods).toEqual(['totp', 'recovery_code']);
    const notAdmin = await t.app.inject({ method: 'GET', url: `/api/v1/users/${admin.userId}/mfa`, headers: bearer(s.accessToken) });
    expect(notAdmin.statusCode).toBe(403);

    const reset = await t.app.inject({ method: 'POST', url: `/api/v1/users/${s.userId}/mfa/reset`, headers: bearer(admin.accessToken) });
    expect(reset.statusCode, reset.body).toBe(204);
    const events = await t.services.store.readStream(`mfa-${s.userId}`);
    const last = events.at(-1)!;
    expect(last.type).toBe('SecondFactorsReset');
    expect(last.metadata.actorUserId).toBe(admin.userId);
    const again = await login(t.app, { email: s.email, password: DEFAULT_PASSWORD });
    expect(again.accessToken).toBeTruthy();
  });
});

describe('MFA_REQUIRED_FOR_ROLES', () => {
  it('an admin without a factor must enrol at login; the enrolment finishes the login', async () => {
    const p = await testApp('mfa_policy', { ...MFA_ENV, MFA_REQUIRED_FOR_ROLES: 'admin' });
    try {
      const u = await signup(p.app);
      const plain = await login(p.app, { email: u.email }); // not an admin: no policy
      expect(plain.accessToken).toBeTruthy();
      const { executeUserCommand } = await import('../../src/commands/identity/service');
      await executeUserCommand(p.services, u.userId, { type: 'GrantRole', role: 'admin' }, {});
      const step = await passwordStep(p.app, u.email, u.password);
      expect(step.mfa_enrolment_required).toBe(true);
      expect(step.methods).toEqual(['totp', 'passkey']);
      // Not usable for a login verify, nor as an access token.
      expect((await p.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/verify', payload: { mfa_token: step.mfa_token, method: 'totp', code: '123456' } })).json().code).toBe('mfa_token_invalid');
      expect((await p.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(step.mfa_token) })).statusCode).toBe(401);

      const start = await p.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/totp', payload: { mfa_token: step.mfa_token } });
      expect(start.statusCode, start.body).toBe(201);
      const { factor_id, secret } = start.json();
      const confirm = await p.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/totp/confirm', payload: { mfa_token: step.mfa_token, factor_id, code: await totpCode(secret), return_refresh_in_body: true } });
      expect(confirm.statusCode, confirm.body).toBe(200);
      const session = confirm.json().session;
      expect(claimsOf(session.access_token).amr).toEqual(['pwd', 'otp']);
      expect(confirm.json().recovery_codes).toHaveLength(10);
      // The enrol token is spent.
      const reuse = await p.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/totp', payload: { mfa_token: step.mfa_token } });
      expect(reuse.json().code).toBe('mfa_token_invalid');
      // Next login: the usual second step.
      expect((await passwordStep(p.app, u.email, u.password)).mfa_enrolment_required).toBe(false);
    } finally {
      await p.close();
    }
  });
});
