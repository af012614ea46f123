/**
 * Social sign-in's infrastructure as one Fastify plugin (issue 13): the configured providers, the
 * protocol client (`app.oauth`, once per process: it caches discovery) and the data-key table
 * (`app.dataKeys`). Rules:
 * - a half-configured provider fails the start (OAuthConfigError lists every problem);
 * - PROVIDER_TOKEN_KEY unset: a key is generated once into DATA_DIR with a loud warning — refused
 *   with NODE_ENV=production when any provider is configured (fail closed).
 */
import fp from 'fastify-plugin';
import type { Config } from '../../config';
import { generateServerKey, parseServerKeys, type ServerKeyRing } from '../../credentials/envelope';
import { loadOrCreateSecretFile } from '../../credentials/dev-secrets';
import { configuredProviders, oauthConfigShape, type ConfiguredProvider } from '../../commands/oauth/providers';
import { createOAuthClient, type OAuthClient } from '../../commands/oauth/client';
import { redisTransactionStore } from '../../commands/oauth/transactions';
import { dataKeyStore, type DataKeyStore } from '../../commands/oauth/data-keys';

declare module 'fastify' {
  interface FastifyInstance {
    oauth: OAuthClient;
    oauthProviders: ConfiguredProvider[];
    dataKeys: DataKeyStore;
    providerKeyRing: ServerKeyRing;
  }
}

/** The environment configuredProviders() reads: the parsed static keys, plus named issuers from the process environment. */
export function oauthEnv(config: Config, env: Record<string, string | undefined> = process.env): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('OAUTH_OIDC_') && !(k in oauthConfigShape)) out[k] = v;
  for (const k of Object.keys(oauthConfigShape)) {
    const v = (config as unknown as Record<string, unknown>)[k];
    if (v !== undefined && v !== '') out[k] = String(v);
  }
  return out;
}

export async function providerKeyRing(config: Config, anyProvider: boolean): Promise<{ ring: ServerKeyRing; generated: boolean }> {
  if (config.PROVIDER_TOKEN_KEY) return { ring: parseServerKeys(config.PROVIDER_TOKEN_KEY), generated: false };
  if (config.NODE_ENV === 'production' && anyProvider) {
    throw new Error('PROVIDER_TOKEN_KEY is required in production when a sign-in provider is configured.');
  }
  const { value } = await loadOrCreateSecretFile(config.DATA_DIR, 'provider-token.key', async () => generateServerKey());
  return { ring: parseServerKeys(value.trim()), generated: true };
}

export const oauthPlugin = fp(async (app) => {
  const providers = configuredProviders(oauthEnv(app.config));
  const { ring, generated } = await providerKeyRing(app.config, providers.length > 0);
  if (generated && providers.length) {
    app.log.warn(
      `UNSAFE (development only): provider tokens are encrypted under a generated key stored in ${app.config.DATA_DIR}. ` +
        'Set PROVIDER_TOKEN_KEY (64 hex digits) before production.',
    );
  }
  app.decorate('oauthProviders', providers);
  app.decorate('providerKeyRing', ring);
  app.decorate('dataKeys', dataKeyStore(app.pg, ring));
  app.decorate('oauth', createOAuthClient(providers, {
    store: redisTransactionStore(app.redis, app.redisPrefix),
    timeoutSeconds: app.config.OAUTH_HTTP_TIMEOUT_SECONDS,
  }));
}, { name: 'oauth', dependencies: ['config', 'pg', 'redis'] });
