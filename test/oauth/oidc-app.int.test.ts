/**
 * Google and generic OpenID issuers end to end through the app's real routes, against a real
 * `oidc-provider` whose dev login and consent forms are driven over HTTP with a cookie jar:
 * authorize → provider login → consent → callback → session → /me; refresh-token grants with
 * offline_access; the native-app code exchange (POST /oauth/{provider}/token, seed 001's POST /oauth);
 * link mode; provider tokens for the user and for an identities:token API key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bearer, DEFAULT_PASSWORD, adminLogin, signupAndLogin, uniqueEmail } from '../helpers/auth';
import { Browser, startOidcIssuer, type OidcIssuer } from './stand-ins/oidc-issuer';
import { callbackUrl } from '../../src/commands/oauth/providers';
import { PUBLIC, authorizeAtIssuer, cookieOf, nativeAuthorizeUrl, signInAtIssuer } from './app-helpers';

const googleClient = { clientId: 'google-client', clientSecret: 'google-secret-0123456789', redirectUris: [callbackUrl(PUBLIC, 'google')], authMethod: 'client_secret_post' as const };
const acmeClient = { clientId: 'acme-client', clientSecret: 'acme-secret-0123456789', redirectUris: [callbackUrl(PUBLIC, 'oidc-acme')] };
const shortClient = { clientId: 'short-client', clientSecret: 'short-secret-0123456789', redirectUris: [callbackUrl(PUBLIC, 'oidc-short')] };
const named = (NAME: string, issuer: OidcIssuer, c: typeof acmeClient, extra: Record<string, string> = {}) => ({
  [`OAUTH_OIDC_${NAME}_ISSUER`]: issuer.url, [`OAUTH_OIDC_${NAME}_CLIENT_ID`]: c.clientId, [`OAUTH_OIDC_${NAME}_CLIENT_SECRET`]: c.clientSecret, ...extra,
});

let google: OidcIssuer;
let acme: OidcIssuer;
let short: OidcIssuer;
let t: Awaited<ReturnType<typeof testApp>>;
const accounts = {
  alice: { email: 'alice@oidc-app.test', email_verified: true, name: 'Alice' },
  bob: { email: 'bob@oidc-app.test', email_verified: true, name: 'Bob' },
  carol: { email: 'carol@oidc-app.test', email_verified: true, name: 'Carol' },
  dave: { email: 'dave@oidc-app.test', email_verified: true, name: 'Dave' },
  erin: { email: 'erin@oidc-app.test', email_verified: true, name: 'Erin' },
  native: { email: 'native@oidc-app.test', email_verified: true, name: 'Native' },
};

beforeAll(async () => {
  google = await startOidcIssuer({ clients: [googleClient], accounts });
  acme = await startOidcIssuer({ clients: [acmeClient], accounts });
  // Access tokens shorter than the refresh margin: GET …/token always refreshes first.
  short = await startOidcIssuer({ clients: [shortClient], accounts, accessTokenTtlSeconds: 30 });
  // Named issuers are read from the process environment (their keys are a pattern, not the schema).
  Object.assign(process.env, named('ACME', acme, acmeClient, { OAUTH_OIDC_ACME_DISPLAY_NAME: 'ACME SSO' }), named('SHORT', short, shortClient, { OAUTH_OIDC_SHORT_SCOPES: 'openid email profile offline_access' }));
  t = await testApp('oauth-oidc-app', {
    ...google.env('GOOGLE', googleClient, { OAUTH_GOOGLE_SCOPES: 'openid email profile offline_access' }),
    PUBLIC_URL: PUBLIC, PROVIDER_TOKEN_KEY: 'b'.repeat(64), REAUTH_MAX_AGE_SECONDS: '2',
  });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await Promise.all([google?.close(), acme?.close(), short?.close()]);
});

const identities = async (token: string) => {
  const res = await t.app.inject({ method: 'GET', url: '/api/v1/auth/identities', headers: bearer(token) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().identities as { id: string; provider: string; subject: string }[];
};

describe('browser sign-in through the app', () => {
  it('lists google and both named issuers', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/auth/oauth/providers' });
    expect(res.json().providers).toEqual([
      { name: 'google', display_name: 'Google', kind: 'oidc' },
      { name: 'oidc-acme', display_name: 'ACME SSO', kind: 'oidc' },
      { name: 'oidc-short', display_name: 'Short', kind: 'oidc' },
    ]);
  });

  it('google: authorize → login → consent → callback (302, refresh cookie) → refresh → /me; SessionStarted says oauth:google', async () => {
    const { tx, callback, authorizeUrl } = await authorizeAtIssuer(t.app, 'google', 'alice', { redirectTo: `${PUBLIC}/console/home` });
    expect(authorizeUrl.origin).toBe(google.url);
    expect(authorizeUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorizeUrl.searchParams.get('nonce')).toBeTruthy();
    const res = await t.app.inject({ method: 'GET', url: callback, cookies: { oauth_tx: tx } });
    expect(res.statusCode, res.body).toBe(302);
    expect(res.headers.location).toBe(`${PUBLIC}/console/home`);
    const refreshCookie = cookieOf(res, 'refresh_token');
    expect(refreshCookie).toBeTruthy();
    // The browser's next step, as the console does it: the refresh cookie buys an access token.
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', cookies: { refresh_token: refreshCookie! }, headers: { origin: PUBLIC } });
    expect(r.statusCode, r.body).toBe(200);
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(r.json().access_token) });
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json()).toMatchObject({ email: 'alice@oidc-app.test' });
    const { rows } = await t.services.pool.query(`SELECT data FROM events WHERE event_type = 'SessionStarted' AND data->>'userId' = $1`, [me.json().id]);
    expect(rows.map((x) => x.data.method)).toEqual(['oauth:google']);
  });

  it('a named issuer (oidc-acme) signs in as a new account with a verified e-mail; the same identity comes back as the same user', async () => {
    const a = await signInAtIssuer(t.app, 'oidc-acme', 'carol');
    expect(a.user).toMatchObject({ email: 'carol@oidc-app.test', email_verified: true });
    const again = await signInAtIssuer(t.app, 'oidc-acme', 'carol');
    expect(again.user.id).toBe(a.user.id);
    expect((await identities(a.access_token)).map((i) => [i.provider, i.subject])).toEqual([['oidc-acme', 'carol']]);
  });

  it('the same person at two issuers: the second auto-links by the verified e-mail (both sides verified)', async () => {
    const g = await signInAtIssuer(t.app, 'google', 'dave');
    const a = await signInAtIssuer(t.app, 'oidc-acme', 'dave');
    expect(a.user.id).toBe(g.user.id);
    expect((await identities(a.access_token)).map((i) => i.provider).sort()).toEqual(['google', 'oidc-acme']);
  });

  it('consent refused at the provider → error redirect with a stable code', async () => {
    const { tx, callback } = await authorizeAtIssuer(t.app, 'google', 'alice', { deny: true });
    const res = await t.app.inject({ method: 'GET', url: callback, cookies: { oauth_tx: tx } });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(`${PUBLIC}/console/?error=oauth_access_denied`);
  });
});

describe('provider tokens: refresh-token grants with offline_access', () => {
  it('POST /identities/{id}/refresh: a new access token from the provider (rotated refresh token), stored encrypted; the seed-001 alias too', async () => {
    const s = await signInAtIssuer(t.app, 'google', 'erin');
    const [id] = await identities(s.access_token);
    const first = await t.app.inject({ method: 'GET', url: `/api/v1/auth/identities/${id!.id}/token`, headers: bearer(s.access_token) });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ provider: 'google', token_type: 'bearer', has_refresh_token: true, refreshed: false });
    const r = await t.app.inject({ method: 'POST', url: `/api/v1/auth/identities/${id!.id}/refresh`, headers: bearer(s.access_token) });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ refreshed: true, refresh_token_kept: false, has_refresh_token: true });
    expect(r.json().access_token).not.toBe(first.json().access_token);
    expect(r.body).not.toMatch(/"refresh_token"/);
    // The provider accepts the new access token (its userinfo names the subject).
    const ui = await fetch(`${google.url}/me`, { headers: { authorization: `Bearer ${r.json().access_token}` } });
    expect(ui.status).toBe(200);
    expect(((await ui.json()) as { sub: string }).sub).toBe('erin');
    // The rotated refresh token was stored: a second refresh works (the old one would be refused).
    const r2 = await t.app.inject({ method: 'POST', url: `/oauth/${id!.id}/refresh`, headers: bearer(s.access_token) });
    expect(r2.statusCode, r2.body).toBe(200);
    const { rows } = await t.services.pool.query(`SELECT data FROM events WHERE event_type = 'ProviderTokensRefreshed' AND data->>'userId' = $1`, [s.user.id]);
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.data.ciphertext).toMatch(/^alc1\./);
      expect(JSON.stringify(row.data)).not.toContain(r.json().access_token);
    }
  });

  it('GET /identities/{id}/token refreshes a token about to expire; GET /oauth/{id} shows the identity, never tokens', async () => {
    const s = await signInAtIssuer(t.app, 'oidc-short', 'alice');
    const id = (await identities(s.access_token)).find((i) => i.provider === 'oidc-short');
    const a = await t.app.inject({ method: 'GET', url: `/api/v1/auth/identities/${id!.id}/token`, headers: bearer(s.access_token) });
    expect(a.statusCode, a.body).toBe(200);
    expect(a.json().refreshed, a.body).toBe(true);
    expect(a.json().expires_in).toBeGreaterThan(0);
    // Concurrent callers while the token is about to expire (the provider rotates refresh tokens): all get a valid token.
    const many = await Promise.all([1, 2, 3].map(() => t.app.inject({ method: 'GET', url: `/api/v1/auth/identities/${id!.id}/token`, headers: bearer(s.access_token) })));
    expect(many.map((m) => m.statusCode), many.map((m) => m.body).join('\n')).toEqual([200, 200, 200]);
    for (const m of many) {
      const ui = await fetch(`${short.url}/me`, { headers: { authorization: `Bearer ${m.json().access_token}` } });
      expect(ui.status).toBe(200);
    }
    const one = await t.app.inject({ method: 'GET', url: `/oauth/${id!.id}`, headers: bearer(s.access_token) });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toEqual({ id: id!.id, provider: 'oidc-short', subject: 'alice', email: 'alice@oidc-app.test', linked_at: expect.any(String) });
    expect(one.body).not.toContain(a.json().access_token);
  });

  it('an API key with identities:token gets its own user\'s provider token, never another user\'s; a key without the scope is 403', async () => {
    const s = await signInAtIssuer(t.app, 'google', 'bob');
    const [id] = await identities(s.access_token);
    const admin = await adminLogin(t.app, t.services);
    const issue = async (userId: string, scopes?: string[]) => {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(admin.accessToken), payload: { name: 'backend', user_id: userId, ...(scopes ? { scopes } : { features: '*' }) } });
      expect(res.statusCode, res.body).toBe(201);
      return res.json().api_key as string;
    };
    const key = await issue(s.user.id, ['identities:token']);
    const ok = await t.app.inject({ method: 'GET', url: `/api/v1/auth/identities/${id!.id}/token`, headers: { 'x-api-key': key } });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ identity_id: id!.id, provider: 'google' });
    const other = await issue(admin.userId, ['identities:token']);
    const no = await t.app.inject({ method: 'GET', url: `/api/v1/auth/identities/${id!.id}/token`, headers: { 'x-api-key': other } });
    expect(no.statusCode).toBe(404);
    expect(no.json().code).toBe('oauth_identity_not_found');
    const plain = await issue(s.user.id);
    const forbidden = await t.app.inject({ method: 'GET', url: `/api/v1/auth/identities/${id!.id}/token`, headers: { 'x-api-key': plain } });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().code).toBe('identities_token_scope_required');
    const bad = await t.app.inject({ method: 'GET', url: `/api/v1/auth/identities/${id!.id}/token`, headers: { 'x-api-key': `${key.slice(0, -4)}AAAA` } });
    expect(bad.statusCode).toBe(401);
    // Another user's bearer token: not found either.
    const stranger = await signupAndLogin(t.app);
    const st = await t.app.inject({ method: 'GET', url: `/api/v1/auth/identities/${id!.id}/token`, headers: bearer(stranger.accessToken) });
    expect(st.statusCode).toBe(404);
  });
});

describe('native apps: POST /api/v1/auth/oauth/{provider}/token (and seed 001\'s POST /oauth)', () => {
  it('the app\'s code + verifier + nonce → the login answer; a missing or wrong verifier is refused', async () => {
    const redirectUri = callbackUrl(PUBLIC, 'google');
    const run = async () => {
      const n = nativeAuthorizeUrl(google.url, googleClient.clientId, redirectUri);
      const back = await new Browser().signIn(n.url, { login: 'native', redirectUri });
      return { ...n, code: back.searchParams.get('code')! };
    };
    const a = await run();
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/oauth/google/token', payload: { code: a.code, code_verifier: a.verifier, redirect_uri: redirectUri, nonce: a.nonce, return_refresh_in_body: true } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ token_type: 'bearer', user: { email: 'native@oidc-app.test' }, refresh_token: expect.any(String) });
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(res.json().access_token) });
    expect(me.statusCode).toBe(200);

    const b = await run();
    const seed = await t.app.inject({ method: 'POST', url: '/oauth', payload: { provider: 'google', code: b.code, code_verifier: b.verifier, redirect_uri: redirectUri, nonce: b.nonce } });
    expect(seed.statusCode, seed.body).toBe(200);
    expect(seed.json().user.id).toBe(res.json().user.id);

    const c = await run();
    const missing = await t.app.inject({ method: 'POST', url: '/api/v1/auth/oauth/google/token', payload: { code: c.code, redirect_uri: redirectUri } });
    expect(missing.statusCode).toBe(401);
    expect(missing.json().code).toBe('oauth_invalid_grant');
    const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/auth/oauth/google/token', payload: { code: c.code, code_verifier: 'x'.repeat(43), redirect_uri: redirectUri } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().code).toBe('oauth_invalid_grant');
    const d = await run();
    const badNonce = await t.app.inject({ method: 'POST', url: '/api/v1/auth/oauth/google/token', payload: { code: d.code, code_verifier: d.verifier, redirect_uri: redirectUri, nonce: 'not-the-nonce' } });
    expect(badNonce.statusCode).toBe(401);
    expect(badNonce.json().code).toBe('oauth_id_token_invalid');
    const unknown = await t.app.inject({ method: 'POST', url: '/api/v1/auth/oauth/nope/token', payload: { code: 'x', code_verifier: d.verifier, redirect_uri: redirectUri } });
    expect(unknown.statusCode).toBe(404);
  });
});

describe('link mode: POST /api/v1/auth/identities/{provider}/link', () => {
  it('needs a recent login or the password; then the callback links the identity to the signed-in account, no new session', async () => {
    const s = await signupAndLogin(t.app, { email: uniqueEmail('linker') });
    await new Promise((r) => setTimeout(r, 2300));
    const stale = await t.app.inject({ method: 'POST', url: '/api/v1/auth/identities/google/link', headers: bearer(s.accessToken), payload: {} });
    expect(stale.statusCode, stale.body).toBe(401);
    expect(stale.json().code).toBe('reauth_required');
    const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/auth/identities/google/link', headers: bearer(s.accessToken), payload: { current_password: 'not it at all 123' } });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().code).toBe('wrong_password');
    const off = await t.app.inject({ method: 'POST', url: '/api/v1/auth/identities/google/link', headers: bearer(s.accessToken), payload: { current_password: DEFAULT_PASSWORD, redirect_to: 'https://evil.example/' } });
    expect(off.json().code).toBe('oauth_redirect_not_allowed');
    const noAuth = await t.app.inject({ method: 'POST', url: '/api/v1/auth/identities/google/link', payload: {} });
    expect(noAuth.statusCode).toBe(401);

    const start = await t.app.inject({ method: 'POST', url: '/api/v1/auth/identities/google/link', headers: bearer(s.accessToken), payload: { current_password: DEFAULT_PASSWORD } });
    expect(start.statusCode, start.body).toBe(200);
    const tx = cookieOf(start, 'oauth_tx')!;
    // A Google account whose e-mail is not the account's (the user proved both sides).
    const back = await new Browser().signIn(start.json().authorize_url, { login: 'linked-sub', redirectUri: callbackUrl(PUBLIC, 'google') });
    const cb = await t.app.inject({ method: 'GET', url: `${back.pathname}${back.search}`, cookies: { oauth_tx: tx } });
    expect(cb.statusCode, cb.body).toBe(302);
    expect(cb.headers.location).toBe(`${PUBLIC}/console/?linked=google`);
    expect(cookieOf(cb, 'refresh_token')).toBeUndefined();
    expect((await identities(s.accessToken)).map((i) => [i.provider, i.subject])).toEqual([['google', 'linked-sub']]);
    // Signing in with that Google account now is this user.
    const g = await signInAtIssuer(t.app, 'google', 'linked-sub');
    expect(g.user.id).toBe(s.userId);
    // A second google identity cannot be linked (one per provider).
    const twice = await t.app.inject({ method: 'POST', url: '/api/v1/auth/identities/google/link', headers: bearer(s.accessToken), payload: { current_password: DEFAULT_PASSWORD } });
    expect(twice.statusCode).toBe(409);
    expect(twice.json().code).toBe('oauth_provider_already_linked');
    // With a password the identity is not the last way in: unlink works.
    const [id] = await identities(s.accessToken);
    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/auth/identities/${id!.id}`, headers: bearer(s.accessToken) });
    expect(del.statusCode).toBe(204);
    expect(await identities(s.accessToken)).toEqual([]);
  });

  it('unlink is refused when it is the last way to sign in (an account made by social sign-in)', async () => {
    const s = await signInAtIssuer(t.app, 'oidc-acme', 'solo-no-email');
    const [id] = await identities(s.access_token);
    const del = await t.app.inject({ method: 'DELETE', url: `/oauth/${id!.id}`, headers: bearer(s.access_token) });
    expect(del.statusCode).toBe(409);
    expect(del.json().code).toBe('oauth_last_sign_in_method');
  });
});
