/**
 * Envelope encryption for secrets that must sit in the append-only log (provider tokens now,
 * TOTP secrets for MFA later). Rules enforced here:
 * - AES-256-GCM everywhere, a fresh 96-bit IV per encryption, the 128-bit tag always checked;
 * - a payload is encrypted under a *data key* (32 random bytes) that belongs to one user and one
 *   scope (e.g. one linked identity); the data key is stored only *wrapped* by a server key
 *   (`PROVIDER_TOKEN_KEY`), outside the log, so destroying the wrapped key (crypto-shredding)
 *   makes every ciphertext under it unreadable for good;
 * - additional authenticated data binds a wrapped key to its user and scope, and a ciphertext to
 *   its context string: a wrapped key or a ciphertext copied to another user or identity fails
 *   to decrypt instead of decrypting "successfully" in the wrong place;
 * - the formats are versioned text (`alk1.` wrapped keys, `alc1.` ciphertexts) so a future scheme
 *   is a new prefix, never a reinterpretation; several server keys may be configured (the first
 *   wraps, all unwrap) so the server key can be rotated by re-wrapping data keys only;
 * - pure: no I/O, no clock; randomness comes from node:crypto unless a test passes its own.
 *
 * Formats (every part base64url, no padding):
 *   wrapped data key   alk1.<serverKeyId>.<iv>.<ciphertext>.<tag>      AAD = "alk1|<serverKeyId>|<userId>|<scope>|<dataKeyId>"
 *   ciphertext         alc1.<dataKeyId>.<iv>.<ciphertext>.<tag>        AAD = "alc1|<dataKeyId>|<context>"
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto';

export type RandomBytes = (n: number) => Buffer;

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const WRAP_PREFIX = 'alk1';
const CIPHER_PREFIX = 'alc1';
/** A generous cap: provider token sets are a few KiB; refuse absurd inputs before any work. */
export const MAX_PLAINTEXT_BYTES = 64 * 1024;

export type EnvelopeErrorCode =
  | 'envelope_server_key_invalid'
  | 'envelope_server_key_unknown'
  | 'envelope_malformed'
  | 'envelope_decrypt_failed'
  | 'envelope_wrong_data_key'
  | 'envelope_too_large';

/** A stable `code`; the message never contains key material or plaintext. */
export class EnvelopeError extends Error {
  constructor(readonly code: EnvelopeErrorCode, message: string) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

export interface ServerKey {
  /** First 8 bytes of SHA-256 of the key, base64url: names the key without revealing it. */
  id: string;
  key: Buffer;
}
/** The configured server keys: `wrapping` wraps new data keys, every key in `all` unwraps. */
export interface ServerKeyRing {
  wrapping: ServerKey;
  all: ServerKey[];
}

/** A data key in clear. Lives in memory only for the duration of one operation. */
export interface DataKey {
  id: string;
  key: Buffer;
}

/** What is stored (outside the log) for one data key. */
export interface WrappedDataKey {
  dataKeyId: string;
  userId: string;
  scope: string;
  wrapped: string;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
function unb64(s: string, what: string): Buffer {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new EnvelopeError('envelope_malformed', `${what} is not base64url`);
  return Buffer.from(s, 'base64url');
}

/** Decodes one 32-byte key given as 64 hex digits, base64 or base64url. */
function decodeServerKey(text: string): Buffer {
  const t = text.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(t)) key = Buffer.from(t.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), 'base64url');
  if (!key || key.length !== KEY_BYTES) {
    throw new EnvelopeError('envelope_server_key_invalid', 'A server key must be 32 bytes given as 64 hex digits or 43 base64url characters.');
  }
  return key;
}

export function serverKeyId(key: Buffer): string {
  return b64(createHash('sha256').update(key).digest().subarray(0, 8));
}

/**
 * Parses `PROVIDER_TOKEN_KEY`: one key, or several separated by commas (rotation: the first wraps
 * new data keys, all of them unwrap).
 */
export function parseServerKeys(value: string): ServerKeyRing {
  const parts = value.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) throw new EnvelopeError('envelope_server_key_invalid', 'No server key given.');
  const all = parts.map((p) => {
    const key = decodeServerKey(p);
    return { id: serverKeyId(key), key };
  });
  return { wrapping: all[0]!, all };
}

/** A new random server key, in the base64url form `parseServerKeys` reads. */
export function generateServerKey(randomBytes: RandomBytes = nodeRandomBytes): string {
  return b64(randomBytes(KEY_BYTES));
}

/** A new data key with a random id. */
export function newDataKey(randomBytes: RandomBytes = nodeRandomBytes): DataKey {
  return { id: b64(randomBytes(12)), key: randomBytes(KEY_BYTES) };
}

function seal(key: Buffer, plaintext: Buffer, aad: string, randomBytes: RandomBytes) {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, ct, tag: cipher.getAuthTag() };
}

function open(key: Buffer, iv: Buffer, ct: Buffer, tag: Buffer, aad: string): Buffer {
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new EnvelopeError('envelope_malformed', 'Bad IV or tag length.');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch {
    throw new EnvelopeError('envelope_decrypt_failed', 'The ciphertext does not decrypt under this key and context.');
  }
}

