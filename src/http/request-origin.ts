/**
 * Cookie-authenticated requests must come from the API's own origin or an allowed front end
 * (issue 20 §4, CSRF). A cookie is ambient: the browser attaches it to requests another page
 * makes, and SameSite=Strict does not cover another port of the same host or a sibling
 * subdomain (both are "same-site"). So wherever a route authenticates by a cookie, it reads the
 * cookie through `cookieCredential`, which first checks where the request comes from. Rules:
 * - `Origin` present: it must be the API's own origin (PUBLIC_URL, or the request's own
 *   scheme://host) or one of CORS_ORIGINS (compared as normalised origins; `*` allows no foreign
 *   origin here, since `*` never allows credentials); `Origin: null` is refused;
 * - no `Origin`: `Sec-Fetch-Site` must be `same-origin` or `none` (the user's own navigation);
 *   `same-site` and `cross-site` are refused;
 * - neither header: not a browser (a server or CLI has no ambient cookies to abuse): allowed;
 * - a refusal is 403 `cross_origin_request` (problem+json), before the cookie is used at all.
 * Requests that carry their credential themselves (a body refresh token, a Bearer header) are
 * not cookie-authenticated and are not checked.
 */
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config';
import { errors } from '../errors';

/** `scheme://host[:port]` in canonical form, or undefined for anything that is not an http(s) origin. */
export function normaliseOrigin(value: string): string | undefined {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    return u.origin.toLowerCase();
  } catch {
    return undefined;
  }
}

const allowedByConfig = new WeakMap<Config, Set<string>>();

/** PUBLIC_URL's origin and CORS_ORIGINS (without `*`), normalised; computed once per config. */
export function configuredOrigins(config: Config): Set<string> {
  let set = allowedByConfig.get(config);
  if (!set) {
    set = new Set<string>();
    const list = config.CORS_ORIGINS.trim() === '*' ? [] : config.CORS_ORIGINS.split(',');
    for (const o of [config.PUBLIC_URL ?? '', ...list]) {
      const n = o.trim() && normaliseOrigin(o.trim());
      if (n) set.add(n);
    }
    allowedByConfig.set(config, set);
  }
  return set;
}

/** Whether this request may be authenticated by a cookie (see the rules above). */
export function originAllowedForCookie(request: FastifyRequest, config: Config): boolean {
  const origin = request.headers.origin;
  if (origin !== undefined) {
    if (typeof origin !== 'string') return false;
    const n = normaliseOrigin(origin);
    if (!n) return false; // "null", garbage, other schemes
    if (configuredOrigins(config).has(n)) return true;
    return n === normaliseOrigin(`${request.protocol}://${request.host}`);
  }
  const site = request.headers['sec-fetch-site'];
  if (site === undefined) return true;
  return site === 'same-origin' || site === 'none';
}

/** Throws 403 `cross_origin_request` unless the request may be authenticated by a cookie. */
export function assertCookieOrigin(request: FastifyRequest, config: Config = request.server.config): void {
  if (!originAllowedForCookie(request, config)) {
    throw errors.forbidden('This request authenticates by cookie and comes from another origin: refused (CSRF). Call from an allowed origin (CORS_ORIGINS) or send the credential in the request.', 'cross_origin_request');
  }
}

/**
 * The value of cookie `name` as a credential: undefined when absent; 403 when present but the
 * request comes from a foreign origin.
 */
export function cookieCredential(request: FastifyRequest, name: string): string | undefined {
  const value = request.cookies?.[name];
  if (value === undefined || value === '') return undefined;
  assertCookieOrigin(request);
  return value;
}
