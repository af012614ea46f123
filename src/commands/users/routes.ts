/**
 * User administration commands under /api/v1/users (seeds 003/004). Rules enforced here:
 * - creating users, disabling / enabling them and changing roles is for admins;
 * - updating and deleting an account is for its owner or an admin (others get 403);
 * - PATCH honours `If-Match: <revision>` (412 when stale) and answers with an `ETag`.
 */
import { requireStepUp } from '../mfa/step-up';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { id, secret, text } from '../../http/input';
import type { Services } from '../../services';
import { errors } from '../../errors';
import { role } from '../../events/common';
import type { UserState } from '../../events/user';
import { pendingEmailChange } from '../../events/email-change';
import { metadataFrom } from '../../http/metadata';
import { problems } from '../../http/schemas';
import { createUser, deleteUser, disableUser, enableUser, grantRole, revokeRole, updateUserProfile } from './handlers';

export const userOut = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  roles: z.array(z.string()),
  email_verified: z.boolean(),
  disabled: z.boolean(),
  source: z.string(),
  revision: z.number().int().describe('The user stream revision; also the ETag'),
  pending_email: z.string().optional().describe('The new address of one\'s own e-mail change, until the mailed link confirms it (the e-mail stays the old one meanwhile)'),
});
const idParams = z.object({ id });
const email = text(254).trim().pipe(z.email());
const name = text(200).trim().min(1);

export const etagOf = (revision: bigint | number) => `"${revision.toString()}"`;

/** `If-Match: "3"` / `3` / `W/"3"` → 3n; `*` or absent → undefined; anything else → 400. */
export function parseIfMatch(header: string | string[] | undefined): bigint | undefined {
  if (header === undefined) return undefined;
  const v = (Array.isArray(header) ? header[0] : header)!.trim();
  if (v === '*') return undefined;
  const m = /^(?:W\/)?"?(\d{1,18})"?$/.exec(v);
  if (!m) throw errors.badRequest('If-Match must be a revision from the ETag header.', 'invalid_if_match');
  return BigInt(m[1]!);
}

const view = (s: UserState, revision: bigint) => ({
  id: s.userId, email: s.email, name: s.name, roles: [...s.roles].sort(), email_verified: s.emailVerified, disabled: s.disabled, source: s.source, revision: Number(revision),
  ...(pendingEmailChange(s.emailChange) ? { pending_email: pendingEmailChange(s.emailChange)!.email } : {}),
});

function selfOrAdmin(request: FastifyRequest, userId: string): void {
  const auth = request.auth!;
  if (auth.userId !== userId && !auth.roles.includes('admin')) throw errors.forbidden('Only the account’s owner or an admin may do this.', 'forbidden');
}

/** An admin may not disable or demote itself (it could lock every admin out). */
function notSelf(request: FastifyRequest, userId: string, what: string): void {
  if (request.auth!.userId === userId) throw errors.conflict(`An admin cannot ${what} itself; ask another admin.`, 'cannot_target_self');
}

