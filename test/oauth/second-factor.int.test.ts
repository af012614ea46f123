/**
 * Social sign-in passes the second-factor gate (issue 17 with issue 13): a user who enrolled TOTP
 * gets no session from a provider's login alone — JSON clients get the login's `mfa_required`
 * answer, browsers an HttpOnly cookie taken once by POST /api/v1/auth/mfa/pending — against a
 * real oidc-provider playing Google.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../helpers/app';
import { bearer } from '../helpers/auth';
import { startOidcIssuer, type OidcIssuer } from './stand-ins/oidc-issuer';
import { callbackUrl } from '../../src/commands/oauth/providers';
import { PUBLIC, authorizeAtIssuer, cookieOf, json, signInAtIssuer } from './app-helpers';
import { enrolTotp, totpCode } from '../mfa/helpers';

const client = { clientId: 'google-client', clientSecret: 'google-secret-0123456789', redirectUris: [callbackUrl(PUBLIC, 'google')], authMethod: 'client_secret_post' as const };
const accounts = { mona: { email: 'mona@oauth-mfa.test', email_verified: true, name: 'Mona' } };

let google: OidcIssuer;
let t: Awaited<ReturnType<typeof testApp>>;
let secret: string;
let userId: string;

const sessionsStarted = async () => {
  const { rows } = await t.services.pool.query(`SELECT data FROM events WHERE event_type = 'SessionStarted' AND data->>'userId' = $1 ORDER BY transaction_id, position`, [userId]);
  return rows.map((r) => r.data as { method?: string; amr?: string[] });
};

beforeAll(async () => {
  google = await startOidcIssuer({ clients: [client], accounts });
  t = await testApp('oauth-mfa', { ...google.env('GOOGLE', client), PUBLIC_URL: PUBLIC, PROVIDER_TOKEN_KEY: 'c'.repeat(64) });
  const first = await signInAtIssuer(t.app, 'google', 'mona');
  userId = first.user.id;
  ({ secret } = await enrolTotp(t.app, first.access_token));
}, 60_000);
afterAll(async () => {
  await t?.close();
  await google?.close();
});

describe('social sign-in of a user with a second factor', () => {
  it('JSON callback: mfa_required and no session; the TOTP code finishes it as oauth:google with amr otp', async () => {
    const before = (await sessionsStarted()).length;
    const { tx, callback } = await authorizeAtIssuer(t.app, 'google', 'mona');
    const res = await t.app.inject({ method: 'GET', url: callback, cookies: { oauth_tx: tx }, headers: json });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ mfa_required: true, methods: ['totp', 'recovery_code'], mfa_enrolment_required: false });
    expect(body.access_token).toBeUndefined();
    expect(cookieOf(res, 'refresh_token')).toBeUndefined();
    expect((await sessionsStarted()).length).toBe(before);
    // The mfa_token is not an access token.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(body.mfa_token) })).statusCode).toBe(401);
    const done = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/verify', payload: { mfa_token: body.mfa_token, method: 'totp', code: await totpCode(secret) } });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json().user.id).toBe(userId);
    const last = (await sessionsStarted()).at(-1)!;
    expect(last.method).toBe('oauth:google');
    expect(last.amr).toEqual(['otp']);
  });

  it('browser callback: 302 to the console second-factor page with the mfa_token in an HttpOnly cookie, taken once by /mfa/pending', async () => {
    const before = (await sessionsStarted()).length;
    const { tx, callback } = await authorizeAtIssuer(t.app, 'google', 'mona', { redirectTo: `${PUBLIC}/console/history` });
    const res = await t.app.inject({ method: 'GET', url: callback, cookies: { oauth_tx: tx } });
    expect(res.statusCode, res.body).toBe(302);
    const to = new URL(res.headers.location as string);
    expect(`${to.origin}${to.pathname}`).toBe(`${PUBLIC}/console/mfa/sign-in`);
    expect(to.searchParams.get('next')).toBe('/console/history');
    expect(res.headers.location).not.toMatch(/eyJ/); // no token in the URL
    expect(cookieOf(res, 'refresh_token')).toBeUndefined();
    const set = ([] as string[]).concat(res.headers['set-cookie'] as string[]).find((c) => c.startsWith('mfa_pending='))!;
    expect(set).toMatch(/HttpOnly/i);
    expect(set).toMatch(/SameSite=Strict/i);
    expect(set).toMatch(/Path=\/api\/v1\/auth\/mfa/);
    const pendingCookie = cookieOf(res, 'mfa_pending')!;
    expect((await sessionsStarted()).length).toBe(before);

    // From another origin: refused (CSRF), and the cookie is not taken.
    const foreign = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/pending', cookies: { mfa_pending: pendingCookie }, headers: { origin: 'http://evil.example' } });
    expect(foreign.statusCode, foreign.body).toBe(403);
    const pending = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/pending', cookies: { mfa_pending: pendingCookie }, headers: { origin: PUBLIC } });
    expect(pending.statusCode, pending.body).toBe(200);
    expect(pending.json()).toMatchObject({ mfa_required: true, mfa_token: pendingCookie, methods: ['totp', 'recovery_code'] });
    expect(pending.headers['cache-control']).toBe('no-store');
    expect(cookieOf(pending, 'mfa_pending')).toBe(''); // cleared
    const none = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/pending', headers: { origin: PUBLIC } });
    expect(none.statusCode).toBe(401);
    expect(none.json().code).toBe('mfa_token_invalid');

    const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/verify', payload: { mfa_token: pending.json().mfa_token, method: 'totp', code: '000000' } });
    expect(wrong.statusCode).toBe(401);
    expect((await sessionsStarted()).length).toBe(before);
  });

  it('a forged pending cookie is refused', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/pending', cookies: { mfa_pending: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' }, headers: { origin: PUBLIC } });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('mfa_token_invalid');
  });
});
