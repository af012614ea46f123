/**
 * The refresh cookie's attributes, in one place (identity routes and the social sign-in callback
 * set it). HttpOnly, scoped to /api/v1/auth, SameSite from COOKIE_SAMESITE (strict by default;
 * lax/none only with COOKIE_SECURE, checked by src/config.ts), Secure unless COOKIE_SECURE=false.
 * SameSite is one layer only: every route reading the cookie also checks the request's origin
 * (./request-origin.ts), which covers same-site attackers (other ports, sibling subdomains).
 */
import type { Config } from '../config';

export const AUTH_COOKIE_PATH = '/api/v1/auth';

export function refreshCookieOptions(config: Pick<Config, 'COOKIE_SAMESITE' | 'COOKIE_SECURE'>) {
  return { path: AUTH_COOKIE_PATH, httpOnly: true, sameSite: config.COOKIE_SAMESITE, secure: config.COOKIE_SECURE };
}

/**
 * A social sign-in waiting for its second factor (src/commands/oauth/second-factor.ts): the
 * mfa_token, HttpOnly and SameSite=Strict, sent only to /api/v1/auth/mfa, taken once by
 * POST /api/v1/auth/mfa/pending.
 */
export const MFA_PENDING_COOKIE = 'mfa_pending';
export const MFA_PENDING_PATH = `${AUTH_COOKIE_PATH}/mfa`;

export function mfaPendingCookieOptions(config: Pick<Config, 'COOKIE_SECURE'>, maxAge?: number) {
  return { path: MFA_PENDING_PATH, httpOnly: true, sameSite: 'strict' as const, secure: config.COOKIE_SECURE, ...(maxAge ? { maxAge } : {}) };
}
