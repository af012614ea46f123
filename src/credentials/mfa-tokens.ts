/**
 * The MFA token: what a password step answers when a second factor is due (issue 17). Rules:
 * - a JWS signed with the access-token keys but with its own `typ` (`mfa+jwt`) and audience
 *   (`<JWT_AUDIENCE>:mfa`): the access-token verifier refuses it (typ and aud), and this verifier
 *   refuses access tokens;
 * - short-lived (MFA_TOKEN_TTL_SECONDS, 5 min by default); single use is enforced by the caller
 *   (its `jti` is spent in Redis when a login completes);
 * - `purpose`: `login` (a second factor to verify) or `enrol` (MFA_REQUIRED_FOR_ROLES: a factor to
 *   enrol before any session); `amr` is what the first step proved (`pwd`).
 */
import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import type { Config } from '../config';
import { domainError } from '../errors';
import type { KeySet } from './keys';

export const MFA_TOKEN_TYP = 'mfa+jwt';
export const mfaAudience = (config: Pick<Config, 'JWT_AUDIENCE'>) => `${config.JWT_AUDIENCE}:mfa`;

export interface MfaTokenClaims {
  userId: string;
  purpose: 'login' | 'enrol';
  amr: string[];
  deviceName?: string;
  /** How the first step signed in when it was not a password (`oauth:<provider>`): kept on SessionStarted. */
  method?: string;
  jti: string;
  expiresAt: number;
}

export const invalidMfaToken = () => domainError('mfa_token_invalid', 'The MFA token is invalid, expired or already used; sign in again.');

type TokenConfig = Pick<Config, 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'MFA_TOKEN_TTL_SECONDS'>;

export async function signMfaToken(
  keys: KeySet, config: TokenConfig, claims: Omit<MfaTokenClaims, 'jti' | 'expiresAt'>, now = new Date(),
): Promise<{ token: string; expiresIn: number; jti: string }> {
  const iat = Math.floor(now.getTime() / 1000);
  const jti = randomUUID();
  const token = await new SignJWT({ purpose: claims.purpose, amr: claims.amr, ...(claims.deviceName ? { dev: claims.deviceName } : {}), ...(claims.method ? { mth: claims.method } : {}) })
    .setProtectedHeader({ alg: keys.signing.alg, kid: keys.signing.kid, typ: MFA_TOKEN_TYP })
    .setIssuer(config.JWT_ISSUER)
    .setAudience(mfaAudience(config))
    .setSubject(claims.userId)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(iat + config.MFA_TOKEN_TTL_SECONDS)
    .sign(keys.signing.privateKey);
  return { token, expiresIn: config.MFA_TOKEN_TTL_SECONDS, jti };
}

/** Signature, typ, audience and expiry of an MFA token (not whether it was spent). */
export async function verifyMfaToken(keys: KeySet, config: TokenConfig, token: string, now = new Date()): Promise<MfaTokenClaims> {
  if (typeof token !== 'string' || token.length > 4096) throw invalidMfaToken();
  let kid: string | undefined;
  try {
    const h = decodeProtectedHeader(token);
    if (h.typ !== MFA_TOKEN_TYP || typeof h.kid !== 'string' || Object.keys(h).some((k) => !['alg', 'typ', 'kid'].includes(k))) throw invalidMfaToken();
    kid = h.kid;
  } catch {
    throw invalidMfaToken();
  }
  const key = keys.verifying.get(kid);
  if (!key) throw invalidMfaToken();
  try {
    const { payload } = await jwtVerify(token, key.publicKey, {
      algorithms: [key.alg], issuer: config.JWT_ISSUER, audience: mfaAudience(config), typ: MFA_TOKEN_TYP,
      requiredClaims: ['sub', 'jti', 'exp'], currentDate: now, clockTolerance: 5,
    });
    const p = payload as Record<string, unknown>;
    if (p.purpose !== 'login' && p.purpose !== 'enrol') throw invalidMfaToken();
    const amr = Array.isArray(p.amr) ? p.amr.filter((a): a is string => typeof a === 'string') : [];
    return {
      userId: String(p.sub), purpose: p.purpose, amr, jti: String(p.jti), expiresAt: Number(p.exp),
      ...(typeof p.dev === 'string' ? { deviceName: p.dev } : {}),
      ...(typeof p.mth === 'string' ? { method: p.mth } : {}),
    };
  } catch {
    throw invalidMfaToken();
  }
}
