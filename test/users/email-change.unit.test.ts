/** Given / when / then for one's own e-mail change (issue 20 §2), decided on the user stream. */
import { describe, expect, it } from 'vitest';
import { spec } from '../helpers/decider';
import { userDecider } from '../../src/commands/users/decide';
import { hashEmailToken } from '../../src/credentials/email-tokens';
import type { UserEvent } from '../../src/events/user';
import { reservationDecider } from '../../src/commands/users/email';

const users = spec(userDecider);
const registered: UserEvent = { type: 'UserRegistered', data: { userId: 'u1', email: 'ann@example.com', name: 'Ann', passwordHash: 'h', source: 'signup' } };
const R1 = '11111111-1111-4111-8111-111111111111';
const R2 = '22222222-2222-4222-8222-222222222222';
const tok = (kind: string, r: string) => `${r}.${kind.padEnd(43, 'A')}.u1`;
const now = new Date('2026-01-01T00:00:00Z');
const later = (s: number) => new Date(now.getTime() + s * 1000).toISOString();
const requested = (r: string, email: string, previousEmail = 'ann@example.com'): UserEvent => ({
  type: 'EmailChangeRequested',
  data: { userId: 'u1', requestId: r, email, previousEmail, confirmTokenHash: hashEmailToken(tok('confirm', r)), cancelTokenHash: hashEmailToken(tok('cancel', r)), expiresAt: later(3600), cancelUntil: later(7200) },
});
const confirmedEvents = (r: string, email: string, previousEmail = 'ann@example.com'): UserEvent[] => [
  { type: 'EmailChangeConfirmed', data: { userId: 'u1', requestId: r, email, previousEmail } },
  { type: 'UserProfileUpdated', data: { userId: 'u1', email, previousEmail } },
  { type: 'EmailVerified', data: { userId: 'u1', email } },
];
const confirm = (r: string, token = tok('confirm', r), at = now) => ({ type: 'ConfirmEmailChange' as const, requestId: r, token, now: at });
const cancel = (r: string, token = tok('cancel', r), at = now) => ({ type: 'CancelEmailChange' as const, requestId: r, token, now: at });

