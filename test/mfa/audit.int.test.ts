/** Time travel shows a user's second factors (issue 17): `state?at=` before and after enrolment, use and removal. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bearer, signupAndLogin } from '../helpers/auth';
import { eventually, runProjections } from '../helpers/users';
import type { ProjectorHandle } from '../../src/projections/runtime';
import { SoftAuthenticator } from './authenticator';
import { enrolTotp, MFA_ENV, ORIGIN, passwordStep, registerPasskey, totpCode } from './helpers';

let t: Awaited<ReturnType<typeof testApp>>;
let projector: ProjectorHandle;
beforeAll(async () => {
  t = await testApp('mfa_audit', MFA_ENV);
  projector = runProjections(t.services);
});
afterAll(async () => {
  await projector?.stop();
  await t?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('state?at= lists the factors of that moment; the audit trail shows each use, never a secret', async () => {
  const s = await signupAndLogin(t.app);
  const before = new Date();
  await sleep(5);
  const { secret } = await enrolTotp(t.app, s.accessToken);
  await registerPasskey(t.app, s.accessToken, new SoftAuthenticator(ORIGIN), 'yubikey');
  const step = await passwordStep(t.app, s.email, s.password);
  const ok = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/verify', payload: { mfa_token: step.mfa_token, method: 'totp', code: await totpCode(secret) } });
  expect(ok.statusCode).toBe(200);
  await sleep(5);
  const afterUse = new Date();

  const state = (at?: Date) => t.app.inject({ method: 'GET', url: `/api/v1/audit/users/${s.userId}/state${at ? `?at=${encodeURIComponent(at.toISOString())}` : ''}`, headers: bearer(s.accessToken) });
  const now = await eventually(async () => {
    const r = await state();
    return r.statusCode === 200 && r.json().factors.length === 3 ? r.json() : undefined;
  });
  expect(now.factors.map((f: { method: string }) => f.method).sort()).toEqual(['passkey', 'recovery_code', 'totp']);
  expect(now.factors.find((f: { method: string }) => f.method === 'totp').last_used_at).not.toBeNull();
  expect((await state(before)).json().factors).toEqual([]);
  expect((await state(afterUse)).json().factors).toHaveLength(3);

  const events = await eventually(async () => {
    const r = await t.app.inject({ method: 'GET', url: `/api/v1/audit/users/${s.userId}/events?limit=100`, headers: bearer(s.accessToken) });
    const types = r.statusCode === 200 ? (r.json().items ?? r.json().events ?? []).map((e: { type: string }) => e.type) : [];
    return types.includes('SecondFactorVerified') ? r : undefined;
  });
  expect(events.body).not.toContain(secret);
  for (const type of ['TotpEnrolmentStarted', 'TotpEnrolled', 'PasskeyRegistered', 'RecoveryCodesGenerated', 'SecondFactorVerified']) expect(events.body).toContain(type);
});
