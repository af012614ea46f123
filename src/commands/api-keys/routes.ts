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
import { id, text } from '../../http/input';
import type { Services } from '../../services';
import { errors } from '../../errors';
import { featureName } from '../../events/feature';
import { metadataFrom } from '../../http/metadata';
import { problems } from '../../http/schemas';
import { issueApiKey, revokeApiKey } from './handlers';
import { API_KEY_SCOPES } from '../../http/token-clients';

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
        name: text(100).trim().min(1),
        features: featuresIn.optional().describe('Feature names this key may access, or "*" for all (required unless scopes are given)'),
        scopes: z.array(z.enum(API_KEY_SCOPES)).min(1).max(API_KEY_SCOPES.length).optional()
          .describe('Admins only: API scopes beyond features, e.g. tokens:introspect (call POST /api/v1/tokens/verify and /revoke). Listed among the key\'s features; never covered by "*".'),
        expires_in_days: z.number().int().min(1).max(3650).optional(),
        user_id: id.optional().describe('Admins only: issue the key for another user'),
      }).strict(),
      response: { 201: issuedKeySchema, ...problems(400, 401, 403, 404) },
    },
  }, async (request, reply) => {
    const me = caller(request);
    const userId = request.body.user_id ?? me.userId;
    if (userId !== me.userId && !me.isAdmin) throw errors.forbidden('Only admins issue keys for other users.', 'admin_required');
    const { scopes } = request.body;
    if (scopes && !me.isAdmin) throw errors.forbidden('Only admins issue keys with scopes.', 'admin_required');
    if (request.body.features === undefined && !scopes) throw errors.validation([{ field: 'features', message: 'features is required' }]);
    if (request.body.features === '*' && scopes) throw errors.validation([{ field: 'features', message: 'a key with scopes names its features (not "*")' }]);
    // Scopes live among the key's features: feature names cannot contain ':', scope names all do.
    const features = scopes ? [...((request.body.features as string[] | undefined) ?? []), ...scopes] : request.body.features!;
    // issue 17: a key for everything needs the caller's step-up (checked first, as issueApiKey reads it).
    const stepUp = features === '*' ? request.auth! : undefined;
    const out = await issueApiKey(services, { userId, name: request.body.name, features, expiresInDays: request.body.expires_in_days, stepUp }, metadataFrom(request));
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
        name: text(100).trim().min(1).optional(),
        features: featuresIn.optional(),
        expires_in_days: z.number().int().min(1).max(3650).optional(),
      }).nullish(),
      response: { 200: z.object({ api_key: z.string(), id: z.string(), prefix: z.string() }), ...problems(400, 401, 403, 404) },
    },
  }, async (request, reply) => {
    const me = caller(request);
    const body = request.body ?? {};
    const features = body.features ?? '*';
    const stepUp = features === '*' ? request.auth! : undefined; // issue 17
    const out = await issueApiKey(services, { userId: me.userId, name: body.name ?? 'default', features, expiresInDays: body.expires_in_days, stepUp }, metadataFrom(request));
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
