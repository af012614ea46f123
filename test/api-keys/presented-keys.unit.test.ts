/** Presented keys parsed and hashed once (src/credentials/presented-keys.ts): the same verdicts as parseApiKey + apiKeyMatches. */
import { describe, expect, it } from 'vitest';
import { apiKeyMatches, generateApiKey, parseApiKey } from '../../src/credentials/api-key-format';
import { PresentedKeys } from '../../src/credentials/presented-keys';

const bytes = (hex: string) => Buffer.from(hex, 'hex');

describe('presented keys', () => {
  it('gives parseApiKey\'s verdict and the key\'s SHA-256, and matches exactly where apiKeyMatches does', () => {
    const keys = new PresentedKeys();
    const a = generateApiKey();
    const b = generateApiKey();
    const typo = a.key.slice(0, 30) + (a.key[30] === 'a' ? 'b' : 'a') + a.key.slice(31);
    for (const bad of ['', 'nope', typo, `${a.key}x`]) expect(keys.check(bad)).toEqual(parseApiKey(bad));
    for (let round = 0; round < 2; round++) { // the second round answers from memory
      const pa = keys.check(a.key);
      expect(pa).toMatchObject({ ok: true, keyId: a.keyId });
      if (!pa.ok) throw new Error('unreachable');
      expect(pa.digest.toString('hex')).toBe(a.secretHash);
      expect(keys.matches(a.key, pa, bytes(a.secretHash))).toBe(apiKeyMatches(a.key, a.secretHash));
      expect(keys.matches(a.key, pa, bytes(b.secretHash))).toBe(false);
      expect(keys.matches(a.key, pa, bytes('abcd'))).toBe(false);
      expect(keys.matches(a.key, pa, Buffer.alloc(0))).toBe(false);
    }
  });

  it('remembers only keys that matched, at most max of them', () => {
    const keys = new PresentedKeys(3);
    const size = () => (keys as unknown as { known: Map<string, unknown> }).known.size;
    const k = generateApiKey();
    const p = keys.check(k.key);
    if (!p.ok) throw new Error('unreachable');
    keys.matches(k.key, p, bytes(generateApiKey().secretHash));
    expect(size()).toBe(0);
    for (let i = 0; i < 5; i++) {
      const g = generateApiKey();
      const q = keys.check(g.key);
      if (!q.ok) throw new Error('unreachable');
      expect(keys.matches(g.key, q, bytes(g.secretHash))).toBe(true);
      expect(size()).toBeLessThanOrEqual(3);
    }
    expect(size()).toBeGreaterThan(0);
  });
});
