/**
 * Recovery codes (look-up secrets, NIST 800-63B §5.1.2): 10 per set, each 16 characters of a
 * 32-letter alphabet (80 bits from the CSPRNG), shown once as `xxxx-xxxx-xxxx-xxxx`; only their
 * SHA-256 is stored (80 random bits need no slow hash). Matching ignores case, spaces and dashes,
 * and compares every stored hash in constant time.
 */
import { createHash, randomInt } from 'node:crypto';
import { sameHash } from './refresh-tokens';

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32: 5 bits a letter
const LETTERS = 16;

const normalise = (code: string) => code.replace(/[\s-]/g, '').toLowerCase();

export function hashRecoveryCode(code: string): string {
  return createHash('sha256').update(`recovery|${normalise(code)}`, 'utf8').digest('hex');
}

export function newRecoveryCodes(n = RECOVERY_CODE_COUNT): { codes: string[]; hashes: string[] } {
  const codes = Array.from({ length: n }, () => {
    let s = '';
    for (let i = 0; i < LETTERS; i++) s += ALPHABET[randomInt(ALPHABET.length)];
    return s.match(/.{4}/g)!.join('-');
  });
  return { codes, hashes: codes.map(hashRecoveryCode) };
}

/** The index of an unused code of the set matching `code`, or undefined (every hash compared). */
export function matchRecoveryCode(code: string, hashes: readonly string[], used: readonly number[]): number | undefined {
  if (code.length > 64 || normalise(code).length !== LETTERS) return undefined;
  const h = hashRecoveryCode(code);
  let found: number | undefined;
  hashes.forEach((stored, i) => {
    if (sameHash(h, stored) && !used.includes(i)) found = i;
  });
  return found;
}