function splitParts(text: string, prefix: string): [string, string, string, string] {
  if (typeof text !== 'string' || text.length > 4 * MAX_PLAINTEXT_BYTES) throw new EnvelopeError('envelope_malformed', 'Not an envelope string.');
  const parts = text.split('.');
  if (parts.length !== 5 || parts[0] !== prefix) throw new EnvelopeError('envelope_malformed', `Expected a ${prefix} envelope.`);
  return [parts[1]!, parts[2]!, parts[3]!, parts[4]!];
}

const idPattern = /^[A-Za-z0-9_-]{1,64}$/;
const wrapAad = (serverKeyIdValue: string, userId: string, scope: string, dataKeyId: string) =>
  `${WRAP_PREFIX}|${serverKeyIdValue}|${userId}|${scope}|${dataKeyId}`;

/** Wraps a data key for storage, bound to its user and scope. */
export function wrapDataKey(
  ring: ServerKeyRing,
  dataKey: DataKey,
  owner: { userId: string; scope: string },
  randomBytes: RandomBytes = nodeRandomBytes,
): WrappedDataKey {
  if (dataKey.key.length !== KEY_BYTES || !idPattern.test(dataKey.id)) throw new EnvelopeError('envelope_malformed', 'Not a data key.');
  const k = ring.wrapping;
  const { iv, ct, tag } = seal(k.key, dataKey.key, wrapAad(k.id, owner.userId, owner.scope, dataKey.id), randomBytes);
  return { dataKeyId: dataKey.id, userId: owner.userId, scope: owner.scope, wrapped: [WRAP_PREFIX, k.id, b64(iv), b64(ct), b64(tag)].join('.') };
}

/** Unwraps a stored data key; fails when the row was moved to another user or scope. */
export function unwrapDataKey(ring: ServerKeyRing, stored: WrappedDataKey): DataKey {
  const [kid, iv, ct, tag] = splitParts(stored.wrapped, WRAP_PREFIX);
  const k = ring.all.find((s) => s.id === kid);
  if (!k) throw new EnvelopeError('envelope_server_key_unknown', 'The data key was wrapped by a server key that is not configured.');
  const key = open(k.key, unb64(iv, 'iv'), unb64(ct, 'key'), unb64(tag, 'tag'), wrapAad(kid, stored.userId, stored.scope, stored.dataKeyId));
  if (key.length !== KEY_BYTES) throw new EnvelopeError('envelope_malformed', 'Unwrapped key has the wrong length.');
  return { id: stored.dataKeyId, key };
}

/** Re-wraps a stored data key under the ring's current wrapping key (server-key rotation). */
export function rewrapDataKey(ring: ServerKeyRing, stored: WrappedDataKey, randomBytes: RandomBytes = nodeRandomBytes): WrappedDataKey {
  return wrapDataKey(ring, unwrapDataKey(ring, stored), stored, randomBytes);
}

/** The data key id a ciphertext was made with (to find the wrapped key), without decrypting. */
export function ciphertextDataKeyId(ciphertext: string): string {
  return splitParts(ciphertext, CIPHER_PREFIX)[0];
}

/**
 * Encrypts bytes or a UTF-8 string under a data key. `context` (e.g.
 * "provider-tokens|<userId>|<identityId>") must be given again to decrypt.
 */
export function encrypt(dataKey: DataKey, plaintext: Uint8Array | string, context: string, randomBytes: RandomBytes = nodeRandomBytes): string {
  const bytes = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : Buffer.from(plaintext);
  if (bytes.length > MAX_PLAINTEXT_BYTES) throw new EnvelopeError('envelope_too_large', `Plaintext over ${MAX_PLAINTEXT_BYTES} bytes.`);
  const { iv, ct, tag } = seal(dataKey.key, bytes, `${CIPHER_PREFIX}|${dataKey.id}|${context}`, randomBytes);
  return [CIPHER_PREFIX, dataKey.id, b64(iv), b64(ct), b64(tag)].join('.');
}

export function decrypt(dataKey: DataKey, ciphertext: string, context: string): Buffer {
  const [kid, iv, ct, tag] = splitParts(ciphertext, CIPHER_PREFIX);
  const a = Buffer.from(kid);
  const b = Buffer.from(dataKey.id);
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new EnvelopeError('envelope_wrong_data_key', 'The ciphertext was made with another data key.');
  return open(dataKey.key, unb64(iv, 'iv'), unb64(ct, 'ciphertext'), unb64(tag, 'tag'), `${CIPHER_PREFIX}|${kid}|${context}`);
}

export function encryptJson(dataKey: DataKey, value: unknown, context: string, randomBytes?: RandomBytes): string {
  return encrypt(dataKey, JSON.stringify(value), context, randomBytes);
}

export function decryptJson<T = unknown>(dataKey: DataKey, ciphertext: string, context: string): T {
  const text = decrypt(dataKey, ciphertext, context).toString('utf8');
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new EnvelopeError('envelope_malformed', 'The decrypted payload is not JSON.');
  }
}

/** The AAD context of a provider token set: bound to its user and identity. */
export const providerTokensContext = (userId: string, identityId: string) => `provider-tokens|${userId}|${identityId}`;
/** The data-key scope of one linked identity's provider tokens (unlinking destroys it). */
export const identityKeyScope = (identityId: string) => `identity:${identityId}`;
