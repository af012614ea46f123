import { describe, expect, it } from 'vitest';
import { apiKeyMatches, generateApiKey, hashApiKey, parseApiKey } from '../../src/credentials/api-key-format';

describe('API key format', () => {
  it('has a prefix, the id, a long random secret and a checksum', () => {
    const k = generateApiKey();
    expect(k.key).toMatch(/^alk_[0-9a-f]{16}_[0-9A-Za-z]{38}$/);
    expect(k.key.startsWith(`alk_${k.keyId}_`)).toBe(true);
    expect(k.prefix).toBe(k.key.slice(0, 4 + 16 + 1 + 4));
    expect(k.secretHash).toBe(hashApiKey(k.key));
    expect(k.secretHash).not.toContain(k.key.slice(21, 53));
    expect(parseApiKey(k.key)).toEqual({ ok: true, keyId: k.keyId });
  });

  it('never repeats a secret', () => {
    const seen = new Set(Array.from({ length: 500 }, () => generateApiKey().key.slice(21, 53)));
    expect(seen.size).toBe(500);
  });

  it('rejects a one-character typo by its checksum, without a lookup', () => {
    const k = generateApiKey().key;
    const i = 30;
    const typo = k.slice(0, i) + (k[i] === 'a' ? 'b' : 'a') + k.slice(i + 1);
    expect(parseApiKey(typo)).toEqual({ ok: false, reason: 'checksum' });
    const swapped = k.slice(0, 25) + k[26] + k[25] + k.slice(27);
    if (k[25] !== k[26]) expect(parseApiKey(swapped)).toEqual({ ok: false, reason: 'checksum' });
  });

  it('rejects malformed keys', () => {
    for (const bad of ['', 'alk_', 'nope', 'alk_zz_abc', `${generateApiKey().key}x`, 'x'.repeat(10_000), `ALK_${generateApiKey().key.slice(4)}`]) {
      expect(parseApiKey(bad)).toMatchObject({ ok: false, reason: 'malformed' });
    }
  });

  it('compares digests in constant time and only for equal keys', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(apiKeyMatches(a.key, a.secretHash)).toBe(true);
    expect(apiKeyMatches(b.key, a.secretHash)).toBe(false);
    expect(apiKeyMatches(a.key, 'abcd')).toBe(false);
  });
});
