/**
 * Confirms a user's pending e-mail change as its new mailbox would (issue 20 §2), for tests that
 * only need the change done: rebuilds the mailed confirm token from the server secret, as the mail
 * worker does, and POSTs it.
 */
import type { FastifyInstance } from 'fastify';
import { emailChangeToken, emailTokenKey } from '../../src/credentials/email-tokens';
import { streams } from '../../src/events/streams';
import type { Services } from '../../src/services';

export async function confirmPendingEmailChange(app: FastifyInstance, services: Services, userId: string): Promise<void> {
  const events = await services.store.readStream(streams.user(userId));
  const request = events.filter((e) => e.type === 'EmailChangeRequested').at(-1);
  if (!request) throw new Error('no e-mail change requested');
  const token = emailChangeToken(emailTokenKey(services.config), 'email-change-confirm', (request.data as { requestId: string }).requestId, userId);
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/email-change/confirm', payload: { token } });
  if (res.statusCode !== 200) throw new Error(`confirm failed: ${res.statusCode} ${res.body}`);
}
