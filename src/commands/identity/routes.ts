/**
 * Identity command routes: signup (+ /register), login (+ seed-000 /auth/login), refresh, logout,
 * logout-all, delete one session, password change, and RFC 7009 token revocation.
 * Rules: refresh tokens travel in an HttpOnly cookie scoped to /api/v1/auth (SameSite from
 * COOKIE_SAMESITE, strict by default; Secure unless COOKIE_SECURE=false), in the body only when
 * asked or when cookies are off; the cookie counts only from an allowed origin (CSRF:
 * src/http/request-origin.ts);
 * login, signup and refresh are rate-limited per IP (RATE_LIMIT_AUTH_PER_MINUTE; IPv6 per /64), and
 * an alias (/auth/login, /register) shares its canonical route's budget.
 */
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { secret, text } from '../../http/input';
import { errors } from '../../errors';
import { accessTokenFrom } from '../../http/auth';
import { metadataFrom } from '../../http/metadata';
import { problems } from '../../http/schemas';
import { refreshCookieOptions } from '../../http/cookies';
import { cookieCredential } from '../../http/request-origin';
import { requireTokenClient, tokenClientOf } from '../../http/token-clients';
import { sameHash } from './deciders';
import {
  changePassword, loadSession, login, refresh, revokeSession, revokeToken, revokeUserSessions, signup, type IdentityDeps,
} from './service';
import { parseRefreshToken } from '../../credentials/refresh-tokens';

export const AUTH_PREFIX = '/api/v1/auth';
export const REFRESH_COOKIE_NAME = 'refresh_token';

const email = text(320).trim().min(3).max(320).pipe(z.email()).describe('E-mail address (normalised: trimmed, NFKC, lower-case)');
const password = secret(1024).min(1).describe('Password (length rules are the password policy: see the 400 reason)');
const publicUser = z.object({ id: z.string(), email: z.string(), name: z.string(), created_at: z.string() });
const loginUser = z.object({ id: z.string(), email: z.string(), name: z.string(), roles: z.array(z.string()), email_verified: z.boolean() });
const tokenResponse = z.object({
  access_token: z.string(),
  token_type: z.literal('bearer'),
  expires_in: z.number().int().describe('Seconds until the access token expires'),
  session_id: z.string(),
  refresh_token: z.string().optional().describe('Only with return_refresh_in_body=true, a body-presented refresh token, or REFRESH_COOKIE=false'),
});
const loginResponse = tokenResponse.extend({ user: loginUser });
/** Issue 17: a second factor is due (no session yet; the mfa_token is not an access token). */
export const mfaRequiredResponse = z.object({
  mfa_required: z.literal(true),
  mfa_token: z.string().describe('Single use, short-lived; only for POST /api/v1/auth/mfa/verify (or the enrolment routes when mfa_enrolment_required)'),
  expires_in: z.number().int(),
  methods: z.array(z.enum(['totp', 'passkey', 'recovery_code'])),
  mfa_enrolment_required: z.boolean().describe('MFA_REQUIRED_FOR_ROLES: enrol TOTP or a passkey with this mfa_token to finish signing in'),
});
const loginBody = z
  .object({
    email: text(320).min(1).optional(),
    username: text(320).min(1).optional().describe('Seed-000 clients: the e-mail address'),
    password,
    device_name: text(200).optional(),
    return_refresh_in_body: z.boolean().optional(),
  })
  .refine((b) => b.email !== undefined || b.username !== undefined, { message: 'email or username is required', path: ['email'] });

const clientOf = (request: FastifyRequest) => {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua.slice(0, 512) : undefined };
};

