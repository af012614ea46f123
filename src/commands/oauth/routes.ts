/**
 * Social sign-in routes (issue 13). Rules:
 * - every answer is `Cache-Control: no-store`; the routes are rate-limited as auth routes;
 * - `redirect_to` must be on the allow-list (checked at authorize and again at the callback);
 * - the transaction (state, PKCE verifier, nonce) lives server-side under a random id in an
 *   HttpOnly cookie bound to this browser (`__Host-oauth_tx`, or `oauth_tx` with COOKIE_SECURE=false);
 *   the callback clears it in every answer, success or error;
 * - the session starts exactly as a password login does (startSession: SessionStarted with
 *   `method: "oauth:<provider>"`, refresh cookie, new-device mail from the worker);
 * - browser errors redirect to OAUTH_ERROR_REDIRECT with `?error=<code>`; a client that asked for
 *   JSON gets problem+json.
 */
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { text } from '../../http/input';
import { AppError, oauthError } from '../../errors';
import { metadataFrom } from '../../http/metadata';
import { problems } from '../../http/schemas';
import { refreshCookieOptions } from '../../http/cookies';
import { startSession, type IdentityDeps } from '../identity/service';
import { MFA_PENDING_COOKIE, mfaPendingCookieOptions } from '../../http/cookies';
import { consoleSecondFactorUrl, mfaRequiredBody, socialSecondStep } from './second-factor';
import { AUTH_PREFIX, mfaRequiredResponse, REFRESH_COOKIE_NAME } from '../identity/routes';
import { callbackUrl, publicProviderList } from './providers';
import { checkRedirect, redirectAllowlist } from './redirects';
import { loadAccount, signInWithProvider, unlinkIdentity, type OAuthDeps } from './handlers';
import { TRANSACTION_TTL_SECONDS } from './client';
import { oauthIdentityRoutes } from './identity-routes';

/** What the routes of this folder share (identity-routes.ts). */
export interface OAuthRouteContext {
  deps: IdentityDeps & OAuthDeps;
  authLimit: FastifyContextConfig;
  publicUrl: string;
  allowlist: ReturnType<typeof redirectAllowlist>;
  txCookie: string;
  txCookieOptions: { path: string; httpOnly: boolean; sameSite: 'lax'; secure: boolean };
  known(name: string): void;
  clientOf(request: FastifyRequest): { ip: string; userAgent?: string };
}

const providerParam = z.object({ provider: z.string().regex(/^[a-z][a-z0-9-]{1,39}$/) });
const identity = z.object({
  id: z.string(), provider: z.string(), subject: z.string(), email: z.string().optional(), linked_at: z.string(),
});

