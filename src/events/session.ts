/**
 * Session events (stream `session-<id>`, one per device login; kept off the user stream because
 * they are hot). Refresh tokens appear only as SHA-256 hashes.
 */
import { z } from 'zod';
import { defineEvent } from './registry';
import { client, id, isoTime } from './common';

export const SessionStarted = defineEvent(
  'SessionStarted',
  client.extend({
    sessionId: id,
    userId: id,
    deviceName: z.string().max(200).optional(),
    refreshTokenHash: z.string(),
    expiresAt: isoTime,
  }),
);
export const SessionRotated = defineEvent(
  'SessionRotated',
  client.extend({ sessionId: id, userId: id, refreshTokenHash: z.string(), previousTokenHash: z.string() }),
);
export const RefreshTokenReuseDetected = defineEvent(
  'RefreshTokenReuseDetected',
  z.object({
    sessionId: id,
    userId: id,
    presentedTokenHash: z.string(),
    presenter: client,
    /** Who presented the token legitimately when it was rotated. */
    rotatedBy: client,
  }),
);
export const sessionRevokedReason = z.enum([
  'logout', 'logout_all', 'user_revoked', 'admin', 'password_changed', 'password_reset', 'reuse_detected', 'user_disabled', 'user_deleted', 'token_revoked',
]);
export const SessionRevoked = defineEvent('SessionRevoked', z.object({ sessionId: id, userId: id, reason: sessionRevokedReason }));
export const SessionExpired = defineEvent('SessionExpired', z.object({ sessionId: id, userId: id, reason: z.enum(['idle', 'absolute']) }));

export const sessionEvents = [SessionStarted, SessionRotated, RefreshTokenReuseDetected, SessionRevoked, SessionExpired];
export const SESSION_ENDING_EVENTS = ['SessionRevoked', 'SessionExpired'] as const;
export { isoTime };
