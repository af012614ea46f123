/** Service registry queries (admin only): the list and one service, from the `services` read model. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../services';
import { errors } from '../../errors';
import { serviceName, serviceSpec } from '../../events/service';
import { problems } from '../../http/schemas';
import { findService, listServices, type ServiceRow } from '../../projections/services';

const serviceOut = serviceSpec.extend({
  down: z.array(z.string()).describe('Upstreams last marked down by health checks'),
  created_at: z.string(),
  updated_at: z.string(),
});
const view = (r: ServiceRow) => ({ ...r.spec, down: r.down, created_at: r.created_at.toISOString(), updated_at: r.updated_at.toISOString() });

export async function serviceQueryRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get('/api/v1/services', {
    config: { readModels: ['services'] },
    preHandler: app.requireAdmin,
    schema: {
      tags: ['gateway'],
      summary: 'List gateway services (admin)',
      security: [{ bearer: [] }],
      response: { 200: z.object({ items: z.array(serviceOut) }), ...problems(401, 403) },
    },
  }, async () => ({ items: (await listServices(services.pool)).map(view) }));

  r.get('/api/v1/services/:name', {
    config: { readModels: ['services'] },
    preHandler: app.requireAdmin,
    schema: {
      tags: ['gateway'],
      summary: 'One gateway service (admin)',
      security: [{ bearer: [] }],
      params: z.object({ name: serviceName }),
      response: { 200: serviceOut, ...problems(400, 401, 403, 404) },
    },
  }, async (request) => {
    const row = await findService(services.pool, request.params.name);
    if (!row) throw errors.notFound(`No service ${request.params.name}.`, 'service_not_found');
    return view(row);
  });
}
