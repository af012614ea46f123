/**
 * API key queries: one's own keys (admins: anyone's), with usage. Usage = folded counts in
 * PostgreSQL + the counts still in Redis, so it is exact without a database write per access check.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { cursorInstant, cursorQuery, id } from '../../http/input';
import type { Services } from '../../services';
import { errors } from '../../errors';
import { decodeCursor, encodeCursor, problems } from '../../http/schemas';
import { pendingKeyUsage } from './usage';
import { utcDay } from '../../projections/api-key-usage';

export const apiKeyView = z.object({
  id: z.string(),
  user_id: z.string(),
  name: z.string(),
  prefix: z.string(),
  features: z.union([z.literal('*'), z.array(z.string())]),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
  revoked: z.boolean(),
  revoked_at: z.string().nullable(),
  status: z.enum(['active', 'revoked', 'expired']),
  calls_today: z.number().int(),
});
const usageDay = z.object({ day: z.string(), count: z.number().int() });

interface Row {
  key_id: string;
  user_id: string;
  name: string;
  prefix: string;
  features: '*' | string[];
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  status: string;
  last_used_at: Date | null;
  today: string | null;
}

const COLUMNS = `k.key_id, k.user_id, k.name, k.prefix, k.features, k.created_at, k.expires_at, k.revoked_at, k.status,
  l.last_used_at, u.count::text AS today`;
const FROM = `FROM api_keys k LEFT JOIN api_key_last_used l ON l.key_id = k.key_id
  LEFT JOIN api_key_usage u ON u.key_id = k.key_id AND u.day = $1::date`;
const SELECT = `SELECT ${COLUMNS} ${FROM}`;
/** One key with its daily usage of the last $3 days ([day, count] pairs in day order), in one statement. */
const SELECT_ONE = `SELECT ${COLUMNS},
  (SELECT coalesce(json_agg(json_build_array(to_char(d.day, 'YYYY-MM-DD'), d.count::text) ORDER BY d.day), '[]')
     FROM api_key_usage d WHERE d.key_id = k.key_id AND d.day > current_date - $3::int) AS usage
  ${FROM} WHERE k.key_id = $2`;

type Pending = Awaited<ReturnType<typeof pendingKeyUsage>>;

async function toViews(app: FastifyInstance, rows: Row[]) {
  return viewsOf(rows, await pendingKeyUsage(app.redisReads, app.redisPrefix, rows.map((r) => r.key_id)));
}

function viewsOf(rows: Row[], pending: Pending) {
  const now = Date.now();
  const today = utcDay(now);
  return rows.map((r) => {
    const p = pending.get(r.key_id);
    const lastMs = Math.max(r.last_used_at?.getTime() ?? 0, p?.last ?? 0);
    const expired = r.status === 'expired' || (r.status === 'active' && r.expires_at !== null && r.expires_at.getTime() <= now);
    return {
      id: r.key_id, user_id: r.user_id, name: r.name, prefix: r.prefix, features: r.features,
      created_at: r.created_at.toISOString(), expires_at: r.expires_at?.toISOString() ?? null,
      last_used_at: lastMs ? new Date(lastMs).toISOString() : null,
      revoked: r.status === 'revoked', revoked_at: r.revoked_at?.toISOString() ?? null,
      status: (r.status === 'revoked' ? 'revoked' : expired ? 'expired' : 'active') as 'active' | 'revoked' | 'expired',
      calls_today: Number(r.today ?? 0) + (p?.days[today] ?? 0),
    };
  });
}

const cursorSchema = z.object({ c: cursorInstant, k: id });

export async function apiKeyQueryRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get('/api/v1/api-keys', {
    config: { readModels: ['api_keys'] },
    preHandler: app.authenticate,
    schema: {
      tags: ['api-keys'],
      summary: 'List API keys: one’s own; admins may pass user_id or all=true',
      security: [{ bearer: [] }],
      querystring: cursorQuery.extend({
        user_id: id.optional(),
        all: z.enum(['true', 'false']).optional(),
      }),
      response: { 200: z.object({ items: z.array(apiKeyView), next_cursor: z.string().nullable() }), ...problems(400, 401, 403) },
    },
  }, async (request) => {
    const auth = request.auth!;
    const isAdmin = auth.roles.includes('admin');
    const q = request.query;
    const all = q.all === 'true';
    const userId = q.user_id ?? auth.userId;
    if ((all || userId !== auth.userId) && !isAdmin) throw errors.forbidden('Only admins list other users’ keys.', 'admin_required');
    const after = q.cursor ? decodeCursor(q.cursor, cursorSchema) : undefined;
    if (q.cursor && !after) throw errors.badRequest('The cursor is not valid.', 'invalid_cursor');
    const params: unknown[] = [utcDay(Date.now())];
    const where: string[] = [];
    if (!all) {
      params.push(userId);
      where.push(`k.user_id = $${params.length}`);
    }
    if (after) {
      params.push(after.c, after.k);
      where.push(`(k.created_at, k.key_id) > ($${params.length - 1}::timestamptz, $${params.length})`);
    }
    params.push(q.limit + 1);
    const { rows } = await services.pool.query<Row>(
      `${SELECT} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY k.created_at, k.key_id LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return {
      items: await toViews(app, page),
      next_cursor: rows.length > q.limit && last ? encodeCursor({ c: last.created_at.toISOString(), k: last.key_id }) : null,
    };
  });

  r.get('/api/v1/api-keys/:id', {
    config: { readModels: ['api_keys'] },
    preHandler: app.authenticate,
    schema: {
      tags: ['api-keys'],
      summary: 'One API key with its daily usage (owner or admin)',
      security: [{ bearer: [] }],
      params: z.object({ id }),
      querystring: z.object({ days: z.coerce.number().int().min(1).max(366).default(30) }),
      response: { 200: apiKeyView.extend({ usage: z.array(usageDay) }), ...problems(400, 401, 404) },
    },
  }, async (request) => {
    const auth = request.auth!;
    const keyId = request.params.id;
    // One statement for the key and its daily usage, and the counts not folded yet read beside it
    // (both are needed only for the owner or an admin; a refused read discards them).
    const [{ rows }, pendingAll] = await Promise.all([
      // Named: parsed and planned once per connection.
      services.pool.query<Row & { usage: [string, string][] }>({ name: 'authledger_api_key_one_v1', text: SELECT_ONE, values: [utcDay(Date.now()), keyId, request.query.days] }),
      pendingKeyUsage(app.redisReads, app.redisPrefix, [keyId]),
    ]);
    const row = rows[0];
    if (!row || (row.user_id !== auth.userId && !auth.roles.includes('admin'))) throw errors.notFound('No such API key.', 'api_key_not_found');
    const [view] = viewsOf([row], pendingAll);
    const pending = pendingAll.get(row.key_id)?.days ?? {};
    const days = new Map(row.usage.map(([d, c]) => [d, Number(c)]));
    for (const [d, c] of Object.entries(pending)) days.set(d, (days.get(d) ?? 0) + c);
    return { ...view!, usage: [...days].sort(([a], [b]) => a.localeCompare(b)).map(([day, count]) => ({ day, count })) };
  });
}
