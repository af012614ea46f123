/**
 * Pure decisions on e-mail tokens (verification, password reset). Rules enforced here:
 * - a token is good only if its stream exists, its hash matches (constant time), it is not
 *   consumed, not expired, and its user still exists and is not deleted;
 * - a verification token is good only for the address it was sent to, while that is still the
 *   user's address; a reset token only while the account is not disabled;
 * - every refusal is the same `invalid_token` answer, so a caller learns nothing about why.
 */
import { domainError } from '../../errors';
import { evolveEmailToken, initialEmailTokenState, type EmailTokenKind, type EmailTokenState } from '../../events/email-token';
import type { UserState } from '../../events/user';
import { tokenMatches } from '../../credentials/email-tokens';

export const invalidToken = () => domainError('email_token_invalid', 'The link is invalid, already used or expired. Ask for a new one.');

export interface TokenUse {
  tokenId: string;
  userId: string;
  email: string;
}

export function decideTokenUse(kind: EmailTokenKind, presented: string, token: EmailTokenState, user: UserState, now: Date): TokenUse {
  const r = token.requested;
  // Compare first, whatever the state: the work done does not depend on which check fails.
  const matches = r ? tokenMatches(presented, r.tokenHash) : tokenMatches(presented, 'x'.repeat(43));
  if (!r || !matches) throw invalidToken();
  if (token.consumed || Date.parse(r.expiresAt) <= now.getTime()) throw invalidToken();
  if (!user.exists || user.deleted || user.userId !== r.userId) throw invalidToken();
  if (kind === 'verification' && user.email !== r.email) throw invalidToken();
  if (kind === 'reset' && user.disabled) throw invalidToken();
  return { tokenId: r.tokenId, userId: r.userId, email: r.email };
}

/** Events of a verification: the token is spent; the address is verified unless it already was. */
export function decideVerify(use: TokenUse, user: UserState) {
  const token = [{ type: 'EmailTokenConsumed' as const, data: { tokenId: use.tokenId, userId: use.userId } }];
  const userEvents = user.emailVerified ? [] : [{ type: 'EmailVerified' as const, data: { userId: use.userId, email: use.email } }];
  return { token, user: userEvents };
}

export function decideReset(use: TokenUse, passwordHash: string) {
  return {
    token: [{ type: 'EmailTokenConsumed' as const, data: { tokenId: use.tokenId, userId: use.userId } }],
    user: [{ type: 'PasswordReset' as const, data: { userId: use.userId, passwordHash, tokenId: use.tokenId } }],
  };
}

// ---------------------------------------------------------------- the token stream

type TokenEvent = { type: string; data: unknown; id?: string };

export type EmailTokenCommand =
  | { type: 'RequestToken'; event: TokenEvent }
  | { type: 'SpendToken'; events: TokenEvent[] };

/**
 * The decider of a mailed token's stream (`verification-<id>`, `password-reset-<id>`): a token is
 * requested once (a retried request records nothing) and spent once (the runner appends the spend at the revision the use was
 * decided on, so of two concurrent uses exactly one wins).
 */
export const emailTokenDecider = {
  initialState: initialEmailTokenState,
  evolve: (s: EmailTokenState, e: TokenEvent) => evolveEmailToken(s, e),
  decide(command: EmailTokenCommand, state: EmailTokenState): TokenEvent[] {
    if (command.type === 'RequestToken') {
      // The stream is named after the token id: an existing one is this request, retried (no event).
      return state.requested ? [] : [command.event];
    }
    if (!state.requested || state.consumed) throw invalidToken();
    return command.events;
  },
};
