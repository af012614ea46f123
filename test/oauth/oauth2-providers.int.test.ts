/**
 * The client against local servers speaking GitHub's, Kakao's, Naver's and Facebook's exact shapes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandIn, type StandIn } from './stand-ins/provider-stand-in';
import { authorizeAtStandIn, clientFor, codeOf } from './helpers';

describe('GitHub', () => {
  let gh: StandIn;
  beforeAll(async () => {
    gh = await startStandIn('github', { user: { id: 583231, login: 'octocat', name: 'The Octocat', email: 'octo@example.test', emailVerified: true, picture: 'https://avatars.example.test/583231' } });
  });
  afterAll(() => gh.close());

  it('signs in: PKCE + state, JSON token answer, User-Agent, /user and the primary verified address of /user/emails', async () => {
    const { client } = clientFor(gh.env());
    const a = await authorizeAtStandIn(client, 'github');
    expect(a.authorizeUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(a.authorizeUrl.searchParams.get('state')).toBeTruthy();
    expect(a.authorizeUrl.searchParams.get('scope')).toBe('read:user user:email');
    const r = await client.complete('github', { transactionId: a.transactionId, params: a.params });
    expect(r.profile).toEqual({ provider: 'github', subject: '583231', email: 'octo@example.test', emailVerified: true, name: 'The Octocat', picture: 'https://avatars.example.test/583231' });
    expect(r.tokens.accessToken).toMatch(/^gho_/);
    expect(r.tokens.refreshToken).toBeUndefined();
    const api = gh.requests.filter((q) => q.path === '/user' || q.path === '/user/emails');
    expect(api).toHaveLength(2);
    for (const q of api) expect(q.headers['user-agent']).toBeTruthy();
    const token = gh.requests.find((q) => q.path === '/login/oauth/access_token')!;
    expect(token.headers.accept).toContain('application/json');
    expect(new URLSearchParams(token.body).get('code_verifier')).toBeTruthy();
  });

  it('does not trust an unverified primary address', async () => {
    gh.user = { ...gh.user, emailVerified: false };
    try {
      const { client } = clientFor(gh.env());
      const a = await authorizeAtStandIn(client, 'github');
      const r = await client.complete('github', { transactionId: a.transactionId, params: a.params });
      expect(r.profile.email).toBe('octo@example.test');
      expect(r.profile.emailVerified).toBe(false);
    } finally {
      gh.user = { ...gh.user, emailVerified: true };
    }
  });

  it('reads a token error sent as HTTP 200 {error} as a refused code (a code used twice)', async () => {
    const { client, store } = clientFor(gh.env());
    const a = await authorizeAtStandIn(client, 'github');
    await client.complete('github', { transactionId: a.transactionId, params: a.params });
    // Same code again under a fresh transaction with the same state: the provider refuses it.
    const tx = { provider: 'github', state: a.params.get('state')!, redirectUri: a.redirectUri, expiresAt: Date.now() + 60_000, data: {}, codeVerifier: 'x'.repeat(43) };
    await store.put('again', tx, 60);
    expect(await codeOf(client.complete('github', { transactionId: 'again', params: a.params }))).toBe('oauth_invalid_grant');
  });

  it('refreshes expiring GitHub App tokens (the refresh token rotates)', async () => {
    const app = await startStandIn('github', { expiringTokens: true, user: gh.user });
    try {
      const { client } = clientFor(app.env());
      const a = await authorizeAtStandIn(client, 'github');
      const r = await client.complete('github', { transactionId: a.transactionId, params: a.params });
      expect(r.tokens.refreshToken).toMatch(/^rt_/);
      expect(r.tokens.expiresAt).toBeGreaterThan(Date.now());
      const n = await client.refresh('github', { refreshToken: r.tokens.refreshToken!, expectedSubject: '583231' });
      expect(n.refreshTokenKept).toBe(false);
      expect(n.refreshToken).not.toBe(r.tokens.refreshToken);
      expect(await codeOf(client.refresh('github', { refreshToken: r.tokens.refreshToken!, expectedSubject: '583231' }))).toBe('oauth_refresh_rejected');
    } finally {
      await app.close();
    }
  });

});

describe('Kakao', () => {
  let kakao: StandIn;
  beforeAll(async () => {
    kakao = await startStandIn('kakao', { user: { id: 2_147_483_648_123, name: '라이언', email: 'ryan@kakao.example.test', emailValid: true, emailVerified: true, picture: 'https://k.kakaocdn.example.test/ryan.png' } });
  });
  afterAll(() => kakao.close());

  it('signs in with a numeric id and nested kakao_account; trusts the e-mail only when valid and verified', async () => {
    const { client } = clientFor(kakao.env());
    const a = await authorizeAtStandIn(client, 'kakao');
    expect(a.authorizeUrl.searchParams.get('code_challenge')).toBeTruthy();
    const r = await client.complete('kakao', { transactionId: a.transactionId, params: a.params });
    expect(r.profile).toEqual({ provider: 'kakao', subject: '2147483648123', email: 'ryan@kakao.example.test', emailVerified: true, name: '라이언', picture: 'https://k.kakaocdn.example.test/ryan.png' });

    for (const flags of [{ emailValid: false, emailVerified: true }, { emailValid: true, emailVerified: false }]) {
      kakao.user = { ...kakao.user, ...flags };
      const b = await authorizeAtStandIn(client, 'kakao');
      const s = await client.complete('kakao', { transactionId: b.transactionId, params: b.params });
      expect(s.profile.emailVerified).toBe(false);
    }
    kakao.user = { ...kakao.user, emailValid: true, emailVerified: true };
  });

  it('refresh answers without a new refresh token: the old one is kept', async () => {
    const { client } = clientFor(kakao.env());
    const a = await authorizeAtStandIn(client, 'kakao');
    const r = await client.complete('kakao', { transactionId: a.transactionId, params: a.params });
    const n = await client.refresh('kakao', { refreshToken: r.tokens.refreshToken!, expectedSubject: r.profile.subject });
    expect(n.refreshTokenKept).toBe(true);
    expect(n.refreshToken).toBe(r.tokens.refreshToken);
    expect(n.accessToken).not.toBe(r.tokens.accessToken);
    expect(await codeOf(client.refresh('kakao', { refreshToken: 'rt_unknown', expectedSubject: r.profile.subject }))).toBe('oauth_refresh_rejected');
  });

  it('OIDC mode (scope openid): discovery, validated ID token, profile API must name the same subject', async () => {
    const env = kakao.env('KAKAO', { OAUTH_KAKAO_SCOPES: 'openid profile_nickname account_email' });
    const { client } = clientFor(env);
    expect(client.get('kakao').kind).toBe('oidc');
    const a = await authorizeAtStandIn(client, 'kakao');
    expect(a.authorizeUrl.searchParams.get('nonce')).toBeTruthy();
    const r = await client.complete('kakao', { transactionId: a.transactionId, params: a.params });
    expect(r.profile.subject).toBe('2147483648123');
    expect(r.profile.emailVerified).toBe(true);
    expect(r.tokens.idToken).toBeTruthy();

    kakao.profileUser = (u) => ({ ...u, id: 999 });
    try {
      const b = await authorizeAtStandIn(client, 'kakao');
      expect(await codeOf(client.complete('kakao', { transactionId: b.transactionId, params: b.params }))).toBe('oauth_subject_mismatch');
    } finally {
      kakao.profileUser = undefined;
    }
  });
});

describe('Naver', () => {
  let naver: StandIn;
  beforeAll(async () => {
    naver = await startStandIn('naver', { user: { id: 'qz8kW-2fUe', name: '홍길동', email: 'hong@naver.example.test', emailVerified: true, picture: 'https://phinf.example.test/hong.jpg' } });
  });
  afterAll(() => naver.close());

  it('signs in: state (no PKCE), string expires_in, the {resultcode, message, response} wrapper; e-mail never trusted', async () => {
    const { client } = clientFor(naver.env());
    const a = await authorizeAtStandIn(client, 'naver');
    expect(a.authorizeUrl.searchParams.get('state')).toBeTruthy();
    expect(a.authorizeUrl.searchParams.has('code_challenge')).toBe(false);
    const r = await client.complete('naver', { transactionId: a.transactionId, params: a.params });
    expect(r.profile).toEqual({ provider: 'naver', subject: 'qz8kW-2fUe', email: 'hong@naver.example.test', emailVerified: false, name: '홍길동', picture: 'https://phinf.example.test/hong.jpg' });
    expect(r.tokens.expiresAt! - Date.now()).toBeGreaterThan(3500_000);
    const n = await client.refresh('naver', { refreshToken: r.tokens.refreshToken!, expectedSubject: r.profile.subject });
    expect(n.refreshTokenKept).toBe(true);
    expect(n.expiresAt).toBeGreaterThan(Date.now());
  });

  it('reads errors sent as HTTP 200 {error}', async () => {
    const { client } = clientFor(naver.env());
    expect(await codeOf(client.refresh('naver', { refreshToken: 'nope', expectedSubject: 'x' }))).toBe('oauth_refresh_rejected');
  });
});

describe('Facebook', () => {
  let fb: StandIn;
  beforeAll(async () => {
    fb = await startStandIn('facebook', { requireAppsecretProof: true, user: { id: '10158000000000001', name: 'Mark Test', email: 'mark@fb.example.test', emailVerified: true, picture: 'https://fb.example.test/p.jpg' } });
  });
  afterAll(() => fb.close());

  it('signs in through Graph /me?fields=id,name,email,picture with appsecret_proof; e-mail never trusted', async () => {
    const { client } = clientFor(fb.env());
    const a = await authorizeAtStandIn(client, 'facebook');
    const r = await client.complete('facebook', { transactionId: a.transactionId, params: a.params });
    expect(r.profile).toEqual({ provider: 'facebook', subject: '10158000000000001', email: 'mark@fb.example.test', emailVerified: false, name: 'Mark Test', picture: 'https://fb.example.test/p.jpg' });
    const me = fb.requests.find((q) => q.path === '/v21.0/me')!;
    expect(me).toBeDefined();
  });

  it('has no refresh grant, and maps Graph error objects', async () => {
    const { client, store } = clientFor(fb.env());
    expect(await codeOf(client.refresh('facebook', { refreshToken: 'x', expectedSubject: 'y' }))).toBe('oauth_refresh_unsupported');
    const a = await authorizeAtStandIn(client, 'facebook');
    const tx = await store.take(a.transactionId);
    await store.put('t2', { ...tx!, codeVerifier: 'wrong-verifier-wrong-verifier-wrong-verifier' }, 60);
    expect(await codeOf(client.complete('facebook', { transactionId: 't2', params: a.params }))).toBe('oauth_invalid_grant');
  });
});

describe('every OAuth 2.0 provider: a token the profile API refuses is oauth_token_rejected', () => {
  for (const flavor of ['github', 'kakao', 'naver', 'facebook'] as const) {
    it(flavor, async () => {
      const s = await startStandIn(flavor);
      try {
        s.failProfile = true;
        const { client } = clientFor(s.env());
        const a = await authorizeAtStandIn(client, flavor);
        expect(await codeOf(client.complete(flavor, { transactionId: a.transactionId, params: a.params }))).toBe('oauth_token_rejected');
      } finally {
        await s.close();
      }
    });
  }
});
