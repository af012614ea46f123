/**
 * Attacks on social sign-in through the app's real routes (issue 13): state mismatch, replayed
 * state, forged ID tokens (wrong aud / iss / nonce, expired, wrong key) from a forging issuer,
 * takeover by an unverified provider e-mail, pre-account takeover, a different subject for a
 * linked identity (link and refresh), and crypto-shredding read from the raw events table.
 * Every refusal is checked to leave no session and no identity behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bearer, DEFAULT_PASSWORD, signupAndLogin, uniqueEmail } from '../helpers/auth';
import { executeUserCommand } from '../../src/commands/identity/service';
import { decryptJson, providerTokensContext } from '../../src/credentials/envelope';
import { startStandIn, type StandIn } from './stand-ins/provider-stand-in';
import { PUBLIC, cookieOf, json } from './app-helpers';

let forge: StandIn;
let github: StandIn;
let kakao: StandIn;
let naver: StandIn;
let facebook: StandIn;
let t: Awaited<ReturnType<typeof testApp>>;
const GH = { id: 5005, login: 'gh', email: 'gh@attacks.test', emailVerified: true, name: 'GH' };

beforeAll(async () => {
  forge = await startStandIn('oidc', { user: { id: 'forge-1', email: 'forge-1@attacks.test', emailVerified: true, name: 'Forge' } });
  github = await startStandIn('github', { expiringTokens: true, user: GH });
  kakao = await startStandIn('kakao', { user: { id: 6006, email: 'kakao@attacks.test', emailVerified: true, name: 'Kakao' } });
  naver = await startStandIn('naver');
  facebook = await startStandIn('facebook');
  t = await testApp('oauth-attacks-app', {
    ...forge.env('OIDC', { OAUTH_OIDC_SCOPES: 'openid email profile offline_access' }), ...github.env(), ...kakao.env(), ...naver.env(), ...facebook.env(),
    PUBLIC_URL: PUBLIC, PROVIDER_TOKEN_KEY: 'c'.repeat(64),
  });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await Promise.all([forge, github, kakao, naver, facebook].map((s) => s?.close()));
});

/** authorize through the app, then the stand-in answers at once: the callback path and the tx cookie. */
async function authorize(provider: string) {
  const res = await t.app.inject({ method: 'GET', url: `/api/v1/auth/oauth/${provider}/authorize` });
  expect(res.statusCode, res.body).toBe(302);
  const at = await fetch(res.headers.location as string, { redirect: 'manual' });
  expect(at.status).toBe(302);
  const back = new URL(at.headers.get('location')!);
  return { tx: cookieOf(res, 'oauth_tx')!, callback: `${back.pathname}${back.search}`, params: back.searchParams };
}
const callback = (url: string, tx: string | undefined, asJson = true) =>
  t.app.inject({ method: 'GET', url, ...(tx ? { cookies: { oauth_tx: tx } } : {}), ...(asJson ? { headers: json } : {}) });
async function signIn(provider: string) {
  const a = await authorize(provider);
  const res = await callback(a.callback, a.tx);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { access_token: string; user: { id: string } };
}
const count = async (sql: string, args: unknown[] = []) => (await t.services.pool.query<{ n: number }>(sql, args)).rows[0]!.n;
const sessions = () => count(`SELECT count(*)::int AS n FROM events WHERE event_type = 'SessionStarted'`);
const links = () => count(`SELECT count(*)::int AS n FROM events WHERE event_type = 'ExternalIdentityLinked'`);
const identities = async (token: string) => (await t.app.inject({ method: 'GET', url: '/api/v1/auth/identities', headers: bearer(token) })).json().identities as { id: string; provider: string; subject: string }[];

/** A refused callback: the stable code, and nothing written (no session, no identity). */
async function refused(url: string, tx: string | undefined, code: string) {
  const [s0, l0] = [await sessions(), await links()];
  const res = await callback(url, tx, false);
  expect(res.statusCode, res.body).toBe(302);
  expect(res.headers.location).toBe(`${PUBLIC}/console/?error=${code}`);
  expect(cookieOf(res, 'refresh_token')).toBeUndefined();
  expect([await sessions(), await links()]).toEqual([s0, l0]);
}

describe('state', () => {
  it('a state that is not this browser\'s transaction\'s: oauth_state_mismatch, and the transaction is spent', async () => {
    const a = await authorize('github');
    const forged = new URLSearchParams(a.params);
    forged.set('state', 'attacker-chosen-state');
    await refused(`/api/v1/auth/oauth/github/callback?${forged}`, a.tx, 'oauth_state_mismatch');
    // The genuine callback afterwards finds no transaction (single use, even after a failure).
    await refused(a.callback, a.tx, 'oauth_state_invalid');
  });

  it('a replayed callback (same cookie, same state, same code): the second is oauth_state_invalid', async () => {
    const a = await authorize('kakao');
    expect((await callback(a.callback, a.tx)).statusCode).toBe(200);
    await refused(a.callback, a.tx, 'oauth_state_invalid');
  });

  it('login CSRF: an attacker\'s callback planted in a victim\'s browser (the victim\'s own transaction cookie) is refused', async () => {
    const attacker = await authorize('github');
    const victim = await authorize('github');
    await refused(attacker.callback, victim.tx, 'oauth_state_mismatch');
    await refused(attacker.callback, undefined, 'oauth_state_invalid');
  });

  it('a transaction started at one provider does not finish at another', async () => {
    const a = await authorize('github');
    await refused(a.callback.replace('/oauth/github/', '/oauth/kakao/'), a.tx, 'oauth_state_invalid');
  });
});

