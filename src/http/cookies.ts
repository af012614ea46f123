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