export async function identityCommandRoutes(app: FastifyInstance): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { config } = app;
  const deps: IdentityDeps = {
    config, store: app.eventStore, redis: app.redis, prefix: app.redisPrefix, inline: app.inlineProjections, pool: app.pg, keys: app.keys, gate: app.sessionGate, log: app.log,
  };
  const authLimit: FastifyContextConfig = config.RATE_LIMIT_AUTH_PER_MINUTE > 0
    ? { rateLimit: { max: config.RATE_LIMIT_AUTH_PER_MINUTE, timeWindow: '1 minute' } }
    : { rateLimit: false };
  // An alias spends its canonical route's budget (issue 20 §9): one group per canonical route.
  const sharedLimit = (canonical: string): FastifyContextConfig => (authLimit.rateLimit
    ? { rateLimit: { ...authLimit.rateLimit, groupId: canonical } }
    : authLimit);
  const cookieOptions = refreshCookieOptions(config);
  const setRefreshCookie = (reply: FastifyReply, token: string) =>
    reply.setCookie(REFRESH_COOKIE_NAME, token, { ...cookieOptions, maxAge: config.REFRESH_TOKEN_TTL });
  const clearRefreshCookie = (reply: FastifyReply) => reply.clearCookie(REFRESH_COOKIE_NAME, cookieOptions);

  // ---------------------------------------------------------------- signup
  const signupSchema = {
    tags: ['auth'],
    summary: 'Create an account',
    description: 'E-mail unique (409 otherwise); password checked against the policy (400 with the reason).',
    body: z.object({ email, password, name: text(200).trim().optional() }),
    response: { 201: z.object({ user: publicUser }), ...problems(400, 409, 429) },
  };
  for (const url of [`${AUTH_PREFIX}/signup`, `${AUTH_PREFIX}/register`]) {
    r.post(url, { schema: { ...signupSchema, ...(url.endsWith('register') ? { summary: 'Create an account (alias of /signup)' } : {}) }, config: sharedLimit(`POST ${AUTH_PREFIX}/signup`) }, async (request, reply) => {
      const user = await signup(deps, request.body, metadataFrom(request));
      return reply.code(201).send({ user });
    });
  }

  // ---------------------------------------------------------------- login
  const loginSchema = {
    tags: ['auth'],
    summary: 'Log in: start a session (one per device)',
    description:
      'Answers are identical for an unknown e-mail and a wrong password. Refresh token in an HttpOnly cookie ' +
      '(and in the body with return_refresh_in_body=true). 429 while the account is locked.',
    body: loginBody,
    response: { 200: z.union([loginResponse, mfaRequiredResponse]), ...problems(400, 401, 403, 429) },
  };
  const loginHandler = async (request: FastifyRequest<{ Body: z.infer<typeof loginBody> }>, reply: FastifyReply) => {
    const b = request.body;
    const result = await login(deps, { email: (b.email ?? b.username)!, password: b.password, deviceName: b.device_name }, clientOf(request), metadataFrom(request));
    reply.header('cache-control', 'no-store');
    if ('mfaRequired' in result) {
      return reply.send({
        mfa_required: true as const, mfa_token: result.mfaToken, expires_in: result.expiresIn, methods: result.methods, mfa_enrolment_required: result.enrolmentRequired,
      });
    }
    const inBody = b.return_refresh_in_body === true || !config.REFRESH_COOKIE;
    if (config.REFRESH_COOKIE) setRefreshCookie(reply, result.refreshToken);
    return reply.send({
      access_token: result.accessToken.token,
      token_type: 'bearer' as const,
      expires_in: result.accessToken.expiresIn,
      session_id: result.sessionId,
      user: result.user,
      ...(inBody ? { refresh_token: result.refreshToken } : {}),
    });
  };
  r.post(`${AUTH_PREFIX}/login`, { schema: loginSchema, config: sharedLimit(`POST ${AUTH_PREFIX}/login`) }, loginHandler);
  r.post('/auth/login', { schema: { ...loginSchema, summary: 'Log in (seed-000 alias; username = e-mail)' }, config: sharedLimit(`POST ${AUTH_PREFIX}/login`) }, loginHandler);

  // ---------------------------------------------------------------- refresh
  const refreshBody = z
    .object({ refresh_token: secret(200).optional(), return_refresh_in_body: z.boolean().optional() })
    .nullish();
  r.post(`${AUTH_PREFIX}/refresh`, {
    schema: {
      tags: ['auth'],
      summary: 'Rotate the refresh token (cookie or body); new access token',
      description: 'A rotated refresh token presented again revokes the whole session (reuse detection, RFC 9700 §4.14.2). ' +
        'With the cookie, 403 cross_origin_request unless Origin (or Sec-Fetch-Site) is the API\'s own origin or in CORS_ORIGINS.',
      body: refreshBody,
      response: { 200: tokenResponse, ...problems(400, 401, 403, 429) },
    },
    config: authLimit,
  }, async (request, reply) => {
    const fromBody = request.body?.refresh_token;
    // The cookie is a credential only from our own origin or an allowed front end (CSRF, issue 20 §4).
    const token = fromBody ?? cookieCredential(request, REFRESH_COOKIE_NAME);
    const result = await refresh(deps, token, clientOf(request), metadataFrom(request));
    const inBody = fromBody !== undefined || request.body?.return_refresh_in_body === true || !config.REFRESH_COOKIE;
    if (config.REFRESH_COOKIE && fromBody === undefined) setRefreshCookie(reply, result.refreshToken);
    reply.header('cache-control', 'no-store');
    return reply.send({
      access_token: result.accessToken.token,
      token_type: 'bearer' as const,
      expires_in: result.accessToken.expiresIn,
      session_id: result.sessionId,
      ...(inBody ? { refresh_token: result.refreshToken } : {}),
    });
  });

  // ---------------------------------------------------------------- logout
  r.post(`${AUTH_PREFIX}/logout`, {
    schema: {
      tags: ['auth'],
      summary: "Log out this device: end only this session",
      description: 'Identifies the session by the access token, or else by the refresh token (cookie or body). Other devices keep working.',
      body: z.object({ refresh_token: secret(200).optional() }).nullish(),
      response: { 204: z.null().describe('Logged out'), ...problems(401, 403) },
    },
  }, async (request, reply) => {
    let sessionId: string | undefined;
    let userId: string | undefined;
    const access = accessTokenFrom(request);
    if (access) {
      try {
        const auth = await app.verifyAccessToken(access);
        ({ sessionId, userId } = auth);
      } catch {
        // fall back to the refresh token
      }
    }
    if (!sessionId) {
      const parsed = parseRefreshToken(request.body?.refresh_token ?? cookieCredential(request, REFRESH_COOKIE_NAME));
      if (parsed) {
        const { state } = await loadSession(deps.store, parsed.sessionId);
        if (state.status === 'active' && sameHash(parsed.hash, state.tokenHash)) ({ sessionId, userId } = state);
      }
    }
    clearRefreshCookie(reply);
    if (!sessionId) throw errors.unauthorized('No valid access or refresh token identifies a session.', 'invalid_token');
    await revokeSession(deps, sessionId, 'logout', { ...metadataFrom(request), actorUserId: userId }, userId);
    return reply.code(204).send(null);
  });

  r.post(`${AUTH_PREFIX}/logout-all`, {
    schema: {
      tags: ['auth'],
      summary: 'Log out everywhere: end every session of the caller',
      security: [{ bearer: [] }],
      response: { 204: z.null().describe('Every session ended'), ...problems(401) },
    },
    preHandler: app.authenticate,
  }, async (request, reply) => {
    const auth = request.auth!;
    await revokeUserSessions(deps, auth.userId, 'logout_all', undefined, metadataFrom(request));
    // The caller's own session too, even when the read models had not listed it yet.
    await revokeSession(deps, auth.sessionId, 'logout_all', metadataFrom(request), auth.userId);
    clearRefreshCookie(reply);
    return reply.code(204).send(null);
  });

  r.delete(`${AUTH_PREFIX}/sessions/:id`, {
    schema: {
      tags: ['auth'],
      summary: 'End one of your sessions',
      security: [{ bearer: [] }],
      params: z.object({ id: z.uuid() }),
      response: { 204: z.null().describe('Session ended'), ...problems(400, 401, 404) },
    },
    preHandler: app.authenticate,
  }, async (request, reply) => {
    const auth = request.auth!;
    const { state } = await loadSession(deps.store, request.params.id);
    if (state.userId !== auth.userId || state.status !== 'active') throw errors.notFound('No such active session.', 'session_not_found');
    await revokeSession(deps, request.params.id, 'user_revoked', metadataFrom(request), auth.userId);
    if (request.params.id === auth.sessionId) clearRefreshCookie(reply);
    return reply.code(204).send(null);
  });

  // ---------------------------------------------------------------- password
  r.post(`${AUTH_PREFIX}/password`, {
    schema: {
      tags: ['auth'],
      summary: 'Change your password (ends every other session)',
      security: [{ bearer: [] }],
      body: z.object({ current_password: password, new_password: password }),
      response: { 204: z.null().describe('Password changed'), ...problems(400, 401, 403, 429) },
    },
    preHandler: app.authenticate,
    config: authLimit,
  }, async (request, reply) => {
    await changePassword(deps, request.auth!, { currentPassword: request.body.current_password, newPassword: request.body.new_password }, metadataFrom(request));
    return reply.code(204).send(null);
  });

  // ---------------------------------------------------------------- RFC 7009
  // The caller authenticates (RFC 7009 §2.1, issue 20 §7): a token client (HTTP Basic from
  // TOKEN_CLIENTS, or an API key with the tokens:introspect scope) may revoke any token; otherwise
  // the caller is the token's holder, shown by a Bearer access token of the token's own user.
  r.post('/api/v1/tokens/revoke', {
    schema: {
      tags: ['tokens'],
      summary: 'Revoke a token (RFC 7009 style; callers authenticate)',
      description: 'A refresh token ends its session; an access token ends the session behind it. ' +
        'Callers: HTTP Basic client credentials (TOKEN_CLIENTS) or an API key with the tokens:introspect scope (any token), or the holder with ' +
        '`Authorization: Bearer` of the same user (its own tokens; 403 not_token_holder for another user\'s). Without either, 401 client_auth_required. ' +
        '200 for unknown or already revoked tokens.',
      security: [{ basicClient: [] }, { apiKey: [] }, { bearer: [] }],
      body: z.object({ token: secret(8192), token_type_hint: z.enum(['access_token', 'refresh_token']).optional() }),
      response: { 200: z.object({}).describe('Done (also for unknown tokens)'), ...problems(400, 401, 403) },
    },
  }, async (request, reply) => {
    const client = await tokenClientOf(request);
    if (!client) {
      const bearerToken = accessTokenFrom(request);
      if (!bearerToken) await requireTokenClient(request); // 401 client_auth_required
      request.auth = await app.verifyAccessToken(bearerToken!);
      const token = request.body.token;
      let owner: string | undefined;
      const parsed = parseRefreshToken(token);
      if (parsed) owner = (await loadSession(deps.store, parsed.sessionId)).state.userId;
      else owner = await app.accessTokens.verifySignature(token).then((a) => a.userId, () => undefined);
      if (owner !== undefined && owner !== request.auth.userId) throw errors.forbidden('Only the token\'s holder or an authenticated token client may revoke it.', 'not_token_holder');
    }
    reply.header('cache-control', 'no-store');
    await revokeToken(deps, request.body.token, (t) => app.accessTokens.verifySignature(t), metadataFrom(request));
    return {};
  });
}
