/**
 * API key commands: issue (`POST /api/v1/api-keys`, seed `POST /api_key/generate`) and revoke
 * (`DELETE /api/v1/api-keys/{id}`, owner or admin). Rules enforced here:
 * - the key is returned once, in the 201/200 body, and is never stored, logged or evented
 *   (events carry its SHA-256 and its public prefix only);
 * - a key may only name features that exist (or `*`);
 * - the access state is applied inline, so the new key works (and a revoked key stops) at once on
 *   every API process.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../services';
import { errors } from '../../errors';
import { featureName, evolveFeature, initialFeatureState } from '../../events/feature';
import { streams } from '../../events/streams';
import { generateApiKey } from '../../http/api-key-format';
import { metadataFrom } from '../../http/metadata';
import { problems } from '../../http/schemas';
import { accessWritesFor, applyAccessWrites, keyIdsOfUser, type AccessStateWrite } from '../../infra/access-state';
import type { EventMetadata } from '../../events/store';
import { loadAggregate, runAggregate } from './aggregate';
import { apiKeyDecider } from './decide';

const keyIdParam = z.string().regex(/^[0-9a-f]{16}$/, 'an API key id (16 hex characters)');
const featuresIn = z.union([z.literal('*'), z.array(featureName).min(1).max(100)]);

export const issuedKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  features: z.union([z.literal('*'), z.array(z.string())]),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  api_key: z.string().describe('The key. Shown only in this response: store it now.'),
});

async function applyWrites(services: Services, appended: { type: string; data: unknown; revision: bigint }[]) {
  const writes = appended.map(accessWritesFor).filter((w): w is AccessStateWrite => !!w);
  await applyAccessWrites(services.redis, services.prefix, writes);
}

/** Fails with 400 when a named feature is not registered. */
async function checkFeaturesExist(services: Services, features: '*' | string[]): Promise<void> {
  if (features === '*') return;
  const unique = [...new Set(features)];
  const states = await Promise.all(unique.map((f) => loadAggregate(services.store, streams.feature(f), { initialState: initialFeatureState, evolve: evolveFeature })));
  const missing = unique.filter((_, i) => states[i]!.state.status !== 'active');
  if (missing.length) {
    throw errors.validation(missing.map((m) => ({ field: 'features', message: `unknown feature: ${m}` })), 'A named feature does not exist.');
  }
}

export interface IssueApiKeyInput {
  userId: string;
  name: string;
  features: '*' | string[];
  expiresInDays?: number;
}

/** Issues a key for `userId`; returns the one-time key and its public description. */
export async function issueApiKey(services: Services, input: IssueApiKeyInput, metadata: EventMetadata, now = new Date()) {
  await checkFeaturesExist(services, input.features);
  const gen = generateApiKey();
  const expiresAt = input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * 86_400_000).toISOString() : null;
  const result = await runAggregate(services.store, streams.apiKey(gen.keyId), apiKeyDecider, {
    type: 'IssueApiKey', keyId: gen.keyId, userId: input.userId, name: input.name, prefix: gen.prefix, secretHash: gen.secretHash,
    features: input.features, expiresAt,
  }, metadata);
  await applyWrites(services, result.appended);
  return {
    id: gen.keyId, name: input.name, prefix: gen.prefix, features: result.state.features!, created_at: now.toISOString(), expires_at: expiresAt, api_key: gen.key,
  };
}

export async function revokeApiKey(services: Services, keyId: string, actor: { userId: string; isAdmin: boolean }, metadata: EventMetadata, reason?: string): Promise<void> {
  const result = await runAggregate(services.store, streams.apiKey(keyId), apiKeyDecider, {
    type: 'RevokeApiKey', actorUserId: actor.userId, actorIsAdmin: actor.isAdmin, reason,
  }, metadata);
  await applyWrites(services, result.appended);
}

