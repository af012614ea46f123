/**
 * A user's own e-mail change, pending until the new address confirms it (issue 20 §2). These
 * events live on the user's stream (`user-<id>`) and carry `userId` (audit trail, `state?at=`).
 * Rules:
 * - `EmailChangeRequested` does not change the address: login, password reset and /me keep the
 *   old one; it carries the SHA-256 hashes of two mailed tokens (confirm → new address, cancel →
 *   old address), never the tokens (they are rebuilt by the mail worker from the server secret);
 * - a newer request supersedes the pending one (only the newest can be confirmed); a request's
 *   cancel link stays good until `cancelUntil`, whatever came after it (an attacker cannot
 *   silence the owner's cancel link by asking again);
 * - `EmailChangeConfirmed` is followed in the same append by `UserProfileUpdated` (the read models'
 *   e-mail change) and `EmailVerified` (the link proved the mailbox);
 * - `EmailChangeCancelled` ends the pending change; when the cancelled request had already been
 *   confirmed it is followed by `UserProfileUpdated` back to the old address (a revert).
 */
import { z } from 'zod';
import { defineEvent } from './registry';
import { id, isoTime } from './common';

export const EmailChangeRequested = defineEvent('EmailChangeRequested', z.object({
  userId: id,
  requestId: id,
  /** The new address (not yet the user's). */
  email: z.string(),
  /** The address at the time of the request (gets the notice with the cancel link). */
  previousEmail: z.string(),
  confirmTokenHash: z.string(),
  cancelTokenHash: z.string(),
  /** The confirm link's expiry. */
  expiresAt: isoTime,
  /** The cancel link's expiry; until then the old address stays reserved for a revert. */
  cancelUntil: isoTime,
}));
export const EmailChangeConfirmed = defineEvent('EmailChangeConfirmed', z.object({ userId: id, requestId: id, email: z.string(), previousEmail: z.string() }));
export const EmailChangeCancelled = defineEvent('EmailChangeCancelled', z.object({
  userId: id,
  /** The request whose cancel link was used. */
  requestId: id,
  /** The pending request this ended, if one was pending. */
  cancelledRequestId: id.optional(),
  /** Set when the used link's request had been confirmed: the address went back to this one. */
  revertedTo: z.string().optional(),
}));
export const emailChangeEvents = [EmailChangeRequested, EmailChangeConfirmed, EmailChangeCancelled];
/**
 * On the e-mail reservation stream (`email-<normalised>`): the address a confirmed change left is
 * held for its former user until the cancel link expires (a revert can take it back; nobody else
 * can reserve it, log in or reset with it meanwhile).
 */
export const EmailHeld = defineEvent('EmailHeld', z.object({ email: z.string(), userId: id, until: isoTime }));
export const emailHoldEvents = [EmailHeld];

export type EmailChangeStatus = 'pending' | 'superseded' | 'confirmed' | 'cancelled';

export interface EmailChangeRecord {
  requestId: string;
  email: string;
  previousEmail: string;
  confirmTokenHash: string;
  cancelTokenHash: string;
  expiresAt: string;
  cancelUntil: string;
  status: EmailChangeStatus;
  /** Whether its cancel link was used. */
  cancelUsed: boolean;
}

/** The part of the user state about e-mail changes: the newest requests (bounded), newest last. */
export interface EmailChangeState {
  requests: EmailChangeRecord[];
}

export const MAX_EMAIL_CHANGE_RECORDS = 20;

export const initialEmailChangeState = (): EmailChangeState => ({ requests: [] });

/** The pending request, if any (the newest one, when still pending). */
export const pendingEmailChange = (s: EmailChangeState): EmailChangeRecord | undefined => {
  const last = s.requests.at(-1);
  return last?.status === 'pending' ? last : undefined;
};

const update = (s: EmailChangeState, requestId: string | undefined, f: (r: EmailChangeRecord) => EmailChangeRecord): EmailChangeState =>
  ({ requests: s.requests.map((r) => (r.requestId === requestId ? f(r) : r)) });

/** The pending request ends without a confirm (an admin set the address, or it was cancelled). */
export const endPending = (s: EmailChangeState): EmailChangeState =>
  ({ requests: s.requests.map((r) => (r.status === 'pending' ? { ...r, status: 'superseded' as const } : r)) });

export function evolveEmailChange(s: EmailChangeState, event: { type: string; data: unknown }): EmailChangeState {
  switch (event.type) {
    case 'EmailChangeRequested': {
      const d = event.data as z.infer<typeof EmailChangeRequested.schema>;
      const record: EmailChangeRecord = {
        requestId: d.requestId, email: d.email, previousEmail: d.previousEmail, confirmTokenHash: d.confirmTokenHash,
        cancelTokenHash: d.cancelTokenHash, expiresAt: d.expiresAt, cancelUntil: d.cancelUntil, status: 'pending', cancelUsed: false,
      };
      return { requests: [...endPending(s).requests, record].slice(-MAX_EMAIL_CHANGE_RECORDS) };
    }
    case 'EmailChangeConfirmed': {
      const d = event.data as z.infer<typeof EmailChangeConfirmed.schema>;
      return update(s, d.requestId, (r) => ({ ...r, status: 'confirmed' }));
    }
    case 'EmailChangeCancelled': {
      const d = event.data as z.infer<typeof EmailChangeCancelled.schema>;
      const used = update(s, d.requestId, (r) => ({ ...r, cancelUsed: true }));
      return update(used, d.cancelledRequestId, (r) => ({ ...r, status: 'cancelled' }));
    }
    default:
      return s;
  }
}
