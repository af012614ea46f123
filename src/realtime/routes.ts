/**
 * The realtime REST surface, served by the API process (Fastify). It never talks to a hub
 * directly: presence and groups are read from Redis, messages are published on Redis pub/sub, so
 * it works whatever process the hubs run in.
 * Rules enforced here:
 * - `POST /api/v1/realtime/ticket` needs an authenticated caller and returns a ≤30 s single-use
 *   ticket for `?ticket=` (stored hashed; never logged);
 * - seed 004's routes live under `/api/ws/…` and again under `/api/v1/realtime/…`;
 * - who sees other people: the client list is everyone's for admins, one's own for others; a
 *   group's members are shown to admins and to users who have a client in that group (user ids
 *   to admins only); group names and member counts are shown to every signed-in user;
 * - sending: any signed-in user may message a connected client (as over a socket); broadcasting to
 *   a group needs the admin role or a client in that group; the recipients see who sent it
 *   (`from: {admin: <user id>}` or `{user: <user id>}`);
 * - private groups and client-id ownership are rules in the event log (src/realtime/access.ts):
 *   private groups are listed only to those who may be in them (and admins).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors } from '../errors';
import { problems } from '../http/schemas';
import { text } from '../http/input';
import type { Services } from '../services';
import { NAME_RE, frames } from './protocol';
import { RealtimeState, TICKET_TTL_SECONDS, type Presence } from './state';
import { createGroup, inviteToGroup, mayBeInGroup, releaseClientId } from './access';

const name = z.string().regex(NAME_RE, '1-64 characters of A-Z a-z 0-9 _ . -');
const clientSchema = z.object({
  client_id: z.string(),
  user_id: z.string(),
  group: z.string().nullable(),
  hub: z.string(),
  since: z.string(),
});
const groupSchema = z.object({ name: z.string(), members: z.number().int() });

const PAGE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public', 'group-chat.html');

export async function realtimeRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const state = new RealtimeState(services.redis, services.prefix);
  const r = app.withTypeProvider<ZodTypeProvider>();
  const maxBytes = services.config.REALTIME_MAX_MESSAGE_BYTES;
  const messageBody = z.object({ message: text(maxBytes).min(1).describe('Text delivered to the recipients (the shared text rule: no control characters but tab/LF/CR, no unpaired surrogates)') });
  const auth = (req: FastifyRequest) => req.auth!;
  const isAdmin = (req: FastifyRequest) => auth(req).roles.includes('admin');
  /** The REST sender as recipients see it (issue 20 §8): never anonymous. */
  const sender = (req: FastifyRequest) => (isAdmin(req) ? { admin: auth(req).userId } : { user: auth(req).userId });
  const actor = (req: FastifyRequest) => ({ userId: auth(req).userId, roles: auth(req).roles });
  const publicClient = (p: Presence) => ({ client_id: p.client_id, user_id: p.user_id, group: p.group, hub: p.hub, since: p.since });
  /** Does the caller have a client in this group? */
  const memberOf = async (req: FastifyRequest, group: string) => {
    const members = await state.groupMembers(group);
    if (!members.length) return { members, mine: false };
    const pipe = services.redis.pipeline();
    for (const m of members) pipe.hget(`${state.base}online`, m);
    const rows = (await pipe.exec()) ?? [];
    const mine = rows.some(([, v]) => typeof v === 'string' && (JSON.parse(v) as Presence).user_id === auth(req).userId);
    return { members, mine };
  };

  r.post('/api/v1/realtime/ticket', {
    preHandler: app.authenticate,
    schema: {
      tags: ['realtime'],
      summary: 'Get a single-use WebSocket ticket (valid 30 s)',
      description: 'Present it as `?ticket=` when opening `/ws`, `/ws/{client_id}` or `/ws/{client_id}/{group}` on the realtime hub. Single use; stored hashed.',
      security: [{ bearer: [] }, { accessTokenHeader: [] }],
      response: {
        201: z.object({ ticket: z.string(), expires_in: z.number().int(), ws_paths: z.array(z.string()), realtime_port: z.number().int() }),
        ...problems(401, 429, 503),
      },
    },
  }, async (req, reply) => {
    const a = auth(req);
    const { ticket, expiresIn } = await state.issueTicket({ userId: a.userId, sessionId: a.sessionId, roles: a.roles });
    reply.header('cache-control', 'no-store');
    return reply.code(201).send({ ticket, expires_in: expiresIn, ws_paths: ['/ws', '/ws/{client_id}', '/ws/{client_id}/{group}'], realtime_port: services.config.REALTIME_PORT });
  });

  for (const prefix of ['/api/ws', '/api/v1/realtime']) {
    const tags = ['realtime'];
    const security: { [label: string]: string[] }[] = [{ bearer: [] }, { accessTokenHeader: [] }];

    r.get(`${prefix}/clients`, {
      config: { consistency: 'none' }, // live presence
      preHandler: app.authenticate,
      schema: {
        tags, security,
        summary: 'Connected clients (all for admins, your own otherwise)',
        response: { 200: z.object({ clients: z.array(clientSchema) }), ...problems(401, 429, 503) },
      },
    }, async (req) => {
      const all = await state.clients();
      const visible = isAdmin(req) ? all : all.filter((c) => c.user_id === auth(req).userId);
      return { clients: visible.map(publicClient) };
    });

    r.get(`${prefix}/groups`, {
      config: { consistency: 'stream' }, // live presence, the groups' rules from their streams
      preHandler: app.authenticate,
      schema: {
        tags, security,
        summary: 'Groups with their member counts',
        response: { 200: z.object({ groups: z.array(groupSchema) }), ...problems(401, 429, 503) },
      },
    }, async (req) => {
      const all = await state.groups();
      if (isAdmin(req)) return { groups: all };
      const allowed = await Promise.all(all.map((g) => mayBeInGroup(services, g.name, actor(req))));
      return { groups: all.filter((_, i) => allowed[i]) };
    });

    r.get(`${prefix}/groups/:group`, {
      config: { consistency: 'stream' }, // live presence, the group's rules from its stream
      preHandler: app.authenticate,
      schema: {
        tags, security,
        summary: 'Members of a group (admins, or users with a client in it)',
        params: z.object({ group: name }),
        response: {
          200: z.object({ group: z.string(), members: z.array(z.object({ client_id: z.string(), user_id: z.string().optional() })) }),
          ...problems(400, 401, 403, 404, 429, 503),
        },
      },
    }, async (req) => {
      const { group } = req.params;
      const { members, mine } = await memberOf(req, group);
      if (!members.length) throw errors.notFound(`Group ${group} has no connected members.`, 'group_not_found');
      if (!mine && !isAdmin(req)) throw errors.forbidden('Only members of the group and admins see its members.', 'not_a_member');
      if (!isAdmin(req)) return { group, members: members.map((client_id) => ({ client_id })) };
      const pipe = services.redis.pipeline();
      for (const m of members) pipe.hget(`${state.base}online`, m);
      const rows = (await pipe.exec()) ?? [];
      return {
        group,
        members: members.map((client_id, i) => {
          const v = rows[i]?.[1];
          return typeof v === 'string' ? { client_id, user_id: (JSON.parse(v) as Presence).user_id } : { client_id };
        }),
      };
    });

    r.post(`${prefix}/send_to/:client_id`, {
      preHandler: app.authenticate,
      schema: {
        tags, security,
        summary: 'Send a direct message to a connected client',
        params: z.object({ client_id: name }),
        body: messageBody,
        response: { 202: z.object({ client_id: z.string(), delivered: z.literal(true) }), ...problems(400, 401, 404, 429, 503) },
      },
    }, async (req, reply) => {
      const { client_id } = req.params;
      const hubs = await state.publish(`c:${client_id}`, frames.directMessage(client_id, sender(req), 'api', req.body.message));
      if (hubs === 0) throw errors.notFound(`Client ${client_id} is not connected.`, 'client_not_connected');
      return reply.code(202).send({ client_id, delivered: true as const });
    });

    r.post(`${prefix}/broadcast_to_group/:group`, {
      preHandler: app.authenticate,
      schema: {
        tags, security,
        summary: 'Broadcast a message to every member of a group (admins, or users with a client in it)',
        params: z.object({ group: name }),
        body: messageBody,
        response: { 202: z.object({ group: z.string(), members: z.number().int() }), ...problems(400, 401, 403, 404, 429, 503) },
      },
    }, async (req, reply) => {
      const { group } = req.params;
      const { members, mine } = await memberOf(req, group);
      if (!members.length) throw errors.notFound(`Group ${group} has no connected members.`, 'group_not_found');
      if (!mine && !isAdmin(req)) throw errors.forbidden('Only members of the group and admins may broadcast to it.', 'not_a_member');
      await state.publish(`g:${group}`, frames.groupMessage(group, sender(req), 'api', req.body.message));
      return reply.code(202).send({ group, members: members.length });
    });
  }

  // Group rules and client-id ownership (issue 20 §8), events in the log (src/realtime/access.ts).
  const groupRulesSchema = z.object({
    group: z.string(),
    visibility: z.enum(['open', 'private']),
    roles: z.array(z.enum(['admin', 'user'])),
    created_by: z.string(),
  });
  r.post('/api/v1/realtime/groups', {
    preHandler: app.authenticate,
    schema: {
      tags: ['realtime'],
      summary: 'Create a group: open (anyone may join) or private (its creator, invited users, holders of one of its roles)',
      description: 'Groups made by joining are open. A group that exists (created, or with connected members) cannot be created again.',
      security: [{ bearer: [] }, { accessTokenHeader: [] }],
      body: z.object({
        name,
        visibility: z.enum(['open', 'private']).default('open'),
        roles: z.array(z.enum(['admin', 'user'])).max(10).default([]).describe('Roles whose holders may join a private group (`admin`: an admins-only group)'),
      }),
      response: { 201: groupRulesSchema, ...problems(400, 401, 409, 429, 503) },
    },
  }, async (req, reply) => {
    const { name: group, visibility, roles } = req.body;
    const hasMembers = (await state.groupMembers(group)).length > 0;
    await createGroup(services, { group, visibility, roles, actor: actor(req), hasMembers });
    return reply.code(201).send({ group, visibility, roles: [...new Set(roles)], created_by: auth(req).userId });
  });

  r.post('/api/v1/realtime/groups/:group/invitations', {
    preHandler: app.authenticate,
    schema: {
      tags: ['realtime'],
      summary: 'Invite a user to a private group (by a member: its creator, an invited user or a holder of one of its roles)',
      security: [{ bearer: [] }, { accessTokenHeader: [] }],
      params: z.object({ group: name }),
      body: z.object({ user_id: z.string().uuid() }),
      response: { 201: z.object({ group: z.string(), user_id: z.string(), invited: z.boolean() }), ...problems(400, 401, 403, 429, 503) },
    },
  }, async (req, reply) => {
    const { group } = req.params;
    const r2 = await inviteToGroup(services, { group, userId: req.body.user_id, actor: actor(req) });
    return reply.code(201).send({ group, user_id: req.body.user_id, invited: r2.appended.length > 0 });
  });

  r.delete('/api/v1/realtime/clients/:client_id', {
    preHandler: app.authenticate,
    schema: {
      tags: ['realtime'],
      summary: 'Release a client id you own (admins: any), so another user may claim it',
      description: 'A client id chosen in /ws/{client_id} stays its first user\'s until released or until that user is deleted. A live connection keeps it until it closes.',
      security: [{ bearer: [] }, { accessTokenHeader: [] }],
      params: z.object({ client_id: name }),
      response: { 204: z.null(), ...problems(400, 401, 403, 404, 429, 503) },
    },
  }, async (req, reply) => {
    const { client_id } = req.params;
    await releaseClientId(services, client_id, actor(req));
    await state.dropClientBinding(client_id);
    return reply.code(204).send(null);
  });

  // The group-chat test page (replaces seed 004's socket_test.html and group_messaging_test.html).
  let page: string | undefined;
  const servePage = async (_req: FastifyRequest, reply: import('fastify').FastifyReply) => {
    page ??= fs.readFileSync(PAGE, 'utf8').replaceAll('__REALTIME_PORT__', String(services.config.REALTIME_PORT)).replaceAll('__TICKET_TTL__', String(TICKET_TTL_SECONDS));
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page);
  };
  app.get('/realtime/test', { schema: { hide: true }, config: { consistency: 'none' } }, servePage);
  app.get('/static/group-chat.html', { schema: { hide: true }, config: { consistency: 'none' } }, servePage);
}
