/**
 * Passwords (NIST SP 800-63B rev 4, OWASP ASVS 5.0 §6.2). Rules enforced here:
 * - length in Unicode code points between PASSWORD_MIN_LENGTH and PASSWORD_MAX_LENGTH, no
 *   composition rules; common / guessable passwords (zxcvbn-ts dictionaries, plus the user's own
 *   e-mail and name) are refused with the reason;
 * - stored as bcrypt(base64(HMAC-SHA-384(pepper, NFKC(password)))) at BCRYPT_COST: the pre-hash
 *   is 64 ASCII bytes, so bcrypt never truncates (no 72-byte limit), and the pepper keeps a
 *   stolen database useless without the server secret;
 * - the strength score (zxcvbn) runs on a worker thread, on a bounded prefix (./strength.ts);
 * - hashing and verifying run on libuv's thread pool (bcrypt's async API): the event loop never
 *   blocks;
 * - verifying for an unknown user still costs one bcrypt compare (a dummy hash), so answers take
 *   the same time whether or not the account exists.
 * Stored format: `hmac-sha384-bcrypt$<bcrypt hash>`. Plain `$2a$/$2b$` hashes (imported from the
 * seed systems, which bcrypt the raw password) still verify, refusing passwords over 72 bytes.
 */
import { createHmac, randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import type { Config } from '../../config';
import { domainError } from '../../errors';
import { loadOrCreateSecretFile } from '../../credentials/dev-secrets';
import { scorePassword } from './strength';

type PasswordConfig = Pick<Config, 'PASSWORD_PEPPER' | 'DATA_DIR' | 'BCRYPT_COST' | 'PASSWORD_MIN_LENGTH' | 'PASSWORD_MAX_LENGTH'>;

const SCHEME = 'hmac-sha384-bcrypt$';

const peppers = new Map<string, Promise<string>>();
/** The server pepper: PASSWORD_PEPPER, else a development pepper generated once into DATA_DIR. */
export function pepperOf(config: Pick<Config, 'PASSWORD_PEPPER' | 'DATA_DIR'>): Promise<string> {
  if (config.PASSWORD_PEPPER) return Promise.resolve(config.PASSWORD_PEPPER);
  let p = peppers.get(config.DATA_DIR);
  if (!p) {
    p = loadOrCreateSecretFile(config.DATA_DIR, 'password-pepper', async () => randomBytes(48).toString('base64url')).then((r) => r.value.trim());
    peppers.set(config.DATA_DIR, p);
  }
  return p;
}

async function preHash(config: PasswordConfig, password: string): Promise<string> {
  const pepper = await pepperOf(config);
  return createHmac('sha384', pepper).update(password.normalize('NFKC'), 'utf8').digest('base64');
}

/** Hashes a password for storage (policy is checked separately, by `checkPasswordPolicy`). */
export async function hashPassword(config: PasswordConfig, password: string): Promise<string> {
  return SCHEME + (await bcrypt.hash(await preHash(config, password), config.BCRYPT_COST));
}

const dummies = new Map<string, Promise<string>>();
function dummyHash(config: PasswordConfig): Promise<string> {
  const k = `${config.BCRYPT_COST}`;
  let p = dummies.get(k);
  if (!p) {
    p = hashPassword(config, randomBytes(24).toString('base64'));
    dummies.set(k, p);
  }
  return p;
}

/**
 * True when `password` matches `stored`. With `stored` undefined (unknown user, or a user
 * without a password) a dummy hash is compared, so the time taken does not reveal which.
 */
export async function verifyPassword(config: PasswordConfig, password: string, stored: string | undefined): Promise<boolean> {
  if (!stored) {
    await bcrypt.compare(await preHash(config, password), (await dummyHash(config)).slice(SCHEME.length));
    return false;
  }
  if (stored.startsWith(SCHEME)) return bcrypt.compare(await preHash(config, password), stored.slice(SCHEME.length));
  if (/^\$2[aby]\$/.test(stored)) {
    // Legacy (seed import): bcrypt of the raw password. Never let bcrypt truncate silently.
    if (Buffer.byteLength(password, 'utf8') > 72) {
      await bcrypt.compare(await preHash(config, password), (await dummyHash(config)).slice(SCHEME.length));
      return false;
    }
    return bcrypt.compare(password, stored);
  }
  await verifyPassword(config, password, undefined);
  return false;
}

/** True when the stored hash should be replaced (legacy scheme or a lower cost than configured). */
export function needsRehash(config: Pick<Config, 'BCRYPT_COST'>, stored: string): boolean {
  if (!stored.startsWith(SCHEME)) return true;
  try {
    return bcrypt.getRounds(stored.slice(SCHEME.length)) < config.BCRYPT_COST;
  } catch {
    return true;
  }
}

export interface PolicyResult {
  ok: boolean;
  /** Why the password is refused (for the user). */
  reason?: string;
  suggestions?: string[];
}

/**
 * The password policy. `userInputs`: e-mail, name… the password must not be built on. The
 * strength score runs off the event loop on a bounded prefix (./strength.ts).
 */
export async function passwordPolicy(config: Pick<Config, 'PASSWORD_MIN_LENGTH' | 'PASSWORD_MAX_LENGTH'>, password: string, userInputs: string[] = []): Promise<PolicyResult> {
  const length = [...password.normalize('NFKC')].length;
  if (length < config.PASSWORD_MIN_LENGTH) return { ok: false, reason: `The password must be at least ${config.PASSWORD_MIN_LENGTH} characters long.` };
  if (length > config.PASSWORD_MAX_LENGTH) return { ok: false, reason: `The password must be at most ${config.PASSWORD_MAX_LENGTH} characters long.` };
  const inputs = userInputs.flatMap((i) => [i, ...i.split(/[@.\s_+-]+/)]).filter((i) => i.length >= 3);
  const result = await scorePassword(password, inputs);
  if (result.score < 2) {
    return {
      ok: false,
      reason: result.warning || 'This password is too common or too easy to guess.',
      suggestions: result.suggestions,
    };
  }
  return { ok: true };
}

/** Throws a 400 `weak_password` problem (with the reason) unless the password passes the policy. */
export async function checkPasswordPolicy(
  config: Pick<Config, 'PASSWORD_MIN_LENGTH' | 'PASSWORD_MAX_LENGTH'>,
  password: string,
  userInputs: string[] = [],
  field = 'password',
): Promise<void> {
  const r = await passwordPolicy(config, password, userInputs);
  if (!r.ok) {
    throw domainError('weak_password', `The password is not acceptable: ${r.reason}`, {
      fields: [{ field, message: r.reason! }],
      extra: { reason: r.reason, suggestions: r.suggestions ?? [] },
    });
  }
}
