/**
 * A social sign-in of a user with a second factor, in the console (issues 13/17): "Continue with
 * Google" (the first time it makes the account; TOTP is enrolled in the console) → the local
 * oidc-provider → our callback, which gives no session but the HttpOnly
 * mfa_pending cookie and a redirect to /console/mfa/sign-in?pending=1 → the page takes the
 * challenge once (POST /api/v1/auth/mfa/pending) and shows the shared second-factor form → TOTP →
 * signed in, the session's method oauth:google with the code in its amr.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectAccessible, useBrowser } from './helpers';
import { startOidcIssuer, type OidcIssuer } from '../oauth/stand-ins/oidc-issuer';
import type { Page } from 'playwright-core';
import { confirmTotpEnrolment, nextTotp, recoveryCodesShown, signOut } from './mfa-steps';

const issuerServer = http.createServer();
await new Promise<void>((r) => issuerServer.listen(0, '127.0.0.1', () => r()));
const issuerUrl = `http://127.0.0.1:${(issuerServer.address() as AddressInfo).port}`;
const client = { clientId: 'mfa-google', clientSecret: 'mfa-google-secret-0123456789abcdef', authMethod: 'client_secret_post' as const };
const EMAIL = `ada-${Date.now().toString(36)}@social-mfa.test`;

const b = useBrowser('bmfasoc', {
  env: { OAUTH_GOOGLE_ISSUER: issuerUrl, OAUTH_GOOGLE_CLIENT_ID: client.clientId, OAUTH_GOOGLE_CLIENT_SECRET: client.clientSecret, PROVIDER_TOKEN_KEY: 'e'.repeat(64) },
});
let issuer: OidcIssuer;
beforeAll(async () => {
  issuer = await startOidcIssuer({
    server: issuerServer,
    clients: [{ ...client, redirectUris: [b.url('/api/v1/auth/oauth/google/callback')] }],
    accounts: { ada: { email: EMAIL, email_verified: true, name: 'Ada Lovelace' } },
  });
});
afterAll(async () => issuer?.close());

/** Through the provider's development login and consent forms, whichever it shows (it remembers its own session). */
async function throughProvider(page: Page): Promise<void> {
  await page.getByRole('link', { name: 'Continue with Google' }).click();
  await page.waitForURL((url) => url.href.startsWith(issuerUrl) || url.pathname.startsWith('/console/'));
  for (let i = 0; i < 4 && page.url().startsWith(issuerUrl); i++) {
    const before = page.url();
    const loginField = page.locator('input[name="login"]');
    if (await loginField.count()) {
      await loginField.fill('ada');
      await page.locator('input[name="password"]').fill('any');
      await page.locator('button[type="submit"]').click();
    } else {
      await page.locator('button[type="submit"]', { hasText: /continue/i }).click();
    }
    await page.waitForURL((url) => url.href !== before);
  }
  await page.waitForURL((url) => url.href.startsWith(b.url('/console/')));
}

it('Continue with Google, enrol TOTP, sign out; Google again → the second-factor page → TOTP → signed in', async () => {
  const page = await b.page();
  // The first social sign-in makes the account (no factor yet: a session at once).
  await page.goto(b.url('/console/sign-in'));
  await throughProvider(page);
  await expect.poll(() => page.locator('.who').textContent(), { timeout: 15_000 }).toBe('Ada Lovelace');
  await page.goto(b.url('/console/mfa'));
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  await page.getByTestId('totp-secret').waitFor();
  const secret = await confirmTotpEnrolment(page);
  await recoveryCodesShown(page);
  await signOut(page);

  // No session from the provider alone now: the second-factor page, with the pending challenge.
  await throughProvider(page);
  await page.waitForURL(/\/console\/mfa\/sign-in\?.*pending=1/);
  const field = page.getByLabel('Code from your authenticator app, or a recovery code');
  await field.waitFor();
  expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
  await expectAccessible(page, 'second factor after a social sign-in');
  await field.fill(await nextTotp(secret));
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect.poll(() => page.locator('.who').textContent(), { timeout: 15_000 }).toBe('Ada Lovelace');

  const { rows } = await b.server().services.pool.query(
    `SELECT data FROM events WHERE event_type = 'SessionStarted' AND data->>'method' = 'oauth:google' ORDER BY position`);
  expect(rows).toHaveLength(2);
  expect(rows[0].data.amr ?? []).not.toContain('otp');
  expect(rows[1].data.amr).toContain('otp');
}, 150_000);
