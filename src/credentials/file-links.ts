/**
 * Share links of files (issue 15): `/api/v1/file-links/<linkId>?expires=<unix s>&signature=<sig>`.
 * Rules:
 * - sig = base64url HMAC-SHA-256(key, "file-link|<linkId>|<expires>"): only the server can make
 *   one, and the link's expiry cannot be stretched by editing the URL;
 * - the log holds the link id and its expiry (FileShared), never the signature; the signature is
 *   the bearer part of the URL, so the access log writes route patterns only (src/http/access-log.ts)
 *   and `signature` is a secret query name for redactUrl (src/infra/logger.ts);
 * - the key is HKDF-derived from UPLOAD_LINK_SECRET, else from the e-mail token key (itself from
 *   EMAIL_TOKEN_SECRET / PASSWORD_PEPPER / a development secret);
 * - signatures are compared in constant time.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config';
import { emailTokenKey } from './email-tokens';

const keys = new Map<string, Buffer>();

export function fileLinkKey(config: Pick<Config, 'PASSWORD_PEPPER' | 'DATA_DIR' | 'UPLOAD_LINK_SECRET'> & { EMAIL_TOKEN_SECRET?: string }): Buffer {
  const source = config.UPLOAD_LINK_SECRET ?? emailTokenKey(config).toString('base64url');
  let key = keys.get(source);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', source, 'authledger', 'file-link v1', 32));
    keys.set(source, key);
  }
  return key;
}

export function signFileLink(key: Buffer, linkId: string, expiresUnix: number): string {
  return createHmac('sha256', key).update(`file-link|${linkId}|${expiresUnix}`).digest('base64url');
}

export function fileLinkSignatureValid(key: Buffer, linkId: string, expiresUnix: number, presented: string): boolean {
  const a = Buffer.from(signFileLink(key, linkId, expiresUnix));
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

export const fileLinkPath = (linkId: string, expiresUnix: number, signature: string): string =>
  `/api/v1/file-links/${encodeURIComponent(linkId)}?expires=${expiresUnix}&signature=${signature}`;
