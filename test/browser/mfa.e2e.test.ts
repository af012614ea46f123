/**
 * MFA in a real browser (issue 17), the real console against the real server:
 * - a passkey registered on /console/mfa with Chromium's virtual authenticator (CDP WebAuthn
 *   domain), then a sign-in with the passkey alone on /console/mfa/sign-in;
 * - TOTP enrolled on /console/mfa (key and otpauth:// URI read from the page, codes from otplib),
 *   the recovery codes shown once; a step-up for an API key with `*` features; sign-in with the
 *   password then a TOTP code; sign-in with a recovery code, the same code refused the second time;
 * - a step-up with a passkey (password change on /console/account) and a passkey as the second
 *   factor of a password sign-in;
 * - axe-core on the enrolment, second-factor and step-up screens (no serious/critical violation).
 */
import { expect, it } from 'vitest';
import { expectAccessible, useBrowser } from './helpers';
import { signup } from '../helpers/auth';
import { addVirtualAuthenticator, confirmTotpEnrolment, nextTotp, recoveryCodesShown, signInWithPassword, signOut } from './mfa-steps';

const b = useBrowser('bmfa');
const HOME = /\/console\/?$/;

const mfaEvents = async (userId: string) => (await b.server().services.store.readStream(`mfa-${userId}`)).map((e) => ({ type: e.type, data: e.data as Record<string, unknown> }));

it('registers a passkey and signs in with it alone', async () => {
  const { app } = b.server();
  const u = await signup(app);
  const ctx = await b.context();
  const page = await ctx.newPage();
  await addVirtualAuthenticator(ctx, page);
  await signInWithPassword(page, b.url('/console/sign-in'), u.email, u.password);
  await page.waitForURL(HOME);
  await page.goto(b.url('/console/mfa'));
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.locator('li[data-method="passkey"]').waitFor();
  await page.locator('.recovery-codes').waitFor();
  // Sign out, then the passkey alone.
  await signOut(page);
  await page.goto(b.url('/console/mfa/sign-in'));
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.waitForURL(HOME);
  const events = await mfaEvents(u.userId);
  expect(events.map((e) => e.type)).toContain('SecondFactorVerified');
  expect(events.find((e) => e.type === 'SecondFactorVerified')!.data).toMatchObject({ method: 'passkey', purpose: 'passwordless' });
}, 120_000);

