import { describe, expect, it } from 'vitest';
import { spec } from '../helpers/decider';
import { sessionDecider, type SessionCommand } from '../../src/commands/identity/deciders';
import { userDecider, type UserCommand } from '../../src/commands/users/decide';
import { evolveSession, initialSessionState, type SessionEvent } from '../../src/events/session';
import type { UserEvent } from '../../src/events/user';
import { isLocked, nextFailure, progressiveDelayMs } from '../../src/commands/identity/lockout';

const users = spec(userDecider as unknown as { initialState: () => ReturnType<typeof userDecider.initialState>; evolve: typeof userDecider.evolve; decide: (c: UserCommand, s: ReturnType<typeof userDecider.initialState>) => UserEvent[] });
const sessions = spec(sessionDecider as unknown as { initialState: () => ReturnType<typeof sessionDecider.initialState>; evolve: typeof sessionDecider.evolve; decide: (c: SessionCommand, s: ReturnType<typeof sessionDecider.initialState>) => SessionEvent[] });

const U = 'u-1';
const S = 'c0ffee00-0000-4000-8000-000000000001';
const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const policy = { threshold: 3, minutes: 15 };
const registered: UserEvent = { type: 'UserRegistered', data: { userId: U, email: 'a@x.test', name: 'A', passwordHash: 'h', source: 'signup' } };
const client = { ip: '10.0.0.1', userAgent: 'ua-1' };
const thief = { ip: '10.6.6.6', userAgent: 'evil' };

const started: SessionEvent = {
  type: 'SessionStarted',
  data: { sessionId: S, userId: U, refreshTokenHash: 'h0', startedAt: T0.toISOString(), expiresAt: at(14 * 86400_000).toISOString(), ...client },
};
const rotated = (from: string, to: string, ms: number, extra: object = {}): SessionEvent => ({
  type: 'SessionRotated',
  data: { sessionId: S, userId: U, refreshTokenHash: to, previousTokenHash: from, rotatedAt: at(ms).toISOString(), expiresAt: at(14 * 86400_000).toISOString(), ...client, ...extra },
});
const refresh = (presented: string, ms: number, extra: Partial<Extract<SessionCommand, { type: 'Refresh' }>> = {}): SessionCommand => ({
  type: 'Refresh', presentedHash: presented, newHash: 'new', now: at(ms), client: thief, idleSeconds: 3 * 86400, graceSeconds: 0, ...extra,
});

describe('user decider', () => {
  it('registers once', () => {
    users.given([]).when({ type: 'Register', userId: U, email: 'a@x.test', name: 'A', passwordHash: 'h', source: 'signup' }).then([registered]);
    users.given([registered]).when({ type: 'Register', userId: U, email: 'a@x.test', name: 'A', passwordHash: 'h', source: 'signup' }).thenThrows('user_exists');
  });

  it('counts failures and locks at the threshold', () => {
    users.given([registered]).when({ type: 'RecordLoginFailure', now: T0, client, policy }).then([
      { type: 'LoginFailed', data: { userId: U, reason: 'bad_password', consecutiveFailures: 1, at: T0.toISOString(), ...client } },
    ]);
    const two: UserEvent[] = [1, 2].map((n) => ({ type: 'LoginFailed', data: { userId: U, reason: 'bad_password', consecutiveFailures: n, at: T0.toISOString() } }));
    users.given([registered, ...two]).when({ type: 'RecordLoginFailure', now: T0, client, policy }).then([
      { type: 'LoginFailed', data: { userId: U, reason: 'bad_password', consecutiveFailures: 3, at: T0.toISOString(), ...client } },
      { type: 'AccountLocked', data: { userId: U, until: at(15 * 60_000).toISOString(), failures: 3 } },
    ]);
  });

  it('records nothing while locked, and starts over after the lockout', () => {
    const locked: UserEvent = { type: 'AccountLocked', data: { userId: U, until: at(15 * 60_000).toISOString(), failures: 3 } };
    users.given([registered, locked]).when({ type: 'RecordLoginFailure', now: at(60_000), client, policy }).then([]);
    users.given([registered, locked]).when({ type: 'RecordLoginFailure', now: at(16 * 60_000), client, policy }).then([
      { type: 'LoginFailed', data: { userId: U, reason: 'bad_password', consecutiveFailures: 1, at: at(16 * 60_000).toISOString(), ...client } },
    ]);
  });

  it('a success clears the counter; nothing to clear records nothing', () => {
    const failed: UserEvent = { type: 'LoginFailed', data: { userId: U, reason: 'bad_password', consecutiveFailures: 1 } };
    users.given([registered, failed]).when({ type: 'ClearLoginFailures', sessionId: S }).then([{ type: 'LoginFailuresCleared', data: { userId: U, sessionId: S } }]);
    users.given([registered]).when({ type: 'ClearLoginFailures', sessionId: S }).then([]);
  });

  it('rehashes only while the password is still the one the new hash was computed from', () => {
    users.given([registered]).when({ type: 'RehashPassword', passwordHash: 'h2', previousHash: 'h' }).then([{ type: 'PasswordRehashed', data: { userId: U, passwordHash: 'h2' } }]);
    users.given([registered, { type: 'PasswordChanged', data: { userId: U, passwordHash: 'other' } }]).when({ type: 'RehashPassword', passwordHash: 'h2', previousHash: 'h' }).then([]);
  });

  it('grants a role once; refuses unknown or deleted users', () => {
    users.given([registered]).when({ type: 'GrantRole', role: 'admin' }).then([{ type: 'RoleGranted', data: { userId: U, role: 'admin' } }]);
    users.given([registered, { type: 'RoleGranted', data: { userId: U, role: 'admin' } }]).when({ type: 'GrantRole', role: 'admin' }).then([]);
    users.given([]).when({ type: 'GrantRole', role: 'admin' }).thenThrows('user_not_found');
    users.given([registered, { type: 'UserDeleted', data: { userId: U } }]).when({ type: 'ChangePassword', passwordHash: 'x' }).thenThrows('user_not_found');
    users.given([registered, { type: 'UserDisabled', data: { userId: U } }]).when({ type: 'ChangePassword', passwordHash: 'x' }).thenThrows('account_disabled');
  });
});

