/**
 * Access-token signing key material (the Fastify plugin `app.keys` is src/http/plugins/keys.ts). Rules:
 * - asymmetric only: EdDSA (Ed25519) by default, ES256 by JWT_ALG; never HMAC;
 * - JWT_PRIVATE_KEYS is a JSON array of JWKs (private ones can sign, the first private one does;
 *   public-only ones are retired keys that still verify) or one PKCS#8 PEM;
 * - without it a key is generated once into DATA_DIR (a loud development-only warning;
 *   production refuses to start, see `unsafeDefaults`);
 * - every key has a `kid` (RFC 7638 thumbprint when the JWK has none); the JWKS lists every
 *   verifying key's public part.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, importPKCS8, type CryptoKey, type JWK } from 'jose';
import type { Config } from '../config';
import { loadOrCreateSecretFile } from './dev-secrets';

export type SigningAlg = 'EdDSA' | 'ES256';
export const ALLOWED_ALGS: readonly SigningAlg[] = ['EdDSA', 'ES256'];

export interface VerifyingKey {
  kid: string;
  alg: SigningAlg;
  publicKey: CryptoKey;
}

export interface KeySet {
  /** The key new tokens are signed with. */
  signing: { kid: string; alg: SigningAlg; privateKey: CryptoKey };
  /** Every key a token may be signed with, by kid. */
  verifying: Map<string, VerifyingKey>;
  jwks: { keys: JWK[] };
  /** True when the key is a generated development key. */
  generated: boolean;
}

type KeyConfig = Pick<Config, 'JWT_ALG' | 'JWT_PRIVATE_KEYS' | 'DATA_DIR'>;

function algOf(jwk: JWK, fallback: SigningAlg): SigningAlg {
  if (jwk.alg) {
    if (!(ALLOWED_ALGS as readonly string[]).includes(jwk.alg)) throw new Error(`JWT key ${jwk.kid ?? ''}: algorithm ${jwk.alg} is not allowed (EdDSA, ES256)`);
    return jwk.alg as SigningAlg;
  }
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'oct') throw new Error('JWT keys must be asymmetric (Ed25519 or P-256); symmetric keys are refused');
  return fallback;
}

const publicPart = (jwk: JWK): JWK => {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, key_ops: _ops, ext: _ext, ...pub } = jwk as JWK & Record<string, unknown>;
  return pub as JWK;
};

async function fromJwks(list: JWK[], fallback: SigningAlg, generated: boolean): Promise<KeySet> {
  const verifying = new Map<string, VerifyingKey>();
  const jwks: JWK[] = [];
  let signing: KeySet['signing'] | undefined;
  for (const raw of list) {
    const alg = algOf(raw, fallback);
    const kid = raw.kid ?? (await calculateJwkThumbprint(publicPart(raw)));
    if (verifying.has(kid)) throw new Error(`JWT keys: duplicate kid ${kid}`);
    const pub = { ...publicPart(raw), kid, alg, use: 'sig' };
    verifying.set(kid, { kid, alg, publicKey: (await importJWK(pub, alg)) as CryptoKey });
    jwks.push(pub);
    if (!signing && raw.d) signing = { kid, alg, privateKey: (await importJWK({ ...raw, kid, alg }, alg)) as CryptoKey };
  }
  if (!signing) throw new Error('JWT_PRIVATE_KEYS holds no private key to sign with');
  return { signing, verifying, jwks: { keys: jwks }, generated };
}

async function generateJwk(alg: SigningAlg): Promise<string> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicPart(jwk));
  return JSON.stringify({ ...jwk, kid, alg }, null, 2);
}

/** Loads (or, in development, generates once) the signing keys described by the config. */
export async function loadKeys(config: KeyConfig): Promise<KeySet> {
  const raw = config.JWT_PRIVATE_KEYS?.trim();
  if (raw) {
    if (raw.startsWith('-----BEGIN')) {
      const key = await importPKCS8(raw.replaceAll('\\n', '\n'), config.JWT_ALG, { extractable: true });
      return fromJwks([await exportJWK(key)], config.JWT_ALG, false);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new Error('JWT_PRIVATE_KEYS is neither a JSON array of JWKs nor a PEM');
    }
    const list = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown }).keys ?? [parsed];
    return fromJwks(list as JWK[], config.JWT_ALG, false);
  }
  const { value } = await loadOrCreateSecretFile(config.DATA_DIR, `jwt-signing-key.${config.JWT_ALG}.jwk.json`, () => generateJwk(config.JWT_ALG));
  return fromJwks([JSON.parse(value) as JWK], config.JWT_ALG, true);
}

const cache = new Map<string, Promise<KeySet>>();
/** Memoised per configuration: every app/command in a process shares one key set. */
export function getKeys(config: KeyConfig): Promise<KeySet> {
  const k = `${config.JWT_ALG}\u0000${config.JWT_PRIVATE_KEYS ?? ''}\u0000${config.DATA_DIR}`;
  let p = cache.get(k);
  if (!p) {
    p = loadKeys(config);
    p.catch(() => cache.delete(k));
    cache.set(k, p);
  }
  return p;
}
