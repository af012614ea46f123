/**
 * E-mail tokens (verification, password reset) without secrets in the log.
 * Rules:
 * - token = `<tokenId>.<base64url HMAC-SHA-256(key, kind|tokenId)>`: ≥256 bits the holder of the
 *   key can rebuild from the tokenId alone, so the mail worker mails a token the log never held;
 * - the key is HKDF-derived from EMAIL_TOKEN_SECRET, else from PASSWORD_PEPPER, else from a
 *   development secret generated once into DATA_DIR (refused in production by config);
 * - presented tokens are checked by SHA-256 against the stored hash in constant time.
 */
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import type { EmailTokenKind } from '../events/email-token';

const keys = new Map<string, Buffer>();

function devSecret(dataDir: string): string {
  const file = path.join(dataDir, 'email-token-secret');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    fs.mkdirSync(dataDir, { recursive: true });
    try {
      // 'wx': two processes starting together agree on the first file written.
      fs.writeFileSync(file, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
    } catch {
      // written concurrently: read it below
    }
    return fs.readFileSync(file, 'utf8').trim();
  }
}

/** The HMAC key for e-mail tokens (cached per secret source). */
export function emailTokenKey(config: Pick<Config, 'PASSWORD_PEPPER' | 'DATA_DIR'> & { EMAIL_TOKEN_SECRET?: string }): Buffer {
  const secret = config.EMAIL_TOKEN_SECRET ?? config.PASSWORD_PEPPER ?? devSecret(config.DATA_DIR);
  let key = keys.get(secret);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', secret, 'authledger', 'email-token v1', 32));
    keys.set(secret, key);
  }
  return key;
}

export function emailToken(key: Buffer, kind: EmailTokenKind, tokenId: string): string {
  const mac = createHmac('sha256', key).update(`${kind}|${tokenId}`).digest('base64url');
  return `${tokenId}.${mac}`;
}

export function hashEmailToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

const TOKEN = /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/;

/** The tokenId of a well-formed token, or undefined (no lookup needed to reject garbage). */
export function parseEmailToken(token: string): string | undefined {
  return TOKEN.exec(token)?.[1];
}

/** Constant-time comparison of a presented token with a stored hash. */
export function tokenMatches(presented: string, storedHash: string): boolean {
  const a = Buffer.from(hashEmailToken(presented));
  const b = Buffer.from(storedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * E-mail change links (issue 20 §2): `<requestId>.<HMAC(key, link|requestId|userId)>.<userId>`.
 * The user id rides in the token so the link finds its user's stream without a lookup; the MAC
 * covers it, so it cannot be swapped. Confirm and cancel links of one request differ by `link`.
 */
export type EmailChangeLink = 'email-change-confirm' | 'email-change-cancel';

export function emailChangeToken(key: Buffer, link: EmailChangeLink, requestId: string, userId: string): string {
  const mac = createHmac('sha256', key).update(`${link}|${requestId}|${userId}`).digest('base64url');
  return `${requestId}.${mac}.${userId}`;
}

const CHANGE_TOKEN = /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9._:@-]{1,100})$/;

/** The request and user of a well-formed e-mail change token, or undefined. */
export function parseEmailChangeToken(token: string): { requestId: string; userId: string } | undefined {
  const m = CHANGE_TOKEN.exec(token);
  return m ? { requestId: m[1]!, userId: m[3]! } : undefined;
}
