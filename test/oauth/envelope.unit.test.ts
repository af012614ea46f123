import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import {
  ciphertextDataKeyId, decrypt, decryptJson, encrypt, encryptJson, EnvelopeError, generateServerKey, newDataKey,
  parseServerKeys, providerTokensContext, rewrapDataKey, unwrapDataKey, wrapDataKey, MAX_PLAINTEXT_BYTES,
} from '../../src/credentials/envelope';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EnvelopeError);
    return (err as EnvelopeError).code;
  }
  throw new Error('expected an EnvelopeError');
};
const owner = { userId: 'u1', scope: 'identity:i1' };

describe('envelope encryption', () => {
  const ring = parseServerKeys(generateServerKey());

  it('round-trips a payload through a wrapped data key', () => {
    const dk = newDataKey();
    const stored = wrapDataKey(ring, dk, owner);
    expect(stored.wrapped.startsWith(`alk1.${ring.wrapping.id}.`)).toBe(true);
    const ctx = providerTokensContext('u1', 'i1');
    const ct = encryptJson(dk, { access_token: 'secret-at', refresh_token: 'secret-rt' }, ctx);
    expect(ct.startsWith(`alc1.${dk.id}.`)).toBe(true);
    expect(ct).not.toContain('secret');
    expect(ciphertextDataKeyId(ct)).toBe(dk.id);
    const again = unwrapDataKey(ring, stored);
    expect(decryptJson(again, ct, ctx)).toEqual({ access_token: 'secret-at', refresh_token: 'secret-rt' });
  });

  it('uses a fresh IV each time', () => {
    const dk = newDataKey();
    expect(encrypt(dk, 'same', 'c')).not.toBe(encrypt(dk, 'same', 'c'));
  });

  it('accepts hex and base64 server keys and refuses anything not 32 bytes', () => {
    const raw = randomBytes(32);
    expect(parseServerKeys(raw.toString('hex')).wrapping.key.equals(raw)).toBe(true);
    expect(parseServerKeys(raw.toString('base64')).wrapping.key.equals(raw)).toBe(true);
    expect(parseServerKeys(raw.toString('base64url')).wrapping.key.equals(raw)).toBe(true);
    for (const bad of ['', 'short', randomBytes(16).toString('hex'), randomBytes(33).toString('base64url'), 'z'.repeat(64)]) {
      expect(code(() => parseServerKeys(bad))).toBe('envelope_server_key_invalid');
    }
  });

  it('refuses a wrapped key moved to another user or scope, or tampered with', () => {
    const stored = wrapDataKey(ring, newDataKey(), owner);
    expect(code(() => unwrapDataKey(ring, { ...stored, userId: 'u2' }))).toBe('envelope_decrypt_failed');
    expect(code(() => unwrapDataKey(ring, { ...stored, scope: 'identity:i2' }))).toBe('envelope_decrypt_failed');
    expect(code(() => unwrapDataKey(ring, { ...stored, dataKeyId: 'other' }))).toBe('envelope_decrypt_failed');
    const parts = stored.wrapped.split('.');
    const ct = Buffer.from(parts[3]!, 'base64url');
    ct[0] = ct[0]! ^ 1;
    parts[3] = ct.toString('base64url');
    expect(code(() => unwrapDataKey(ring, { ...stored, wrapped: parts.join('.') }))).toBe('envelope_decrypt_failed');
  });

  it('refuses a ciphertext under another context, another data key, or with a flipped bit', () => {
    const dk = newDataKey();
    const ct = encrypt(dk, 'payload', providerTokensContext('u1', 'i1'));
    expect(code(() => decrypt(dk, ct, providerTokensContext('u1', 'i2')))).toBe('envelope_decrypt_failed');
    expect(code(() => decrypt(dk, ct, providerTokensContext('u2', 'i1')))).toBe('envelope_decrypt_failed');
    expect(code(() => decrypt(newDataKey(), ct, providerTokensContext('u1', 'i1')))).toBe('envelope_wrong_data_key');
    const parts = ct.split('.');
    for (const i of [2, 3, 4]) {
      const copy = [...parts];
      const b = Buffer.from(copy[i]!, 'base64url');
      b[b.length - 1] = b[b.length - 1]! ^ 0x80;
      copy[i] = b.toString('base64url');
      expect(['envelope_decrypt_failed', 'envelope_malformed']).toContain(code(() => decrypt(dk, copy.join('.'), providerTokensContext('u1', 'i1'))));
    }
  });

  it('refuses malformed envelopes with a clear code', () => {
    const dk = newDataKey();
    for (const bad of ['', 'alc1', 'alc1.a.b.c', 'alk1.a.b.c.d', `alc1.${dk.id}.!!.b.c`, 'alc2.a.b.c.d', 'alc1.a.b.c.d.e']) {
      expect(['envelope_malformed', 'envelope_wrong_data_key']).toContain(code(() => decrypt(dk, bad, 'c')));
    }
    expect(code(() => encrypt(dk, Buffer.alloc(MAX_PLAINTEXT_BYTES + 1), 'c'))).toBe('envelope_too_large');
  });

  it('rotates the server key: the old key still unwraps, rewrap moves to the new one', () => {
    const oldKey = generateServerKey();
    const oldRing = parseServerKeys(oldKey);
    const dk = newDataKey();
    const stored = wrapDataKey(oldRing, dk, owner);
    const ct = encrypt(dk, 'x', 'c');
    const newKey = generateServerKey();
    const rotated = parseServerKeys(`${newKey},${oldKey}`);
    expect(decrypt(unwrapDataKey(rotated, stored), ct, 'c').toString()).toBe('x');
    const rewrapped = rewrapDataKey(rotated, stored);
    expect(rewrapped.wrapped.split('.')[1]).toBe(rotated.wrapping.id);
    expect(decrypt(unwrapDataKey(parseServerKeys(newKey), rewrapped), ct, 'c').toString()).toBe('x');
    expect(code(() => unwrapDataKey(parseServerKeys(newKey), stored))).toBe('envelope_server_key_unknown');
  });

  it('crypto-shredding: once the wrapped key is gone, no key in the ring decrypts the ciphertext', () => {
    const dk = newDataKey();
    const ct = encrypt(dk, 'refresh-token-value', 'c');
    // Only the server key ring and the ciphertext remain: neither alone yields the plaintext.
    for (const k of ring.all) {
      expect(code(() => decrypt({ id: dk.id, key: k.key }, ct, 'c'))).toBe('envelope_decrypt_failed');
    }
  });
});
