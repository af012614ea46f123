/**
 * MFA in a real browser (issue 17) with Chromium's virtual authenticator (CDP WebAuthn domain):
 * register a passkey on /console/mfa, sign out, sign in with the passkey alone on /console/mfa/sign-in.
 */
import { expect, it } from 'vitest';
import { useBrowser } from './helpers';
import { signup } from '../helpers/auth';

const b = useBrowser('bmfa');

it('registers a passkey and signs in with it alone', async () => {
  const { app } = b.server();
  const u = await signup(app);
  const ctx = await b.context();
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  await page.goto(b.url('/console/sign-in'));
  await page.getByLabel('E-mail').fill(u.email);
  await page.getByLabel('Password').fill(u.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/console\/?$/);
  await page.goto(b.url('/console/mfa'));
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.locator('li[data-method="passkey"]').waitFor();
  await page.locator('.recovery-codes').waitFor();
  // Sign out, then the passkey alone.
  await page.evaluate(() => fetch('/api/v1/auth/logout', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', credentials: 'same-origin' }));
  await page.goto(b.url('/console/mfa/sign-in'));
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.waitForURL(/\/console\/?$/);
  const events = await b.server().services.store.readStream(`mfa-${u.userId}`);
  expect(events.map((e) => e.type)).toContain('SecondFactorVerified');
}, 120_000);
