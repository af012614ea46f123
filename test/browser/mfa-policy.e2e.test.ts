/**
 * MFA_REQUIRED_FOR_ROLES in the console (issue 17): an admin without a second factor who signs in
 * with the password gets the enrolment screen (the login answered an `enrol` mfa_token, no
 * session), enrols TOTP with that token, sees the recovery codes, and only then has the full
 * session. The next sign-in asks for the code. A passkey (virtual authenticator) may be the first
 * factor instead. axe-core on the enrolment-at-sign-in screen.
 */
import { expect, it } from 'vitest';
import { expectAccessible, useBrowser } from './helpers';
import { makeAdmin, signup } from '../helpers/auth';
import { addVirtualAuthenticator, confirmTotpEnrolment, nextTotp, recoveryCodesShown, signInWithPassword, signOut } from './mfa-steps';

// A short step-up window, so the admin's role change below needs a step-up a few seconds after the login.
const STEP_UP_S = 4;
const b = useBrowser('bmfapol', { env: { MFA_REQUIRED_FOR_ROLES: 'admin', STEP_UP_MAX_AGE_SECONDS: String(STEP_UP_S) } });
const HOME = /\/console\/?$/;

it('an admin without a factor enrols TOTP at sign-in, then gets the full session', async () => {
  const { app, services } = b.server();
  const u = await signup(app);
  await makeAdmin(services, u.userId);
  const ctx = await b.context();
  const page = await ctx.newPage();

  await signInWithPassword(page, b.url('/console/sign-in'), u.email, u.password);
  await page.getByText('Your account needs a second factor.').waitFor();
  // No session yet: the page stays on sign-in, with no signed-in shell.
  expect(page.url()).toContain('/console/sign-in');
  expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
  expect(await page.evaluate(() => fetch('/api/v1/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then((r) => r.status))).toBe(401);

  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  await page.getByTestId('totp-secret').waitFor();
  await expectAccessible(page, 'enrolment at sign-in');
  const secret = await confirmTotpEnrolment(page);
  const codes = await recoveryCodesShown(page);
  expect(codes).toHaveLength(10);
  await expectAccessible(page, 'recovery codes at sign-in');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(HOME);
  // The full session: the admin section of the nav and an admin screen work.
  const users = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/users' && r.request().method() === 'GET');
  await page.getByRole('link', { name: 'Users' }).click();
  await page.waitForURL(/\/console\/admin\/users/);
  expect((await users).status()).toBe(200);

  const events = (await services.store.readStream(`mfa-${u.userId}`)).map((e) => e.type);
  expect(events).toContain('TotpEnrolled');

  // Enrolled now: the next sign-in asks for the code, not for an enrolment.
  await signOut(page);
  await signInWithPassword(page, b.url('/console/sign-in'), u.email, u.password);
  const field = page.getByLabel('Code from your authenticator app, or a recovery code');
  await field.waitFor();
  expect(await page.getByText('Your account needs a second factor.').count()).toBe(0);
  await field.fill(await nextTotp(secret));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(HOME);
  await page.getByRole('button', { name: 'Sign out' }).waitFor();

  // Past the step-up window, granting a role asks for the factor again on the admin screen.
  const other = await signup(app);
  await new Promise((r) => setTimeout(r, (STEP_UP_S + 1) * 1000));
  await page.goto(b.url('/console/admin/users'));
  await page.getByLabel('Search users').fill(other.email);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('button', { name: `Make admin: ${other.email}` }).click();
  const prompt = page.getByRole('region', { name: 'Confirm it is you' });
  await prompt.waitFor();
  await expectAccessible(page, 'step-up prompt on the admin users screen');
  await prompt.getByLabel('Code from your authenticator app, or a recovery code').fill(await nextTotp(secret));
  await prompt.getByRole('button', { name: 'Confirm' }).click();
  await page.getByText(`Admin role granted to ${other.email}.`).waitFor();
  const roles = (await services.store.readStream(`user-${other.userId}`)).filter((e) => e.type === 'RoleGranted');
  expect(roles).toHaveLength(1);
}, 180_000);

it('an admin without a factor may enrol a passkey at sign-in instead (virtual authenticator)', async () => {
  const { app, services } = b.server();
  const u = await signup(app);
  await makeAdmin(services, u.userId);
  const ctx = await b.context();
  const page = await ctx.newPage();
  await addVirtualAuthenticator(ctx, page);
  await signInWithPassword(page, b.url('/console/sign-in'), u.email, u.password);
  await page.getByText('Your account needs a second factor.').waitFor();
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  expect(await recoveryCodesShown(page)).toHaveLength(10);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(HOME);
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  const events = (await services.store.readStream(`mfa-${u.userId}`)).map((e) => e.type);
  expect(events).toContain('PasskeyRegistered');
  // The passkey alone signs in from now on.
  await signOut(page);
  await page.goto(b.url('/console/mfa/sign-in'));
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.waitForURL(HOME);
}, 120_000);
