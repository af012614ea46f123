/**
 * One full OpenID Connect sign-in through the console in a real browser (issue 13): the sign-in
 * page's "Continue with Google" button → the local `oidc-provider` (the Google issuer) → its dev
 * login and consent forms → our callback → back on the console, signed in through the HttpOnly
 * refresh cookie, with the identity listed by the API.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBrowser } from './helpers';
import { startOidcIssuer, type OidcIssuer } from '../oauth/stand-ins/oidc-issuer';

// The issuer's URL goes into the server's config before the issuer knows the server's callback URL.
const issuerServer = http.createServer();
await new Promise<void>((r) => issuerServer.listen(0, '127.0.0.1', () => r()));
const issuerUrl = `http://127.0.0.1:${(issuerServer.address() as AddressInfo).port}`;
const client = { clientId: 'console-google', clientSecret: 'console-google-secret-0123456789', authMethod: 'client_secret_post' as const };

const b = useBrowser('bsocial', {
  env: { OAUTH_GOOGLE_ISSUER: issuerUrl, OAUTH_GOOGLE_CLIENT_ID: client.clientId, OAUTH_GOOGLE_CLIENT_SECRET: client.clientSecret, PROVIDER_TOKEN_KEY: 'd'.repeat(64) },
});
let issuer: OidcIssuer;
beforeAll(async () => {
  issuer = await startOidcIssuer({
    server: issuerServer,
    clients: [{ ...client, redirectUris: [b.url('/api/v1/auth/oauth/google/callback')] }],
    accounts: { grace: { email: 'grace@social-browser.test', email_verified: true, name: 'Grace Hopper' } },
  });
});
afterAll(async () => issuer?.close());

describe('social sign-in through the console', () => {
  it('Continue with Google → provider login → consent → back on the console, signed in', async () => {
    const page = await b.page();
    await page.goto(b.url('/console/sign-in'));
    const button = page.getByRole('link', { name: 'Continue with Google' });
    await button.waitFor();
    await button.click();
    // The provider's development login form, then its consent form.
    await page.waitForURL((u) => u.href.startsWith(issuerUrl));
    await page.locator('input[name="login"]').fill('grace');
    await page.locator('input[name="password"]').fill('any');
    await page.locator('button[type="submit"]').click();
    await page.locator('button[type="submit"]', { hasText: /continue/i }).click();
    // Back on the console (redirect_to), signed in on the refresh cookie the callback set.
    await page.waitForURL((u) => u.href.startsWith(b.url('/console/')));
    await expect.poll(() => page.locator('.who').textContent(), { timeout: 15_000 }).toBe('Grace Hopper');
    const refresh = (await page.context().cookies()).find((c) => c.name === 'refresh_token');
    expect(refresh?.httpOnly).toBe(true);

    const { rows } = await b.server().services.pool.query(
      `SELECT e.data->>'method' AS method FROM events e WHERE e.event_type = 'SessionStarted'`);
    expect(rows.map((r) => r.method)).toContain('oauth:google');
    const linked = await b.server().services.pool.query(`SELECT data FROM events WHERE event_type = 'ExternalIdentityLinked'`);
    expect(linked.rows.map((r) => [r.data.provider, r.data.subject])).toEqual([['google', 'grace']]);
  });
});
