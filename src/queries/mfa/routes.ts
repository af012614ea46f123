/**
 * Reading a user's second factors (issue 17): the caller's own, and any user's for admins. Names,
 * kinds, dates and passkey flags only — never a secret, hash or public key. Folded from the user's
 * MFA stream (`mfa-<userId>`, a handful of events) like the audit trail reads the log: there is no
 * read model to lag behind, so these routes declare none (read-your-writes holds by construction).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { evolveMfa, initialMfaState, mfaMethods, type MfaState } from '../../events/mfa';
import { streams } from '../../events/streams';
import type { EventStore } from '../../events/store';
import { problems } from '../../http/schemas';

const factor = z.object({
  id: z.string(),
  method: z.enum(['totp', 'passkey', 'recovery_code']),
  name: z.string(),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  backed_up: z.boolean().optional(),
  device_type: z.enum(['singleDevice', 'multiDevice']).optional(),
  remaining: z.number().int().optional().describe('Recovery codes not used yet'),
});
export const factorsResponse = z.object({
  user_id: z.string(),
  methods: z.array(z.enum(['totp', 'passkey', 'recovery_code'])),
  factors: z.array(factor),
  locked_until: z.string().nullable(),
});

export async function readMfaState(store: EventStore, userId: string): Promise<MfaState> {
  const events = await store.readStream(streams.mfa(userId));
  return events.reduce((s, e) => evolveMfa(s, e), initialMfaState());
}

export function factorsDto(userId: string, s: MfaState, now = new Date()): z.infer<typeof factorsResponse> {
  const factors: z.infer<typeof factor>[] = [];
  if (s.totp) factors.push({ id: s.totp.id, method: 'totp', name: s.totp.name, created_at: s.totp.createdAt, last_used_at: s.totp.lastUsedAt ?? null });
  for (const p of s.passkeys) {
    factors.push({ id: p.id, method: 'passkey', name: p.name, created_at: p.createdAt, last_used_at: p.lastUsedAt ?? null, backed_up: p.backedUp, device_type: p.deviceType });
  }
  if (s.recovery) {
    factors.push({
      id: s.recovery.setId, method: 'recovery_code', name: 'Recovery codes', created_at: s.recovery.createdAt,
      last_used_at: s.recovery.lastUsedAt ?? null, remaining: s.recovery.hashes.length - s.recovery.used.length,
    });
  }
  const locked = s.lockedUntil && Date.parse(s.lockedUntil) > now.getTime() ? s.lockedUntil : null;
  return { user_id: userId, methods: mfaMethods(s), factors, locked_until: locked };
}

export async function mfaQueryRoutes(app: FastifyInstance): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get('/api/v1/auth/mfa/factors', {
    config: { consistency: 'stream' },
    schema: {
      tags: ['mfa'], summary: 'Your second factors (names, kinds, last use; never secrets)',
      security: [{ bearer: [] }],
      response: { 200: factorsResponse, ...problems(401) },
    },
    preHandler: app.authenticate,
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const userId = request.auth!.userId;
    return factorsDto(userId, await readMfaState(app.eventStore, userId));
  });

  r.get('/api/v1/users/:id/mfa', {
    config: { consistency: 'stream' },
    schema: {
      tags: ['mfa'], summary: 'Admin: a user\'s second factors (names, kinds, last use; never secrets)',
      security: [{ bearer: [] }],
      params: z.object({ id: z.uuid() }),
      response: { 200: factorsResponse, ...problems(400, 401, 403) },
    },
    preHandler: app.requireAdmin,
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    return factorsDto(request.params.id, await readMfaState(app.eventStore, request.params.id));
  });
}
