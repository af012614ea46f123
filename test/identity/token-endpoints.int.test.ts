/**
 * Token introspection and revocation answer authenticated callers only (issue 20 §7, RFC 7662
 * §2.1, RFC 7009 §2.1). The attack class: no credentials, forged/garbled Basic headers, wrong
 * secrets, unknown client ids, an id with another client's secret, API keys without the
 * tokens:introspect scope (also `*` keys), revoked keys, non-admins minting scoped keys, a user
 * revoking another user's token; the holder may revoke its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { testApp } from '../helpers/app';
import { adminLogin, bearer, signupAndLogin, type LoggedIn } from '../helpers/auth';
import { TOKEN_CLIENT_ENV, TOKEN_CLIENT_ID, TOKEN_CLIENT_SECRET, basicAuth, tokenClientAuth } from '../helpers/security';

describe('token endpoints require caller authentication', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let app: FastifyInstance;
  let admin: LoggedIn;

  beforeAll(async () => {
    t = await testApp('seca_tokens', TOKEN_CLIENT_ENV);
    app = t.app;
    admin = await adminLogin(app, t.services);
  });
  afterAll(async () => t.close());

  const introspect = (token: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/api/v1/tokens/verify', headers, payload: { token } });
  const revoke = (token: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/api/v1/tokens/revoke', headers, payload: { token } });
  const stillActive = async (s: LoggedIn) => (await introspect(s.accessToken, tokenClientAuth)).json().active === true;

  async function issueKey(owner: LoggedIn, body: Record<string, unknown>) {
    return app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(owner.accessToken), payload: { name: 'k', ...body } });
  }

  const BAD_CLIENT_HEADERS: Array<[string, Record<string, string>]> = [
    ['nothing', {}],
    ['a wrong secret', basicAuth(TOKEN_CLIENT_ID, 'wrong-secret')],
    ['an unknown client', basicAuth('nobody', TOKEN_CLIENT_SECRET)],
    ['an empty secret', basicAuth(TOKEN_CLIENT_ID, '')],
    ['no colon', { authorization: `Basic ${Buffer.from(TOKEN_CLIENT_ID).toString('base64')}` }],
    ['not base64', { authorization: 'Basic %%%not-base64%%%' }],
    ['an empty Basic', { authorization: 'Basic ' }],
    ['the secret hash as the secret', basicAuth(TOKEN_CLIENT_ID, TOKEN_CLIENT_ENV.TOKEN_CLIENTS.split(':')[1]!)],
    ['a case-changed id', basicAuth(TOKEN_CLIENT_ID.toUpperCase(), TOKEN_CLIENT_SECRET)],
    ['a secret with a suffix', basicAuth(TOKEN_CLIENT_ID, `${TOKEN_CLIENT_SECRET}x`)],
    ['a malformed API key', { 'x-api-key': 'alk_not_a_key' }],
    ['an API key of the right shape that does not exist', { 'x-api-key': 'alk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }],
  ];

  it.each(BAD_CLIENT_HEADERS)('introspection with %s: 401 client_auth_required, nothing disclosed', async (_what, headers) => {
    const s = await signupAndLogin(app);
    const res = await introspect(s.accessToken, headers);
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.json().code).toBe('client_auth_required');
    expect(String(res.headers['www-authenticate'])).toMatch(/^Basic /);
    expect(res.body).not.toContain(s.userId);
  });

  it('a user\'s own Bearer access token is not a client credential for introspection', async () => {
    const s = await signupAndLogin(app);
    const res = await introspect(s.accessToken, bearer(s.accessToken));
    expect(res.statusCode).toBe(401);
    expect(res.body).not.toContain(s.userId);
  });

  it.each(BAD_CLIENT_HEADERS)('revocation with %s and no holder credential: 401, the session lives on', async (_what, headers) => {
    const s = await signupAndLogin(app);
    for (const token of [s.accessToken, s.refreshToken]) {
      const res = await revoke(token, headers);
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('client_auth_required');
    }
    expect(await stillActive(s)).toBe(true);
  });

  it('a configured Basic client introspects and revokes any token (also with a form-encoded secret)', async () => {
    const s = await signupAndLogin(app);
    const v = await introspect(s.refreshToken, tokenClientAuth);
    expect(v.statusCode).toBe(200);
    expect(v.json()).toMatchObject({ active: true, sub: s.userId, token_type: 'refresh_token' });
    expect(v.headers['cache-control']).toBe('no-store');
    expect((await revoke(s.refreshToken, tokenClientAuth)).statusCode).toBe(200);
    expect(await stillActive(s)).toBe(false);
  });

  it('API keys: the tokens:introspect scope is needed; "*" keys and feature keys do not have it', async () => {
    await app.inject({ method: 'POST', url: '/api/v1/features', headers: bearer(admin.accessToken), payload: { name: 'reports', description: 'r' } });
    const star = (await issueKey(admin, { features: '*' })).json().api_key as string;
    const feature = (await issueKey(admin, { features: ['reports'] })).json().api_key as string;
    const s = await signupAndLogin(app);
    for (const key of [star, feature]) {
      const res = await introspect(s.accessToken, { 'x-api-key': key });
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('introspect_scope_required');
      expect(res.body).not.toContain(s.userId);
      expect((await revoke(s.accessToken, { 'api-key': key })).statusCode).toBe(403);
    }
    expect(await stillActive(s)).toBe(true);

    const issued = await issueKey(admin, { scopes: ['tokens:introspect'] });
    expect(issued.statusCode).toBe(201);
    const scoped = issued.json().api_key as string;
    expect(issued.json().features).toEqual(['tokens:introspect']);
    const ok = await introspect(s.accessToken, { 'x-api-key': scoped });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ active: true, sub: s.userId });
    // The scope grants no feature.
    const access = await app.inject({ method: 'POST', url: '/api/v1/features/reports/access', headers: { ...bearer(admin.accessToken), 'x-api-key': scoped } });
    expect(access.statusCode).toBe(403);
    // Revoked: the key stops authenticating at once.
    const id = issued.json().id as string;
    expect((await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${id}`, headers: bearer(admin.accessToken) })).statusCode).toBe(204);
    expect((await introspect(s.accessToken, { 'x-api-key': scoped })).statusCode).toBe(401);
  });

  it('only admins mint scoped keys; the scope cannot be smuggled in as a feature name', async () => {
    const u = await signupAndLogin(app);
    const res = await issueKey(u, { scopes: ['tokens:introspect'] });
    expect(res.statusCode).toBe(403);
    expect((await issueKey(u, { features: ['tokens:introspect'] })).statusCode).toBe(400);
    expect((await issueKey(admin, { features: ['tokens:introspect'] })).statusCode).toBe(400);
    expect((await issueKey(admin, { scopes: ['tokens:everything'] })).statusCode).toBe(400);
    expect((await issueKey(admin, { features: '*', scopes: ['tokens:introspect'] })).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/api_key/generate', headers: bearer(u.accessToken), payload: { features: ['tokens:introspect'] } })).statusCode).toBe(400);
  });

  it('the holder revokes its own tokens with its Bearer; another user\'s token is 403 and stays active', async () => {
    const victim = await signupAndLogin(app);
    const attacker = await signupAndLogin(app);
    for (const token of [victim.accessToken, victim.refreshToken]) {
      const res = await revoke(token, bearer(attacker.accessToken));
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('not_token_holder');
    }
    expect(await stillActive(victim)).toBe(true);
    // Junk with a holder credential: 200, as RFC 7009 asks.
    expect((await revoke('garbage', bearer(attacker.accessToken))).statusCode).toBe(200);
    // The holder: its refresh token, then (another session) its access token.
    expect((await revoke(victim.refreshToken, bearer(victim.accessToken))).statusCode).toBe(200);
    expect(await stillActive(victim)).toBe(false);
    const again = await signupAndLogin(app);
    expect((await revoke(again.accessToken, bearer(again.accessToken))).statusCode).toBe(200);
    expect(await stillActive(again)).toBe(false);
  });

  it('a holder credential that is itself invalid is refused', async () => {
    const s = await signupAndLogin(app);
    const res = await revoke(s.refreshToken, bearer('not.a.jwt'));
    expect(res.statusCode).toBe(401);
    expect(await stillActive(s)).toBe(true);
  });
});

describe('TOKEN_CLIENTS configuration', () => {
  it('refuses entries that are not client_id:sha256hex', async () => {
    const { testConfig } = await import('../helpers/app');
    expect(() => testConfig({ TOKEN_CLIENTS: 'gateway:plain-secret' })).toThrow(/TOKEN_CLIENTS/);
    expect(() => testConfig({ TOKEN_CLIENTS: 'gateway' })).toThrow(/TOKEN_CLIENTS/);
    expect(testConfig(TOKEN_CLIENT_ENV).TOKEN_CLIENTS).toBe(TOKEN_CLIENT_ENV.TOKEN_CLIENTS);
  });
});
