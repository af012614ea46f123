/**
 * Single-use e-mail tokens: verification (stream `verification-<tokenId>`) and password reset
 * (`passwordreset-<tokenId>`).
 * Rules:
 * - the log never holds a token, sealed or not: the mailed token is `<tokenId>.<HMAC(server secret,
 *   kind|tokenId)>` (src/infra/email-tokens.ts), so only a holder of the server secret (the mail
 *   worker) can rebuild it; the log keeps `tokenHash` = SHA-256 of the token, compared in constant time;
 * - a token is consumed once: `EmailTokenConsumed` is appended with expectedRevision = the
 *   requested event's revision, so two concurrent uses cannot both win;
 * - `expiresAt` is decided when requested (short-lived: see EMAIL_VERIFICATION_TTL, PASSWORD_RESET_TTL).
 */
import { z } from 'zod';
import { defineEvent } from './registry';
import { id, isoTime } from './common';

const requested = z.object({
  tokenId: id,
  userId: id,
  /** The address the mail goes to (the user's address when the token was requested). */
  email: z.string(),
  /** SHA-256 (base64url) of the mailed token. */
  tokenHash: z.string(),
  expiresAt: isoTime,
});
export const EmailVerificationRequested = defineEvent(
  'EmailVerificationRequested',
  requested.extend({ reason: z.enum(['signup', 'resend', 'admin', 'email_changed']) }),
);
export const PasswordResetRequested = defineEvent('PasswordResetRequested', requested);
export const EmailTokenConsumed = defineEvent('EmailTokenConsumed', z.object({ tokenId: id, userId: id }));
export const emailTokenEvents = [EmailVerificationRequested, PasswordResetRequested, EmailTokenConsumed];

export type EmailTokenKind = 'verification' | 'reset';

/** A token stream's state, folded from its events. */
export interface EmailTokenState {
  requested?: { tokenId: string; userId: string; email: string; tokenHash: string; expiresAt: string; requestedAt: Date };
  consumed: boolean;
  /** Revision of the last event (for expectedRevision), or undefined for no stream. */
  revision?: bigint;
}

export const initialEmailTokenState = (): EmailTokenState => ({ consumed: false });

export function evolveEmailToken(
  state: EmailTokenState,
  event: { type: string; data: unknown; createdAt?: Date; revision?: bigint },
): EmailTokenState {
  const next = { ...state, revision: event.revision ?? state.revision };
  switch (event.type) {
    case 'EmailVerificationRequested':
    case 'PasswordResetRequested': {
      const d = event.data as z.infer<typeof requested>;
      return { ...next, requested: { ...d, requestedAt: event.createdAt ?? new Date(0) } };
    }
    case 'EmailTokenConsumed':
      return { ...next, consumed: true };
    default:
      return next;
  }
}
