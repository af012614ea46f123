/**
 * Identity query routes: /me, /verify (forward auth), /sessions, RFC 7662-style token
 * introspection, and the JWKS. Rules:
 * - /verify is the hot path: no database, usually no Redis (verified tokens and active sessions
 *   are remembered in memory; ended sessions arrive by pub/sub), never rate-limited per IP
 *   (the gateway is one IP);
 * - /me and /sessions read the Redis read models, which the commands update inline
 *   (read-your-writes); /me reads profiles through a per-process cache invalidated by pub/sub
 *   (bypassed while unsubscribed), and falls back to the PostgreSQL `users` view; its plain 200
 *   (profile in memory or one Redis read away) is answered by the fast path, as /verify's is;
 * - introspection answers only authenticated clients (src/http/token-clients.ts), and
 *   `{active:false}` for anything invalid, with no reason.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import { accessTokenFrom } from '../../http/auth';
import type { AuthContext } from '../../http/auth-types';
import { invalidToken } from '../../credentials/access-tokens';
import { parseRefreshToken, sameHash } from '../../credentials/refresh-tokens';
import { plainJsonSerializer, problems } from '../../http/schemas';
import { requireTokenClient } from '../../http/token-clients';
import { secret } from '../../http/input';
import { forwardedService, forwardedUri } from '../../gateway/forward-auth';
import { listUserSessions, parseSession, sessionKey, type UserProfile } from '../../projections/session-state';
import { UserProfileCache } from '../../projections/user-profile-cache';

const AUTH_PREFIX = '/api/v1/auth';

/** The /me fields of a profile (the route's body; the fast path's, as JSON text). */
const meFields = (user: UserProfile) => ({ id: user.id, email: user.email, name: user.name, roles: user.roles, email_verified: user.email_verified, created_at: user.created_at });

/** The profile when its user may still use a session (neither deleted nor disabled). */
const activeProfile = (user: UserProfile | undefined) => (user && !user.deleted && !user.disabled ? user : undefined);

/** The fast path's /me body: cached profiles are frozen and kept a while, so each one's text is built once. */
const meBodies = new WeakMap<UserProfile, string>();
function meBody(user: UserProfile): string {
  let body = meBodies.get(user);
  if (body === undefined) {
    body = JSON.stringify(meFields(user));
    if (Object.isFrozen(user)) meBodies.set(user, body);
  }
  return body;
}

const meSchema = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  roles: z.array(z.string()),
  email_verified: z.boolean(),
  created_at: z.string(),
});

