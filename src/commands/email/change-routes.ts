/**
 * E-mail change links under /api/v1/auth (issue 20 §2; the request is PATCH /api/v1/users/{id}):
 * - POST /email-change/confirm {token} → 200, the address changes (409 `email_taken` when the new
 *   address was taken meanwhile: nothing changes);
 * - POST /email-change/cancel {token} → 200, the pending change ends (or a confirmed one is
 *   reverted) and every session of the user is revoked;
 * - GET /email-change/confirm, GET /email-change/cancel: the pages the mailed links open (a GET
 *   never spends a token).
 * Per-IP limit RATE_LIMIT_AUTH_PER_MINUTE on the POSTs; tokens travel in bodies and fragments only.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { secret } from '../../http/input';
import type { Services } from '../../services';
import { metadataFrom } from '../../http/metadata';
import { problems } from '../../http/schemas';
import { cancelEmailChange, confirmEmailChange } from './change';
import { emailChangeCancelPage, emailChangeConfirmPage } from './change-pages';

const tokenField = secret(300).min(1).describe('The token from the mailed link (after #token=)');

export async function emailChangeRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const perMinute = services.config.RATE_LIMIT_AUTH_PER_MINUTE;
  const rateLimit = perMinute > 0 ? { max: perMinute, timeWindow: '1 minute' } : false;
  const tags = ['auth: e-mail'];

  r.post('/api/v1/auth/email-change/confirm', {
    schema: {
      tags, summary: 'Confirm one\'s own e-mail change with the token mailed to the new address',
      body: z.object({ token: tokenField }),
      response: { 200: z.object({ status: z.literal('email_changed'), user_id: z.string(), email: z.string() }), ...problems(400, 409, 429, 503) },
    },
    config: { rateLimit },
  }, async (request) => {
    const { userId, email } = await confirmEmailChange(services, request.body.token, metadataFrom(request));
    return { status: 'email_changed' as const, user_id: userId, email };
  });

  r.post('/api/v1/auth/email-change/cancel', {
    schema: {
      tags, summary: 'Cancel (or revert) an e-mail change with the token mailed to the old address; signs out every session',
      body: z.object({ token: tokenField }),
      response: {
        200: z.object({ status: z.literal('cancelled'), reverted_to: z.string().optional(), sessions_revoked: z.number().int() }),
        ...problems(400, 409, 429, 503),
      },
    },
    config: { rateLimit },
  }, async (request) => {
    const r2 = await cancelEmailChange({ ...services, gate: app.sessionGate }, request.body.token, metadataFrom(request));
    return { status: 'cancelled' as const, ...(r2.revertedTo ? { reverted_to: r2.revertedTo } : {}), sessions_revoked: r2.sessionsRevoked };
  });

  for (const [url, html] of [['/api/v1/auth/email-change/confirm', emailChangeConfirmPage], ['/api/v1/auth/email-change/cancel', emailChangeCancelPage]] as const) {
    app.get(url, { schema: { hide: true }, config: { consistency: 'none' } }, async (_request, reply) => {
      reply.type('text/html; charset=utf-8');
      return html();
    });
  }
}
