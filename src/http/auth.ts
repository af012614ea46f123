/**
 * The auth plugin (name `auth`): decorates
 * - `app.authenticate` (preHandler: 401 problem unless a valid access token of an active session;
 *   sets `request.auth`), `app.requireAdmin` (the same, then 403 unless admin);
 * - `app.verifyAccessToken(token)` → AuthContext (throws a 401 AppError) for modules that get a
 *   token some other way (API-key access checks, realtime tickets);
 * - `app.accessTokens` (the verifier; `verifySignature` skips the session check, for
 *   introspection) and `app.sessionGate`.
 * Tokens come from `Authorization: Bearer <jwt>` or, for seed-000 clients, `Access-Token: <jwt>`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { errors } from '../errors';
import { AccessTokenVerifier, invalidToken } from '../credentials/access-tokens';
import type { AuthContext } from './auth-types';
import { SessionGate, sessionActiveInLog } from './session-gate';
import { notLive } from '../projections/redis-epoch';

declare module 'fastify' {
  interface FastifyInstance {
    verifyAccessToken(token: string): Promise<AuthContext>;
    accessTokens: AccessTokenVerifier;
    sessionGate: SessionGate;
  }
}

/** The access token of a request (Bearer or Access-Token header), or undefined. */
export function accessTokenFrom(request: { headers: IncomingHttpHeaders }): string | undefined {
  const h = request.headers.authorization;
  if (typeof h === 'string') {
    const m = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(h);
    if (m) return m[1];
  }
  const alt = request.headers['access-token'];
  if (typeof alt === 'string' && alt.length) {
    const m = /^(?:Bearer[ ]+)?([^ ]+)[ ]*$/i.exec(alt);
    if (m) return m[1];
  }
  return undefined;
}

export const authPlugin = fp(async (app) => {
  const gate = new SessionGate(app.redis, app.redisPrefix, {
    // An ended session can have access tokens out there until they expire.
    endedMemoryMs: (app.config.ACCESS_TOKEN_TTL + 60) * 1000,
    fallback: {
      rebuilding: async () => (await notLive(app.redis, app.redisPrefix, ['session_state'])).length > 0,
      activeInLog: (sid) => sessionActiveInLog(app.eventStore, sid),
    },
  });
  await gate.start();
  app.addHook('onClose', async () => gate.stop());
  const verifier = new AccessTokenVerifier(app.keys, app.config, gate);

  app.decorate('sessionGate', gate);
  app.decorate('accessTokens', verifier);
  app.decorate('verifyAccessToken', (token: string) => verifier.verify(token));
  app.decorateRequest('auth', undefined);

  app.decorate('authenticate', async function authenticate(request: FastifyRequest) {
    const token = accessTokenFrom(request);
    if (!token) throw invalidToken();
    request.auth = await verifier.verify(token);
  });

  app.decorate('requireAdmin', async function requireAdmin(request: FastifyRequest) {
    const token = accessTokenFrom(request);
    if (!token) throw invalidToken();
    request.auth = await verifier.verify(token);
    if (!request.auth.roles.includes('admin')) throw errors.forbidden('This needs the admin role.', 'admin_required');
  });
}, { name: 'auth', dependencies: ['config', 'redis', 'keys'] });
