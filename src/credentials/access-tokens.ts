/**
 * Access-token verification (RFC 8725, RFC 9068, ASVS 5.0 V9). Rules enforced, in order:
 * - compact JWS of three parts, at most 8 KiB;
 * - protected header holds only `alg`, `typ` and `kid`: `jku`, `jwk`, `x5u`, `x5c`, `crit`, `b64`
 *   or anything else is refused (no key or behaviour may come from the token itself);
 * - `alg` in the fixed allow-list (EdDSA, ES256 — never `none`, never HMAC) and equal to the
 *   algorithm of the key named by `kid`; an unknown `kid` is refused;
 * - `typ` is `at+jwt`; `iss`, `aud` match the config; `exp` (and `nbf` when present) hold with
 *   a small clock skew; `sub`, `sid`, `jti`, `iat`, `exp` are present and well-typed;
 * - then the session `sid` must still be active (SessionGate): logout stops tokens at once.
 * A verified token is remembered by its exact bytes until it expires, so the signature is
 * checked once per token, not once per request.
 */
import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { Config } from '../config';
import { errors } from '../errors';
import type { Role } from '../events/common';
import { ALLOWED_ALGS, type KeySet } from './keys';
import type { AuthContext } from './auth-context';

/** What the verifier asks about a session (the session gate, src/http/session-gate.ts, is one). */
export interface SessionLiveness {
  /** true / false when known without I/O; undefined when it must be asked. */
  known(sessionId: string): boolean | undefined;
  isActive(sessionId: string): Promise<boolean>;
}

export const ACCESS_TOKEN_TYP = 'at+jwt';
export const CLOCK_SKEW_SECONDS = 5;
const MAX_TOKEN_LENGTH = 8192;
const HEADER_ALLOWED = new Set(['alg', 'typ', 'kid']);
const ROLES = new Set<string>(['admin', 'user']);

export const invalidToken = () => errors.unauthorized('The access token is missing, invalid or expired.', 'invalid_token');
export const sessionEnded = () => errors.unauthorized('The session of this access token has ended.', 'session_ended');

export interface IssuedAccessToken {
  token: string;
  expiresIn: number;
  expiresAt: number;
  jti: string;
}

