/**
 * The console's main flow in a real browser (issue 16), one step after another in one context:
 * sign up → the verification link from the mail outbox → sign in → create an API key → the
 * access tester grants → revoke → the tester refuses → My history: the time slider shows the key
 * active at an instant before its revocation and absent before its creation; compare mode names
 * the change → sign out. axe-core runs on every page of these screens.
 * UPDATE_SCREENSHOTS=1 also writes docs/screenshots/*.png (committed, for the README).
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { expectAccessible, linkIn, uniqueEmail, useBrowser } from './helpers';
import { adminLogin, bearer } from '../helpers/auth';
import { ROOT } from '../server/helpers';

const b = useBrowser('bconsole');
const PASSWORD = 'a long and quite unusual passphrase 7';
const email = uniqueEmail('ada');
const KEY_NAME = 'nightly export';
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const shot = async (page: Page, name: string) => {
  if (SHOTS) await b.shot(page, path.join(ROOT, 'docs', 'screenshots', `${name}.png`));
};

let page: Page;

beforeAll(async () => {
  // An administrator registers the features the user's key will be tested against.
  const { app, services } = b.server();
  const admin = await adminLogin(app, services);
  for (const [name, description] of [['reports', 'Monthly reports'], ['exports', 'Data exports']]) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.accessToken), payload: { name, description } });
    expect(res.statusCode, res.body).toBe(201);
  }
  const ctx = await b.context({ viewport: { width: 1100, height: 760 } });
  page = await ctx.newPage();
});

const heading = (name: string) => page.getByRole('heading', { name, level: 1 });

describe('console: the whole flow of a new user', () => {
  it('signs up', async () => {
    await page.goto(b.url('/console/sign-up'));
    await heading('Create an account').waitFor();
    await expectAccessible(page, 'sign-up');
    await page.getByLabel('Name').fill('Ada Lovelace');
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat the password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await heading('Check your mail').waitFor();
    await expectAccessible(page, 'sign-up done');
  });

  it('confirms the address with the link from the mail (old URL, fragment kept across the redirect)', async () => {
    const mail = await b.mail(email, 'Confirm');
    const link = linkIn(mail, '/api/v1/auth/verify-email');
    expect(link.hash).toMatch(/^#token=/);
    await page.goto(link.href);
    await page.waitForURL(/\/console\/verify-email$/); // token read, then dropped from the address bar
    await heading('Confirm your e-mail address').waitFor();
    await expectAccessible(page, 'verify-email');
    await page.getByRole('button', { name: 'Confirm my e-mail address' }).click();
    await page.getByText(`Thank you: ${email} is confirmed.`).waitFor();
  });

  it('signs in', async () => {
    await page.getByRole('link', { name: 'Sign in' }).click();
    await heading('Sign in').waitFor();
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading('Hello, Ada Lovelace').waitFor();
    await expectAccessible(page, 'home');
  });

  it('creates an API key for one feature; the secret is shown once with a copy button', async () => {
    await page.locator('#nav').getByRole('link', { name: 'API keys' }).click();
    await heading('API keys').waitFor();
    await page.getByLabel('Name').fill(KEY_NAME);
    await page.getByRole('checkbox', { name: /reports/ }).check();
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = page.getByTestId('new-key');
    await secret.waitFor();
    expect(await secret.textContent()).toMatch(/\S{20,}/);
    await page.getByRole('button', { name: 'Copy key' }).waitFor();
    const row = page.locator('tr', { hasText: KEY_NAME });
    await row.getByText('active').waitFor();
    await expectAccessible(page, 'api-keys');
    await row.getByRole('button', { name: /Usage/ }).click();
    await page.getByRole('img', { name: /Calls per day of key nightly export/ }).waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, 'api-keys');
  });

  it('the access tester grants the covered feature and refuses the other', async () => {
    await page.getByRole('link', { name: 'Try it in the access tester' }).click();
    await heading('Features').waitFor();
    await page.getByLabel('Feature', { exact: true }).selectOption('reports');
    await page.getByRole('button', { name: 'Check access' }).click();
    await expect.poll(() => page.getByTestId('verdict').textContent()).toMatch(/^Granted/);
    await page.getByLabel('Feature', { exact: true }).selectOption('exports');
    await page.getByRole('button', { name: 'Check access' }).click();
    await expect.poll(() => page.getByTestId('verdict').textContent()).toContain('feature_not_in_key_scope');
    await expectAccessible(page, 'features');
  });

  it('revokes the key; the tester then refuses it', async () => {
    await page.locator('#nav').getByRole('link', { name: 'API keys' }).click();
    const row = page.locator('tr', { hasText: KEY_NAME });
    page.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: /Revoke/ }).click();
    await row.getByText('revoked').waitFor();
    await page.locator('#nav').getByRole('link', { name: 'Features' }).click();
    await page.getByLabel('Feature', { exact: true }).selectOption('reports');
    await page.getByRole('button', { name: 'Check access' }).click();
    await expect.poll(() => page.getByTestId('verdict').textContent()).toContain('api_key_revoked');
  });

  it('My history: the slider shows the key active before its revocation and absent before its creation', async () => {
    await page.locator('#nav').getByRole('link', { name: 'My history' }).click();
    await heading('My history').waitFor();
    const keys = () => page.getByTestId('state').first();
    // Now (after revocation): no active key.
    await expect.poll(() => keys().textContent()).toContain('No active keys.');

    // At the key's creation: listed.
    const issued = page.locator('li.event[data-type="ApiKeyIssued"]');
    await issued.getByRole('button', { name: /State here/ }).click();
    await expect.poll(() => page.getByTestId('state-keys').textContent()).toContain(KEY_NAME);
    // The instant just before its revocation (the event before ApiKeyRevoked): still listed.
    const slider = page.getByRole('slider', { name: 'Moment' });
    const revokedAt = await page.locator('li.event[data-type="ApiKeyRevoked"] time').getAttribute('datetime');
    await page.locator('li.event[data-type="ApiKeyRevoked"]').getByRole('button', { name: /State here/ }).click();
    await expect.poll(() => keys().textContent()).toContain('No active keys.');
    await slider.focus();
    await page.keyboard.press('ArrowLeft');
    await expect.poll(async () => Date.parse((await page.getByTestId('at-at').getAttribute('data-iso')) ?? '') < Date.parse(revokedAt!)).toBe(true);
    await expect.poll(() => page.getByTestId('state-keys').textContent()).toContain(KEY_NAME);
    // Back to the creation, then one event earlier: absent.
    await issued.getByRole('button', { name: /State here/ }).click();
    await expect.poll(() => page.getByTestId('state-keys').textContent()).toContain(KEY_NAME);
    await slider.focus();
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => keys().textContent()).toContain('No active keys.');
    await expectAccessible(page, 'history');
  });

  it('compare mode names what changed between two moments', async () => {
    // The first moment is just before the key's creation (where the last test left it).
    await page.getByRole('button', { name: 'Compare two moments' }).click();
    const second = page.getByRole('slider', { name: 'Second moment' });
    await second.waitFor();
    const issuedAt = Date.parse((await page.locator('li.event[data-type="ApiKeyIssued"] time').getAttribute('datetime'))!);
    // Step the second moment back from now, event by event (keyboard), to the key's creation.
    await second.focus();
    await page.keyboard.press('End');
    for (let i = 0; i < 60; i++) {
      if (Date.parse((await page.getByTestId('b-at').getAttribute('data-iso'))!) <= issuedAt) break;
      await page.keyboard.press('ArrowLeft');
    }
    await expect.poll(() => page.getByTestId('diff').textContent()).toContain(`API key created: “${KEY_NAME}”`);
    await expect.poll(() => page.getByTestId('diff').textContent()).toContain('Feature reachable: reports');
    await expectAccessible(page, 'history (compare)');
    await page.getByRole('button', { name: 'Stop comparing' }).click();
    if (SHOTS) {
      await page.locator('li.event[data-type="ApiKeyIssued"]').getByRole('button', { name: /State here/ }).click();
      await expect.poll(() => page.getByTestId('state-keys').textContent()).toContain(KEY_NAME);
      await page.setViewportSize({ width: 1100, height: 1250 });
      await page.evaluate(() => window.scrollTo(0, 0));
      await shot(page, 'history');
      await page.setViewportSize({ width: 1100, height: 760 });
    }
  });

  it('sessions and account pages pass axe; sign out', async () => {
    await page.locator('#nav').getByRole('link', { name: 'Sessions' }).click();
    await heading('Sessions').waitFor();
    await page.getByText('this device').waitFor();
    await expectAccessible(page, 'sessions');
    await page.locator('#nav').getByRole('link', { name: 'Account' }).click();
    await heading('Account').waitFor();
    await page.getByText('Your e-mail address is confirmed.').waitFor();
    await expectAccessible(page, 'account');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await heading('Sign in').waitFor();
    await expectAccessible(page, 'sign-in');
    await shot(page, 'sign-in');
  });

  it('forgot password and the reset landing page pass axe', async () => {
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await heading('Forgot password').waitFor();
    await expectAccessible(page, 'forgot-password');
    await page.goto(b.url('/api/v1/auth/password-reset'));
    await page.waitForURL(/\/console\/reset-password$/);
    await heading('Choose a new password').waitFor();
    await expectAccessible(page, 'reset-password');
  });
});

// In page.evaluate callbacks (they run in the page).
declare const window: any;
