/**
 * Session events (stream `session-<id>`, one per device login; kept off the user stream because
 * they are hot). Refresh tokens appear only as SHA-256 hashes.
 */
import { z } from 'zod';
import { defineEvent } from './registry';
import { client, id, isoTime } from './common';

const sessionStartedV1 = client.extend({
  sessionId: id,
  userId: id,
  deviceName: z.string().max(200).optional(),
  refreshTokenHash: z.string(),
  expiresAt: isoTime,
});
/** v2 adds `startedAt` (the decider's clock; v1 readers fall back to the event's creation time). */
export const SessionStarted = defineEvent(
  'SessionStarted',
  // `method` (issue 13): how the user signed in; absent means a password login.
  // `amr` (issue 17): RFC 8176 methods the login proved (absent: ['pwd'], or none for social sign-in).
  sessionStartedV1.extend({ startedAt: isoTime.optional(), method: z.string().max(80).optional(), amr: z.array(z.string().max(20)).max(8).optional() }),
  [{ schema: sessionStartedV1 }],
  (v1) => v1,
);
const sessionRotatedV1 = client.extend({ sessionId: id, userId: id, refreshTokenHash: z.string(), previousTokenHash: z.string() });
/**
 * v2 adds `rotatedAt` (the decider's clock), `expiresAt` (copied along so the last event alone
 * rebuilds the state: decisions read only the first and the last event of a session) and
 * `viaGrace` (a retry of the just-rotated token inside REFRESH_REUSE_GRACE_SECONDS).
 */
