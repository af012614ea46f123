/** Identity operations for the CLI: signing keys and the password pepper. */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { loadConfig } from '../../config';

export function addIdentityCommands(program: Command): void {
  program
    .command('generate-jwt-key')
    .description('print a new private signing key as JWT_PRIVATE_KEYS (prepend it to the current array to rotate; keep the old one until its tokens expire)')
    .option('--alg <alg>', 'EdDSA (Ed25519) or ES256', 'EdDSA')
    .option('--kid <kid>', 'key id (default: the RFC 7638 thumbprint)')
    .action(async (opts: { alg: string; kid?: string }) => {
      if (opts.alg !== 'EdDSA' && opts.alg !== 'ES256') throw new Error('--alg must be EdDSA or ES256');
      const { privateKey } = await generateKeyPair(opts.alg, { extractable: true });
      const jwk = await exportJWK(privateKey);
      const { d: _d, ...pub } = jwk;
      const kid = opts.kid ?? (await calculateJwkThumbprint(pub));
      console.log(`JWT_ALG=${opts.alg}`);
      console.log(`JWT_PRIVATE_KEYS='${JSON.stringify([{ ...jwk, kid, alg: opts.alg }])}'`);
    });

  program
    .command('generate-pepper')
    .description('print a new PASSWORD_PEPPER (changing it invalidates every stored password hash)')
    .action(() => {
      console.log(`PASSWORD_PEPPER=${randomBytes(48).toString('base64url')}`);
    });

  program
    .command('jwks')
    .description('print the public JWKS of the configured signing keys (what /.well-known/jwks.json serves)')
    .action(async () => {
      const { loadKeys } = await import('../../credentials/keys');
      const keys = await loadKeys(loadConfig());
      console.log(JSON.stringify(keys.jwks, null, 2));
    });
}
