/**
 * Social sign-in routes beyond the browser redirect (issue 13): the native-app code exchange
 * (`POST /api/v1/auth/oauth/{provider}/token`, seed 001's `POST /oauth`), link mode
 * (`POST /api/v1/auth/identities/{provider}/link`), and provider tokens
 * (`POST …/identities/{id}/refresh`, `GET …/identities/{id}/token`, seed 001's `GET /oauth/{id}`,
 * `POST /oauth/{id}/refresh`). Rules:
 * - every answer is `Cache-Control: no-store`; the exchange is rate-limited as an auth route;
 * - the exchange answers exactly as password login does (refresh cookie; the refresh token in the
 *   body with return_refresh_in_body=true or REFRESH_COOKIE=false); PKCE providers need the app's
 *   code_verifier; OIDC ID tokens are fully validated (nonce when the app sends it);
 * - link mode passes the re-auth of e-mail changes first, then starts the redirect with the user
 *   id in the server-side transaction (the callback links instead of signing in);
 * - identities and tokens are the caller's own (404 oauth_identity_not_found otherwise); the
 *   token route also serves an API key with the `identities:token` scope, for its own user only;
 * - the provider refresh token never leaves the server.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { secret, text } from '../../http/input';
import { oauthError } from '../../errors';
import { metadataFrom } from '../../http/metadata';
import { problems } from '../../http/schemas';
import { refreshCookieOptions } from '../../http/cookies';
import { identitiesTokenKeyOwner } from '../../http/token-clients';
import { startSession } from '../identity/service';
import { AUTH_PREFIX, mfaRequiredResponse, REFRESH_COOKIE_NAME } from '../identity/routes';
import { mfaRequiredBody, socialSecondStep } from './second-factor';
import { callbackUrl } from './providers';
import { checkRedirect } from './redirects';
import { loadAccount, signInWithProvider } from './handlers';
import { checkStartLink, currentIdentityToken, ownIdentity, refreshIdentityTokens, tokenAnswer } from './identity-tokens';
import { TRANSACTION_TTL_SECONDS } from './client';
import type { OAuthRouteContext } from './routes';

const providerName = z.string().regex(/^[a-z][a-z0-9-]{1,39}$/);
const identityId = z.string().min(1).max(100).regex(/^[A-Za-z0-9-]+$/);
const exchangeFields = {
  code: secret(4096).min(1),
  code_verifier: z.string().min(43).max(128).regex(/^[A-Za-z0-9._~-]+$/).optional()
    .describe('The PKCE verifier the app made (RFC 7636); required by every provider that takes PKCE (all but Naver)'),
  redirect_uri: text(2000).pipe(z.url()).describe('The redirect URI the app used at the provider'),
  nonce: text(200).optional().describe('The nonce the app sent (OIDC providers): checked against the ID token'),
  device_name: text(200).optional(),
  return_refresh_in_body: z.boolean().optional(),
};
const loginAnswer = z.object({
  access_token: z.string(), token_type: z.literal('bearer'), expires_in: z.number().int(), session_id: z.string(),
  refresh_token: z.string().optional(),
  user: z.object({ id: z.string(), email: z.string(), name: z.string(), roles: z.array(z.string()), email_verified: z.boolean() }),
});
const identityView = z.object({ id: z.string(), provider: z.string(), subject: z.string(), email: z.string().optional(), linked_at: z.string() });
const tokenView = z.object({
  identity_id: z.string(), provider: z.string(), access_token: z.string(), token_type: z.string(),
  expires_in: z.number().int().optional(), expires_at: z.string().optional(), scope: z.string().optional(),
  has_refresh_token: z.boolean(), refreshed: z.boolean(), refresh_token_kept: z.boolean().optional(),
});

export async function oauthIdentityRoutes(app: FastifyInstance, ctx: OAuthRouteContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { config } = app;
  const { deps, authLimit, publicUrl, allowlist } = ctx;

  // ---------------------------------------------------------------- native / mobile code exchange
  type Exchange = { provider: string; code: string; code_verifier?: string; redirect_uri: string; nonce?: string; device_name?: string; return_refresh_in_body?: boolean };
  const exchange = async (request: FastifyRequest, reply: FastifyReply, b: Exchange) => {
    reply.header('cache-control', 'no-store');
    ctx.known(b.provider);
    const p = app.oauth.get(b.provider);
    if (p.pkce && !b.code_verifier) throw oauthError('oauth_invalid_grant', 'code_verifier required');
    const done = await app.oauth.exchangeCode(b.provider, { code: b.code, codeVerifier: b.code_verifier, redirectUri: b.redirect_uri, nonce: b.nonce });
    const metadata = metadataFrom(request);
    const signedIn = await signInWithProvider(deps, done, metadata);
    const { state } = await loadAccount(deps.store, { userId: signedIn.userId });
    if (!state.user.exists || state.user.deleted || state.user.disabled) throw oauthError('oauth_account_unavailable');
    const challenge = await socialSecondStep(deps, state.user, b.provider, b.device_name);
    if (challenge) return reply.send(mfaRequiredBody(challenge));
    const session = await startSession(deps, state.user, ctx.clientOf(request), metadata, { method: `oauth:${b.provider}`, deviceName: b.device_name });
    const inBody = b.return_refresh_in_body === true || !config.REFRESH_COOKIE;
    if (config.REFRESH_COOKIE) reply.setCookie(REFRESH_COOKIE_NAME, session.refreshToken, { ...refreshCookieOptions(config), maxAge: config.REFRESH_TOKEN_TTL });
    return reply.send({
      access_token: session.accessToken.token, token_type: 'bearer' as const, expires_in: session.accessToken.expiresIn,
      session_id: session.sessionId, user: session.user, ...(inBody ? { refresh_token: session.refreshToken } : {}),
    });
  };
  const exchangeProblems = problems(400, 401, 403, 404, 409, 429, 502, 503);
  r.post(`${AUTH_PREFIX}/oauth/:provider/token`, {
    schema: {
      tags: ['oauth'], summary: 'Native and mobile apps: exchange the code of a redirect the app ran itself (PKCE) → the login answer',
      params: z.object({ provider: providerName }), body: z.object(exchangeFields).strict(),
      response: { 200: z.union([loginAnswer, mfaRequiredResponse]), ...exchangeProblems },
    },
    config: authLimit,
  }, async (request, reply) => exchange(request, reply, { ...request.body, provider: request.params.provider }));
  r.post('/oauth', {
    schema: {
      tags: ['oauth', 'seed-001'], summary: 'Seed-001 alias of POST /api/v1/auth/oauth/{provider}/token',
      body: z.object({ provider: providerName, ...exchangeFields }).strict(),
      response: { 200: z.union([loginAnswer, mfaRequiredResponse]), ...exchangeProblems },
    },
    config: authLimit,
  }, async (request, reply) => exchange(request, reply, request.body));

  // ---------------------------------------------------------------- link mode
  r.post(`${AUTH_PREFIX}/identities/:provider/link`, {
    schema: {
      tags: ['identities'],
      summary: 'Start linking a provider to the signed-in account (re-auth as for e-mail changes) → {authorize_url}',
      description: 'Needs current_password, or a login within REAUTH_MAX_AGE_SECONDS (401 reauth_required). Sets the browser-bound transaction cookie; ' +
        'open authorize_url in the same browser: the callback links the identity and redirects to redirect_to.',
      security: [{ bearer: [] }],
      params: z.object({ provider: providerName }),
      body: z.object({
        redirect_to: text(2000).optional(),
        current_password: z.string().max(1024).optional(),
      }).strict().nullish(),
      response: { 200: z.object({ authorize_url: z.string() }), ...problems(400, 401, 403, 404, 409, 429, 503) },
    },
    preHandler: app.authenticate,
    config: authLimit,
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const { provider } = request.params;
    ctx.known(provider);
    const auth = request.auth!;
    const body = request.body ?? {};
    const redirectTo = body.redirect_to === undefined ? `${publicUrl}/console/` : checkRedirect(body.redirect_to, publicUrl, allowlist);
    if (!redirectTo) throw oauthError('oauth_redirect_not_allowed');
    await checkStartLink(deps, { userId: auth.userId, sessionId: auth.sessionId, provider, currentPassword: body.current_password });
    const started = await app.oauth.begin(provider, { redirectUri: callbackUrl(publicUrl, provider), data: { mode: 'link', userId: auth.userId, redirectTo } });
    reply.setCookie(ctx.txCookie, started.transactionId, { ...ctx.txCookieOptions, maxAge: TRANSACTION_TTL_SECONDS });
    return reply.send({ authorize_url: started.url });
  });

  // ---------------------------------------------------------------- one identity, its tokens
  const idParams = z.object({ id: identityId });
  r.get('/oauth/:id', {
    config: { consistency: 'stream' },
    schema: { tags: ['identities', 'seed-001'], summary: 'Seed-001: one of the caller\'s identities (never tokens)', security: [{ bearer: [] }], params: idParams, response: { 200: identityView, ...problems(401, 404) } },
    preHandler: app.authenticate,
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const i = await ownIdentity(deps, request.auth!.userId, request.params.id);
    return { id: i.identityId, provider: i.provider, subject: i.subject, ...(i.email ? { email: i.email } : {}), linked_at: i.linkedAt };
  });

  const refreshSchema = {
    tags: ['identities'], security: [{ bearer: [] }], params: idParams,
    response: { 200: tokenView, ...problems(400, 401, 404, 502, 503) },
  };
  const refreshHandler = async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    reply.header('cache-control', 'no-store');
    const t = await refreshIdentityTokens(deps, app.oauth, request.auth!.userId, request.params.id, metadataFrom(request));
    return tokenAnswer(t);
  };
  r.post(`${AUTH_PREFIX}/identities/:id/refresh`, {
    schema: { ...refreshSchema, summary: 'Refresh the provider tokens of one of the caller\'s identities (the old refresh token is kept when the provider sends none)' },
    preHandler: app.authenticate,
  }, refreshHandler as never);
  r.post('/oauth/:id/refresh', { schema: { ...refreshSchema, summary: 'Seed-001 alias of POST /api/v1/auth/identities/{id}/refresh' }, preHandler: app.authenticate }, refreshHandler as never);

  r.get(`${AUTH_PREFIX}/identities/:id/token`, {
    config: { consistency: 'command' }, // may refresh the provider tokens (an append)
    schema: {
      tags: ['identities'],
      summary: 'A currently valid provider access token (refreshed when it is about to expire), for the user or a back end holding the user\'s identities:token API key',
      security: [{ bearer: [] }, { apiKey: [] }],
      params: idParams,
      response: { 200: tokenView, ...problems(400, 401, 403, 404, 502, 503) },
    },
    // The user's access token, or an API key with the identities:token scope (its own user's identities only).
    preHandler: async function (request, reply) {
      const key = await identitiesTokenKeyOwner(request);
      if (key) {
        (request as FastifyRequest & { identitiesKeyUser?: string }).identitiesKeyUser = key.userId;
        return;
      }
      await app.authenticate.call(this, request, reply);
    },
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const userId = (request as FastifyRequest & { identitiesKeyUser?: string }).identitiesKeyUser ?? request.auth!.userId;
    const t = await currentIdentityToken(deps, app.oauth, userId, request.params.id, metadataFrom(request));
    return tokenAnswer(t);
  });
}