describe('forged ID tokens at the callback', () => {
  const cases: [string, (c: Record<string, unknown>) => Record<string, unknown>, boolean][] = [
    ['wrong aud', (c) => ({ ...c, aud: 'someone-else' }), false],
    ['wrong iss', (c) => ({ ...c, iss: 'https://accounts.evil.example' }), false],
    ['wrong nonce', (c) => ({ ...c, nonce: 'replayed-nonce' }), false],
    ['no nonce', ({ nonce: _n, ...c }) => c, false],
    ['expired', (c) => ({ ...c, iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }), false],
    ['signed with another key', (c) => c, true],
  ];
  it.each(cases)('%s: oauth_id_token_invalid, no account, no session', async (_name, tamper, wrongKey) => {
    const users = await count(`SELECT count(*)::int AS n FROM events WHERE event_type = 'UserRegistered'`);
    forge.tamperIdToken = tamper;
    forge.signWithWrongKey = wrongKey;
    try {
      const a = await authorize('oidc');
      await refused(a.callback, a.tx, 'oauth_id_token_invalid');
    } finally {
      forge.tamperIdToken = undefined;
      forge.signWithWrongKey = false;
    }
    expect(await count(`SELECT count(*)::int AS n FROM events WHERE event_type = 'UserRegistered'`)).toBe(users);
  });

  it('the untampered token signs in (control)', async () => {
    const s = await signIn('oidc');
    expect((await identities(s.access_token)).map((i) => i.subject)).toEqual(['forge-1']);
  });
});

describe('account takeover', () => {
  it('an unverified provider e-mail matching an existing account does not sign in to it (GitHub unverified primary, Kakao unverified, Naver and Facebook never trusted)', async () => {
    const victim = await signupAndLogin(t.app, { email: uniqueEmail('victim') });
    await executeUserCommand(t.services, victim.userId, { type: 'VerifyEmail', email: victim.email });
    github.user = { id: 777001, login: 'mallory', email: victim.email, emailVerified: false, name: 'Mallory' };
    naver.user = { id: 'naver-mallory', email: victim.email, name: 'Mallory' };
    facebook.user = { id: '10009', email: victim.email, name: 'Mallory' };
    const kakaoUser = kakao.user;
    kakao.user = { id: 6999, email: victim.email, emailVerified: false, name: 'Mallory' };
    try {
      for (const p of ['github', 'naver', 'facebook', 'kakao']) {
        const a = await authorize(p);
        await refused(a.callback, a.tx, 'oauth_link_required');
      }
    } finally {
      github.user = GH;
      kakao.user = kakaoUser;
    }
    expect(await identities(victim.accessToken)).toEqual([]);
  });

  it('pre-account takeover: a squatter\'s unverified account is not auto-linked even when the provider verified the e-mail', async () => {
    const email = uniqueEmail('owner');
    const squatter = await signupAndLogin(t.app, { email });
    forge.user = { id: 'real-owner', email, emailVerified: true, name: 'Owner' };
    try {
      const a = await authorize('oidc');
      await refused(a.callback, a.tx, 'oauth_link_required');
    } finally {
      forge.user = { id: 'forge-1', email: 'forge-1@attacks.test', emailVerified: true, name: 'Forge' };
    }
    expect(await identities(squatter.accessToken)).toEqual([]);
  });
});