export async function signAccessToken(
  keys: KeySet,
  config: Pick<Config, 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'ACCESS_TOKEN_TTL'>,
  claims: { userId: string; sessionId: string; roles: string[]; sessionExpiresAt?: string; amr?: string[] },
  now = new Date(),
): Promise<IssuedAccessToken> {
  const iat = Math.floor(now.getTime() / 1000);
  let exp = iat + config.ACCESS_TOKEN_TTL;
  if (claims.sessionExpiresAt) exp = Math.min(exp, Math.floor(Date.parse(claims.sessionExpiresAt) / 1000));
  const jti = randomUUID();
  const token = await new SignJWT({ sid: claims.sessionId, roles: claims.roles, ...(claims.amr ? { amr: claims.amr, acr: acrOf(claims.amr) } : {}) })
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

/** Second-factor `amr` values (RFC 8176; `rec` is ours: a recovery code, a look-up secret). */
export const SECOND_FACTOR_AMR = ['otp', 'hwk', 'swk', 'rec'] as const;

/**
 * The `acr` of a login (NIST SP 800-63B-4 authenticator assurance, docs/identity.md "MFA"): `aal2`
 * for a password plus a second factor, or a passkey with user verification (a multi-factor
 * cryptographic authenticator); `aal1` otherwise. Nothing here reaches AAL3 (no attestation).
 */
export function acrOf(amr: readonly string[]): 'aal1' | 'aal2' {
  const second = amr.some((a) => (SECOND_FACTOR_AMR as readonly string[]).includes(a));
  if (second && amr.includes('pwd')) return 'aal2';
  if (amr.includes('hwk') && amr.includes('user')) return 'aal2';
  return 'aal1';
}

export class AccessTokenVerifier {
  private readonly cache = new Map<string, AuthContext>();

  constructor(
    private readonly keys: KeySet,
    private readonly config: Pick<Config, 'JWT_ISSUER' | 'JWT_AUDIENCE'>,
    readonly gate: SessionLiveness,
    private readonly maxCached = 50_000,
  ) {}

  /** Signature and claims only (no session check). Throws a 401 AppError. */
  async verifySignature(token: string): Promise<AuthContext> {
    const hit = this.cache.get(token);
    if (hit) {
      if (hit.expiresAt + CLOCK_SKEW_SECONDS > Date.now() / 1000) return hit;
      this.cache.delete(token);
      throw invalidToken();
    }
    const kid = this.precheck(token);
    const key = this.keys.verifying.get(kid)!;
    let payload;
    try {
      ({ payload } = await jwtVerify(token, key.publicKey, {
        algorithms: [key.alg],
        issuer: this.config.JWT_ISSUER,
        audience: this.config.JWT_AUDIENCE,
        typ: ACCESS_TOKEN_TYP,
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp'],
      }));
    } catch {
      throw invalidToken();
    }
    const { sub, sid, jti, exp, roles } = payload as Record<string, unknown>;
    if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string' || typeof exp !== 'number') throw invalidToken();
    if (roles !== undefined && !(Array.isArray(roles) && roles.every((r) => typeof r === 'string'))) throw invalidToken();
    const auth: AuthContext = {
      userId: sub,
      sessionId: sid,
      roles: ((roles as string[] | undefined) ?? []).filter((r) => ROLES.has(r)) as Role[],
      tokenId: jti,
      expiresAt: exp,
    };
    if (this.cache.size >= this.maxCached) {
      // Drop the oldest entries (Map keeps insertion order).
      let n = Math.ceil(this.maxCached / 10);
      for (const k of this.cache.keys()) {
        this.cache.delete(k);
        if (--n <= 0) break;
      }
    }
    this.cache.set(token, Object.freeze(auth));
    return auth;
  }

  /**
   * The full check's answer when it needs no I/O and passes (a remembered token of a session known
   * active), else undefined: then `verify` decides. For the fast path (src/http/fast-path.ts).
   */
  verifiedNow(token: string): AuthContext | undefined {
    const auth = this.cache.get(token);
    return auth && auth.expiresAt + CLOCK_SKEW_SECONDS > Date.now() / 1000 && this.gate.known(auth.sessionId) === true ? auth : undefined;
  }

  /** Full check: signature, claims, and the session still active. Throws a 401 AppError. */
  async verify(token: string): Promise<AuthContext> {
    const auth = this.cache.get(token);
    if (auth && auth.expiresAt + CLOCK_SKEW_SECONDS > Date.now() / 1000) {
      // Hot path: no crypto, and usually no I/O.
      const known = this.gate.known(auth.sessionId);
      if (known === true) return auth;
      if (known === false) throw sessionEnded();
    }
    const verified = await this.verifySignature(token);
    if (!(await this.gate.isActive(verified.sessionId))) throw sessionEnded();
    return verified;
  }

  /** Structural checks before any cryptography; returns the kid. */
  private precheck(token: string): string {
    if (token.length > MAX_TOKEN_LENGTH) throw invalidToken();
    const dot = token.indexOf('.');
    if (dot <= 0 || token.indexOf('.', dot + 1) < 0 || token.split('.').length !== 3) throw invalidToken();
    let header: unknown;
    try {
      header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'));
    } catch {
      throw invalidToken();
    }
    if (!header || typeof header !== 'object' || Array.isArray(header)) throw invalidToken();
    const h = header as Record<string, unknown>;
    for (const k of Object.keys(h)) if (!HEADER_ALLOWED.has(k)) throw invalidToken();
    if (typeof h.alg !== 'string' || !(ALLOWED_ALGS as readonly string[]).includes(h.alg)) throw invalidToken();
    if (h.typ !== ACCESS_TOKEN_TYP && h.typ !== `application/${ACCESS_TOKEN_TYP}`) throw invalidToken();
    if (typeof h.kid !== 'string') throw invalidToken();
    const key = this.keys.verifying.get(h.kid);
    if (!key || key.alg !== h.alg) throw invalidToken();
    return h.kid;
  }
}
