/**
 * The refresh-token format, shared by the write side (issuing, rotating) and the read side
 * (introspection): `<sessionId>.<43 base64url chars>` — 256 bits from the CSPRNG after the
 * session id, which only routes the lookup. Only SHA-256(token) is ever stored.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const SID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** `{sessionId, hash}` of a well-formed refresh token, or undefined. */
export function parseRefreshToken(token: string | undefined): { sessionId: string; hash: string } | undefined {
  if (!token || token.length !== 36 + 1 + 43) return undefined;
  const sessionId = token.slice(0, 36);
  if (token[36] !== '.' || !SID.test(sessionId) || !SECRET.test(token.slice(37))) return undefined;
  return { sessionId, hash: hashRefreshToken(token) };
}

/** Constant-time comparison of two hashes (false when either is missing). */
export function sameHash(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A new refresh token of a session and its stored hash. */
export function newRefreshToken(sessionId: string): { token: string; hash: string } {
  const token = `${sessionId}.${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashRefreshToken(token) };
}
