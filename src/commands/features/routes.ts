/**
 * Feature commands (admin only): register, update (description, enable/disable), delete; and the
 * seed-000 path `POST /feature/register`. Each command applies the access state inline, so the
 * access check on any process sees the change at once.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { text } from '../../http/input';
import type { Services } from '../../services';
import { featureName } from '../../events/feature';
import { streams } from '../../events/streams';
import { metadataFrom } from '../../http/metadata';
import { problems } from '../../http/schemas';
import { runCommand } from '../decider';
import { featureDecider, type FeatureCommand } from './decide';
import type { FeatureState } from '../../events/feature';
import type { FastifyRequest } from 'fastify';

const featureOut = z.object({ name: z.string(), description: z.string(), enabled: z.boolean() });
const nameParams = z.object({ name: featureName });
const description = text(1000);

export async function runFeatureCommand(services: Services, command: FeatureCommand, request: FastifyRequest): Promise<FeatureState> {
  const result = await runCommand(services, { stream: streams.feature(command.name), decider: featureDecider, command, metadata: metadataFrom(request) });
  return result.state;
}

const view = (s: FeatureState) => ({ name: s.name!, description: s.description, enabled: s.enabled });

export async function featureCommandRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post('/api/v1/features', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['features'],
      summary: 'Register a feature (admin)',
      security: [{ bearer: [] }],
      body: z.object({ name: featureName, description: description.default('') }),
      response: { 201: featureOut, ...problems(400, 401, 403, 409) },
    },
  }, async (request, reply) => {
    const state = await runFeatureCommand(services, { type: 'RegisterFeature', ...request.body }, request);
    return reply.code(201).send(view(state));
  });

  r.post('/feature/register', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['features', 'seed-000'],
      summary: 'Register a feature (admin; seed-000 path)',
      description: 'Accepts `name` or `feature_name`. Same as POST /api/v1/features.',
      security: [{ bearer: [] }, { accessTokenHeader: [] }],
      body: z.object({ name: featureName.optional(), feature_name: featureName.optional(), description: description.default('') })
        .refine((b) => !!(b.name ?? b.feature_name), { message: 'name is required', path: ['name'] }),
      response: { 201: featureOut, ...problems(400, 401, 403, 409) },
    },
  }, async (request, reply) => {
    const name = (request.body.name ?? request.body.feature_name)!;
    const state = await runFeatureCommand(services, { type: 'RegisterFeature', name, description: request.body.description }, request);
    return reply.code(201).send(view(state));
  });

  r.patch('/api/v1/features/:name', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['features'],
      summary: 'Update a feature: description, enable / disable (admin)',
      security: [{ bearer: [] }],
      params: nameParams,
      body: z.object({ description: description.optional(), enabled: z.boolean().optional() }).strict(),
      response: { 200: featureOut, ...problems(400, 401, 403, 404) },
    },
  }, async (request) => {
    const state = await runFeatureCommand(services, { type: 'UpdateFeature', name: request.params.name, ...request.body }, request);
    return view(state);
  });

  r.delete('/api/v1/features/:name', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['features'],
      summary: 'Delete a feature (admin); keys naming it stop granting it',
      security: [{ bearer: [] }],
      params: nameParams,
      response: { 204: z.null().describe('Deleted'), ...problems(400, 401, 403, 404) },
    },
  }, async (request, reply) => {
    await runFeatureCommand(services, { type: 'DeleteFeature', name: request.params.name }, request);
    return reply.code(204).send(null);
  });
}
