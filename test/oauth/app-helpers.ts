/** App-level social sign-in helpers: authorize through the real routes, drive the provider, come back. */
import { expect } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHash, randomBytes } from 'node:crypto';
import { Browser } from './stand-ins/oidc-issuer';
import { callbackUrl } from '../../src/commands/oauth/providers';

export const PUBLIC = 'http://127.0.0.1:9';

export const cookieOf = (res: { headers: Record<string, unknown> }, name: string) => {
  const set = ([] as string[]).concat((res.headers['set-cookie'] as string[] | string | undefined) ?? []);
  const c = set.find((s) => s.startsWith(`${name}=`));
  return c ? c.split(';')[0]!.slice(name.length + 1) : undefined;
};

export const json = { accept: 'application/json' };

/** GET …/authorize through the app, then the provider's login and consent in `browser`: the callback path and the tx cookie. */
export async function authorizeAtIssuer(app: FastifyInstance, provider: string, login: string, opts: { browser?: Browser; redirectTo?: string; deny?: boolean } = {}) {
  const q = opts.redirectTo ? `?redirect_to=${encodeURIComponent(opts.redirectTo)}` : '';
  const res = await app.inject({ method: 'GET', url: `/api/v1/auth/oauth/${provider}/authorize${q}` });
  expect(res.statusCode, res.body).toBe(302);
  const tx = cookieOf(res, 'oauth_tx');
  expect(tx).toBeTruthy();
  const back = await (opts.browser ?? new Browser()).signIn(res.headers.location as string, { login, redirectUri: callbackUrl(PUBLIC, provider), deny: opts.deny });
  return { tx: tx!, authorizeUrl: new URL(res.headers.location as string), callback: `${back.pathname}${back.search}`, params: back.searchParams };
}

/** The whole browser sign-in, answered as JSON: the login answer. */
export async function signInAtIssuer(app: FastifyInstance, provider: string, login: string) {
  const { tx, callback } = await authorizeAtIssuer(app, provider, login);
  const res = await app.inject({ method: 'GET', url: callback, cookies: { oauth_tx: tx }, headers: json });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { access_token: string; session_id: string; user: { id: string; email: string; email_verified: boolean } };
}

/** A native app's own redirect (PKCE + nonce), as `POST /oauth/{provider}/token` expects. */
export function nativeAuthorizeUrl(issuer: string, clientId: string, redirectUri: string, scope = 'openid email profile') {
  const verifier = randomBytes(32).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const u = new URL(`${issuer}/auth`);
  u.search = new URLSearchParams({
    client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope, state: randomBytes(16).toString('base64url'), nonce,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  }).toString();
  return { url: u.href, verifier, nonce };
}