export async function identityQueryRoutes(app: FastifyInstance): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  // /me reads through the query side's auto-pipelining connection (app.redisReads): concurrent
  // requests share one socket write (one command per write was the largest cost of /me in the CPU
  // profile). Profiles from memory while the invalidation subscription is up
  // (src/projections/user-profile-cache.ts).
  const profiles = await UserProfileCache.start(app.redisReads, app.redisPrefix, app.inlineProjections.localCaches);
  app.addHook('onClose', async () => profiles.close());

  async function profileOf(userId: string): Promise<UserProfile | undefined> {
    const cached = await profiles.get(userId);
    if (cached) return cached;
    const { rows } = await app.pg.query<{ id: string; email: string; name: string; roles: string[]; email_verified: boolean; disabled: boolean; deleted: boolean; created_at: Date; updated_at: Date; source: string }>(
      'SELECT id, email, name, roles, email_verified, disabled, deleted, created_at, updated_at, source FROM users WHERE id = $1',
      [userId],
    ).catch(() => ({ rows: [] }));
    const u = rows[0];
    return u && { ...u, created_at: u.created_at.toISOString(), updated_at: u.updated_at.toISOString() };
  }

  r.get(`${AUTH_PREFIX}/me`, {
    // Redis profile (inline); its PostgreSQL fallback only when Redis lost it. It appends nothing and
    // logs through request.log: no request log context (src/http/request-context.ts).
    config: { consistency: 'inline', requestContext: 'off' },
    schema: {
      tags: ['auth'],
      summary: 'The current user',
      security: [{ bearer: [] }, { accessTokenHeader: [] }],
      response: { 200: meSchema, ...problems(401) },
    },
    preHandler: app.authenticate,
    // The body is built field by field below: no zod pass per response.
    serializerCompiler: plainJsonSerializer,
  }, async (request) => {
    const user = activeProfile(await profileOf(request.auth!.userId));
    if (!user) throw invalidToken();
    return meFields(user);
  });

  // The plain 200 before Fastify routes (src/http/fast-path.ts): a bearer of an active session, its
  // user's profile in memory or one Redis read away, active; no Origin, and the per-IP budget
  // within its limit (src/http/fast-edge.ts, called last: it spends). Everything else (refusals,
  // the PostgreSQL fallback, CORS, a 429) is answered by the route above.
  // (No closure made per answer but the one a lease needs: under tsx every named closure costs a
  // defineProperty of its name.)
  const meOk = (headers: Record<string, string> | undefined, auth: AuthContext, user: UserProfile) => {
    if (!headers) return undefined;
    headers['cache-control'] = 'no-store';
    return { headers, body: meBody(user), userId: auth.userId };
  };
  const meAnswer = (req: IncomingMessage, auth: AuthContext, profile: UserProfile | undefined) => {
    const user = activeProfile(profile);
    if (!user) return undefined;
    const headers = app.fastEdge.answerHeaders(req);
    return headers instanceof Promise ? headers.then((h) => meOk(h, auth, user)) : meOk(headers, auth, user);
  };
  app.fastPath.add('GET', `${AUTH_PREFIX}/me`, (req) => {
    if (req.headers.origin !== undefined) return undefined;
    const token = accessTokenFrom(req);
    if (!token) return undefined;
    const auth = app.accessTokens.verifiedNow(token);
    const user = auth && profiles.getNow(auth.userId);
    if (auth && user) return meAnswer(req, auth, user);
    return (async () => {
      const a = auth ?? await app.verifyAccessToken(token);
      return meAnswer(req, a, profiles.getNow(a.userId) ?? await profiles.get(a.userId));
    })();
  });

  r.get(`${AUTH_PREFIX}/verify`, {
    schema: {
      tags: ['auth'],
      summary: 'Forward auth for gateways (nginx auth_request, Traefik ForwardAuth)',
      description: '200 with X-User-Id, X-Session-Id, X-User-Roles for a valid access token of an active session; 401 otherwise. ' +
        'When X-Forwarded-Uri (or, for Envoy ext_authz, a query that is a path: `verify?/orders/x`) names a registered gateway service (`GATEWAY_PREFIX/{service}/…` or `/{service}/…`), that service\'s policy applies instead ' +
        '(none | token | api_key | token_or_api_key, roles, feature; docs/gateway.md): 401/403/429 as the gateway would answer, X-Api-Key-Id for API keys.',
      security: [{ bearer: [] }, { accessTokenHeader: [] }],
      response: { 200: z.null().describe('Valid; identity in the X-User-* headers'), ...problems(401) },
    },
    // Called by a gateway, server to server: no CORS, no IP limit, and the browser security
    // headers only on refusals (a gateway may relay those to the browser; a 200 never reaches one).
    config: { rateLimit: false, cors: false, securityHeaders: 'errors', consistency: 'inline' },
    serializerCompiler: plainJsonSerializer,
  }, async (request, reply) => {
    // A gateway in front of a registered service (X-Forwarded-Uri names it): that service's policy.
    const service = await forwardedService(app, forwardedUri(request.headers['x-forwarded-uri'], request.url));
    if (service) {
      const id = await app.gateway.access.authorize(request.headers, service.spec);
      reply.header('cache-control', 'no-store');
      if (id) {
        reply.header('x-user-id', id.userId).header('x-user-roles', id.roles.join(','));
        if (id.sessionId) reply.header('x-session-id', id.sessionId);
        if (id.apiKeyId) reply.header('x-api-key-id', id.apiKeyId);
      }
      return null;
    }
    const token = accessTokenFrom(request);
    if (!token) throw invalidToken();
    const auth = await app.verifyAccessToken(token);
    request.auth = auth; // the access line's user_id
    reply.header('x-user-id', auth.userId).header('x-session-id', auth.sessionId).header('x-user-roles', auth.roles.join(',')).header('cache-control', 'no-store');
    return null;
  });

  // The plain 200 before Fastify routes (src/http/fast-path.ts): a bearer of an active session and
  // no forwarded URI (a service policy); everything else, refusals included, is answered above.
  const verified = (auth: AuthContext) => ({
    headers: { 'x-user-id': auth.userId, 'x-session-id': auth.sessionId, 'x-user-roles': auth.roles.join(','), 'cache-control': 'no-store' },
    body: 'null',
    userId: auth.userId,
  });
  app.fastPath.add('GET', `${AUTH_PREFIX}/verify`, (req) => {
    if (req.headers['x-forwarded-uri'] !== undefined) return undefined;
    const token = accessTokenFrom(req);
    if (!token) return undefined;
    const now = app.accessTokens.verifiedNow(token);
    return now ? verified(now) : app.verifyAccessToken(token).then(verified);
  });

  r.get(`${AUTH_PREFIX}/sessions`, {
    config: { readModels: ['session_state'] },
    schema: {
      tags: ['auth'],
      summary: "The caller's active sessions (one per device)",
      security: [{ bearer: [] }],
      response: {
        200: z.object({
          sessions: z.array(z.object({
            id: z.string(),
            device_name: z.string().nullable(),
            ip: z.string().nullable(),
            user_agent: z.string().nullable(),
            created_at: z.string(),
            last_rotated_at: z.string(),
            expires_at: z.string(),
            current: z.boolean(),
          })),
        }),
        ...problems(401),
      },
    },
    preHandler: app.authenticate,
  }, async (request) => {
    const auth = request.auth!;
    const list = await listUserSessions(app.redis, app.redisPrefix, auth.userId);
    return {
      sessions: list.map((s) => ({
        id: s.id,
        device_name: s.deviceName || null,
        ip: s.lastIp || s.ip || null,
        user_agent: s.lastUserAgent || s.userAgent || null,
        created_at: s.startedAt,
        last_rotated_at: s.lastUsedAt,
        expires_at: s.expiresAt,
        current: s.id === auth.sessionId,
      })),
    };
  });

  r.post('/api/v1/tokens/verify', {
    config: { consistency: 'inline' },
    schema: {
      tags: ['tokens'],
      summary: 'Introspect a token (RFC 7662 style; callers authenticate)',
      description: 'The caller authenticates (RFC 7662 §2.1): HTTP Basic client credentials (TOKEN_CLIENTS) or an API key with the tokens:introspect scope; ' +
        'otherwise 401 client_auth_required (403 introspect_scope_required for a key without the scope). ' +
        'Access tokens: valid signature and claims and an active session. Refresh tokens: the current token of an active session.',
      security: [{ basicClient: [] }, { apiKey: [] }],
      body: z.object({ token: secret(8192), token_type_hint: z.enum(['access_token', 'refresh_token']).optional() }),
      response: {
        200: z.object({
          active: z.boolean(),
          token_type: z.enum(['access_token', 'refresh_token']).optional(),
          sub: z.string().optional(),
          sid: z.string().optional(),
          jti: z.string().optional(),
          iss: z.string().optional(),
          aud: z.string().optional(),
          exp: z.number().optional(),
          iat: z.number().optional(),
          roles: z.array(z.string()).optional(),
        }),
        ...problems(400, 401, 403),
      },
    },
    // Before the body is even looked at: an unauthenticated caller learns nothing.
    preHandler: async (request) => { await requireTokenClient(request); },
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const { token } = request.body;
    const refresh = parseRefreshToken(token);
    if (refresh) {
      const s = parseSession(refresh.sessionId, await app.redis.hgetall(sessionKey(app.redisPrefix, refresh.sessionId)));
      const exp = s ? Math.floor(Date.parse(s.expiresAt) / 1000) : 0;
      if (!s || s.status !== 'active' || !sameHash(refresh.hash, s.tokenHash) || exp * 1000 <= Date.now()) return { active: false };
      return { active: true, token_type: 'refresh_token' as const, sub: s.userId, sid: s.id, exp, iat: Math.floor(Date.parse(s.lastUsedAt) / 1000) };
    }
    try {
      const auth = await app.verifyAccessToken(token);
      const claims = decodeJwt(token);
      return {
        active: true, token_type: 'access_token' as const, sub: auth.userId, sid: auth.sessionId, jti: auth.tokenId,
        iss: app.config.JWT_ISSUER, aud: app.config.JWT_AUDIENCE, exp: auth.expiresAt, iat: claims.iat, roles: auth.roles,
      };
    } catch {
      return { active: false };
    }
  });

  r.get('/.well-known/jwks.json', {
    schema: {
      tags: ['tokens'],
      summary: 'Public keys verifying access tokens (JWKS)',
      response: { 200: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }) },
    },
    config: { rateLimit: false, consistency: 'none' },
  }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return app.keys.jwks as { keys: Record<string, unknown>[] };
  });
}
