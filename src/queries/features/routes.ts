/** Feature queries: the list and one feature; admins also see per-day access counts. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { text } from '../../http/input';
import type { Services } from '../../services';
import { errors } from '../../errors';
import { problems } from '../../http/schemas';
import { pendingFeatureUsage } from '../api-keys/usage';

const featureView = z.object({
  name: z.string(),
  description: z.string(),
  enabled: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
});
const usageDay = z.object({ day: z.string(), count: z.number().int() });

interface Row {
  name: string;
  description: string;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}
const view = (r: Row) => ({ name: r.name, description: r.description, enabled: r.enabled, created_at: r.created_at.toISOString(), updated_at: r.updated_at.toISOString() });

export async function featureQueryRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get('/api/v1/features', {
    config: { readModels: ['features'] },
    preHandler: app.authenticate,
    schema: {
      tags: ['features'],
      summary: 'List registered features',
      security: [{ bearer: [] }],
      querystring: z.object({ enabled: z.enum(['true', 'false']).optional() }),
      response: { 200: z.object({ items: z.array(featureView) }), ...problems(400, 401) },
    },
  }, async (request) => {
    const e = request.query.enabled;
    const { rows } = await services.pool.query<Row>(
      `SELECT name, description, enabled, created_at, updated_at FROM features ${e ? 'WHERE enabled = $1' : ''} ORDER BY name LIMIT 1000`,
      e ? [e === 'true'] : [],
    );
    return { items: rows.map(view) };
  });

  r.get('/api/v1/features/:name', {
    config: { readModels: ['features'] },
    preHandler: app.authenticate,
    schema: {
      tags: ['features'],
      summary: 'One feature; admins also get its daily access counts',
      security: [{ bearer: [] }],
      params: z.object({ name: text(64) }),
      querystring: z.object({ days: z.coerce.number().int().min(1).max(366).default(30) }),
      response: { 200: featureView.extend({ usage: z.array(usageDay).optional() }), ...problems(400, 401, 404) },
    },
  }, async (request) => {
    const { rows } = await services.pool.query<Row>('SELECT name, description, enabled, created_at, updated_at FROM features WHERE name = $1', [request.params.name]);
    const row = rows[0];
    if (!row) throw errors.notFound(`No feature ${request.params.name}.`, 'feature_not_found');
    if (!request.auth!.roles.includes('admin')) return view(row);
    const usage = await services.pool.query<{ day: string; count: string }>(
      `SELECT to_char(day, 'YYYY-MM-DD') AS day, count::text FROM feature_usage WHERE feature = $1 AND day > current_date - $2::int ORDER BY day`,
      [row.name, request.query.days],
    );
    const days = new Map(usage.rows.map((u) => [u.day, Number(u.count)]));
    const pending = (await pendingFeatureUsage(app.redisReads, app.redisPrefix, [row.name])).get(row.name) ?? {};
    for (const [d, c] of Object.entries(pending)) days.set(d, (days.get(d) ?? 0) + c);
    return { ...view(row), usage: [...days].sort(([a], [b]) => a.localeCompare(b)).map(([day, count]) => ({ day, count })) };
  });
}
