/**
 * User queries: the list (admin; cursor pagination; search by e-mail or name) from the `users`
 * read model, and one user (admin or self) from the identity Redis profile, which commands
 * update inline — so a GET right after a PATCH sees it (read-your-writes) — with the read model
 * as a fallback. Both carry the user stream revision (`ETag`, for `If-Match`).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { cursorInstant, cursorQuery, id, text } from '../../http/input';
import type { Services } from '../../services';
import { errors } from '../../errors';
import { decodeCursor, encodeCursor, problems } from '../../http/schemas';
import { parseUserProfile, userProfileKey } from '../../projections/session-state';

const userView = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  roles: z.array(z.string()),
  email_verified: z.boolean(),
  disabled: z.boolean(),
  source: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  revision: z.number().int(),
});
type UserView = z.infer<typeof userView>;

interface Row {
  id: string;
  email: string;
  name: string;
  roles: unknown;
  email_verified: boolean;
  disabled: boolean;
  deleted: boolean;
  source: string | null;
  created_at: Date;
  updated_at: Date;
  revision: string | number;
}

function rolesOf(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String).sort();
  if (typeof v === 'string') {
    try {
      const parsed = JSON.parse(v) as unknown;
      if (Array.isArray(parsed)) return parsed.map(String).sort();
    } catch {
      return v.replace(/[{}]/g, '').split(',').filter(Boolean).sort();
    }
  }
  return [];
}

const fromRow = (r: Row): UserView => ({
  id: r.id, email: r.email, name: r.name, roles: rolesOf(r.roles), email_verified: !!r.email_verified, disabled: !!r.disabled, source: r.source ?? '',
  created_at: new Date(r.created_at).toISOString(), updated_at: new Date(r.updated_at).toISOString(), revision: Number(r.revision),
});

const COLUMNS = 'id, email, name, roles, email_verified, disabled, deleted, source, created_at, updated_at, revision';
const cursorSchema = z.object({ c: cursorInstant, i: id });
const likeEscape = (s: string) => s.replace(/[\\%_]/g, (m) => `\\${m}`);

export async function userQueryRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get('/api/v1/users', {
    config: { readModels: ['users'] },
    preHandler: app.requireAdmin,
    schema: {
      tags: ['users'],
      summary: 'List users (admin): cursor pagination, search by e-mail or name',
      security: [{ bearer: [] }],
      querystring: cursorQuery.extend({
        q: text(200).trim().min(1).optional().describe('Substring of the e-mail or the name (case-insensitive)'),
        include_disabled: z.enum(['true', 'false']).default('true'),
      }),
      response: { 200: z.object({ items: z.array(userView), next_cursor: z.string().nullable() }), ...problems(400, 401, 403) },
    },
  }, async (request) => {
    const q = request.query;
    const after = q.cursor ? decodeCursor(q.cursor, cursorSchema) : undefined;
    if (q.cursor && !after) throw errors.badRequest('The cursor is not valid.', 'invalid_cursor');
    const params: unknown[] = [];
    const where = ['NOT deleted'];
    if (q.q) {
      params.push(`%${likeEscape(q.q.toLowerCase())}%`);
      where.push(`(email_normalized LIKE $${params.length} OR lower(name) LIKE $${params.length})`);
    }
    if (q.include_disabled === 'false') where.push('NOT disabled');
    if (after) {
      params.push(after.c, after.i);
      where.push(`(created_at, id) > ($${params.length - 1}::timestamptz, $${params.length})`);
    }
    params.push(q.limit + 1);
    const { rows } = await services.pool.query<Row>(
      `SELECT ${COLUMNS} FROM users WHERE ${where.join(' AND ')} ORDER BY created_at, id LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return {
      items: page.map(fromRow),
      next_cursor: rows.length > q.limit && last ? encodeCursor({ c: new Date(last.created_at).toISOString(), i: last.id }) : null,
    };
  });

  async function loadOne(id: string): Promise<UserView> {
    let user: UserView | undefined;
    const h = await app.redisReads.hgetall(userProfileKey(app.redisPrefix, id));
    const p = parseUserProfile(h);
    if (p) {
      if (p.deleted) throw errors.notFound('No such user.', 'user_not_found');
      user = { ...p, roles: [...p.roles].sort(), revision: Number(h.rev ?? 0) };
    } else {
      const { rows } = await services.pool.query<Row>(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
      if (rows[0] && !rows[0].deleted) user = fromRow(rows[0]);
    }
    if (!user) throw errors.notFound('No such user.', 'user_not_found');
    return user;
  }

  r.get('/api/v1/users/me', {
    config: { readModels: ['user_profiles', 'users'] },
    preHandler: app.authenticate,
    schema: {
      tags: ['users'],
      summary: 'The caller (seed 004 /users/me), with its revision as ETag',
      security: [{ bearer: [] }],
      response: { 200: userView, ...problems(401, 404) },
    },
  }, async (request, reply) => {
    const user = await loadOne(request.auth!.userId);
    reply.header('etag', `"${user.revision}"`);
    return user;
  });

  r.get('/api/v1/users/:id', {
    config: { readModels: ['user_profiles', 'users'] },
    preHandler: app.authenticate,
    schema: {
      tags: ['users'],
      summary: 'One user (admin or self), with its revision as ETag',
      security: [{ bearer: [] }],
      params: z.object({ id }),
      response: { 200: userView, ...problems(400, 401, 403, 404) },
    },
  }, async (request, reply) => {
    const auth = request.auth!;
    const id = request.params.id;
    if (auth.userId !== id && !auth.roles.includes('admin')) throw errors.forbidden('Only the account’s owner or an admin may see it.', 'forbidden');
    const user = await loadOne(id);
    reply.header('etag', `"${user.revision}"`);
    return user;
  });
}