export const SessionRotated = defineEvent(
  'SessionRotated',
  sessionRotatedV1.extend({ rotatedAt: isoTime.optional(), expiresAt: isoTime.optional(), viaGrace: z.boolean().optional(), amr: z.array(z.string().max(20)).max(8).optional() }),
  [{ schema: sessionRotatedV1 }],
  (v1) => v1,
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
/**
 * A refresh token of a real session presented with a secret this session never issued (a guess:
 * session ids are not secret). Stored on the session's guard stream (`refreshguard-<id>`), never on
 * the session's own stream: a guess changes nothing about the session (issue 20 §3).
 */
export const RefreshTokenRejected = defineEvent(
  'RefreshTokenRejected',
  z.object({ sessionId: id, userId: id, presentedTokenHash: z.string(), presenter: client, at: isoTime, consecutiveFailures: z.number().int() }),
);
/** The per-session limit of foreign secrets was reached: more are refused (429) until `until`, unrecorded. */
export const RefreshFailureLimitReached = defineEvent(
  'RefreshFailureLimitReached',
  z.object({ sessionId: id, userId: id, until: isoTime, failures: z.number().int() }),
);
export const refreshGuardEvents = [RefreshTokenRejected, RefreshFailureLimitReached];

export const sessionRevokedReason = z.enum([
  'logout', 'logout_all', 'user_revoked', 'admin', 'password_changed', 'password_reset', 'reuse_detected', 'user_disabled', 'user_deleted', 'token_revoked',
  'email_change_cancelled',
]);
export const SessionRevoked = defineEvent('SessionRevoked', z.object({ sessionId: id, userId: id, reason: sessionRevokedReason }));
export const SessionExpired = defineEvent('SessionExpired', z.object({ sessionId: id, userId: id, reason: z.enum(['idle', 'absolute']) }));

export const sessionEvents = [SessionStarted, SessionRotated, RefreshTokenReuseDetected, SessionRevoked, SessionExpired];
export const SESSION_ENDING_EVENTS = ['SessionRevoked', 'SessionExpired'] as const;
export { isoTime };

type Ev<D extends { type: string; schema: z.ZodType }> = { type: D['type']; data: z.infer<D['schema']> };
export type SessionEvent =
  | Ev<typeof SessionStarted> | Ev<typeof SessionRotated> | Ev<typeof RefreshTokenReuseDetected>
  | Ev<typeof SessionRevoked> | Ev<typeof SessionExpired>;
export type SessionRevokedReason = z.infer<typeof sessionRevokedReason>;

/**
 * A session (one device's login, one refresh-token family) as deciders see it.
 * Every field is "last write wins", and every non-final event carries all of them, so folding
 * the first and the last event of the stream gives the same state as folding all of them, and
 * the last SessionRotated (v2) alone carries every field a decision reads: deciding on a
 * 14-day-old session costs one single-row read, not 1,300.
 */
export interface SessionState {
  status: 'none' | 'active' | 'revoked' | 'expired';
  sessionId: string;
  userId: string;
  deviceName?: string;
  /** SHA-256 (hex) of the refresh token that may be presented now. */
  tokenHash: string;
  /** The hash rotated away last (grace-window retries and reuse evidence). */
  previousTokenHash?: string;
  startedAt: string;
  /** Last rotation, or the start: idle timeout and grace window count from here. */
  lastUsedAt: string;
  expiresAt: string;
  /** ip / user agent of whoever presented the current token last (reuse evidence). */
  lastClient: { ip?: string; userAgent?: string };
  lastRotationViaGrace: boolean;
  endReason?: string;
  /** What the login proved (SessionStarted.amr, copied along by SessionRotated; issue 17). */
  amr?: string[];
  /**
   * Every refresh-token hash of the folded events (the family: issued, then rotated away). Complete
   * only when the whole stream was folded (loadStream); the first/last-event loader sees a subset,
   * so a decision that a secret is foreign is made on a whole-stream fold only (identity/service.ts).
   */
  familyHashes: string[];
}

export const initialSessionState = (): SessionState => ({
  status: 'none', sessionId: '', userId: '', tokenHash: '', startedAt: '', lastUsedAt: '', expiresAt: '', lastClient: {}, lastRotationViaGrace: false, familyHashes: [],
});

function withHashes(known: readonly string[], ...hashes: string[]): string[] {
  const out = [...known];
  for (const h of hashes) if (h && !out.includes(h)) out.push(h);
  return out;
}

export function evolveSession(state: SessionState, event: { type: string; data: unknown }): SessionState {
  const e = event as SessionEvent;
  switch (e.type) {
    case 'SessionStarted': {
      const at = e.data.startedAt ?? state.startedAt;
      return {
        ...state,
        familyHashes: withHashes(state.familyHashes, e.data.refreshTokenHash),
        status: 'active', sessionId: e.data.sessionId, userId: e.data.userId, deviceName: e.data.deviceName,
        tokenHash: e.data.refreshTokenHash, previousTokenHash: undefined, startedAt: at,
        lastUsedAt: state.lastUsedAt && state.lastUsedAt > at ? state.lastUsedAt : at, expiresAt: e.data.expiresAt,
        lastClient: { ip: e.data.ip, userAgent: e.data.userAgent }, lastRotationViaGrace: false, amr: e.data.amr,
      };
    }
    case 'SessionRotated':
      return {
        ...state,
        familyHashes: withHashes(state.familyHashes, e.data.previousTokenHash, e.data.refreshTokenHash),
        status: state.status === 'none' ? 'active' : state.status,
        sessionId: e.data.sessionId, userId: e.data.userId,
        tokenHash: e.data.refreshTokenHash, previousTokenHash: e.data.previousTokenHash,
        lastUsedAt: e.data.rotatedAt ?? state.lastUsedAt, expiresAt: e.data.expiresAt ?? state.expiresAt,
        lastClient: { ip: e.data.ip, userAgent: e.data.userAgent }, lastRotationViaGrace: e.data.viaGrace ?? false,
        amr: e.data.amr ?? state.amr,
      };
    case 'RefreshTokenReuseDetected':
      return state;
    case 'SessionRevoked':
      return { ...state, sessionId: e.data.sessionId, userId: e.data.userId, status: 'revoked', endReason: e.data.reason };
    case 'SessionExpired':
      return { ...state, sessionId: e.data.sessionId, userId: e.data.userId, status: 'expired', endReason: e.data.reason };
    default:
      return state;
  }
}

// ---------------------------------------------------------------- refresh guard

/** Foreign refresh secrets presented for one session (stream `refreshguard-<sessionId>`). */
export interface RefreshGuardState {
  failures: number;
  lastFailureAt?: string;
  lockedUntil?: string;
}

export const initialRefreshGuardState = (): RefreshGuardState => ({ failures: 0 });

export function evolveRefreshGuard(state: RefreshGuardState, event: { type: string; data: unknown }): RefreshGuardState {
  const e = event as Ev<typeof RefreshTokenRejected> | Ev<typeof RefreshFailureLimitReached>;
  switch (e.type) {
    case 'RefreshTokenRejected':
      return { ...state, failures: e.data.consecutiveFailures, lastFailureAt: e.data.at };
    case 'RefreshFailureLimitReached':
      return { ...state, failures: e.data.failures, lockedUntil: e.data.until };
    default:
      return state;
  }
}
