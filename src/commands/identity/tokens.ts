/**
 * Issuing tokens. Rules:
 * - access tokens: JWT (RFC 9068 header `typ: at+jwt`), signed with the current key (`kid`),
 *   claims iss, aud, sub, sid, jti, iat, exp, roles; never outliving their session;
 * - refresh tokens: `<sessionId>.<43 chars>` — 256 bits from the CSPRNG behind the session id,
 *   which only routes the lookup; only SHA-256(token) is ever stored.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Config } from '../../config';
import type { KeySet } from '../../infra/keys';
import { ACCESS_TOKEN_TYP } from '../../http/access-tokens';
import { hashRefreshToken } from '../../http/refresh-tokens';

export interface IssuedAccessToken {
  token: string;
  expiresIn: number;
  expiresAt: number;
  jti: string;
}

export async function signAccessToken(
  keys: KeySet,
  config: Pick<Config, 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'ACCESS_TOKEN_TTL'>,
  claims: { userId: string; sessionId: string; roles: string[]; sessionExpiresAt?: string },
  now = new Date(),
): Promise<IssuedAccessToken> {
  const iat = Math.floor(now.getTime() / 1000);
  let exp = iat + config.ACCESS_TOKEN_TTL;
  if (claims.sessionExpiresAt) exp = Math.min(exp, Math.floor(Date.parse(claims.sessionExpiresAt) / 1000));
  const jti = randomUUID();
  const token = await new SignJWT({ sid: claims.sessionId, roles: claims.roles })
    .setProtectedHeader({ alg: keys.signing.alg, kid: keys.signing.kid, typ: ACCESS_TOKEN_TYP })
    .setIssuer(config.JWT_ISSUER)
    .setAudience(config.JWT_AUDIENCE)
    .setSubject(claims.userId)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(keys.signing.privateKey);
  return { token, expiresIn: Math.max(0, exp - iat), expiresAt: exp, jti };
}

export function newRefreshToken(sessionId: string): { token: string; hash: string } {
  const token = `${sessionId}.${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashRefreshToken(token) };
}

export { hashRefreshToken, parseRefreshToken } from '../../http/refresh-tokens';
