/**
 * Audit query routes (read side), all served from the event log:
 * - GET /api/v1/audit/users/:id/events  — the user themself or an admin; log order, cursor pages;
 * - GET /api/v1/audit/users/:id/state?at — the user folded up to `at`; 404 before signup;
 * - GET /api/v1/audit/events             — admins: the whole log by type, stream, actor, time.
 * Rules: 401 without a valid token, 403 for another non-admin user; bad filters or cursors are
 * 400; secret fields are redacted.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { cursorBigint, cursorQuery, id, instant, streamName, text } from '../../http/input';
import { errors } from '../../errors';
import type { RecordedEvent } from '../../events/store';
import { decodeCursor, encodeCursor, problems } from '../../http/schemas';
import type { Services } from '../../services';
import { readUserEvents, searchEvents, userStreamExists } from './log';
import { auditEventSchema, toAuditEvent } from './dto';
import { userStateAt } from './state';

const cursorValue = z.object({ c: cursorBigint, p: cursorBigint });
const isoInstant = instant;

const pageSchema = z.object({ events: z.array(auditEventSchema), next_cursor: z.string().nullable() });

const filterQuery = cursorQuery.extend({
  type: text(2000).optional().describe('Event type(s), comma-separated, e.g. `SessionStarted,SessionRevoked`'),
  from: isoInstant.optional().describe('Events at or after this instant (ISO-8601 with offset)'),
  to: isoInstant.optional().describe('Events at or before this instant (ISO-8601 with offset)'),
});

const userParams = z.object({ id });

function parseFilters(q: z.infer<typeof filterQuery>, known: (t: string) => boolean) {
  const types = q.type ? q.type.split(',').map((t) => t.trim()).filter(Boolean) : undefined;
  const unknown = types?.filter((t) => !known(t));
  if (unknown?.length) throw errors.validation([{ field: 'type', message: `unknown event type: ${unknown.join(', ')}` }]);
  const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, cursorValue);
  if (q.cursor !== undefined && !after) throw errors.badRequest('The cursor is not valid.', 'invalid_cursor');
  const from = q.from ? new Date(q.from) : undefined;
  const to = q.to ? new Date(q.to) : undefined;
  if (from && to && from > to) throw errors.validation([{ field: 'from', message: '`from` is after `to`' }]);
  return { types, from, to, after: after && { commit: BigInt(after.c), prepare: BigInt(after.p) }, limit: q.limit };
}

function page(events: RecordedEvent[], limit: number) {
  const more = events.length > limit;
  const shown = more ? events.slice(0, limit) : events;
  const last = shown.at(-1);
  return {
    events: shown.map(toAuditEvent),
    next_cursor: more && last ? encodeCursor({ c: last.position.commit.toString(), p: last.position.prepare.toString() }) : null,
  };
}

/** Self or admin; 401 is raised by `authenticate` before this. */
function assertSelfOrAdmin(request: FastifyRequest, userId: string) {
  const auth = request.auth;
  if (!auth) throw errors.unauthorized();
  if (auth.userId !== userId && !auth.roles.includes('admin')) throw errors.forbidden('You may only read your own audit trail.', 'audit_forbidden');
}

