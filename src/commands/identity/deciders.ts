/**
 * The one decider of the session stream (`session-<id>`): `decide(command, state) → events`,
 * time / ids / hashes passed in. (The user stream's decider is src/commands/users/decide.ts.)
 * Rules (RFC 9700 §4.14.2 refresh-token rotation):
 * - presenting the current refresh token of an active, unexpired session rotates it;
 * - presenting any other token of the family (one this session issued and has since rotated: its
 *   hash is in the session's events) is reuse: the whole session is revoked and the evidence
 *   (both presenters) recorded — except the one retry of
 *   the just-rotated token inside the grace window, which rotates again (once), and a request
 *   that was already in flight when the rotation was stored (a lost concurrent race: 401 only);
 * - a secret the family never issued (a guess: session ids are not secret) is not reuse: 401 and
 *   nothing changes on the session; it is counted on the session's guard stream (decideRefreshGuard):
 *   REFRESH_FAILURE_LIMIT of them within REFRESH_FAILURE_WINDOW_SECONDS refuse further foreign
 *   secrets with 429 for that window, unrecorded; the session's own tokens keep working;
 * - the foreign/reuse call is made on a whole-stream fold (`familyHashes` complete): the handler
 *   reads the whole stream whenever the secret is neither the current nor the just-rotated one;
 * - past its absolute lifetime or idle timeout a session expires instead;
 * - an ended session refuses everything; ending it again records nothing;
 * - revoking on behalf of an owner changes nothing when the session is someone else's;
 * - the cleanup job expires a session only past its absolute lifetime or idle timeout, with an
 *   event id derived from the revision it decided on (a retried job stores nothing twice).
 */
import { domainError, errors } from '../../errors';
import {
  evolveRefreshGuard, evolveSession, initialRefreshGuardState, initialSessionState,
  type RefreshGuardState, type SessionEvent, type SessionRevokedReason, type SessionState,
} from '../../events/session';
import { sameHash } from '../../credentials/refresh-tokens';
import type { Client } from '../users/decide';

export { sameHash };
export type { Client };

// ---------------------------------------------------------------- session

export type SessionCommand =
  | {
      type: 'StartSession'; sessionId: string; userId: string; refreshTokenHash: string; now: Date; ttlSeconds: number;
      deviceName?: string; client: Client;
      /** How the user signed in, when not by password (`oauth:<provider>`). */
      method?: string;
      /** What the login proved (RFC 8176 values; issue 17). */
      amr?: string[];
    }
  | {
      type: 'Refresh'; presentedHash: string; newHash: string; now: Date; client: Client;
      idleSeconds: number; graceSeconds: number;
      /**
       * The session's last change was not yet applied when this request arrived: the two
       * overlapped (two concurrent refreshes of one token), a lost race, not a reuse.
       */
      overlapsLastChange?: boolean;
    }
  | { type: 'Revoke'; reason: SessionRevokedReason; ownerId?: string }
  | { type: 'Expire'; now: Date; idleSeconds: number; eventId?: string };

export const invalidRefreshToken = () =>
  domainError('invalid_refresh_token', 'The refresh token is invalid, expired or already used.');

/** Whether `presentedHash` was never issued by this family (decide on a whole-stream fold only). */
export const isForeignSecret = (state: SessionState, presentedHash: string): boolean =>
  !state.familyHashes.some((h) => sameHash(presentedHash, h));

