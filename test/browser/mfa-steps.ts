/**
 * Steps the MFA browser tests share (test/browser/mfa*.e2e.test.ts): TOTP codes that never repeat a
 * step (the server refuses any step at or before the newest used one), the console's TOTP
 * enrolment read from the page, password sign-in, sign-out, and the virtual authenticator.
 */
import { expect } from 'vitest';
import { generate } from 'otplib';
import type { BrowserContext, Page } from 'playwright-core';

const STEP = 30;
const lastStep = new Map<string, number>();

/**
 * A code the server accepts now and has not seen: the earliest step after the last one used,
 * within the ±1 window (the previous step only while the current one has 20 s left). Waits for
 * the clock when all three are spent.
 */
export async function nextTotp(secret: string): Promise<string> {
  for (;;) {
    const nowS = Date.now() / 1000;
    const now = Math.floor(nowS / STEP);
    const earliest = nowS - now * STEP < 10 ? now - 1 : now;
    const step = Math.max(earliest, (lastStep.get(secret) ?? -Infinity) + 1);
    if (step <= now + 1) {
      lastStep.set(secret, step);
      return generate({ secret, epoch: step * STEP });
    }
    await new Promise((r) => setTimeout(r, ((now + 1) * STEP - nowS) * 1000 + 200));
  }
}

/** Sign in on /console/sign-in with the password alone (no factor yet). */
export async function signInWithPassword(page: Page, url: string, email: string, password: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export async function signOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/console\/sign-in/);
}

/**
 * On the TOTP enrolment form (after "Set up an authenticator app"): reads the key and the
 * otpauth:// URI from the page, checks they agree, confirms with a code. Returns the secret.
 */
export async function confirmTotpEnrolment(page: Page): Promise<string> {
  const secret = (await page.getByTestId('totp-secret').textContent())!.trim();
  const uri = new URL((await page.getByTestId('otpauth-uri').getAttribute('href'))!);
  expect(uri.protocol).toBe('otpauth:');
  expect(uri.host).toBe('totp');
  expect(uri.searchParams.get('secret')).toBe(secret);
  expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
  await page.locator('.qr svg').waitFor();
  await page.getByLabel('Code from the app').fill(await nextTotp(secret));
  await page.getByRole('button', { name: 'Confirm' }).click();
  return secret;
}

/** The recovery codes shown once, after the first factor. */
export async function recoveryCodesShown(page: Page): Promise<string[]> {
  await page.locator('.recovery-codes').waitFor();
  return (await page.locator('.recovery-codes code').allTextContents()).map((c) => c.trim());
}

/** Chromium's virtual authenticator (CDP WebAuthn domain): a platform passkey with user verification. */
export async function addVirtualAuthenticator(ctx: BrowserContext, page: Page): Promise<void> {
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
}