export async function oauthCommandRoutes(app: FastifyInstance): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { config } = app;
  const publicUrl = (config.PUBLIC_URL ?? `http://127.0.0.1:${config.PORT}`).replace(/\/+$/, '');
  const allowlist = redirectAllowlist(publicUrl, config.OAUTH_REDIRECT_ALLOWLIST);
  const errorRedirect = config.OAUTH_ERROR_REDIRECT ?? `${publicUrl}/console/`;
  const deps: IdentityDeps & OAuthDeps = {
    config, store: app.eventStore, redis: app.redis, prefix: app.redisPrefix, inline: app.inlineProjections, pool: app.pg, keys: app.keys, gate: app.sessionGate, dataKeys: app.dataKeys,
  };
  const authLimit: FastifyContextConfig = config.RATE_LIMIT_AUTH_PER_MINUTE > 0
    ? { rateLimit: { max: config.RATE_LIMIT_AUTH_PER_MINUTE, timeWindow: '1 minute' } }
    : { rateLimit: false };
  const txCookie = config.COOKIE_SECURE ? '__Host-oauth_tx' : 'oauth_tx';
  const txCookieOptions = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: config.COOKIE_SECURE };
  const wantsJson = (request: FastifyRequest) => {
    const accept = String(request.headers.accept ?? '');
    return /application\/(problem\+)?json/.test(accept) && !/text\/html/.test(accept);
  };
  const clientOf = (request: FastifyRequest) => {
    const ua = request.headers['user-agent'];
    return { ip: request.ip, userAgent: typeof ua === 'string' ? ua.slice(0, 512) : undefined };
  };
  const known = (name: string) => {
    if (!app.oauthProviders.some((p) => p.name === name)) throw oauthError('oauth_provider_unknown');
  };

  r.get(`${AUTH_PREFIX}/oauth/providers`, {
    config: { consistency: 'none' },
    schema: {
      tags: ['oauth'], summary: 'The configured sign-in providers (for the console\'s buttons)',
      response: { 200: z.object({ providers: z.array(z.object({ name: z.string(), display_name: z.string(), kind: z.string() })) }) },
    },
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { providers: publicProviderList(app.oauthProviders) };
  });

  r.get(`${AUTH_PREFIX}/oauth/:provider/authorize`, {
    schema: {
      tags: ['oauth'], summary: 'Start a browser sign-in: 302 to the provider',
      params: providerParam,
      querystring: z.object({ redirect_to: text(2000).optional() }),
      response: { 200: z.object({ authorize_url: z.string() }).describe('JSON clients (Accept: application/json); browsers get a 302 to the provider'), ...problems(400, 404, 429, 503) },
    },
    config: { ...authLimit, consistency: 'none' },
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const { provider } = request.params;
    known(provider);
    const redirectTo = request.query.redirect_to === undefined ? `${publicUrl}/console/` : checkRedirect(request.query.redirect_to, publicUrl, allowlist);
    if (!redirectTo) throw oauthError('oauth_redirect_not_allowed');
    const started = await app.oauth.begin(provider, { redirectUri: callbackUrl(publicUrl, provider), data: { mode: 'login', redirectTo } });
    reply.setCookie(txCookie, started.transactionId, { ...txCookieOptions, maxAge: TRANSACTION_TTL_SECONDS });
    if (wantsJson(request)) return reply.send({ authorize_url: started.url });
    return reply.redirect(started.url, 302);
  });

  r.get(`${AUTH_PREFIX}/oauth/:provider/callback`, {
    schema: {
      tags: ['oauth'], summary: 'The provider\'s redirect back: sign in, start a session, 302 to redirect_to', params: providerParam,
      // RFC 6749 §4.1.2 / RFC 9207 parameters, each the shared text type; any other parameter a
      // provider adds (scope, session_state, authuser…) too, once (a repeated one is refused).
      querystring: z.object({
        code: text(4096).optional(), state: text(2000).optional(), iss: text(2000).optional(),
        error: text(200).optional(), error_description: text(2000).optional(), error_uri: text(2000).optional(),
      }).catchall(text(4096)),
      response: {
        200: z.union([
          z.object({
            access_token: z.string(), token_type: z.literal('bearer'), expires_in: z.number().int(), session_id: z.string(),
            user: z.object({ id: z.string(), email: z.string(), name: z.string(), roles: z.array(z.string()), email_verified: z.boolean() }),
            redirect_to: z.string(),
          }),
          z.object({ linked: z.object({ id: z.string(), provider: z.string(), subject: z.string() }), redirect_to: z.string() }).describe('Link mode'),
          mfaRequiredResponse.extend({ redirect_to: z.string() }).describe('A second factor is due (issue 17): finish with POST /api/v1/auth/mfa/verify'),
        ]).describe('JSON clients; browsers get a 302 to redirect_to (with ?linked=<provider> in link mode)'),
        ...problems(400, 401, 403, 404, 409, 429, 502, 503),
      },
    },
    // The provider's own `code` may look like a token of ours: not refused as a credential in the URL.
    config: { ...authLimit, credentialsInUrl: 'allowed', consistency: 'command' },
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    reply.clearCookie(txCookie, txCookieOptions);
    const { provider } = request.params;
    try {
      known(provider);
      const params = new URLSearchParams(request.raw.url!.split('?')[1] ?? '');
      const done = await app.oauth.complete(provider, { transactionId: request.cookies[txCookie], params });
      const redirectTo = checkRedirect(done.data.redirectTo, publicUrl, allowlist) ?? `${publicUrl}/console/`;
      const metadata = metadataFrom(request);
      if (done.data.mode === 'link' && done.data.userId) {
        // Link mode (POST /identities/{provider}/link): the user re-authenticated to start it; no new session.
        const linked = await signInWithProvider(deps, { profile: done.profile, tokens: done.tokens, linkUserId: done.data.userId }, { ...metadata, actorUserId: done.data.userId });
        if (wantsJson(request)) return reply.send({ linked: { id: linked.identityId, provider, subject: done.profile.subject }, redirect_to: redirectTo });
        const to = new URL(redirectTo);
        to.searchParams.set('linked', provider);
        return reply.redirect(to.href, 302);
      }
      const signedIn = await signInWithProvider(deps, { profile: done.profile, tokens: done.tokens }, metadata);
      const { state } = await loadAccount(deps.store, { userId: signedIn.userId });
      if (!state.user.exists || state.user.deleted || state.user.disabled) throw oauthError('oauth_account_unavailable');
      const challenge = await socialSecondStep(deps, state.user, provider);
      if (challenge) {
        if (wantsJson(request)) return reply.send({ ...mfaRequiredBody(challenge), redirect_to: redirectTo });
        reply.setCookie(MFA_PENDING_COOKIE, challenge.mfaToken, mfaPendingCookieOptions(config, challenge.expiresIn));
        return reply.redirect(consoleSecondFactorUrl(publicUrl, redirectTo), 302);
      }
      const session = await startSession(deps, state.user, clientOf(request), metadata, { method: `oauth:${provider}` });
      if (config.REFRESH_COOKIE) {
        reply.setCookie(REFRESH_COOKIE_NAME, session.refreshToken, { ...refreshCookieOptions(config), maxAge: config.REFRESH_TOKEN_TTL });
      }
      if (wantsJson(request)) {
        return reply.send({
          access_token: session.accessToken.token, token_type: 'bearer' as const, expires_in: session.accessToken.expiresIn,
          session_id: session.sessionId, user: session.user, redirect_to: redirectTo,
        });
      }
      return reply.redirect(redirectTo, 302);
    } catch (err) {
      if (wantsJson(request) || !(err instanceof AppError)) throw err;
      if (err.status >= 500) request.log.warn({ err: { code: err.code, detail: err.detail } }, 'social sign-in failed');
      const to = new URL(errorRedirect);
      to.searchParams.set('error', err.code);
      return reply.redirect(to.href, 302);
    }
  });

  // Identities: read from the user's own stream (the write side's state). The list is tiny, is
  // needed strongly consistent right after a link/unlink, and the decider folds it anyway.
  const listHandler = async (request: FastifyRequest<{ Querystring: { provider?: string } }>, reply: FastifyReply) => {
    reply.header('cache-control', 'no-store');
    const { state } = await loadAccount(deps.store, { userId: request.auth!.userId });
    const filter = request.query.provider;
    return {
      identities: state.identities
        .filter((i) => !filter || i.provider === filter)
        .map((i) => ({ id: i.identityId, provider: i.provider, subject: i.subject, ...(i.email ? { email: i.email } : {}), linked_at: i.linkedAt })),
    };
  };
  const listSchema = {
    tags: ['identities'], querystring: z.object({ provider: text(40).optional() }),
    response: { 200: z.object({ identities: z.array(identity) }), ...problems(401) },
  };
  r.get(`${AUTH_PREFIX}/identities`, { config: { consistency: 'stream' }, schema: { ...listSchema, summary: 'The caller\'s linked provider identities (never tokens)' }, preHandler: app.authenticate }, listHandler as never);
  r.get('/oauth', { config: { consistency: 'stream' }, schema: { ...listSchema, summary: 'Seed-001 alias: the caller\'s identities, ?provider= filter' }, preHandler: app.authenticate }, listHandler as never);

  const unlinkHandler = async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    reply.header('cache-control', 'no-store');
    await unlinkIdentity(deps, request.auth!.userId, request.params.id, metadataFrom(request));
    return reply.code(204).send();
  };
  const unlinkSchema = { tags: ['identities'], params: z.object({ id: z.string().min(1).max(100) }), response: { 204: z.null().describe('Unlinked'), ...problems(401, 404, 409) } };
  r.delete(`${AUTH_PREFIX}/identities/:id`, { schema: { ...unlinkSchema, summary: 'Unlink an identity (refused when it is the last way in); shreds its tokens' }, preHandler: app.authenticate }, unlinkHandler as never);
  r.delete('/oauth/:id', { schema: { ...unlinkSchema, summary: 'Seed-001 alias of DELETE /api/v1/auth/identities/{id}' }, preHandler: app.authenticate }, unlinkHandler as never);

  await oauthIdentityRoutes(app, { deps, authLimit, publicUrl, allowlist, txCookie, txCookieOptions, known, clientOf });
}
