/** Issue 20 §3, given / when / then: reuse is a token the family issued; a guess changes nothing on the session. */
import { describe, it } from 'vitest';
import { spec } from '../helpers/decider';
import { refreshGuardDecider, sessionDecider, type RefreshGuardCommand, type RefreshGuardEvent, type SessionCommand } from '../../src/commands/identity/deciders';
import type { SessionEvent } from '../../src/events/session';

const sessions = spec(sessionDecider as unknown as { initialState: () => ReturnType<typeof sessionDecider.initialState>; evolve: typeof sessionDecider.evolve; decide: (c: SessionCommand, s: ReturnType<typeof sessionDecider.initialState>) => SessionEvent[] });
const guard = spec(refreshGuardDecider as unknown as { initialState: () => ReturnType<typeof refreshGuardDecider.initialState>; evolve: typeof refreshGuardDecider.evolve; decide: (c: RefreshGuardCommand, s: ReturnType<typeof refreshGuardDecider.initialState>) => RefreshGuardEvent[] });

const U = 'u-1';
const S = 'c0ffee00-0000-4000-8000-000000000001';
const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const client = { ip: '10.0.0.1', userAgent: 'ua-1' };
const thief = { ip: '10.6.6.6', userAgent: 'evil' };
const expiresAt = at(14 * 86400_000).toISOString();
const started: SessionEvent = { type: 'SessionStarted', data: { sessionId: S, userId: U, refreshTokenHash: 'h0', startedAt: T0.toISOString(), expiresAt, ...client } };
const rotated = (from: string, to: string, ms: number): SessionEvent => ({
  type: 'SessionRotated', data: { sessionId: S, userId: U, refreshTokenHash: to, previousTokenHash: from, rotatedAt: at(ms).toISOString(), expiresAt, ...client },
});
const refresh = (presented: string, ms: number): SessionCommand => ({
  type: 'Refresh', presentedHash: presented, newHash: 'new', now: at(ms), client: thief, idleSeconds: 3 * 86400, graceSeconds: 0,
});
const reuse = (presented: string): SessionEvent[] => [
  { type: 'RefreshTokenReuseDetected', data: { sessionId: S, userId: U, presentedTokenHash: presented, presenter: thief, rotatedBy: client } },
  { type: 'SessionRevoked', data: { sessionId: S, userId: U, reason: 'reuse_detected' } },
];
const family = [started, rotated('h0', 'h1', 1000), rotated('h1', 'h2', 2000), rotated('h2', 'h3', 3000)];

describe('session decider: reuse vs a guessed secret', () => {
  it('a secret the family never issued is refused and records nothing on the session', () => {
    sessions.given([started]).when(refresh('guess', 500)).thenThrows('invalid_refresh_token');
    sessions.given(family).when(refresh('guess', 4000)).thenThrows('invalid_refresh_token');
  });

  it('any token the family issued and rotated away is reuse, the oldest too', () => {
    for (const h of ['h0', 'h1', 'h2']) sessions.given(family).when(refresh(h, 4000)).then(reuse(h));
  });

  it('the current token still rotates', () => {
    sessions.given(family).when(refresh('h3', 4000)).then([
      { type: 'SessionRotated', data: { sessionId: S, userId: U, refreshTokenHash: 'new', previousTokenHash: 'h3', ...thief, rotatedAt: at(4000).toISOString(), expiresAt } },
    ]);
  });
});

describe('refresh guard decider: the per-session limit of guesses', () => {
  const cmd = (ms: number, extra: Partial<RefreshGuardCommand> = {}): RefreshGuardCommand => ({
    type: 'RecordForeignRefresh', sessionId: S, userId: U, presentedHash: 'g', client: thief, now: at(ms), limit: 3, windowSeconds: 600, ...extra,
  });
  const rejected = (n: number, ms: number): RefreshGuardEvent => ({
    type: 'RefreshTokenRejected', data: { sessionId: S, userId: U, presentedTokenHash: 'g', presenter: thief, at: at(ms).toISOString(), consecutiveFailures: n },
  });
  const limited = (ms: number, failures = 3): RefreshGuardEvent => ({ type: 'RefreshFailureLimitReached', data: { sessionId: S, userId: U, until: at(ms + 600_000).toISOString(), failures } });

  it('counts each guess', () => {
    guard.given([]).when(cmd(0)).then([rejected(1, 0)]);
    guard.given([rejected(1, 0)]).when(cmd(10)).then([rejected(2, 10)]);
  });

  it('the limit-th guess opens a limit period; inside it nothing more is recorded', () => {
    guard.given([rejected(1, 0), rejected(2, 10)]).when(cmd(20)).then([rejected(3, 20), limited(20)]);
    guard.given([rejected(1, 0), rejected(2, 10), rejected(3, 20), limited(20)]).when(cmd(30)).then([]);
  });

  it('counting starts over after the window, and after a limit period', () => {
    guard.given([rejected(1, 0), rejected(2, 10)]).when(cmd(600_011)).then([rejected(1, 600_011)]);
    guard.given([rejected(1, 0), rejected(2, 10), rejected(3, 20), limited(20)]).when(cmd(600_021)).then([rejected(1, 600_021)]);
  });
});