/**
 * Revokes every active key of a user at once (user disabled or deleted). Keys are found through
 * the access state's per-user index, so no read model lag is involved. Returns how many were revoked.
 */
export async function revokeAllApiKeysOfUser(services: Services, userId: string, reason: string, metadata: EventMetadata): Promise<number> {
  const ids = await keyIdsOfUser(services.redis, services.prefix, userId);
  let revoked = 0;
  for (const keyId of ids) {
    const result = await runAggregate(services.store, streams.apiKey(keyId), apiKeyDecider, {
      type: 'RevokeApiKey', actorUserId: userId, actorIsAdmin: true, reason,
    }, metadata).catch((err: { code?: string }) => {
      if (err.code === 'api_key_not_found') return undefined;
      throw err;
    });
    if (result?.appended.length) {
      revoked++;
      await applyWrites(services, result.appended);
    }
  }
  return revoked;
}

function caller(request: FastifyRequest) {
  const auth = request.auth;
  if (!auth) throw errors.unauthorized();
  return { userId: auth.userId, isAdmin: auth.roles.includes('admin') };
}

export async function apiKeyCommandRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post('/api/v1/api-keys', {
    preHandler: app.authenticate,
    schema: {
      tags: ['api-keys'],
      summary: 'Issue an API key (shown once)',
      security: [{ bearer: [] }],
      body: z.object({
        name: z.string().trim().min(1).max(100),
        features: featuresIn.describe('Feature names this key may access, or "*" for all'),
        expires_in_days: z.number().int().min(1).max(3650).optional(),
        user_id: z.string().max(100).optional().describe('Admins only: issue the key for another user'),
      }).strict(),
      response: { 201: issuedKeySchema, ...problems(400, 401, 403) },
    },
  }, async (request, reply) => {
    const me = caller(request);
    const userId = request.body.user_id ?? me.userId;
    if (userId !== me.userId && !me.isAdmin) throw errors.forbidden('Only admins issue keys for other users.', 'admin_required');
    const out = await issueApiKey(services, { userId, name: request.body.name, features: request.body.features, expiresInDays: request.body.expires_in_days }, metadataFrom(request));
    reply.header('cache-control', 'no-store');
    return reply.code(201).send(out);
  });

  r.post('/api_key/generate', {
    preHandler: app.authenticate,
    schema: {
      tags: ['api-keys', 'seed-000'],
      summary: 'Issue an API key (seed-000 path)',
      description: 'Header `Access-Token` (or `Authorization: Bearer`). Without a body the key covers every feature ("*") and never expires.',
      security: [{ accessTokenHeader: [] }, { bearer: [] }],
      body: z.object({
        name: z.string().trim().min(1).max(100).optional(),
        features: featuresIn.optional(),
        expires_in_days: z.number().int().min(1).max(3650).optional(),
      }).nullish(),
      response: { 200: z.object({ api_key: z.string(), id: z.string(), prefix: z.string() }), ...problems(400, 401) },
    },
  }, async (request, reply) => {
    const me = caller(request);
    const body = request.body ?? {};
    const out = await issueApiKey(services, { userId: me.userId, name: body.name ?? 'default', features: body.features ?? '*', expiresInDays: body.expires_in_days }, metadataFrom(request));
    reply.header('cache-control', 'no-store');
    return { api_key: out.api_key, id: out.id, prefix: out.prefix };
  });

  r.delete('/api/v1/api-keys/:id', {
    preHandler: app.authenticate,
    schema: {
      tags: ['api-keys'],
      summary: 'Revoke an API key (owner or admin)',
      security: [{ bearer: [] }],
      params: z.object({ id: keyIdParam }),
      response: { 204: z.null().describe('Revoked'), ...problems(400, 401, 404) },
    },
  }, async (request, reply) => {
    const me = caller(request);
    await revokeApiKey(services, request.params.id, me, metadataFrom(request), me.isAdmin ? 'admin' : 'owner');
    return reply.code(204).send(null);
  });
}
