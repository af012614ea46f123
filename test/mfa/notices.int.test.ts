/**
 * MFA security notices end to end (issue 17): HTTP command → MFA event → consumer → BullMQ job →
 * real worker → a real SMTP server (test/workers/smtp-sink.ts). A factor added (authenticator
 * app, passkey), a recovery code used, a factor removed and an admin reset each mail the user —
 * the user only, never the admin — and no mail holds a secret (TOTP key or code, recovery codes,
 * tokens, the password). A TOTP login mails nothing.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { adminLogin, bearer, signupAndLogin } from '../helpers/auth';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../workers/smtp-sink';
import { startWorkers, type WorkersHandle } from '../../workers/index';
import { SoftAuthenticator } from './authenticator';
import { enrolTotp, MFA_ENV, ORIGIN, passwordStep, registerPasskey, totpCode } from './helpers';

let sink: SmtpSink;
let t: Awaited<ReturnType<typeof testApp>>;
let workers: WorkersHandle;

beforeAll(async () => {
  sink = await startSmtpSink();
  t = await testApp('mfa_notices', { ...MFA_ENV, SMTP_URL: sink.url, PUBLIC_URL: 'http://auth.example.test:8000', CLEANUP_INTERVAL: '3600' });
  workers = await startWorkers(t.services, { consumer: { idleWaitMs: 100 } });
});
afterAll(async () => {
  await workers?.stop();
  await t?.close();
  await sink?.close();
});

const verify = (payload: object) => t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/verify', payload });
const NOTICES = /second factor|was added to your account|was removed from your account|recovery code was used/i;

it('factor added, recovery code used, factor removed, admin reset: mailed to the user, with no secret in them', async () => {
  const s = await signupAndLogin(t.app, { name: 'Grace' });
  const mine = (subject: string) => sink.waitFor((m) => m.to.includes(s.email) && m.subject === subject);
  const secrets: string[] = [s.password, s.accessToken, s.refreshToken];

  const totp = await enrolTotp(t.app, s.accessToken);
  secrets.push(totp.secret, ...totp.recoveryCodes);
  const totpAdded = await mine('An authenticator app was added to your account');
  expect(totpAdded.text).toContain('"phone" was added to your account as a second factor');

  const key = new SoftAuthenticator(ORIGIN);
  const passkey = await registerPasskey(t.app, s.accessToken, key, 'laptop');
  expect(passkey.recovery_codes).toBeUndefined(); // the set came with the first factor
  const passkeyAdded = await mine('A passkey was added to your account');
  expect(passkeyAdded.text).toContain('"laptop"');

  // A recovery code at login: the notice says how many remain.
  const step1 = await passwordStep(t.app, s.email, s.password);
  secrets.push(step1.mfa_token);
  const rec = await verify({ mfa_token: step1.mfa_token, method: 'recovery_code', code: totp.recoveryCodes[0], return_refresh_in_body: true });
  expect(rec.statusCode, rec.body).toBe(200);
  secrets.push(rec.json().access_token, rec.json().refresh_token);
  const used = await mine('A recovery code was used');
  expect(used.text).toContain('9 unused codes remain');

  // A TOTP login (no notice), whose fresh second factor allows removing the passkey at once.
  const step2 = await passwordStep(t.app, s.email, s.password);
  const code = await totpCode(totp.secret);
  secrets.push(step2.mfa_token, code);
  const ok = await verify({ mfa_token: step2.mfa_token, method: 'totp', code, return_refresh_in_body: true });
  expect(ok.statusCode, ok.body).toBe(200);
  secrets.push(ok.json().access_token, ok.json().refresh_token);
  const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/auth/mfa/factors/${passkey.factor_id}`, headers: bearer(ok.json().access_token) });
  expect(del.statusCode, del.body).toBe(204);
  const removed = await mine('A passkey was removed from your account');

  // The admin reset mails the user, not the admin.
  const admin = await adminLogin(t.app, t.services);
  const reset = await t.app.inject({ method: 'POST', url: `/api/v1/users/${s.userId}/mfa/reset`, headers: bearer(admin.accessToken) });
  expect(reset.statusCode, reset.body).toBe(204);
  const wasReset = await mine('Your second factors were reset');
  expect(wasReset.text).toContain('An administrator removed every second factor');

  const notices = [totpAdded, passkeyAdded, used, removed, wasReset];
  for (const m of notices) {
    expect(m.to, m.subject).toEqual([s.email]);
    expect(m.text, m.subject).toContain('Grace');
    expect(m.text, m.subject).toContain('If this was not you');
    for (const secret of secrets) expect(m.raw.includes(secret), `${m.subject} holds a secret`).toBe(false);
    // Nor the TOTP key grouped by four as apps show it, nor an otpauth URI.
    expect(m.text).not.toContain(totp.secret.match(/.{1,4}/g)!.join(' '));
    expect(m.text).not.toContain('otpauth://');
  }

  // Exactly these notices: the TOTP login sends nothing, the reset is one notice (not one per
  // factor); nothing went to the admin.
  await new Promise((r) => setTimeout(r, 1500));
  const mfaMails = (to: string) => sink.mails.filter((m: ReceivedMail) => m.to.includes(to) && NOTICES.test(m.subject));
  expect(mfaMails(s.email).map((m) => m.subject).sort()).toEqual(notices.map((m) => m.subject).sort());
  expect(mfaMails(admin.email)).toEqual([]);
});