export async function auditRoutes(app: FastifyInstance, services: Services) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const registry = services.store.registry;
  const pool = services.pool;
  const security: Record<string, string[]>[] = [{ bearer: [] }, { accessTokenHeader: [] }];
  const store = services.store;

  r.get('/api/v1/audit/users/:id/events', {
    // The user_streams index (read-your-writes waits for it; test/consistency/read-models.int.test.ts).
    config: { readModels: ['user_streams'] },
    schema: {
      tags: ['audit'],
      summary: "A user's auth history, chronological (self or admin)",
      security,
      params: userParams,
      querystring: filterQuery,
      response: { 200: pageSchema, ...problems(400, 401, 403, 404, 503) },
    },
    preHandler: app.authenticate,
  }, async (request) => {
    const { id } = request.params;
    assertSelfOrAdmin(request, id);
    const f = parseFilters(request.query, (t) => registry.has(t));
    if (!(await userStreamExists(store, id))) throw errors.notFound('No such user.', 'user_not_found');
    const events = await readUserEvents(pool, store, id, { ...f, limit: f.limit + 1, stable: true });
    return page(events, f.limit);
  });

  r.get('/api/v1/audit/users/:id/state', {
    // The user_streams index (read-your-writes waits for it; test/consistency/read-models.int.test.ts).
    config: { readModels: ['user_streams'] },
    schema: {
      tags: ['audit'],
      summary: 'A user as of a moment: profile, roles, sessions, API keys, reachable features (self or admin)',
      security,
      params: userParams,
      querystring: z.object({ at: isoInstant.optional().describe('The moment (ISO-8601 with offset); default now') }),
      response: {
        200: z.object({
          user_id: z.string(),
          at: z.string(),
          profile: z.object({
            email: z.string(),
            name: z.string(),
            email_verified: z.boolean(),
            status: z.enum(['active', 'disabled', 'deleted']),
            source: z.string(),
            registered_at: z.string(),
            locked_until: z.string().nullable(),
          }),
          roles: z.array(z.string()),
          sessions: z.array(z.object({
            id: z.string(), device_name: z.string().nullable(), ip: z.string().nullable(), user_agent: z.string().nullable(),
            since: z.string(), last_rotated_at: z.string().nullable(), expires_at: z.string(),
          })),
          api_keys: z.array(z.object({
            id: z.string(), name: z.string(), prefix: z.string(), features: z.union([z.literal('*'), z.array(z.string())]),
            issued_at: z.string(), expires_at: z.string().nullable(),
          })),
          features: z.array(z.string()).describe('Enabled features an active API key of the user covered'),
          factors: z.array(z.object({
            id: z.string(), method: z.enum(['totp', 'passkey', 'recovery_code']), name: z.string(), added_at: z.string(), last_used_at: z.string().nullable(),
          })).describe('Second factors enrolled at that moment (issue 17)'),
          files: z.array(z.object({
            id: z.string(), name: z.string(), category: z.string(), content_type: z.string(), size: z.number().int(), sha256: z.string(), uploaded_at: z.string(),
          })).describe('Files the user owned at that moment: uploaded, not yet deleted (issue 15)'),
          events_applied: z.number().int(),
          last_event_at: z.string().nullable(),
        }),
        ...problems(400, 401, 403, 404, 503),
      },
    },
    preHandler: app.authenticate,
  }, async (request) => {
    const { id } = request.params;
    assertSelfOrAdmin(request, id);
    const at = request.query.at ? new Date(request.query.at) : new Date();
    const state = await userStateAt(pool, store, id, at);
    if (!state) throw errors.notFound('The user did not exist at that moment.', 'user_not_found');
    return state;
  });

  r.get('/api/v1/audit/events', {
    // The event log only, read below its visibility horizon: waits for the horizon, not a projection.
    config: { consistency: 'log' },
    schema: {
      tags: ['audit'],
      summary: 'Search the whole event log (admin)',
      security,
      querystring: filterQuery.extend({
        stream: streamName.optional().describe('Exact stream name, e.g. `user-<id>`'),
        stream_prefix: streamName.optional().describe('Stream category or prefix, e.g. `session-`'),
        actor: id.optional().describe('Acting user id (metadata.actorUserId)'),
      }),
      response: { 200: pageSchema, ...problems(400, 401, 403, 503) },
    },
    preHandler: app.requireAdmin,
  }, async (request) => {
    const q = request.query;
    const f = parseFilters(q, (t) => registry.has(t));
    const events = await searchEvents(store, { ...f, stream: q.stream, streamPrefix: q.stream_prefix, actor: q.actor, limit: f.limit + 1, stable: true });
    return page(events, f.limit);
  });
}
