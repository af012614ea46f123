/**
 * The authenticated caller, as every route and the realtime hub see it: what a verified access
 * token of a still-active session says (src/credentials/access-tokens.ts).
 */
import type { Role } from '../events/common';

export interface AuthContext {
  userId: string;
  sessionId: string;
  roles: Role[];
  /** The access token's jti and expiry (seconds since epoch). */
  tokenId: string;
  expiresAt: number;
}
