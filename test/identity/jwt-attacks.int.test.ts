/**
 * Each JWT attack of RFC 8725 / ASVS V9 against /verify, /me and introspection. Tokens are
 * forged byte by byte (not through a JWT library that would refuse to build them); a forged
 * token with a correct header is accepted first, so every refusal below is meaningful.
 */
import { createHmac, generateKeyPairSync, webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, type CryptoKey } from 'jose';
import { getKeys, type KeySet } from '../../src/credentials/keys';
import { testApp } from '../helpers/app';
import { bearer, signupAndLogin, type LoggedIn } from '../helpers/auth';
import { TOKEN_CLIENT_ENV, tokenClientAuth } from '../helpers/security';

const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function signEd25519(header: object, payload: object, key: CryptoKey): Promise<string> {
  const input = `${enc(header)}.${enc(payload)}`;
  const sig = await webcrypto.subtle.sign('Ed25519', key as unknown as webcrypto.CryptoKey, Buffer.from(input));
  return `${input}.${Buffer.from(sig).toString('base64url')}`;
}

describe('JWT verification hardening', () => {
  let t: Awaited<ReturnType<typeof testApp>>;
  let keys: KeySet;
  let s: LoggedIn;
  let claims: Record<string, unknown>;
  let header: Record<string, unknown>;
  const verify = (token: string) => t.app.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: bearer(token) });

  beforeAll(async () => {
    t = await testApp('idjwt', TOKEN_CLIENT_ENV);
    keys = await getKeys(t.services.config);
    s = await signupAndLogin(t.app);
    const [h, p] = s.accessToken.split('.').slice(0, 2).map((x) => JSON.parse(Buffer.from(x, 'base64url').toString()));
    header = h;
    claims = p;
  });
  afterAll(async () => t.close());

  const forge = (h: object, p: object = claims) => signEd25519(h, p, keys.signing.privateKey);

  it('control: a re-forged token with the right header and claims is accepted', async () => {
    expect((await verify(await forge(header))).statusCode).toBe(200);
    expect((await verify(s.accessToken)).statusCode).toBe(200);
  });

  it('alg: none is refused', async () => {
    const token = `${enc({ ...header, alg: 'none' })}.${enc(claims)}.`;
    expect((await verify(token)).statusCode).toBe(401);
    const noneNoSig = `${enc({ alg: 'none', typ: 'at+jwt' })}.${enc(claims)}.`;
    expect((await verify(noneNoSig)).statusCode).toBe(401);
  });

  it('HMAC with the public key as secret (algorithm confusion) is refused', async () => {
    const pub = keys.jwks.keys[0]!;
    const secrets = [JSON.stringify(pub), Buffer.from(String(pub.x), 'base64url'), String(pub.x)];
    for (const secret of secrets) {
      for (const alg of ['HS256', 'HS384', 'HS512']) {
        const input = `${enc({ ...header, alg })}.${enc(claims)}`;
        const sig = createHmac(`sha${alg.slice(2)}`, secret).update(input).digest('base64url');
        expect((await verify(`${input}.${sig}`)).statusCode).toBe(401);
      }
    }
  });

  it('an unknown kid, a missing kid, and a kid whose key has another algorithm are refused', async () => {
    const attacker = await webcrypto.subtle.generateKey('Ed25519', true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
    expect((await verify(await signEd25519({ ...header, kid: 'attacker' }, claims, attacker.privateKey as unknown as CryptoKey))).statusCode).toBe(401);
    expect((await verify(await signEd25519({ ...header, kid: header.kid }, claims, attacker.privateKey as unknown as CryptoKey))).statusCode).toBe(401);
    const { kid: _kid, ...noKid } = header;
    expect((await verify(await forge(noKid))).statusCode).toBe(401);
    expect((await verify(await forge({ ...header, alg: 'ES256' }))).statusCode).toBe(401);
  });

  it('jku, jwk, x5u, x5c and crit headers are refused, even with a valid signature', async () => {
    const attacker = generateKeyPairSync('ed25519');
    const jwk = await exportJWK(attacker.publicKey);
    for (const extra of [
      { jku: 'https://evil.test/jwks.json' },
      { jwk },
      { x5u: 'https://evil.test/cert.pem' },
      { x5c: ['MIIB'] },
      { crit: ['exp'] },
      { crit: ['b64'], b64: false },
    ]) {
      expect((await verify(await forge({ ...header, ...extra }))).statusCode, JSON.stringify(extra)).toBe(401);
    }
  });

  it('typ must be at+jwt', async () => {
    expect((await verify(await forge({ ...header, typ: 'JWT' }))).statusCode).toBe(401);
    const { typ: _typ, ...noTyp } = header;
    expect((await verify(await forge(noTyp))).statusCode).toBe(401);
    expect((await verify(await forge({ ...header, typ: 'application/at+jwt' }))).statusCode).toBe(200);
  });

  it('iss, aud, exp, nbf and the required claims are checked', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: Record<string, unknown>[] = [
      { ...claims, iss: 'someone-else' },
      { ...claims, aud: 'another-api' },
      { ...claims, exp: now - 60 },
      { ...claims, nbf: now + 600 },
      { ...claims, iat: undefined },
      { ...claims, sid: undefined },
      { ...claims, jti: undefined },
      { ...claims, sub: undefined },
      { ...claims, roles: 'admin' },
    ];
    for (const p of cases) expect((await verify(await forge(header, p))).statusCode, JSON.stringify(p)).toBe(401);
    // a small clock skew is tolerated
    expect((await verify(await forge(header, { ...claims, nbf: now + 2 }))).statusCode).toBe(200);
  });

  it('a tampered payload with the original signature is refused (e.g. escalating roles)', async () => {
    const [h, , sig] = s.accessToken.split('.');
    const tampered = `${h}.${enc({ ...claims, roles: ['admin', 'user'] })}.${sig}`;
    expect((await verify(tampered)).statusCode).toBe(401);
  });

  it('a well-signed token of a session that does not exist is refused', async () => {
    expect((await verify(await forge(header, { ...claims, sid: crypto.randomUUID(), jti: crypto.randomUUID() }))).statusCode).toBe(401);
  });

  it('garbage of every shape is a 401, never a 500', async () => {
    for (const token of ['', 'a', 'a.b', 'a.b.c', 'a.b.c.d', '..', `${enc([1])}.${enc(claims)}.x`, `${enc('str')}.x.y`, 'x'.repeat(9000)]) {
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/auth/verify', headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode, token.slice(0, 20)).toBe(401);
    }
    const intro = await t.app.inject({ method: 'POST', url: '/api/v1/tokens/verify', headers: tokenClientAuth, payload: { token: `${enc({ ...header, alg: 'none' })}.${enc(claims)}.` } });
    expect(intro.json()).toEqual({ active: false });
  });
});