describe('e-mail change decider', () => {
  it('a request records the pending change only (and a rename with it)', () => {
    const c = { type: 'RequestEmailChange' as const, requestId: R1, email: 'new@example.com', name: 'Anne', confirmTokenHash: 'c', cancelTokenHash: 'x', expiresAt: later(10), cancelUntil: later(20) };
    users.given([registered]).when(c).then([
      { type: 'UserProfileUpdated', data: { userId: 'u1', name: 'Anne' } },
      { type: 'EmailChangeRequested', data: { userId: 'u1', requestId: R1, email: 'new@example.com', previousEmail: 'ann@example.com', confirmTokenHash: 'c', cancelTokenHash: 'x', expiresAt: later(10), cancelUntil: later(20) } },
    ]);
    users.given([registered, { type: 'UserDisabled', data: { userId: 'u1' } }]).when(c).thenThrows('account_disabled');
    const state = [registered, requested(R1, 'new@example.com')].reduce(userDecider.evolve, userDecider.initialState());
    expect(state.email).toBe('ann@example.com');
  });

  it('confirms the newest pending request once, with its own token, before it expires', () => {
    users.given([registered, requested(R1, 'new@example.com')]).when(confirm(R1)).then(confirmedEvents(R1, 'new@example.com'));
    users.given([registered, requested(R1, 'new@example.com'), ...confirmedEvents(R1, 'new@example.com')]).when(confirm(R1)).thenThrows('invalid_token');
    users.given([registered, requested(R1, 'new@example.com')]).when(confirm(R1, tok('cancel', R1))).thenThrows('invalid_token');
    users.given([registered, requested(R1, 'new@example.com')]).when(confirm(R1, tok('confirm', R2))).thenThrows('invalid_token');
    users.given([registered, requested(R1, 'new@example.com')]).when(confirm(R1, undefined, new Date(Date.parse(later(3601))))).thenThrows('invalid_token');
    users.given([registered]).when(confirm(R1)).thenThrows('invalid_token');
  });

  it('a newer request supersedes the older one; an admin edit ends the pending one', () => {
    users.given([registered, requested(R1, 'one@example.com'), requested(R2, 'two@example.com')]).when(confirm(R1)).thenThrows('invalid_token');
    users.given([registered, requested(R1, 'one@example.com'), requested(R2, 'two@example.com')]).when(confirm(R2)).then(confirmedEvents(R2, 'two@example.com'));
    users.given([registered, requested(R1, 'one@example.com'), { type: 'UserProfileUpdated', data: { userId: 'u1', email: 'admin@example.com', previousEmail: 'ann@example.com' } }])
      .when(confirm(R1)).thenThrows('invalid_token');
  });

  it('a cancel link ends the pending change, even from a superseded request, and works once', () => {
    users.given([registered, requested(R1, 'new@example.com')]).when(cancel(R1))
      .then([{ type: 'EmailChangeCancelled', data: { userId: 'u1', requestId: R1, cancelledRequestId: R1 } }]);
    users.given([registered, requested(R1, 'one@example.com'), requested(R2, 'two@example.com')]).when(cancel(R1))
      .then([{ type: 'EmailChangeCancelled', data: { userId: 'u1', requestId: R1, cancelledRequestId: R2 } }]);
    const spent: UserEvent = { type: 'EmailChangeCancelled', data: { userId: 'u1', requestId: R1, cancelledRequestId: R1 } };
    users.given([registered, requested(R1, 'new@example.com'), spent]).when(cancel(R1)).thenThrows('invalid_token');
    users.given([registered, requested(R1, 'new@example.com'), spent]).when(confirm(R1)).thenThrows('invalid_token');
    users.given([registered, requested(R1, 'new@example.com')]).when(cancel(R1, tok('confirm', R1))).thenThrows('invalid_token');
    users.given([registered, requested(R1, 'new@example.com')]).when(cancel(R1, undefined, new Date(Date.parse(later(7201))))).thenThrows('invalid_token');
  });

  it('a cancel link of a confirmed change reverts it while the address is still the one it set', () => {
    const done = [registered, requested(R1, 'new@example.com'), ...confirmedEvents(R1, 'new@example.com')];
    users.given(done).when(cancel(R1)).then([
      { type: 'EmailChangeCancelled', data: { userId: 'u1', requestId: R1, revertedTo: 'ann@example.com' } },
      { type: 'UserProfileUpdated', data: { userId: 'u1', email: 'ann@example.com', previousEmail: 'new@example.com' } },
      { type: 'EmailVerified', data: { userId: 'u1', email: 'ann@example.com' } },
    ]);
    // A later change away from that address: the old link no longer reverts (it still cancels and signs out).
    const moved = [...done, requested(R2, 'third@example.com', 'new@example.com'), ...confirmedEvents(R2, 'third@example.com', 'new@example.com')];
    users.given(moved).when(cancel(R1)).then([{ type: 'EmailChangeCancelled', data: { userId: 'u1', requestId: R1 } }]);
  });
});

describe('an address left by a confirmed change is held for a revert', () => {
  const reservations = spec(reservationDecider);
  const reserved = { type: 'EmailReserved' as const, data: { email: 'ann@example.com', userId: 'u1' }, createdAt: now };
  const held = { type: 'EmailHeld' as const, data: { email: 'ann@example.com', userId: 'u1', until: later(60) } };
  const reserve = (userId: string, at = now) => ({ type: 'Reserve' as const, email: 'ann@example.com', userId, now: at, holderWritten: () => true });
  it('holds only for its holder', () => {
    reservations.given([reserved]).when({ type: 'Hold', email: 'ann@example.com', userId: 'u1', until: later(60) }).then([held]);
    reservations.given([reserved]).when({ type: 'Hold', email: 'ann@example.com', userId: 'u2', until: later(60) }).then([]);
  });
  it('nobody else may take a held address until the hold ends; its holder takes it back at once', () => {
    reservations.given([reserved, held]).when(reserve('u2')).thenThrows('email_taken');
    reservations.given([reserved, held]).when(reserve('u1')).then([{ type: 'EmailReserved', data: { email: 'ann@example.com', userId: 'u1' } }]);
    reservations.given([reserved, held]).when(reserve('u2', new Date(Date.parse(later(61))))).then([
      { type: 'EmailReleased', data: { email: 'ann@example.com', userId: 'u1' } },
      { type: 'EmailReserved', data: { email: 'ann@example.com', userId: 'u2' } },
    ]);
  });
});
