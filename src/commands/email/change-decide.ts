/**
 * Pure decisions on one's own e-mail change (issue 20 §2), called by the user stream's decider
 * (src/commands/users/decide.ts). Rules enforced here:
 * - a request changes nothing but the pending change: the address stays the old one;
 * - only the newest request, still pending and not expired, can be confirmed, and once; the
 *   confirm link is compared in constant time whatever the state, and every refusal is the same
 *   `invalid_token`;
 * - a cancel link is good once, until its request's `cancelUntil`, even after newer requests: it
 *   ends whatever change is pending and, when its own request was confirmed and the address is
 *   still the one it set, puts the old address back (a revert); the handler then ends every session.
 */
import { errors } from '../../errors';
import { pendingEmailChange, type EmailChangeRecord } from '../../events/email-change';
import type { UserEvent, UserState } from '../../events/user';
import { normaliseEmail } from '../../events/user';
import { tokenMatches } from '../../credentials/email-tokens';
import { invalidToken } from './decide';

export type EmailChangeCommand =
  | { type: 'RequestEmailChange'; requestId: string; email: string; name?: string; confirmTokenHash: string; cancelTokenHash: string; expiresAt: string; cancelUntil: string }
  | { type: 'ConfirmEmailChange'; requestId: string; token: string; now: Date }
  | { type: 'CancelEmailChange'; requestId: string; token: string; now: Date };

const DUMMY_HASH = 'x'.repeat(43);

function findChecked(state: UserState, requestId: string, token: string, hashOf: (r: EmailChangeRecord) => string): EmailChangeRecord {
  const r = state.emailChange.requests.find((x) => x.requestId === requestId);
  // Compare first, whatever the state: the work done does not depend on which check fails.
  const matches = tokenMatches(token, r ? hashOf(r) : DUMMY_HASH);
  if (!r || !matches) throw invalidToken();
  return r;
}

export function decideEmailChange(command: EmailChangeCommand, state: UserState): UserEvent[] {
  const userId = state.userId;
  switch (command.type) {
    case 'RequestEmailChange': {
      if (state.disabled) throw errors.forbidden('This account is disabled.', 'account_disabled');
      const { requestId, email, confirmTokenHash, cancelTokenHash, expiresAt, cancelUntil } = command;
      const rename: UserEvent[] = command.name !== undefined && command.name !== state.name ? [{ type: 'UserProfileUpdated', data: { userId, name: command.name } }] : [];
      return [...rename, {
        type: 'EmailChangeRequested',
        data: { userId, requestId, email, previousEmail: state.email, confirmTokenHash, cancelTokenHash, expiresAt, cancelUntil },
      }];
    }
    case 'ConfirmEmailChange': {
      const r = findChecked(state, command.requestId, command.token, (x) => x.confirmTokenHash);
      if (pendingEmailChange(state.emailChange) !== r || Date.parse(r.expiresAt) <= command.now.getTime() || state.disabled) throw invalidToken();
      if (normaliseEmail(r.previousEmail) !== normaliseEmail(state.email)) throw invalidToken();
      return [
        { type: 'EmailChangeConfirmed', data: { userId, requestId: r.requestId, email: r.email, previousEmail: state.email } },
        { type: 'UserProfileUpdated', data: { userId, email: r.email, previousEmail: state.email } },
        { type: 'EmailVerified', data: { userId, email: r.email } },
      ];
    }
    case 'CancelEmailChange': {
      const r = findChecked(state, command.requestId, command.token, (x) => x.cancelTokenHash);
      if (r.cancelUsed || Date.parse(r.cancelUntil) <= command.now.getTime()) throw invalidToken();
      const pending = pendingEmailChange(state.emailChange);
      const revert = r.status === 'confirmed' && normaliseEmail(state.email) === normaliseEmail(r.email);
      const events: UserEvent[] = [{
        type: 'EmailChangeCancelled',
        data: { userId, requestId: r.requestId, ...(pending ? { cancelledRequestId: pending.requestId } : {}), ...(revert ? { revertedTo: r.previousEmail } : {}) },
      }];
      if (revert) {
        // The old mailbox holds this link: it is verified again.
        events.push({ type: 'UserProfileUpdated', data: { userId, email: r.previousEmail, previousEmail: state.email } });
        events.push({ type: 'EmailVerified', data: { userId, email: r.previousEmail } });
      }
      return events;
    }
  }
}
