/** The access-token key set as one Fastify plugin (`app.keys`); the key material rules are in src/credentials/keys.ts. */
import fp from 'fastify-plugin';
import { getKeys, type KeySet } from '../../credentials/keys';

declare module 'fastify' {
  interface FastifyInstance {
    keys: KeySet;
  }
}

export const keysPlugin = fp(async (app) => {
  const keys = await getKeys(app.config);
  if (keys.generated) {
    app.log.warn(
      `UNSAFE (development only): access tokens are signed with a generated key stored in ${app.config.DATA_DIR}. ` +
        'Set JWT_PRIVATE_KEYS (a JSON array of private JWKs, or a PEM) before production.',
    );
  }
  app.decorate('keys', keys);
}, { name: 'keys', dependencies: ['config'] });
