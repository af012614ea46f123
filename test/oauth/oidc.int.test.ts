/**
 * Google and generic OpenID issuers, played by a real `oidc-provider` on 127.0.0.1 whose dev
 * login and consent forms are driven over HTTP with a cookie jar.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startOidcIssuer, type OidcIssuer } from './stand-ins/oidc-issuer';
import { startStandIn, type StandIn } from './stand-ins/provider-stand-in';
import { callbackUrl, configuredProviders, publicProviderList } from '../../src/commands/oauth/providers';
import { PUBLIC_URL, clientFor, codeOf } from './helpers';

const googleClient = { clientId: 'google-client', clientSecret: 'google-secret-0123456789', redirectUris: [callbackUrl(PUBLIC_URL, 'google')], authMethod: 'client_secret_post' as const };
const acmeClient = { clientId: 'acme-client', clientSecret: 'acme-secret-0123456789', redirectUris: [callbackUrl(PUBLIC_URL, 'oidc-acme')] };

let google: OidcIssuer;
let acme: OidcIssuer;
let corp: StandIn;

beforeAll(async () => {
  const accounts = {
    alice: { email: 'alice@example.test', email_verified: true, name: 'Alice', picture: 'https://pics.example.test/alice.png' },
    mallory: { email: 'alice@example.test', email_verified: false, name: 'Not Alice' },
  };
  google = await startOidcIssuer({ clients: [googleClient], accounts });
  acme = await startOidcIssuer({ clients: [acmeClient], accounts });
  corp = await startStandIn('oidc', { user: { id: 'corp-7', email: 'seven@corp.example.test', emailVerified: true, name: 'Seven' } });
});
afterAll(async () => {
  await Promise.all([google?.close(), acme?.close(), corp?.close()]);
});

async function signIn(env: Record<string, string>, provider: string, login: string, opts: { deny?: boolean } = {}) {
  const { client, store } = clientFor(env);
  const redirectUri = callbackUrl(PUBLIC_URL, provider);
  const started = await client.begin(provider, { redirectUri, data: { mode: 'login' } });
  const callback = await new Browser().signIn(started.url, { login, redirectUri, deny: opts.deny });
  return { client, store, started, callback, redirectUri };
}

describe('Google (oidc-provider as the issuer)', () => {
  const env = () => google.env('GOOGLE', googleClient, { OAUTH_GOOGLE_SCOPES: 'openid email profile offline_access' });

  it('authorize → login → consent → callback: validated ID token, userinfo claims, trusted verified e-mail, refresh token', async () => {
    const { client, started, callback } = await signIn(env(), 'google', 'alice');
    const au = new URL(started.url);
    expect(au.origin).toBe(google.url);
    expect(au.searchParams.get('code_challenge_method')).toBe('S256');
    expect(au.searchParams.get('nonce')).toBeTruthy();
    expect(au.searchParams.get('state')).toBeTruthy();
    expect(au.searchParams.get('prompt')).toBe('consent');
    expect(callback.searchParams.get('iss')).toBe(google.url);
    const r = await client.complete('google', { transactionId: started.transactionId, params: callback.searchParams });
    expect(r.profile).toEqual({ provider: 'google', subject: 'alice', email: 'alice@example.test', emailVerified: true, name: 'Alice', picture: 'https://pics.example.test/alice.png' });
    expect(r.data).toEqual({ mode: 'login' });
    expect(r.tokens.idToken).toBeTruthy();
    expect(r.tokens.refreshToken).toBeTruthy();
    expect(r.tokens.expiresAt).toBeGreaterThan(Date.now());
  });

  it('refresh-token grant with offline_access: new access token, same subject, the rotated-away refresh token is refused', async () => {
    const { client, started, callback } = await signIn(env(), 'google', 'alice');
    const r = await client.complete('google', { transactionId: started.transactionId, params: callback.searchParams });
    const n = await client.refresh('google', { refreshToken: r.tokens.refreshToken!, expectedSubject: 'alice' });
    expect(n.accessToken).not.toBe(r.tokens.accessToken);
    expect(n.refreshToken).toBeTruthy();
    expect(n.refreshToken).not.toBe(r.tokens.refreshToken);
    expect(await codeOf(client.refresh('google', { refreshToken: r.tokens.refreshToken!, expectedSubject: 'alice' }))).toBe('oauth_refresh_rejected');
  });

  it('a refresh whose ID token names another subject is refused', async () => {
    const { client, started, callback } = await signIn(env(), 'google', 'alice');
    const r = await client.complete('google', { transactionId: started.transactionId, params: callback.searchParams });
    expect(await codeOf(client.refresh('google', { refreshToken: r.tokens.refreshToken!, expectedSubject: 'bob' }))).toBe('oauth_subject_mismatch');
  });

  it('does not trust an e-mail whose email_verified is false', async () => {
    const { client, started, callback } = await signIn(env(), 'google', 'mallory');
    const r = await client.complete('google', { transactionId: started.transactionId, params: callback.searchParams });
    expect(r.profile.email).toBe('alice@example.test');
    expect(r.profile.emailVerified).toBe(false);
  });

  it('without offline_access there is no refresh token', async () => {
    const { client, started, callback } = await signIn(google.env('GOOGLE', googleClient), 'google', 'alice');
    const r = await client.complete('google', { transactionId: started.transactionId, params: callback.searchParams });
    expect(r.tokens.refreshToken).toBeUndefined();
  });

  it('a refused consent comes back as oauth_access_denied', async () => {
    const { client, started, callback } = await signIn(env(), 'google', 'alice', { deny: true });
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(await codeOf(client.complete('google', { transactionId: started.transactionId, params: callback.searchParams }))).toBe('oauth_access_denied');
  });
});

describe('generic OpenID issuers by discovery, several at once (OAUTH_OIDC_<NAME>_ISSUER)', () => {
  const env = () => ({
    OAUTH_OIDC_ACME_ISSUER: acme.url,
    OAUTH_OIDC_ACME_CLIENT_ID: acmeClient.clientId,
    OAUTH_OIDC_ACME_CLIENT_SECRET: acmeClient.clientSecret,
    OAUTH_OIDC_ACME_DISPLAY_NAME: 'ACME SSO',
    OAUTH_OIDC_CORP_ISSUER: corp.url,
    OAUTH_OIDC_CORP_CLIENT_ID: corp.clientId,
    OAUTH_OIDC_CORP_CLIENT_SECRET: corp.clientSecret,
    OAUTH_OIDC_CORP_TRUST_EMAIL: 'false',
  });

  it('lists both', () => {
    expect(publicProviderList(configuredProviders(env()))).toEqual([
      { name: 'oidc-acme', display_name: 'ACME SSO', kind: 'oidc' },
      { name: 'oidc-corp', display_name: 'Corp', kind: 'oidc' },
    ]);
  });

  it('signs in at each; TRUST_EMAIL=false never trusts the issuer\'s email_verified', async () => {
    const a = await signIn(env(), 'oidc-acme', 'alice');
    const ra = await a.client.complete('oidc-acme', { transactionId: a.started.transactionId, params: a.callback.searchParams });
    expect(ra.profile).toMatchObject({ provider: 'oidc-acme', subject: 'alice', emailVerified: true });

    const { client } = clientFor(env());
    const redirectUri = callbackUrl(PUBLIC_URL, 'oidc-corp');
    const started = await client.begin('oidc-corp', { redirectUri });
    const res = await fetch(started.url, { redirect: 'manual' });
    const cb = new URL(res.headers.get('location')!);
    const rc = await client.complete('oidc-corp', { transactionId: started.transactionId, params: cb.searchParams });
    expect(rc.profile).toMatchObject({ provider: 'oidc-corp', subject: 'corp-7', email: 'seven@corp.example.test', emailVerified: false });
  });

  it('an unreachable issuer is oauth_provider_unavailable (and is retried later, not cached)', async () => {
    const { client } = clientFor({ OAUTH_OIDC_GONE_ISSUER: 'http://127.0.0.1:9', OAUTH_OIDC_GONE_CLIENT_ID: 'x' });
    expect(await codeOf(client.begin('oidc-gone', { redirectUri: callbackUrl(PUBLIC_URL, 'oidc-gone') }))).toBe('oauth_provider_unavailable');
    expect(await codeOf(client.begin('oidc-gone', { redirectUri: callbackUrl(PUBLIC_URL, 'oidc-gone') }))).toBe('oauth_provider_unavailable');
  });
});