describe('session decider', () => {
  it('starts a session once', () => {
    sessions.given([]).when({ type: 'StartSession', sessionId: S, userId: U, refreshTokenHash: 'h0', now: T0, ttlSeconds: 14 * 86400, client }).then([started]);
    sessions.given([started]).when({ type: 'StartSession', sessionId: S, userId: U, refreshTokenHash: 'h0', now: T0, ttlSeconds: 1, client }).thenThrows('session_exists');
  });

  it('rotates the current token', () => {
    sessions.given([started]).when(refresh('h0', 1000)).then([
      { type: 'SessionRotated', data: { sessionId: S, userId: U, refreshTokenHash: 'new', previousTokenHash: 'h0', ...thief, rotatedAt: at(1000).toISOString(), expiresAt: at(14 * 86400_000).toISOString() } },
    ]);
  });

  it('an already-rotated token is reuse: evidence of both presenters, the family is revoked', () => {
    sessions.given([started, rotated('h0', 'h1', 1000)]).when(refresh('h0', 2000)).then([
      { type: 'RefreshTokenReuseDetected', data: { sessionId: S, userId: U, presentedTokenHash: 'h0', presenter: thief, rotatedBy: client } },
      { type: 'SessionRevoked', data: { sessionId: S, userId: U, reason: 'reuse_detected' } },
    ]);
  });

  it('a request already in flight when the rotation was stored lost a race: refused, nothing recorded', () => {
    const history = [started, rotated('h0', 'h1', 1000)];
    sessions.given(history).when(refresh('h0', 1200, { overlapsLastChange: true })).thenThrows('invalid_refresh_token');
    // arriving after the rotation was applied: reuse
    sessions.given(history).when(refresh('h0', 1200, { overlapsLastChange: false })).then([
      { type: 'RefreshTokenReuseDetected', data: { sessionId: S, userId: U, presentedTokenHash: 'h0', presenter: thief, rotatedBy: client } },
      { type: 'SessionRevoked', data: { sessionId: S, userId: U, reason: 'reuse_detected' } },
    ]);
    // an older token than the just-rotated one is reuse even when concurrent
    sessions.given([...history, rotated('h1', 'h2', 1005)]).when(refresh('h0', 1200, { overlapsLastChange: true }))
      .then([
        { type: 'RefreshTokenReuseDetected', data: { sessionId: S, userId: U, presentedTokenHash: 'h0', presenter: thief, rotatedBy: client } },
        { type: 'SessionRevoked', data: { sessionId: S, userId: U, reason: 'reuse_detected' } },
      ]);
  });

  it('grace window: the just-rotated token may be retried once, inside the window', () => {
    const g = { graceSeconds: 10 };
    sessions.given([started, rotated('h0', 'h1', 1000)]).when(refresh('h0', 5000, g)).then([
      { type: 'SessionRotated', data: { sessionId: S, userId: U, refreshTokenHash: 'new', previousTokenHash: 'h1', ...thief, rotatedAt: at(5000).toISOString(), expiresAt: at(14 * 86400_000).toISOString(), viaGrace: true } },
    ]);
    // outside the window: reuse
    expect(sessionDecider.decide(refresh('h0', 20_000, g), [started, rotated('h0', 'h1', 1000)].reduce(sessionDecider.evolve, initialSessionState()))[1])
      .toEqual({ type: 'SessionRevoked', data: { sessionId: S, userId: U, reason: 'reuse_detected' } });
    // a second grace retry: reuse
    const afterGrace = [started, rotated('h0', 'h1', 1000), rotated('h1', 'h2', 2000, { viaGrace: true })];
    expect(sessionDecider.decide(refresh('h1', 3000, g), afterGrace.reduce(sessionDecider.evolve, initialSessionState()))[0]!.type).toBe('RefreshTokenReuseDetected');
  });

  it('expires past the absolute lifetime or the idle timeout', () => {
    sessions.given([started]).when(refresh('h0', 14 * 86400_000 + 1)).then([{ type: 'SessionExpired', data: { sessionId: S, userId: U, reason: 'absolute' } }]);
    sessions.given([started]).when(refresh('h0', 3 * 86400_000 + 1)).then([{ type: 'SessionExpired', data: { sessionId: S, userId: U, reason: 'idle' } }]);
    sessions.given([started, rotated('h0', 'h1', 3 * 86400_000)]).when(refresh('h1', 4 * 86400_000)).then([
      expect.objectContaining({ type: 'SessionRotated' }) as unknown as SessionEvent,
    ]);
  });

  it('an ended session refuses refreshes and records no second end', () => {
    const revoked: SessionEvent = { type: 'SessionRevoked', data: { sessionId: S, userId: U, reason: 'logout' } };
    sessions.given([started, revoked]).when(refresh('h0', 1000)).thenThrows('invalid_refresh_token');
    sessions.given([started, revoked]).when({ type: 'Revoke', reason: 'logout_all' }).then([]);
    sessions.given([]).when(refresh('h0', 1000)).thenThrows('invalid_refresh_token');
    sessions.given([started]).when({ type: 'Revoke', reason: 'logout' }).then([revoked]);
  });

  it('folding only the first and the last event equals folding them all (constant decision cost)', () => {
    const history: SessionEvent[] = [started];
    let hash = 'h0';
    for (let i = 1; i <= 1300; i++) {
      history.push(rotated(hash, `h${i}`, i * 900_000, i === 1300 ? { viaGrace: true } : {}));
      hash = `h${i}`;
    }
    // familyHashes (every hash the family issued: reuse vs a guess, issue 20 §3) is the one field
    // a whole-stream fold alone has; the refresh handler reads the whole stream before using it.
    const { familyHashes, ...all } = history.reduce(evolveSession, initialSessionState());
    expect(familyHashes).toHaveLength(1301);
    const { familyHashes: _f2, ...twoEvents } = [history[0]!, history.at(-1)!].reduce(evolveSession, initialSessionState());
    expect(twoEvents).toEqual(all);
    // the last rotation alone carries everything a decision reads (loadSession reads one row)
    const { familyHashes: _f3, ...lastOnly } = [history.at(-1)!].reduce(evolveSession, initialSessionState());
    const { startedAt: _s1, deviceName: _d1, ...decisive } = all;
    const { startedAt: _s2, deviceName: _d2, ...decisiveLast } = lastOnly;
    expect(decisiveLast).toEqual(decisive);
    const ended = [...history, { type: 'SessionRevoked', data: { sessionId: S, userId: U, reason: 'logout' } } as SessionEvent];
    expect([ended[0]!, ended.at(-1)!].reduce(evolveSession, initialSessionState()).status).toBe(ended.reduce(evolveSession, initialSessionState()).status);
  });
});

describe('lockout numbers', () => {
  it('locks at the threshold, forgets after 24 h, delays progressively', () => {
    expect(nextFailure({ failures: 2 }, T0, policy)).toEqual({ failures: 3, lockedUntil: at(15 * 60_000).toISOString() });
    expect(nextFailure({ failures: 2, lastFailureAt: T0.toISOString() }, at(25 * 3600_000), policy)).toEqual({ failures: 1 });
    expect(isLocked({ failures: 3, lockedUntil: at(1000).toISOString() }, T0)).toBe(true);
    expect(isLocked({ failures: 3, lockedUntil: at(1000).toISOString() }, at(1000))).toBe(false);
    expect([1, 2, 3, 4, 5, 6, 7, 9].map(progressiveDelayMs)).toEqual([0, 0, 250, 500, 1000, 2000, 3000, 3000]);
  });
});
