/**
 * E-mail commands under /api/v1/auth (write side):
 * - POST /verify-email {token} → 200, `EmailVerified`;  POST /verify-email/resend (signed in) → 202;
 * - POST /password-reset/request {email} → always 202, whether or not the address is known, in
 *   the same time (the work runs after the answer);
 * - POST /password-reset/confirm {token, new_password} → 200, `PasswordReset`, every session revoked;
 * - GET /verify-email, GET /password-reset: the URLs the mailed links open, redirected (302) to the
 *   console's landing pages (/console/verify-email, /console/reset-password); the browser keeps
 *   the #token fragment across the redirect, so the token still never reaches a server.
 * Per-IP limit RATE_LIMIT_AUTH_PER_MINUTE on every POST. Tokens are never logged: they travel in
 * bodies (not URLs) and the links carry them in the fragment.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { secret, text } from '../../http/input';
import type { Services } from '../../services';
import { metadataFrom } from '../../http/metadata';
import { problems } from '../../http/schemas';
import { confirmPasswordReset, requestPasswordReset, resendVerification, verifyEmail } from './handlers';

const tokenField = secret(200).min(1).describe('The token from the mailed link (after #token=)');
const accepted = z.object({ status: z.literal('accepted') });

export async function emailCommandRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const perMinute = services.config.RATE_LIMIT_AUTH_PER_MINUTE;
  const rateLimit = perMinute > 0 ? { max: perMinute, timeWindow: '1 minute' } : false;
  const tags = ['auth: e-mail'];

  r.post('/api/v1/auth/verify-email', {
    schema: {
      tags, summary: 'Verify an e-mail address with the mailed token',
      body: z.object({ token: tokenField }),
      response: { 200: z.object({ status: z.literal('verified'), user_id: z.string(), email: z.string() }), ...problems(400, 429, 503) },
    },
    config: { rateLimit },
  }, async (request) => {
    const { userId, email } = await verifyEmail(services, request.body.token, metadataFrom(request));
    return { status: 'verified' as const, user_id: userId, email };
  });

  r.post('/api/v1/auth/verify-email/resend', {
    schema: {
      tags, summary: 'Mail a new verification link to the signed-in user',
      security: [{ bearer: [] }, { accessTokenHeader: [] }],
      response: { 202: accepted, ...problems(401, 409, 429, 503) },
    },
    config: { rateLimit },
    preHandler: app.authenticate,
  }, async (request, reply) => {
    await resendVerification(services, request.auth!.userId, metadataFrom(request));
    return reply.code(202).send({ status: 'accepted' as const });
  });

  r.post('/api/v1/auth/password-reset/request', {
    schema: {
      tags, summary: 'Mail a password-reset link (always 202: reveals nothing about the address)',
      body: z.object({ email: text(320).min(1) }),
      response: { 202: accepted, ...problems(400, 429) },
    },
    config: { rateLimit },
  }, async (request, reply) => {
    const metadata = metadataFrom(request);
    const email = request.body.email;
    // After the answer: its timing and content are the same for known and unknown addresses.
    setImmediate(() => {
      requestPasswordReset(services, email, metadata).catch((err) =>
        request.log.warn({ err: (err as Error).message }, 'password reset request failed'));
    });
    return reply.code(202).send({ status: 'accepted' as const });
  });

  r.post('/api/v1/auth/password-reset/confirm', {
    schema: {
      tags, summary: 'Set a new password with the mailed token; signs out every session',
      body: z.object({ token: tokenField, new_password: secret(1024).min(1) }),
      response: { 200: z.object({ status: z.literal('password_reset'), sessions_revoked: z.number().int() }), ...problems(400, 429, 503) },
    },
    config: { rateLimit },
  }, async (request) => {
    // The gate: this process stops the revoked sessions' access tokens before answering.
    const r2 = await confirmPasswordReset({ ...services, gate: app.sessionGate }, request.body.token, request.body.new_password, metadataFrom(request));
    return { status: 'password_reset' as const, sessions_revoked: r2.sessionsRevoked };
  });

  // The mailed links' URLs (workers/mail/templates.ts) stay valid: they lead to the console.
  for (const [url, page] of [['/api/v1/auth/verify-email', '/console/verify-email'], ['/api/v1/auth/password-reset', '/console/reset-password']] as const) {
    app.get(url, { schema: { hide: true }, config: { consistency: 'none' } }, async (_request, reply) => reply.redirect(page, 302));
  }
}
