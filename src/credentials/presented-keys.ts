/**
 * Presented API keys, parsed and hashed once per key instead of once per request (issue 12: the
 * access check's SHA-256 and checksum were a tenth of its CPU). Rules enforced here:
 * - what is remembered is a pure function of the key's exact string: its id and SHA-256 digest,
 *   nothing about the key's state. Whether the key is known, matches its stored hash, is revoked
 *   or expired is decided on every request from the access-state cache and its invalidations
 *   (src/projections/access-state.ts), so revocation stays immediate;
 * - only keys that matched a stored hash are remembered (junk cannot fill the memo), at most
 *   `max` of them (then it starts over); like the access-token cache, it holds the presented
 *   strings in process memory, never anywhere else;
 * - the digest is compared with the stored one in constant time, every time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseApiKey, type ParsedApiKey } from './api-key-format';

export interface PresentedKey {
  keyId: string;
  /** SHA-256 of the whole key. */
  digest: Buffer;
}

export type PresentedCheck = ({ ok: true } & PresentedKey) | Extract<ParsedApiKey, { ok: false }>;

export class PresentedKeys {
  private readonly known = new Map<string, PresentedKey>();

  constructor(private readonly max = 10_000) {}

  /** Shape and checksum (no lookup), and the digest: remembered, or computed now. */
  check(key: string): PresentedCheck {
    const hit = this.known.get(key);
    if (hit) return { ok: true, keyId: hit.keyId, digest: hit.digest };
    const parsed = parseApiKey(key);
    if (!parsed.ok) return parsed;
    return { ok: true, keyId: parsed.keyId, digest: createHash('sha256').update(key).digest() };
  }

  /**
   * Whether the presented key's digest equals the stored one (`storedHash`: its bytes), in
   * constant time; a key that matches is remembered.
   */
  matches(key: string, presented: PresentedKey, storedHash: Buffer): boolean {
    if (storedHash.length !== presented.digest.length || !timingSafeEqual(presented.digest, storedHash)) return false;
    if (!this.known.has(key)) {
      if (this.known.size >= this.max) this.known.clear();
      this.known.set(key, { keyId: presented.keyId, digest: presented.digest });
    }
    return true;
  }
}