export function decideSession(command: SessionCommand, state: SessionState): (SessionEvent & { id?: string })[] {
  switch (command.type) {
    case 'StartSession': {
      if (state.status !== 'none') throw errors.conflict('This session already exists.', 'session_exists');
      const { sessionId, userId, refreshTokenHash, now, deviceName, client } = command;
      return [{
        type: 'SessionStarted',
        data: {
          sessionId, userId, refreshTokenHash, deviceName, ...client, ...(command.method ? { method: command.method } : {}), ...(command.amr ? { amr: command.amr } : {}),
          startedAt: now.toISOString(), expiresAt: new Date(now.getTime() + command.ttlSeconds * 1000).toISOString(),
        },
      }];
    }
    case 'Revoke':
      if (command.ownerId !== undefined && state.userId !== command.ownerId) return [];
      if (state.status !== 'active') return [];
      return [{ type: 'SessionRevoked', data: { sessionId: state.sessionId, userId: state.userId, reason: command.reason } }];
    case 'Expire': {
      if (state.status !== 'active') return [];
      const now = command.now.getTime();
      const lastUsed = Date.parse(state.lastUsedAt || state.startedAt);
      const reason = state.expiresAt && Date.parse(state.expiresAt) <= now ? 'absolute'
        : lastUsed + command.idleSeconds * 1000 <= now ? 'idle' : undefined;
      if (!reason) return [];
      return [{ ...(command.eventId ? { id: command.eventId } : {}), type: 'SessionExpired', data: { sessionId: state.sessionId, userId: state.userId, reason } }];
    }
    case 'Refresh': {
      if (state.status !== 'active') throw invalidRefreshToken();
      const { sessionId, userId } = state;
      const now = command.now.getTime();
      if (now >= Date.parse(state.expiresAt)) return [{ type: 'SessionExpired', data: { sessionId, userId, reason: 'absolute' } }];
      const sinceUse = now - Date.parse(state.lastUsedAt);
      if (sinceUse > command.idleSeconds * 1000) return [{ type: 'SessionExpired', data: { sessionId, userId, reason: 'idle' } }];
      const rotate = (viaGrace: boolean): SessionEvent => ({
        type: 'SessionRotated',
        data: {
          sessionId, userId, refreshTokenHash: command.newHash, previousTokenHash: state.tokenHash, ...command.client,
          rotatedAt: command.now.toISOString(), expiresAt: state.expiresAt, ...(viaGrace ? { viaGrace: true } : {}), ...(state.amr ? { amr: state.amr } : {}),
        },
      });
      if (sameHash(command.presentedHash, state.tokenHash)) return [rotate(false)];
      if (command.overlapsLastChange && sameHash(command.presentedHash, state.previousTokenHash)) {
        throw invalidRefreshToken(); // lost a concurrent race: refused, nothing recorded
      }
      if (
        command.graceSeconds > 0 && sameHash(command.presentedHash, state.previousTokenHash) &&
        sinceUse <= command.graceSeconds * 1000 && !state.lastRotationViaGrace
      ) {
        return [rotate(true)];
      }
      // Not the family's: a guess, not a theft. Nothing happens to the session.
      if (isForeignSecret(state, command.presentedHash)) throw invalidRefreshToken();
      return [
        {
          type: 'RefreshTokenReuseDetected',
          data: { sessionId, userId, presentedTokenHash: command.presentedHash, presenter: command.client, rotatedBy: state.lastClient },
        },
        { type: 'SessionRevoked', data: { sessionId, userId, reason: 'reuse_detected' } },
      ];
    }
  }
}

export const sessionDecider = { initialState: initialSessionState, evolve: evolveSession, decide: decideSession };

export type { SessionState };

// ---------------------------------------------------------------- refresh guard

export type RefreshGuardCommand = {
  type: 'RecordForeignRefresh'; sessionId: string; userId: string; presentedHash: string; client: Client; now: Date;
  limit: number; windowSeconds: number;
};

export type RefreshGuardEvent =
  | { type: 'RefreshTokenRejected'; data: { sessionId: string; userId: string; presentedTokenHash: string; presenter: Client; at: string; consecutiveFailures: number } }
  | { type: 'RefreshFailureLimitReached'; data: { sessionId: string; userId: string; until: string; failures: number } };

export const refreshFailuresExceeded = (until: string, now: Date) =>
  domainError('refresh_failures_exceeded', 'Too many invalid refresh tokens for this session; try again later.', {
    retryAfterSeconds: Math.max(1, Math.ceil((Date.parse(until) - now.getTime()) / 1000)),
  });

export const refreshGuardLocked = (state: RefreshGuardState, now: Date) => !!state.lockedUntil && Date.parse(state.lockedUntil) > now.getTime();

/**
 * The guard stream's decider (`refreshguard-<sessionId>`). Rules: one RefreshTokenRejected per
 * foreign secret, counted within a window that starts over `windowSeconds` after the last one or
 * when a limit period ends; the `limit`-th opens a limit period of `windowSeconds`
 * (RefreshFailureLimitReached); inside it nothing more is recorded (the stream stays bounded).
 */
export function decideRefreshGuard(command: RefreshGuardCommand, state: RefreshGuardState): RefreshGuardEvent[] {
  const now = command.now.getTime();
  if (refreshGuardLocked(state, command.now)) return [];
  const windowMs = command.windowSeconds * 1000;
  let failures = state.failures;
  if (state.lockedUntil && Date.parse(state.lockedUntil) <= now) failures = 0;
  if (state.lastFailureAt && now - Date.parse(state.lastFailureAt) > windowMs) failures = 0;
  failures += 1;
  const { sessionId, userId } = command;
  const events: RefreshGuardEvent[] = [{
    type: 'RefreshTokenRejected',
    data: { sessionId, userId, presentedTokenHash: command.presentedHash, presenter: command.client, at: command.now.toISOString(), consecutiveFailures: failures },
  }];
  if (failures >= command.limit) {
    events.push({ type: 'RefreshFailureLimitReached', data: { sessionId, userId, until: new Date(now + windowMs).toISOString(), failures } });
  }
  return events;
}

export const refreshGuardDecider = { initialState: initialRefreshGuardState, evolve: evolveRefreshGuard, decide: decideRefreshGuard };
export type { RefreshGuardState };
