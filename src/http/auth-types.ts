/**
 * The authenticated caller, as every route sees it. Set by the auth plugin (src/http/auth.ts)
 * from a verified access token whose session is still active.
 */
import type { preHandlerAsyncHookHandler } from 'fastify';
import type { Role } from '../events/common';

export interface AuthContext {
  userId: string;
  sessionId: string;
  roles: Role[];
  /** The access token's jti and expiry (seconds since epoch). */
  tokenId: string;
  expiresAt: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth?: AuthContext;
  }
  interface FastifyInstance {
    /** preHandler: 401 unless a valid access token (Bearer or Access-Token) of an active session. */
    authenticate: preHandlerAsyncHookHandler;
    /** preHandler: authenticate, then 403 unless the caller is an admin. */
    requireAdmin: preHandlerAsyncHookHandler;
  }
}
