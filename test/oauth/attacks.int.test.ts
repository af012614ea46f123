/**
 * Attacks that belong to the protocol layer (the app-level ones — open redirect, takeover by
 * e-mail — are in redirects.unit / decide.unit and later in the route tests):
 * state mismatch, replayed state, login CSRF (no transaction for this browser), a transaction of
 * another provider, missing or wrong PKCE verifier, ID tokens with wrong aud / iss / nonce, expired,
 * signed by another key or without nonce, and a provider naming a different subject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startOidcIssuer, type OidcIssuer } from './stand-ins/oidc-issuer';
import { startStandIn, type StandIn } from './stand-ins/provider-stand-in';
import { callbackUrl } from '../../src/commands/oauth/providers';
import { PUBLIC_URL, authorizeAtStandIn, clientFor, codeOf } from './helpers';

const gc = { clientId: 'google-client', clientSecret: 'google-secret-0123456789', redirectUris: [callbackUrl(PUBLIC_URL, 'google')], authMethod: 'client_secret_post' as const };
let google: OidcIssuer;
let forge: StandIn;
let github: StandIn;

beforeAll(async () => {
  google = await startOidcIssuer({ clients: [gc], accounts: { alice: { email: 'alice@example.test', email_verified: true } } });
  forge = await startStandIn('oidc', { user: { id: 'victim', email: 'v@example.test', emailVerified: true } });
  github = await startStandIn('github');
});
afterAll(async () => {
  await Promise.all([google?.close(), forge?.close(), github?.close()]);
});

const googleEnv = () => google.env('GOOGLE', gc);
const forgeEnv = () => forge.env('OIDC');

async function googleCallback() {
  const { client, store } = clientFor(googleEnv());
  const redirectUri = callbackUrl(PUBLIC_URL, 'google');
  const started = await client.begin('google', { redirectUri });
  const callback = await new Browser().signIn(started.url, { login: 'alice', redirectUri });
  return { client, store, started, params: callback.searchParams };
}

describe('state and transactions', () => {
  it('a state that differs from this browser\'s transaction is refused before any token call', async () => {
    const { client, started, params } = await googleCallback();
    const forged = new URLSearchParams(params);
    forged.set('state', 'attacker-state');
    expect(await codeOf(client.complete('google', { transactionId: started.transactionId, params: forged }))).toBe('oauth_state_mismatch');
    // Missing state altogether:
    const { client: c2, started: s2, params: p2 } = await googleCallback();
    p2.delete('state');
    expect(await codeOf(c2.complete('google', { transactionId: s2.transactionId, params: p2 }))).toBe('oauth_state_mismatch');
  });

  it('a replayed callback (same transaction twice) is refused: transactions are single-use, even after a failure', async () => {
    const { client, started, params } = await googleCallback();
    const r = await client.complete('google', { transactionId: started.transactionId, params });
    expect(r.profile.subject).toBe('alice');
    expect(await codeOf(client.complete('google', { transactionId: started.transactionId, params }))).toBe('oauth_state_invalid');

    const { client: c2, started: s2, params: p2 } = await googleCallback();
    const bad = new URLSearchParams(p2);
    bad.set('state', 'nope');
    expect(await codeOf(c2.complete('google', { transactionId: s2.transactionId, params: bad }))).toBe('oauth_state_mismatch');
    expect(await codeOf(c2.complete('google', { transactionId: s2.transactionId, params: p2 }))).toBe('oauth_state_invalid');
  });

  it('login CSRF: a callback carried to a browser that has no transaction (or another one) is refused', async () => {
    const attacker = await googleCallback();
    // The victim's browser has no transaction id cookie, or its own unrelated transaction.
    const { client } = clientFor(googleEnv());
    expect(await codeOf(client.complete('google', { transactionId: undefined, params: attacker.params }))).toBe('oauth_state_invalid');
    const own = await client.begin('google', { redirectUri: callbackUrl(PUBLIC_URL, 'google') });
    expect(await codeOf(client.complete('google', { transactionId: own.transactionId, params: attacker.params }))).toBe('oauth_state_mismatch');
    expect(await codeOf(attacker.client.complete('google', { transactionId: 'guessed-id', params: attacker.params }))).toBe('oauth_state_invalid');
  });

  it('a transaction started for one provider cannot finish at another', async () => {
    const { client } = clientFor({ ...googleEnv(), ...github.env() });
    const a = await authorizeAtStandIn(client, 'github');
    expect(await codeOf(client.complete('google', { transactionId: a.transactionId, params: a.params }))).toBe('oauth_state_invalid');
  });

  it('an expired transaction is refused', async () => {
    let now = Date.now();
    const { createOAuthClient, memoryTransactionStore } = await import('../../src/commands/oauth/client');
    const { configuredProviders } = await import('../../src/commands/oauth/providers');
    const store = memoryTransactionStore(() => now);
    const client = createOAuthClient(configuredProviders(github.env()), { store, now: () => now });
    const a = await client.begin('github', { redirectUri: callbackUrl(PUBLIC_URL, 'github') });
    now += 601_000;
    const res = await fetch(a.url, { redirect: 'manual' });
    const cb = new URL(res.headers.get('location')!);
    expect(await codeOf(client.complete('github', { transactionId: a.transactionId, params: cb.searchParams }))).toBe('oauth_state_invalid');
  });
});

describe('PKCE', () => {
  it('a missing or wrong code_verifier is refused by the real provider (oidc-provider) and by the stand-ins', async () => {
    for (const verifier of [undefined, 'wrong-verifier-wrong-verifier-wrong-verifier-000']) {
      const { client, store, started, params } = await googleCallback();
      const tx = (await store.take(started.transactionId))!;
      await store.put('tampered', { ...tx, codeVerifier: verifier }, 600);
      expect(await codeOf(client.complete('google', { transactionId: 'tampered', params }))).toBe('oauth_invalid_grant');
    }
    for (const flavor of ['github', 'kakao', 'facebook'] as const) {
      const s = await startStandIn(flavor);
      try {
        for (const verifier of [undefined, 'wrong-verifier-wrong-verifier-wrong-verifier-000']) {
          const { client, store } = clientFor(s.env());
          const a = await authorizeAtStandIn(client, flavor);
          const tx = (await store.take(a.transactionId))!;
          await store.put('tampered', { ...tx, codeVerifier: verifier }, 600);
          expect(await codeOf(client.complete(flavor, { transactionId: 'tampered', params: a.params })), `${flavor} ${verifier}`).toBe('oauth_invalid_grant');
        }
      } finally {
        await s.close();
      }
    }
  });

  it('native apps (POST /token): the app\'s verifier must match its challenge', async () => {
    const { client } = clientFor(forgeEnv());
    const { calculatePKCECodeChallenge, randomPKCECodeVerifier, randomNonce } = await import('openid-client');
    const verifier = randomPKCECodeVerifier();
    const nonce = randomNonce();
    const redirectUri = 'com.example.app:/oauth';
    const authorize = new URL(`${forge.url}/authorize`);
    authorize.search = new URLSearchParams({ client_id: forge.clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid email', state: 's', nonce, code_challenge: await calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).toString();
    const code = async () => new URL((await fetch(authorize, { redirect: 'manual' })).headers.get('location')!).searchParams.get('code')!;
    const ok = await client.exchangeCode('oidc', { code: await code(), codeVerifier: verifier, redirectUri, nonce });
    expect(ok.profile.subject).toBe('victim');
    expect(await codeOf(client.exchangeCode('oidc', { code: await code(), codeVerifier: randomPKCECodeVerifier(), redirectUri, nonce }))).toBe('oauth_invalid_grant');
    // Nonce the app did not send: the ID token's nonce is unexpected.
    expect(await codeOf(client.exchangeCode('oidc', { code: await code(), codeVerifier: verifier, redirectUri }))).toBe('oauth_id_token_invalid');
  });
});

describe('ID token validation', () => {
  async function withTamper(tamper: (c: Record<string, unknown>) => Record<string, unknown>, wrongKey = false) {
    forge.tamperIdToken = tamper;
    forge.signWithWrongKey = wrongKey;
    try {
      const { client } = clientFor(forgeEnv());
      const a = await authorizeAtStandIn(client, 'oidc');
      return await codeOf(client.complete('oidc', { transactionId: a.transactionId, params: a.params }));
    } finally {
      forge.tamperIdToken = undefined;
      forge.signWithWrongKey = false;
    }
  }

  it('the untampered token passes (control)', async () => {
    expect(await withTamper((c) => c)).toBe('no error');
  });
  it('wrong aud', async () => {
    expect(await withTamper((c) => ({ ...c, aud: 'someone-else' }))).toBe('oauth_id_token_invalid');
    expect(await withTamper((c) => ({ ...c, aud: [c.aud, 'someone-else'] }))).toBe('oauth_id_token_invalid');
  });
  it('wrong iss', async () => {
    expect(await withTamper((c) => ({ ...c, iss: 'https://accounts.evil.example' }))).toBe('oauth_id_token_invalid');
  });
  it('wrong or missing nonce', async () => {
    expect(await withTamper((c) => ({ ...c, nonce: 'replayed-nonce' }))).toBe('oauth_id_token_invalid');
    expect(await withTamper(({ nonce: _n, ...c }) => c)).toBe('oauth_id_token_invalid');
  });
  it('expired, or issued in the future', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await withTamper((c) => ({ ...c, iat: now - 7200, exp: now - 3600 }))).toBe('oauth_id_token_invalid');
    expect(await withTamper((c) => ({ ...c, nbf: now + 3600 }))).toBe('oauth_id_token_invalid');
  });
  it('signed by a key that is not the issuer\'s', async () => {
    expect(await withTamper((c) => c, true)).toBe('oauth_id_token_invalid');
  });
  it('nonce mismatch with the real provider: the transaction\'s nonce is not the one sent', async () => {
    const { client, store, started, params } = await googleCallback();
    const tx = (await store.take(started.transactionId))!;
    await store.put('tampered', { ...tx, nonce: 'another-nonce' }, 600);
    expect(await codeOf(client.complete('google', { transactionId: 'tampered', params }))).toBe('oauth_id_token_invalid');
  });
});

describe('a different subject', () => {
  it('userinfo naming another sub than the ID token is refused', async () => {
    forge.profileUser = (u) => ({ ...u, id: 'attacker' });
    try {
      const { client } = clientFor(forgeEnv());
      const a = await authorizeAtStandIn(client, 'oidc');
      expect(await codeOf(client.complete('oidc', { transactionId: a.transactionId, params: a.params }))).toBe('oauth_subject_mismatch');
    } finally {
      forge.profileUser = undefined;
    }
  });

  it('re-authenticating a linked identity: the provider must name the linked subject', async () => {
    const { client } = clientFor(github.env());
    const a = await authorizeAtStandIn(client, 'github');
    expect(await codeOf(client.complete('github', { transactionId: a.transactionId, params: a.params, expectedSubject: '424242' }))).toBe('oauth_subject_mismatch');
    const b = await authorizeAtStandIn(client, 'github');
    const r = await client.complete('github', { transactionId: b.transactionId, params: b.params, expectedSubject: String(github.user.id) });
    expect(r.profile.subject).toBe(String(github.user.id));
  });

  it('a refresh answered with an ID token for another subject is refused', async () => {
    const { client } = clientFor(forge.env('OIDC', { OAUTH_OIDC_SCOPES: 'openid email offline_access' }));
    const a = await authorizeAtStandIn(client, 'oidc');
    const r = await client.complete('oidc', { transactionId: a.transactionId, params: a.params });
    forge.tamperIdToken = (c) => ({ ...c, sub: 'attacker' });
    try {
      expect(await codeOf(client.refresh('oidc', { refreshToken: r.tokens.refreshToken!, expectedSubject: 'victim' }))).toBe('oauth_subject_mismatch');
    } finally {
      forge.tamperIdToken = undefined;
    }
  });
});
