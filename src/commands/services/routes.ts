/**
 * Service registry commands (admin only, issue 14): register, update, deregister a gateway
 * service. The gateway processes see a change within milliseconds (the `services` projection
 * NOTIFYs; src/gateway/registry.ts); the answer is the state the command decided on.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../services';
import { serviceName, type ServiceState } from '../../events/service';
import { metadataFrom } from '../../http/metadata';
import { problems } from '../../http/schemas';
import { runServiceCommand } from './handlers';
import { changesOf, serviceInput, servicePatch, serviceView } from './input';

const params = z.object({ name: serviceName });
const view = (s: ServiceState) => ({ ...s.spec!, down: s.down });

export async function serviceCommandRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post('/api/v1/services', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['gateway'],
      summary: 'Register a gateway service (admin)',
      description: 'Afterwards `GATEWAY_PREFIX/{name}/…` is proxied to its upstreams with its auth policy. Names `v1`, `v2`, … and the API\'s own top-level paths are reserved (400 service_name_reserved).',
      security: [{ bearer: [] }],
      body: serviceInput,
      response: { 201: serviceView, ...problems(400, 401, 403, 409) },
    },
  }, async (request, reply) => {
    const { state } = await runServiceCommand(services, { type: 'RegisterService', spec: request.body }, metadataFrom(request));
    return reply.code(201).send(view(state));
  });

  r.patch('/api/v1/services/:name', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['gateway'],
      summary: 'Change a gateway service (admin); null clears an optional field',
      security: [{ bearer: [] }],
      params,
      body: servicePatch,
      response: { 200: serviceView, ...problems(400, 401, 403, 404) },
    },
  }, async (request) => {
    const { state } = await runServiceCommand(services, { type: 'UpdateService', name: request.params.name, changes: changesOf(request.body) }, metadataFrom(request));
    return view(state);
  });

  r.delete('/api/v1/services/:name', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['gateway'],
      summary: 'Deregister a gateway service (admin)',
      security: [{ bearer: [] }],
      params,
      response: { 204: z.null().describe('Deregistered'), ...problems(400, 401, 403, 404) },
    },
  }, async (request, reply) => {
    await runServiceCommand(services, { type: 'DeregisterService', name: request.params.name }, metadataFrom(request));
    return reply.code(204).send(null);
  });
}
