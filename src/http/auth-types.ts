/** `request.auth` and the auth preHandlers on Fastify (set by src/http/auth.ts). */
import type { preHandlerAsyncHookHandler } from 'fastify';
import type { AuthContext } from '../credentials/auth-context';

export type { AuthContext };

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
