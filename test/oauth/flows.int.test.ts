/**
 * Social sign-in through the real HTTP routes against the local stand-ins: authorize → provider →
 * callback → session cookie → /me, and the app-level attacks (open redirect, login CSRF, replay).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { startStandIn, type Flavor, type StandIn } from './stand-ins/provider-stand-in';

const PUBLIC = 'http://127.0.0.1:9';
const kinds: Flavor[] = ['github', 'kakao', 'naver', 'facebook'];
const stands: Partial<Record<Flavor, StandIn>> = {};
let t: Awaited<ReturnType<typeof testApp>>;

beforeAll(async () => {
  let env: Record<string, string> = {};
  for (const [i, k] of kinds.entries()) {
    stands[k] = await startStandIn(k, { user: { id: 1000 + i, login: `u${i}`, name: `User ${k}`, email: `${k}@example.test`, emailVerified: true } });
    env = { ...env, ...stands[k]!.env() };
  }
  t = await testApp('oauth-flows', { ...env, PUBLIC_URL: PUBLIC, PROVIDER_TOKEN_KEY: 'a'.repeat(64) });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await Promise.all(kinds.map((k) => stands[k]?.close()));
});

const cookieOf = (res: { headers: Record<string, unknown> }, name: string) => {
  const set = ([] as string[]).concat((res.headers['set-cookie'] as string[] | string | undefined) ?? []);
  const c = set.find((s) => s.startsWith(`${name}=`));
  return c ? c.split(';')[0]!.slice(name.length + 1) : undefined;
};

async function authorize(provider: string, redirectTo = `${PUBLIC}/console/`) {
  const res = await t.app.inject({ method: 'GET', url: `/api/v1/auth/oauth/${provider}/authorize?redirect_to=${encodeURIComponent(redirectTo)}` });
  expect(res.statusCode, res.body).toBe(302);
  const tx = cookieOf(res, 'oauth_tx');
  expect(tx).toBeTruthy();
  const atProvider = await fetch(res.headers.location as string, { redirect: 'manual' });
  expect(atProvider.status).toBe(302);
  const back = new URL(atProvider.headers.get('location')!);
  return { tx: tx!, callback: `${back.pathname}${back.search}` };
}

describe('GET /api/v1/auth/oauth/providers', () => {
  it('lists the configured providers with display names', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/auth/oauth/providers' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const names = res.json().providers.map((p: { name: string }) => p.name);
    for (const k of kinds) expect(names).toContain(k);
    for (const p of res.json().providers) expect(p.display_name).toBeTruthy();
  });
});

describe.each(kinds)('%s: the full redirect flow', (provider) => {
  it('authorize → provider → callback → session → /me (SessionStarted carries the method)', async () => {
    const { tx, callback } = await authorize(provider);
    expect(callback.startsWith(`/api/v1/auth/oauth/${provider}/callback?`)).toBe(true);
    const res = await t.app.inject({ method: 'GET', url: callback, cookies: { oauth_tx: tx }, headers: { accept: 'application/json' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(cookieOf(res, 'refresh_token')).toBeTruthy();
    const body = res.json();
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${body.access_token}` } });
    expect(me.statusCode, me.body).toBe(200);
    const { rows } = await t.services.pool.query(`SELECT data FROM events WHERE event_type = 'SessionStarted' AND data->>'sessionId' = $1`, [body.session_id]);
    expect(rows[0].data.method).toBe(`oauth:${provider}`);
    const ids = await t.app.inject({ method: 'GET', url: '/api/v1/auth/identities', headers: { authorization: `Bearer ${body.access_token}` } });
    expect(ids.json().identities.map((i: { provider: string }) => i.provider)).toEqual([provider]);
    // A second sign-in with the same identity signs in as the same user.
    const again = await authorize(provider);
    const res2 = await t.app.inject({ method: 'GET', url: again.callback, cookies: { oauth_tx: again.tx }, headers: { accept: 'application/json' } });
    expect(res2.json().user.id).toBe(body.user.id);
    // Tokens are stored as ciphertext only.
    const token = await t.services.pool.query(`SELECT count(*)::int AS n FROM events WHERE event_type = 'ProviderTokensStored' AND data->>'userId' = $1 AND data->>'ciphertext' LIKE 'alc1.%'`, [body.user.id]);
    expect(token.rows[0].n).toBe(2);
  });
});

describe('deleting the user shreds its provider tokens (crypto-shredding through the real route)', () => {
  it('DELETE /api/v1/users/{id}: identities unlinked and released, every data key destroyed, the ciphertexts stay', async () => {
    const { tx, callback } = await authorize('kakao');
    const res = await t.app.inject({ method: 'GET', url: callback, cookies: { oauth_tx: tx }, headers: { accept: 'application/json' } });
    expect(res.statusCode, res.body).toBe(200);
    const { access_token: token, user } = res.json();
    const keys = async () => (await t.services.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM user_data_keys WHERE user_id = $1', [user.id])).rows[0]!.n;
    expect(await keys()).toBeGreaterThan(0);
    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/users/${user.id}`, headers: { authorization: `Bearer ${token}` } });
    expect(del.statusCode, del.body).toBe(204);
    expect(await keys()).toBe(0);
    const types = (await t.services.pool.query<{ event_type: string }>(
      `SELECT event_type FROM events WHERE data->>'userId' = $1 ORDER BY transaction_id, position`, [user.id])).rows.map((r) => r.event_type);
    expect(types).toEqual(expect.arrayContaining(['UserDeleted', 'ExternalIdentityUnlinked', 'ProviderTokensStored']));
    // The identity is free again: signing in with it makes a new account, not the deleted one.
    const again = await authorize('kakao');
    const res2 = await t.app.inject({ method: 'GET', url: again.callback, cookies: { oauth_tx: again.tx }, headers: { accept: 'application/json' } });
    expect(res2.statusCode, res2.body).toBe(200);
    expect(res2.json().user.id).not.toBe(user.id);
  });
});

describe('attacks at the app level', () => {
  it('redirect_to off the allow-list: 400, no Location to it', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/api/v1/auth/oauth/github/authorize?redirect_to=${encodeURIComponent('https://evil.example/')}` });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('oauth_redirect_not_allowed');
    expect(res.headers.location).toBeUndefined();
  });

  it('login CSRF: a callback without this browser\'s cookie → error redirect, no session', async () => {
    const { callback } = await authorize('github');
    const res = await t.app.inject({ method: 'GET', url: callback });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(`${PUBLIC}/console/?error=oauth_state_invalid`);
    expect(cookieOf(res, 'refresh_token')).toBeUndefined();
  });

  it('replayed state: the second use of a transaction is refused (problem+json when JSON was asked)', async () => {
    const { tx, callback } = await authorize('kakao');
    const ok = await t.app.inject({ method: 'GET', url: callback, cookies: { oauth_tx: tx }, headers: { accept: 'application/json' } });
    expect(ok.statusCode).toBe(200);
    const replay = await t.app.inject({ method: 'GET', url: callback, cookies: { oauth_tx: tx }, headers: { accept: 'application/json' } });
    expect(replay.statusCode).toBe(400);
    expect(replay.headers['content-type']).toContain('application/problem+json');
    expect(replay.json().code).toBe('oauth_state_invalid');
  });
});
