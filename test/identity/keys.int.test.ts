import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { exportJWK, exportPKCS8, generateKeyPair, SignJWT } from 'jose';
import { loadKeys } from '../../src/credentials/keys';
import { testApp } from '../helpers/app';
import { bearer, signupAndLogin } from '../helpers/auth';

const dir = () => `/tmp/authledger-test/keys-${randomBytes(4).toString('hex')}`;

describe('signing keys', () => {
  it('generates a development key once, persists it (0600) and reuses it', async () => {
    const DATA_DIR = dir();
    const a = await loadKeys({ JWT_ALG: 'EdDSA', DATA_DIR });
    const b = await loadKeys({ JWT_ALG: 'EdDSA', DATA_DIR });
    expect(a.generated).toBe(true);
    expect(b.signing.kid).toBe(a.signing.kid);
    const stat = fs.statSync(`${DATA_DIR}/jwt-signing-key.EdDSA.jwk.json`);
    expect(stat.mode & 0o777).toBe(0o600);
    const es = await loadKeys({ JWT_ALG: 'ES256', DATA_DIR });
    expect(es.signing.alg).toBe('ES256');
    expect(es.jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    // concurrent first starts agree on one key
    const d2 = dir();
    const many = await Promise.all(Array.from({ length: 5 }, () => loadKeys({ JWT_ALG: 'EdDSA', DATA_DIR: d2 })));
    expect(new Set(many.map((k) => k.signing.kid)).size).toBe(1);
  });

  it('JWT_PRIVATE_KEYS: a JWK array (first private key signs, public-only keys still verify) or a PEM', async () => {
    const k1 = await generateKeyPair('EdDSA', { extractable: true });
    const k2 = await generateKeyPair('ES256', { extractable: true });
    const jwks = [
      { ...(await exportJWK(k1.privateKey)), kid: 'new' },
      { ...(await exportJWK(k2.publicKey)), kid: 'retired' },
    ];
    const set = await loadKeys({ JWT_ALG: 'EdDSA', DATA_DIR: dir(), JWT_PRIVATE_KEYS: JSON.stringify(jwks) });
    expect(set.generated).toBe(false);
    expect(set.signing.kid).toBe('new');
    expect([...set.verifying.keys()]).toEqual(['new', 'retired']);
    expect(set.verifying.get('retired')!.alg).toBe('ES256');
    expect(set.jwks.keys.every((k) => k.d === undefined)).toBe(true);

    const pem = await exportPKCS8(k1.privateKey);
    const fromPem = await loadKeys({ JWT_ALG: 'EdDSA', DATA_DIR: dir(), JWT_PRIVATE_KEYS: pem });
    expect(fromPem.signing.alg).toBe('EdDSA');
    expect(fromPem.signing.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses symmetric keys, disallowed algorithms and sets without a private key', async () => {
    const cfg = (v: unknown) => ({ JWT_ALG: 'EdDSA' as const, DATA_DIR: dir(), JWT_PRIVATE_KEYS: JSON.stringify(v) });
    await expect(loadKeys(cfg([{ kty: 'oct', k: 'c2VjcmV0', kid: 'h' }]))).rejects.toThrow(/symmetric|not allowed/);
    const rsaish = await generateKeyPair('EdDSA', { extractable: true });
    await expect(loadKeys(cfg([{ ...(await exportJWK(rsaish.privateKey)), alg: 'HS256', kid: 'x' }]))).rejects.toThrow(/not allowed/);
    await expect(loadKeys(cfg([{ ...(await exportJWK(rsaish.publicKey)), kid: 'pub' }]))).rejects.toThrow(/no private key/);
    await expect(loadKeys({ JWT_ALG: 'EdDSA', DATA_DIR: dir(), JWT_PRIVATE_KEYS: 'not json' })).rejects.toThrow();
  });

  it('ES256 by config end to end; tokens of a retired key still verify until they expire', async () => {
    const current = await generateKeyPair('ES256', { extractable: true });
    const retired = await generateKeyPair('ES256', { extractable: true });
    const JWT_PRIVATE_KEYS = JSON.stringify([
      { ...(await exportJWK(current.privateKey)), kid: 'k2' },
      { ...(await exportJWK(retired.publicKey)), kid: 'k1' },
    ]);
    const t = await testApp('idkeys', { JWT_ALG: 'ES256', JWT_PRIVATE_KEYS });
    try {
      const s = await signupAndLogin(t.app);
      const header = JSON.parse(Buffer.from(s.accessToken.split('.')[0]!, 'base64url').toString());
      expect(header).toMatchObject({ alg: 'ES256', kid: 'k2', typ: 'at+jwt' });
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: bearer(s.accessToken) })).statusCode).toBe(200);
      const old = await new SignJWT({ sid: s.sessionId, roles: ['user'] })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
        .setIssuer('authledger').setAudience('authledger').setSubject(s.userId).setJti('j-old').setIssuedAt().setExpirationTime('5m')
        .sign(retired.privateKey);
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: bearer(old) })).statusCode).toBe(200);
      const jwks = (await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
      expect(jwks.keys.map((k: { kid: string }) => k.kid)).toEqual(['k2', 'k1']);
    } finally {
      await t.close();
    }
  });
});