describe('a different subject for a linked identity', () => {
  it('linking a second account of a linked provider is refused; a refresh naming another subject is refused and stores nothing', async () => {
    const s = await signIn('oidc');
    const [id] = await identities(s.access_token);
    // Link mode for the same provider: refused before any redirect (one identity per provider).
    const start = await t.app.inject({ method: 'POST', url: '/api/v1/auth/identities/oidc/link', headers: bearer(s.access_token), payload: {} });
    expect(start.statusCode, start.body).toBe(409);
    expect(start.json().code).toBe('oauth_provider_already_linked');
    const refreshed = () => count(`SELECT count(*)::int AS n FROM events WHERE event_type = 'ProviderTokensRefreshed' AND data->>'identityId' = $1`, [id!.id]);
    forge.tamperIdToken = (c) => ({ ...c, sub: 'attacker' });
    try {
      const r = await t.app.inject({ method: 'POST', url: `/api/v1/auth/identities/${id!.id}/refresh`, headers: bearer(s.access_token) });
      expect(r.statusCode, r.body).toBe(401);
      expect(r.json().code).toBe('oauth_subject_mismatch');
    } finally {
      forge.tamperIdToken = undefined;
    }
    expect(await refreshed()).toBe(0);
    // The tokens of another subject were never stored: the stored set is the sign-in's, whose refresh
    // token the (rotating) provider spent on that answer — so the next refresh is refused, not mixed up.
    const next = await t.app.inject({ method: 'POST', url: `/api/v1/auth/identities/${id!.id}/refresh`, headers: bearer(s.access_token) });
    expect(next.json().code).toBe('oauth_refresh_rejected');
    expect(await refreshed()).toBe(0);
  });

  it('link mode: the provider account linked to someone else is refused (oauth_identity_taken)', async () => {
    const owner = await signIn('kakao');
    const other = await signupAndLogin(t.app, { email: uniqueEmail('other') });
    const start = await t.app.inject({ method: 'POST', url: '/api/v1/auth/identities/kakao/link', headers: bearer(other.accessToken), payload: { current_password: DEFAULT_PASSWORD } });
    expect(start.statusCode, start.body).toBe(200);
    const tx = cookieOf(start, 'oauth_tx')!;
    const at = await fetch(start.json().authorize_url, { redirect: 'manual' });
    const back = new URL(at.headers.get('location')!);
    await refused(`${back.pathname}${back.search}`, tx, 'oauth_identity_taken');
    expect(await identities(other.accessToken)).toEqual([]);
    expect((await identities(owner.access_token)).map((i) => i.provider)).toEqual(['kakao']);
  });
});

describe('provider refresh answers without a new refresh token (Kakao)', () => {
  it('keeps the old refresh token: every refresh says so, and the next refresh still works', async () => {
    const s = await signIn('kakao');
    const [id] = (await identities(s.access_token)).filter((i) => i.provider === 'kakao');
    for (let i = 0; i < 2; i++) {
      const r = await t.app.inject({ method: 'POST', url: `/api/v1/auth/identities/${id!.id}/refresh`, headers: bearer(s.access_token) });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json()).toMatchObject({ refreshed: true, refresh_token_kept: true, has_refresh_token: true });
    }
  });
});

describe('crypto-shredding (raw events table)', () => {
  it('after DELETE /api/v1/users/{id} no stored provider-token event of the user decrypts under any key left', async () => {
    const s = await signIn('github');
    const [id] = await identities(s.access_token);
    const r = await t.app.inject({ method: 'POST', url: `/api/v1/auth/identities/${id!.id}/refresh`, headers: bearer(s.access_token) });
    expect(r.statusCode, r.body).toBe(200);
    const plain = r.json().access_token as string;
    type Row = { event_type: string; data: { userId: string; identityId: string; dataKeyId: string; ciphertext: string }; text: string };
    const rows = async () => (await t.services.pool.query<Row>(
      `SELECT event_type, data, data::text AS text FROM events WHERE event_type LIKE 'ProviderTokens%' AND data->>'userId' = $1 ORDER BY position`, [s.user.id])).rows;
    const before = await rows();
    expect(before.map((x) => x.event_type)).toEqual(['ProviderTokensStored', 'ProviderTokensRefreshed']);
    expect(await count(`SELECT count(*)::int AS n FROM events WHERE data::text LIKE $1`, [`%${plain}%`])).toBe(0);
    // Control: before deletion the key table decrypts them.
    for (const x of before) {
      const key = await t.app.dataKeys.load(x.data.dataKeyId, s.user.id);
      expect(decryptJson<{ accessToken: string }>(key!, x.data.ciphertext, providerTokensContext(s.user.id, x.data.identityId)).accessToken).toMatch(/^gho_/);
    }
    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/users/${s.user.id}`, headers: bearer(s.access_token) });
    expect(del.statusCode, del.body).toBe(204);
    const after = await rows();
    expect(after).toHaveLength(2);
    // Every data key left in the table (other users'), tried on every ciphertext of this user: none opens one.
    const left = (await t.services.pool.query<{ key_id: string; user_id: string }>('SELECT key_id, user_id FROM user_data_keys')).rows;
    expect(left.some((k) => k.user_id === s.user.id)).toBe(false);
    for (const x of after) {
      expect(await t.app.dataKeys.load(x.data.dataKeyId, s.user.id)).toBeUndefined();
      for (const k of left) {
        const key = await t.app.dataKeys.load(k.key_id, k.user_id);
        if (!key) continue;
        expect(() => decryptJson({ id: x.data.dataKeyId, key: key.key }, x.data.ciphertext, providerTokensContext(s.user.id, x.data.identityId))).toThrow();
      }
    }
    // And the routes say so too: the identity is gone.
    const tok = await t.app.inject({ method: 'GET', url: `/api/v1/auth/identities/${id!.id}/token`, headers: bearer(s.access_token) });
    expect(tok.statusCode).toBe(401);
  });
});