it('TOTP: enrol in the console, step-up for a "*" API key, sign in with a code, then with a recovery code (once)', async () => {
  const u = await signup(b.server().app);
  const ctx = await b.context();
  const page = await ctx.newPage();
  await signInWithPassword(page, b.url('/console/sign-in'), u.email, u.password);
  await page.waitForURL(HOME);

  // (a) Enrolment: the key, the URI and the QR code on the page; axe on the enrolment screen.
  await page.goto(b.url('/console/mfa'));
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  await page.getByTestId('totp-secret').waitFor();
  await expectAccessible(page, 'TOTP enrolment');
  const secret = await confirmTotpEnrolment(page);
  const codes = await recoveryCodesShown(page);
  expect(codes).toHaveLength(10);
  expect(new Set(codes).size).toBe(10);
  await page.locator('li[data-method="totp"]').waitFor();
  await expectAccessible(page, 'factors with recovery codes shown');

  // (d) This session proved only the password: a key for every feature asks for a step-up.
  await page.goto(b.url('/console/api-keys'));
  await page.getByLabel('Name').fill('everything');
  await page.getByLabel('All features, present and future (*)').check();
  await page.getByRole('button', { name: 'Create key' }).click();
  const prompt = page.getByRole('region', { name: 'Confirm it is you' });
  await prompt.waitFor();
  expect(await page.getByTestId('new-key').count()).toBe(0);
  await expectAccessible(page, 'step-up prompt (TOTP)');
  await prompt.getByLabel('Code from your authenticator app, or a recovery code').fill('000000');
  await prompt.getByRole('button', { name: 'Confirm' }).click();
  await expect.poll(() => prompt.getByRole('alert').textContent()).toBeTruthy();
  await prompt.getByLabel('Code from your authenticator app, or a recovery code').fill(await nextTotp(secret));
  await prompt.getByRole('button', { name: 'Confirm' }).click();
  // The refused action runs again by itself once the factor is proved.
  await page.getByTestId('new-key').waitFor();
  expect(await page.getByTestId('new-key').textContent()).toMatch(/\S{20,}/);
  expect(await prompt.count()).toBe(0);
  expect((await mfaEvents(u.userId)).some((e) => e.type === 'SecondFactorVerified' && e.data.purpose === 'step_up' && e.data.method === 'totp')).toBe(true);

  // (b) Password → second-factor screen → TOTP → signed in.
  await signOut(page);
  await signInWithPassword(page, b.url('/console/sign-in'), u.email, u.password);
  const codeField = page.getByLabel('Code from your authenticator app, or a recovery code');
  await codeField.waitFor();
  expect(page.url()).toContain('/console/sign-in');
  await expectAccessible(page, 'second-factor sign-in');
  await codeField.fill(await nextTotp(secret));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(HOME);
  await page.getByRole('button', { name: 'Sign out' }).waitFor();

  // (c) A recovery code signs in once; the same code again is refused.
  await signOut(page);
  await signInWithPassword(page, b.url('/console/sign-in'), u.email, u.password);
  await codeField.fill(codes[3]!);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(HOME);
  await signOut(page);
  await signInWithPassword(page, b.url('/console/sign-in'), u.email, u.password);
  await codeField.fill(codes[3]!);
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect.poll(() => page.getByRole('alert').textContent()).toBeTruthy();
  expect(page.url()).toContain('/console/sign-in');
  expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);

  const verified = (await mfaEvents(u.userId)).filter((e) => e.type === 'SecondFactorVerified');
  expect(verified.filter((e) => e.data.purpose === 'login').map((e) => e.data.method)).toEqual(['totp', 'recovery_code']);
  expect((await mfaEvents(u.userId)).some((e) => e.type === 'SecondFactorFailed')).toBe(true);
}, 180_000);

it('passkey: step-up for a password change, then the passkey as the second factor of a password sign-in', async () => {
  const u = await signup(b.server().app);
  const ctx = await b.context();
  const page = await ctx.newPage();
  await addVirtualAuthenticator(ctx, page);
  await signInWithPassword(page, b.url('/console/sign-in'), u.email, u.password);
  await page.waitForURL(HOME);
  await page.goto(b.url('/console/mfa'));
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.locator('li[data-method="passkey"]').waitFor();
  await recoveryCodesShown(page);

  // (e) The password change answers step_up_required; the prompt offers the passkey.
  const newPassword = 'a different long passphrase 93';
  await page.goto(b.url('/console/account'));
  await page.getByLabel('Current password').fill(u.password);
  await page.getByLabel('New password', { exact: true }).fill(newPassword);
  await page.getByLabel('Repeat the new password').fill(newPassword);
  await page.getByRole('button', { name: 'Change password' }).click();
  const prompt = page.getByRole('region', { name: 'Confirm it is you' });
  await prompt.waitFor();
  await expectAccessible(page, 'step-up prompt (passkey)');
  await prompt.getByRole('button', { name: 'Use a passkey' }).click();
  await page.getByText('Password changed.').waitFor();
  expect(await prompt.count()).toBe(0);
  const events = await mfaEvents(u.userId);
  expect(events.some((e) => e.type === 'SecondFactorVerified' && e.data.purpose === 'step_up' && e.data.method === 'passkey')).toBe(true);

  // The new password, then the passkey as the second factor.
  await signOut(page);
  await signInWithPassword(page, b.url('/console/sign-in'), u.email, newPassword);
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  await page.waitForURL(HOME);
  const login = (await mfaEvents(u.userId)).filter((e) => e.type === 'SecondFactorVerified' && e.data.purpose === 'login');
  expect(login.map((e) => e.data.method)).toEqual(['passkey']);
}, 180_000);
