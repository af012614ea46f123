/**
 * The console's shell in a real browser: GET / → /console/ → sign-in; sign in; a reload keeps the
 * session through the HttpOnly refresh cookie alone (no token in storage); sign out; /redoc works
 * with every request to another host refused (offline); axe-core on each page.
 */
import { describe, expect, it } from 'vitest';
import { expectAccessible, uniqueEmail, useBrowser } from './helpers';

// In page.evaluate callbacks (they run in the page; no DOM library in the server's typecheck).
declare const document: any, localStorage: any, sessionStorage: any, window: any;

const b = useBrowser('bshell');
const PASSWORD = 'correct horse battery staple 42';

async function apiSignup(email: string, name: string) {
  const res = await fetch(b.url('/api/v1/auth/signup'), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD, name }),
  });
  expect(res.status).toBe(201);
}

describe('console shell', () => {
  it('a browser opening / lands on the sign-in page, which passes axe', async () => {
    const page = await b.page();
    await page.goto(b.url('/'));
    await page.waitForURL(/\/console\/sign-in/);
    await expect.poll(() => page.title()).toContain('Sign in');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await expectAccessible(page, 'sign-in');
  });

  it('signs in, survives a reload on the refresh cookie alone, and signs out', async () => {
    const email = uniqueEmail('shell');
    await apiSignup(email, 'Shell Tester');
    const page = await b.page();
    await page.goto(b.url('/console/sessions'));
    await page.waitForURL(/\/console\/sign-in\?next=/);
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Back where we were going (?next=).
    await page.waitForURL(/\/console\/sessions$/);
    await page.getByRole('heading', { name: 'Sessions', level: 1 }).waitFor();
    await expect.poll(() => page.locator('.who').textContent()).toBe('Shell Tester');

    // No token in any storage the page can read; the refresh cookie is HttpOnly.
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    expect(stored).toBe('{}{}');
    const cookies = await page.context().cookies();
    const refresh = cookies.find((c) => c.name === 'refresh_token');
    expect(refresh?.httpOnly).toBe(true);
    expect(refresh?.sameSite).toBe('Strict');

    await page.reload();
    await page.getByRole('heading', { name: 'Sessions', level: 1 }).waitFor();
    await expect.poll(() => page.locator('.who').textContent()).toBe('Shell Tester');
    await expectAccessible(page, 'layout (signed in)');

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/console\/sign-in/);
    await page.getByText('You are signed out.').waitFor();
    await page.goto(b.url('/console/account'));
    await page.waitForURL(/\/console\/sign-in\?next=/);
  });

  it('the nav folds behind a Menu button at phone width', async () => {
    const email = uniqueEmail('phone');
    await apiSignup(email, 'Phone');
    const ctx = await b.context({ viewport: { width: 375, height: 740 }, isMobile: true });
    const page = await ctx.newPage();
    await page.goto(b.url('/console/sign-in'));
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const menu = page.getByRole('button', { name: 'Menu' });
    await menu.waitFor();
    expect(await page.locator('#nav').isVisible()).toBe(false);
    await menu.click();
    expect(await menu.getAttribute('aria-expanded')).toBe('true');
    await page.locator('#nav').getByRole('link', { name: 'My history' }).click();
    await page.waitForURL(/\/console\/history$/);
    expect(await page.locator('#nav').isVisible()).toBe(false);
    // Nothing wider than the screen, on every screen of the user's own (tables scroll inside their box).
    for (const path of ['/console/history', '/console/', '/console/account', '/console/sessions', '/console/api-keys', '/console/features']) {
      if (path !== '/console/history') await page.goto(b.url(path));
      await page.locator('h1').waitFor();
      // Loaded: no spinner left (ui.tsx Spinner is the only polite status with "Loading").
      await page.waitForFunction(() => ![...document.querySelectorAll('p[role="status"]')].some((e: any) => /Loading|Reading/.test(e.textContent)));
      expect(await page.evaluate(() => document.documentElement.scrollWidth), path).toBeLessThanOrEqual(375);
      await expectAccessible(page, `${path} at phone width`);
    }
    await ctx.close();
  });

  it('/redoc renders offline: its script comes from this server', { timeout: 150_000 }, async () => {
    const ctx = await b.context();
    const foreign: string[] = [];
    const base = new URL(b.url('/'));
    await ctx.route('**/*', (route) => {
      const u = new URL(route.request().url());
      if (u.host !== base.host) {
        foreign.push(u.href);
        return route.abort();
      }
      return route.continue();
    });
    const page = await ctx.newPage();
    await page.goto(b.url('/redoc'));
    // The bundle ran (window.Redoc) and rendered the document (ReDoc is slow on a busy machine).
    await expect.poll(() => page.evaluate(() => typeof (window as any).Redoc), { timeout: 60_000 }).toBe('object');
    await expect.poll(() => page.evaluate(() => document.body.innerText.includes('authledger')), { timeout: 80_000, interval: 1000 }).toBe(true);
    expect(foreign.filter((u) => /\.js(\?|$)/.test(u))).toEqual([]);
    await ctx.close();
  });
});