export async function userCommandRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post('/api/v1/users', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['users'],
      summary: 'Create a user (admin)',
      security: [{ bearer: [] }],
      body: z.object({ email, password: secret(1024), name, roles: z.array(role).max(2).optional() }).strict(),
      response: { 201: userOut, ...problems(400, 401, 403, 409) },
    },
  }, async (request, reply) => {
    const b = request.body;
    const { state, revision } = await createUser(services, { email: b.email, name: b.name, password: b.password, roles: b.roles, source: 'admin' }, metadataFrom(request));
    reply.header('etag', etagOf(revision)).header('location', `/api/v1/users/${state.userId}`);
    return reply.code(201).send(view(state, revision));
  });

  r.patch('/api/v1/users/:id', {
    preHandler: app.authenticate,
    schema: {
      tags: ['users'],
      summary: 'Update name and/or e-mail (self or admin); If-Match: <revision> → 412 when stale. The owner\'s e-mail change is pending (pending_email) until the link mailed to the new address confirms it; an admin\'s is immediate',
      security: [{ bearer: [] }],
      params: idParams,
      headers: z.object({ 'if-match': text(100).optional() }).passthrough(),
      body: z.object({
        name: name.optional(),
        email: email.optional(),
        current_password: z.string().max(1024).optional()
          .describe('Changing one\'s own e-mail needs it, unless the session logged in within REAUTH_MAX_AGE_SECONDS'),
      }).strict(),
      response: { 200: userOut, ...problems(400, 401, 403, 404, 409, 412, 429) },
    },
  }, async (request, reply) => {
    selfOrAdmin(request, request.params.id);
    const ifMatch = parseIfMatch(request.headers['if-match']);
    const auth = request.auth!;
    const { current_password: currentPassword, ...changes } = request.body;
    // The owner re-authenticates (issue 20 §2); an admin editing someone else does not.
    const reauth = auth.userId === request.params.id ? { sessionId: auth.sessionId, currentPassword } : undefined;
    const { state, revision } = await updateUserProfile(services, request.params.id, changes, ifMatch, metadataFrom(request), reauth);
    reply.header('etag', etagOf(revision));
    return view(state, revision);
  });

  r.delete('/api/v1/users/:id', {
    preHandler: app.authenticate,
    schema: {
      tags: ['users'],
      summary: 'Delete an account (self or admin): ends its sessions and revokes its API keys',
      security: [{ bearer: [] }],
      params: idParams,
      response: { 204: z.null().describe('Deleted'), ...problems(400, 401, 403, 404) },
    },
  }, async (request, reply) => {
    selfOrAdmin(request, request.params.id);
    await deleteUser(services, request.params.id, metadataFrom(request), app.sessionGate);
    return reply.code(204).send(null);
  });

  r.post('/api/v1/users/:id/disable', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['users'],
      summary: 'Disable a user (admin): ends its sessions and revokes its API keys at once',
      security: [{ bearer: [] }],
      params: idParams,
      body: z.object({ reason: text(500).optional() }).strict().nullish(),
      response: { 200: userOut, ...problems(400, 401, 403, 404, 409) },
    },
  }, async (request, reply) => {
    notSelf(request, request.params.id, 'disable');
    const { state, revision } = await disableUser(services, request.params.id, request.body?.reason, metadataFrom(request), app.sessionGate);
    reply.header('etag', etagOf(revision));
    return view(state, revision);
  });

  r.post('/api/v1/users/:id/enable', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['users'],
      summary: 'Enable a disabled user (admin); revoked keys stay revoked',
      security: [{ bearer: [] }],
      params: idParams,
      response: { 200: userOut, ...problems(400, 401, 403, 404) },
    },
  }, async (request, reply) => {
    const { state, revision } = await enableUser(services, request.params.id, metadataFrom(request));
    reply.header('etag', etagOf(revision));
    return view(state, revision);
  });

  r.post('/api/v1/users/:id/roles', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['users'],
      summary: 'Grant a role (admin)',
      security: [{ bearer: [] }],
      params: idParams,
      body: z.object({ role }).strict(),
      response: { 200: userOut, ...problems(400, 401, 403, 404) },
    },
  }, async (request, reply) => {
    await requireStepUp(services, request.auth!); // issue 17: the admin's second factor, when it has one
    const { state, revision } = await grantRole(services, request.params.id, request.body.role, metadataFrom(request));
    reply.header('etag', etagOf(revision));
    return view(state, revision);
  });

  r.delete('/api/v1/users/:id/roles/:role', {
    preHandler: app.requireAdmin,
    schema: {
      tags: ['users'],
      summary: 'Revoke a role (admin); revoking admin ends the user’s sessions',
      security: [{ bearer: [] }],
      params: idParams.extend({ role }),
      response: { 200: userOut, ...problems(400, 401, 403, 404, 409) },
    },
  }, async (request, reply) => {
    if (request.params.role === 'admin') notSelf(request, request.params.id, 'demote');
    await requireStepUp(services, request.auth!); // issue 17
    const { state, revision } = await revokeRole(services, request.params.id, request.params.role, metadataFrom(request), app.sessionGate);
    reply.header('etag', etagOf(revision));
    return view(state, revision);
  });
}
