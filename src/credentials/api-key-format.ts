/**
 * The API key format, shared by the write side (issuing) and the access check (verifying).
 * Rules enforced here:
 * - a key is `alk_<id>_<secret><checksum>`: `alk_` makes leaked keys easy for secret scanners to
 *   spot; `<id>` is 16 hex chars (the key's stream id, so lookups need no secret); `<secret>` is
 *   32 base62 chars from the CSPRNG (≈190 bits); `<checksum>` is the CRC-32 of everything before
 *   it in 6 base62 chars, so typos are rejected without a lookup;
 * - only the SHA-256 of the whole key is stored (a ≥128-bit random secret needs no slow hash);
 * - digests are compared in constant time;
 * - the key never appears in logs: callers keep it out of error messages and events.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const API_KEY_PREFIX = 'alk_';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SECRET_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const KEY_RE = /^alk_([0-9a-f]{16})_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/;
/** Longest string we even look at (keeps regex and hashing cheap on junk input). */
export const API_KEY_MAX_LENGTH = 64;

/** Uniform base62 from the CSPRNG (randomInt rejects biased draws). */
function randomBase62(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[randomInt(62)];
  return out;
}

function base62Fixed(n: number, width: number): string {
  let out = '';
  let v = n >>> 0;
  for (let i = 0; i < width; i++) {
    out = BASE62[v % 62]! + out;
    v = Math.floor(v / 62);
  }
  return out;
}

function checksum(body: string): string {
  return base62Fixed(crc32(body), CHECKSUM_LENGTH);
}

export const newApiKeyId = (): string => randomBytes(8).toString('hex');

export interface GeneratedApiKey {
  keyId: string;
  /** The whole key: shown once, never stored. */
  key: string;
  /** Public start shown in listings (`alk_<id>_<4 chars>`). */
  prefix: string;
  /** SHA-256 (hex) of the whole key: what is stored. */
  secretHash: string;
}

export function generateApiKey(keyId = newApiKeyId()): GeneratedApiKey {
  const body = `${API_KEY_PREFIX}${keyId}_${randomBase62(SECRET_LENGTH)}`;
  const key = body + checksum(body);
  return { keyId, key, prefix: displayPrefix(keyId, key), secretHash: hashApiKey(key) };
}

export function displayPrefix(keyId: string, key: string): string {
  return `${API_KEY_PREFIX}${keyId}_${key.slice(API_KEY_PREFIX.length + keyId.length + 1, API_KEY_PREFIX.length + keyId.length + 5)}`;
}

export const hashApiKey = (key: string): string => createHash('sha256').update(key).digest('hex');

export type ParsedApiKey = { ok: true; keyId: string } | { ok: false; reason: 'malformed' | 'checksum' };

/** Checks shape and checksum without any lookup. */
export function parseApiKey(key: string): ParsedApiKey {
  if (key.length > API_KEY_MAX_LENGTH) return { ok: false, reason: 'malformed' };
  const m = KEY_RE.exec(key);
  if (!m) return { ok: false, reason: 'malformed' };
  const body = key.slice(0, key.length - CHECKSUM_LENGTH);
  if (checksum(body) !== m[3]) return { ok: false, reason: 'checksum' };
  return { ok: true, keyId: m[1]! };
}

/** Constant-time comparison of the presented key's digest with the stored hex digest. */
export function apiKeyMatches(key: string, storedHashHex: string): boolean {
  const presented = createHash('sha256').update(key).digest();
  const stored = Buffer.from(storedHashHex, 'hex');
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}
