/**
 * TOTP (RFC 6238) as authledger uses it. Rules enforced here:
 * - SHA-1, 6 digits, 30-second steps (what every authenticator app reads from an otpauth URI);
 * - a code is accepted in a ±1 step window around `now` and only for a step after `afterStep`
 *   (the newest step already used): each code works once, and an older code never after a newer;
 * - anything but exactly 6 digits is refused before any work;
 * - pure: the clock comes in as an argument (tests use a fixed one).
 * Secrets are base32 (160 bits from the CSPRNG); they are stored only encrypted (envelope.ts).
 */
import { generateSecret, generateURI, verify } from 'otplib';

export const TOTP_PERIOD = 30;
export const TOTP_DIGITS = 6;

export const newTotpSecret = (): string => generateSecret({ length: 20 });

/** The time step of a moment. */
export const totpStep = (nowMs: number): number => Math.floor(nowMs / 1000 / TOTP_PERIOD);

/** The step the code matches within ±1 step of `nowMs` and after `afterStep`, or undefined. */
export async function matchTotp(secret: string, code: string, nowMs: number, afterStep = -1): Promise<number | undefined> {
  if (!/^\d{6}$/.test(code)) return undefined;
  const epoch = Math.floor(nowMs / 1000);
  const result = await verify({
    strategy: 'totp', secret, token: code, epoch, period: TOTP_PERIOD, digits: TOTP_DIGITS, epochTolerance: TOTP_PERIOD,
    ...(afterStep >= 0 ? { afterTimeStep: afterStep } : {}),
  }).catch(() => undefined);
  if (!result || !result.valid) return undefined;
  return totpStep(nowMs) + result.delta;
}

/** The otpauth:// URI an authenticator app scans. */
export function totpUri(secret: string, issuer: string, account: string): string {
  return generateURI({ issuer, label: account, secret, period: TOTP_PERIOD, digits: TOTP_DIGITS });
}
