/**
 * Saved read-model queries (admins, each their own): save (or replace by name) and delete.
 * Listed by GET /api/v1/admin/read-models/saved-queries (src/queries/admin-sql/routes.ts).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { id, text } from '../../http/input';
import { metadataFrom } from '../../http/metadata';
import { problems } from '../../http/schemas';
import { streams } from '../../events/streams';
import type { Services } from '../../services';
import { runCommand } from '../decider';
import { savedQueryDecider } from './decide';

const savedOut = z.object({ id: z.string(), name: z.string(), sql: z.string() });

export async function savedQueryCommandRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const security: Record<string, string[]>[] = [{ bearer: [] }, { accessTokenHeader: [] }];

  r.post('/api/v1/admin/read-models/saved-queries', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['admin'],
      summary: 'Save a read-model query under a name (admin; the same name replaces it)',
      security,
      body: z.object({ name: text(100).min(1), sql: text(20_000).min(1) }),
      response: { 201: savedOut, ...problems(400, 401, 403, 409) },
    },
  }, async (request, reply) => {
    const userId = request.auth!.userId;
    const result = await runCommand(services, {
      stream: streams.savedQueries(userId),
      decider: savedQueryDecider,
      command: { type: 'SaveQuery', userId, newId: randomUUID(), name: request.body.name, sql: request.body.sql },
      metadata: metadataFrom(request),
    });
    const saved = [...result.state.queries.values()].find((q) => q.name === request.body.name)!;
    return reply.code(201).send(saved);
  });

  r.delete('/api/v1/admin/read-models/saved-queries/:id', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['admin'],
      summary: 'Delete one of my saved read-model queries (admin)',
      security,
      params: z.object({ id }),
      response: { 204: z.null().describe('Deleted'), ...problems(400, 401, 403, 404) },
    },
  }, async (request, reply) => {
    const userId = request.auth!.userId;
    await runCommand(services, {
      stream: streams.savedQueries(userId),
      decider: savedQueryDecider,
      command: { type: 'DeleteSavedQuery', userId, queryId: request.params.id },
      metadata: metadataFrom(request),
    });
    return reply.code(204).send(null);
  });
}
