/**
 * Identity command handlers: read the streams, run the pure deciders, append with optimistic
 * concurrency, then apply the new events to the Redis read models inline (read-your-writes on
 * every API process; the projections apply the same events again, idempotently by revision).
 * Rules enforced here (the rest are in deciders.ts, lockout.ts, passwords.ts):
 * - e-mail uniqueness on the write path: `email-<normalised>` is appended with no_stream; a
 *   signup whose registration fails releases the reservation before it answers;
 * - login answers are identical for an unknown e-mail and a wrong password (status, body, one
 *   bcrypt compare, same lockout numbers, same delays);
 * - a refresh decides from two single-row reads (first and last event of the session), and the
 *   append expects the revision it decided on: of two concurrent refreshes exactly one wins;
 * - a refresh secret that is neither the current nor the just-rotated one is judged on the whole
 *   stream: one the family issued is reuse, any other a guess (counted on the guard stream only);
 * - refreshing re-reads the user: disabled / deleted users lose the session, roles are current.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Config } from '../../config';
import type { InlineProjections } from '../../projections/inline';
import { domainError, errors } from '../../errors';
import type { Role } from '../../events/common';
import { evolveSession, initialSessionState, type SessionRevokedReason, type SessionState } from '../../events/session';
import { WrongExpectedVersionError, type EventMetadata, type EventStore, type RecordedEvent } from '../../events/store';
import { streams } from '../../events/streams';
import { normaliseEmail, type UserEvent, type UserState } from '../../events/user';
import type { KeySet } from '../../credentials/keys';
import { parseUserProfile, redisMicros, sessionKey, userProfileKey, userSessionsKey } from '../../projections/session-state';
import { noteSessionOf } from '../../infra/request-writes';
import { NO_STREAM, runCommand, type AppendHook, type CommandResult, type Loaded } from '../decider';
import type { UserCommand } from '../users/decide';
import { findUserIdByEmail, releaseEmail, reserveEmail } from '../users/email';
import { loadUser, runUserCommand } from '../users/stream';
import {
  decideSession, invalidRefreshToken, isForeignSecret, refreshFailuresExceeded, refreshGuardDecider, refreshGuardLocked, sameHash, sessionDecider,
  type Client, type SessionCommand,
} from './deciders';
import { FAILURE_WINDOW_MS, isLocked, progressiveDelayMs, UNKNOWN_LOGIN_FAILURE } from './lockout';
import { checkPasswordPolicy, hashPassword, needsRehash, verifyPassword } from './passwords';
import { signAccessToken, type IssuedAccessToken } from '../../credentials/access-tokens';
import { secondStepOf, type MfaChallenge } from '../mfa/login-gate';
import { requireStepUp } from '../mfa/step-up';
import { newRefreshToken, parseRefreshToken } from '../../credentials/refresh-tokens';

/** What the session commands need; a `Services` object fits. */
export interface SessionDeps {
  config: Config;
  store: EventStore;
  redis: Redis;
  prefix: string;
  /** The inline projections the runner applies (a `Services` has them: `services.inline`). */
  inline: InlineProjections;
  pool?: pg.Pool;
  /** This process's session gate: told first when a session ends here. */
  gate?: { markEnded(sessionId: string): void; expectEnded?(sessionId: string): { done: Promise<void>; cancel(): void } };
  /** Where a failed inline projection (after a committed append) is logged. */
  log?: { warn(o: object, m?: string): void };
}

export interface IdentityDeps extends SessionDeps {
  keys: KeySet;
}

const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

// ------------------------------------------------------------------ loading

export { findUserIdByEmail, loadUser };
export type { Loaded };

function withClock(e: RecordedEvent): { type: string; data: unknown } {
  const d = e.data as Record<string, unknown>;
  const at = e.createdAt.toISOString();
  if (e.type === 'SessionStarted' && !d.startedAt) return { type: e.type, data: { ...d, startedAt: at } };
  if (e.type === 'SessionRotated' && !d.rotatedAt) return { type: e.type, data: { ...d, rotatedAt: at } };
  return e;
}

/**
 * A session's state from its last event — and its first one only when the last does not carry
 * everything (see SessionState): every SessionRotated (v2) repeats the expiry, so a decision reads
 * one row, whether the session rotated once or 1,300 times.
 */
export async function loadSession(store: EventStore, sessionId: string): Promise<Loaded<SessionState>> {
  const name = streams.session(sessionId);
  const [last] = await store.readStream(name, { direction: 'backwards', maxCount: 1 });
  if (!last) return { state: initialSessionState(), revision: NO_STREAM };
  const selfContained =
    last.revision === 0n || last.type === 'SessionRevoked' || last.type === 'SessionExpired' ||
    (last.type === 'SessionRotated' && !!(last.data as { expiresAt?: string }).expiresAt);
  let state = initialSessionState();
  if (!selfContained) {
    const [first] = await store.readStream(name, { maxCount: 1 });
    if (first) state = evolveSession(state, withClock(first));
  }
  state = evolveSession(state, withClock(last));
  return { state, revision: last.revision, lastStoredAt: last.createdAt };
}

/** A session's state from every one of its events (`familyHashes` complete: reuse vs. a guess). */
export async function loadWholeSession(store: EventStore, sessionId: string): Promise<Loaded<SessionState>> {
  const recorded = await store.readStream(streams.session(sessionId));
  const state = recorded.reduce((s, e) => evolveSession(s, withClock(e)), initialSessionState());
  const last = recorded.at(-1);
  return { state, revision: last ? last.revision : NO_STREAM, lastStoredAt: last?.createdAt };
}

// ------------------------------------------------------------------ running

/**
 * Runs a session command through the command runner (first/last-event loader), and makes this
 * process's session gate wait for its own "session ended" broadcast before the command answers.
 */
export function runSessionCommand(
  deps: SessionDeps,
  sessionId: string,
  command: SessionCommand,
  metadata: EventMetadata,
  opts: { loaded?: Loaded<SessionState>; attempts?: number } = {},
): Promise<CommandResult<SessionState, ReturnType<typeof decideSession>[number]>> {
  return runCommand(deps, {
    stream: streams.session(sessionId),
    decider: sessionDecider,
    command,
    metadata,
    attempts: opts.attempts ?? 1,
    load: opts.loaded ? async () => opts.loaded! : (store) => loadSession(store, sessionId),
    expectedRevision: opts.loaded?.revision,
    beforeAppend: (events) => sessionEndHook(deps, sessionId, events),
  });
}

function sessionEndHook(deps: SessionDeps, sessionId: string, events: readonly { type: string }[]): AppendHook | undefined {
  if (!events.some((e) => e.type === 'SessionRevoked' || e.type === 'SessionExpired')) return undefined;
  // Wait for our own copy of the "session ended" broadcast before answering (see SessionGate).
  const echo = deps.gate?.expectEnded?.(sessionId);
  return {
    async done() {
      deps.gate?.markEnded(sessionId);
      await echo?.done;
    },
    cancel: () => echo?.cancel(),
  };
}

/** Decide-and-append on the user stream, retrying on concurrent writes. */
export async function executeUserCommand(deps: SessionDeps, userId: string, command: UserCommand, metadata: EventMetadata = {}, attempts = 5): Promise<UserEvent[]> {
  return (await runUserCommand(deps, userId, command, metadata, { attempts })).appended;
}

// ------------------------------------------------------------------ signup

export interface PublicUser {
  id: string;
  email: string;
  name: string;
  created_at: string;
}

export async function signup(
  deps: SessionDeps,
  input: { email: string; password: string; name?: string; source?: 'signup' | 'admin' | 'bootstrap' | 'import' },
  metadata: EventMetadata = {},
): Promise<PublicUser> {
  const email = input.email.trim().normalize('NFKC');
  const normalised = normaliseEmail(email);
  const name = (input.name ?? '').trim() || email.split('@')[0]!;
  await checkPasswordPolicy(deps.config, input.password, [normalised, name]);
  const passwordHash = await hashPassword(deps.config, input.password);
  const userId = randomUUID();
  await reserveEmail(deps, normalised, userId, metadata);
  try {
    await runUserCommand(deps, userId, { type: 'Register', userId, email, name, passwordHash, source: input.source ?? 'signup' }, metadata, { attempts: 1 });
  } catch (err) {
    // All of the command's streams or none: the reservation is released before the answer, so a
    // failed registration never leaves the address taken (issue 20 §5).
    await releaseEmail(deps, normalised, userId, metadata).catch((releaseErr: unknown) =>
      deps.log?.warn({ err: releaseErr, userId }, 'signup: releasing the e-mail reservation failed (the orphan rule frees it later)'));
    throw err;
  }
  return { id: userId, email, name, created_at: new Date().toISOString() };
}

// ------------------------------------------------------------------ login

export const invalidCredentials = () => errors.unauthorized('The e-mail or password is incorrect.', 'invalid_credentials');
export const loginLocked = (until: number) =>
  domainError('login_locked', 'Too many failed logins for this account; try again later.', { retryAfterSeconds: (until - Date.now()) / 1000 });

export interface LoginResult {
  accessToken: IssuedAccessToken;
  refreshToken: string;
  sessionId: string;
  user: { id: string; email: string; name: string; roles: Role[]; email_verified: boolean };
}

const guardKey = (prefix: string, normalised: string) => `${prefix}loginguard:${createHash('sha256').update(normalised).digest('hex')}`;

export async function login(
  deps: IdentityDeps,
  input: { email: string; password: string; deviceName?: string },
  client: Client,
  metadata: EventMetadata = {},
): Promise<LoginResult | MfaChallenge> {
  const { config } = deps;
  const policy = { threshold: config.LOCKOUT_THRESHOLD, minutes: config.LOCKOUT_MINUTES };
  const normalised = normaliseEmail(input.email);
  const userId = await findUserIdByEmail(deps.store, normalised);
  const loaded = userId ? await loadUser(deps.store, userId) : undefined;
  const now = new Date();

  if (!loaded || !loaded.state.exists || loaded.state.deleted) {
    // Unknown account: the same work, numbers and answers, counted in Redis.
    const key = guardKey(deps.prefix, normalised);
    const lockedUntil = Number((await deps.redis.hget(key, 'lockedUntil')) ?? 0);
    await verifyPassword(config, input.password, undefined);
    if (lockedUntil > now.getTime()) throw loginLocked(lockedUntil);
    const [failures] = (await deps.redis.eval(UNKNOWN_LOGIN_FAILURE, 1, key, now.getTime(), policy.threshold, policy.minutes * 60_000, FAILURE_WINDOW_MS)) as [number, number];
    await sleep(progressiveDelayMs(failures));
    throw invalidCredentials();
  }

  const user = loaded.state;
  if (isLocked(user, now)) {
    await verifyPassword(config, input.password, undefined);
    throw loginLocked(Date.parse(user.lockedUntil!));
  }
  const ok = await verifyPassword(config, input.password, user.passwordHash);
  if (!ok) {
    let failures = user.failures + 1;
    try {
      const events = await executeUserCommand(deps, user.userId, { type: 'RecordLoginFailure', now, client, policy }, metadata);
      const failed = events.find((e) => e.type === 'LoginFailed');
      if (failed) failures = (failed.data as { consecutiveFailures: number }).consecutiveFailures;
    } catch (err) {
      if (!(err instanceof WrongExpectedVersionError)) throw err;
    }
    await sleep(progressiveDelayMs(failures));
    throw invalidCredentials();
  }
  if (user.disabled) {
    await executeUserCommand(deps, user.userId, { type: 'RecordDisabledLogin', client }, metadata).catch(() => undefined);
    throw errors.forbidden('This account is disabled.', 'account_disabled');
  }

  // A second factor (or a required enrolment) comes before any session (issue 17).
  const challenge = await secondStepOf(deps, user, { deviceName: input.deviceName, now });
  if (challenge) {
    await clearFailuresAndRehash(deps, user, input.password, metadata);
    return challenge;
  }
  const result = await startSession(deps, user, client, metadata, { deviceName: input.deviceName, now, amr: ['pwd'] });
  await clearFailuresAndRehash(deps, user, input.password, metadata, result.sessionId);
  return result;
}

/** After a right password: the failure counter starts again, and a legacy hash is stored again (once). */
async function clearFailuresAndRehash(deps: IdentityDeps, user: UserState, password: string, metadata: EventMetadata, sessionId?: string): Promise<void> {
  const { config } = deps;
  if (user.failures > 0 || user.lockedUntil) {
    await executeUserCommand(deps, user.userId, { type: 'ClearLoginFailures', sessionId }, metadata).catch(() => undefined);
  }
  if (needsRehash(config, user.passwordHash)) {
    // Legacy scheme (imported plain bcrypt) or a cost below BCRYPT_COST: store it again, once.
    const passwordHash = await hashPassword(config, password);
    await executeUserCommand(deps, user.userId, { type: 'RehashPassword', passwordHash, previousHash: user.passwordHash }, metadata).catch(() => undefined);
  }
}

/**
 * Starts a session for a user whose credentials were just checked — the one way every sign-in
 * (password, social sign-in) ends: SessionStarted (the worker mails a new device from it), then an
 * access token. `method` is recorded on SessionStarted when it is not a password login.
 */
export async function startSession(
  deps: IdentityDeps,
  user: Pick<UserState, 'userId' | 'email' | 'name' | 'roles' | 'emailVerified'>,
  client: Client,
  metadata: EventMetadata,
  opts: { deviceName?: string; method?: string; now?: Date; amr?: string[] } = {},
): Promise<LoginResult> {
  const now = opts.now ?? new Date();
  const sessionId = randomUUID();
  const refresh = newRefreshToken(sessionId);
  const { appended: started } = await runSessionCommand(
    deps, sessionId,
    { type: 'StartSession', sessionId, userId: user.userId, refreshTokenHash: refresh.hash, now, ttlSeconds: deps.config.REFRESH_TOKEN_TTL, deviceName: opts.deviceName, client, method: opts.method, amr: opts.amr },
    { ...metadata, actorUserId: user.userId },
    { loaded: { state: initialSessionState(), revision: NO_STREAM } },
  );
  // The new session's first query reads this write (read-your-writes, src/http/read-your-writes.ts).
  noteSessionOf(sessionId);
  const expiresAt = (started[0]!.data as { expiresAt: string }).expiresAt;
  const accessToken = await signAccessToken(deps.keys, deps.config, { userId: user.userId, sessionId, roles: user.roles, sessionExpiresAt: expiresAt, amr: opts.amr }, now);
  return {
    accessToken,
    refreshToken: refresh.token,
    sessionId,
    user: { id: user.userId, email: user.email, name: user.name, roles: user.roles, email_verified: user.emailVerified },
  };
}

// ------------------------------------------------------------------ refresh

export interface RefreshResult {
  accessToken: IssuedAccessToken;
  refreshToken: string;
  sessionId: string;
  userId: string;
}

export async function refresh(
  deps: IdentityDeps,
  token: string | undefined,
  client: Client,
  metadata: EventMetadata = {},
): Promise<RefreshResult> {
  const parsed = parseRefreshToken(token);
  if (!parsed) throw invalidRefreshToken();
  const { sessionId } = parsed;
  // Arrival on the Redis clock, the one the session's changes are stamped with when applied.
  const arrival = await redisMicros(deps.redis);
  let loaded = await loadSession(deps.store, sessionId);
  if (loaded.state.status === 'none') throw invalidRefreshToken();
  if (!sameHash(parsed.hash, loaded.state.tokenHash) && !sameHash(parsed.hash, loaded.state.previousTokenHash)) {
    // Neither the current nor the just-rotated token: an older one of the family (reuse) or a
    // secret the family never issued (a guess). Only the whole stream tells the two apart.
    loaded = await loadWholeSession(deps.store, sessionId);
  }
  const { state, revision } = loaded;
  const now = new Date();
  const next = newRefreshToken(sessionId);
  let overlapsLastChange = false;
  if (revision !== NO_STREAM && sameHash(parsed.hash, state.previousTokenHash)) {
    // The just-rotated token: was that rotation applied before this request arrived (a replay,
    // i.e. reuse) or not yet (a concurrent refresh that lost the race)?
    const [rev, appliedAt] = await deps.redis.hmget(sessionKey(deps.prefix, sessionId), 'rev', 'appliedAt');
    overlapsLastChange = !!rev && (BigInt(rev) < revision || (!!appliedAt && BigInt(appliedAt) > arrival));
  }
  const command: SessionCommand = {
    type: 'Refresh', presentedHash: parsed.hash, newHash: next.hash, now, client,
    idleSeconds: deps.config.REFRESH_IDLE_TTL, graceSeconds: deps.config.REFRESH_REUSE_GRACE_SECONDS,
    overlapsLastChange,
  };
  // Decided here first to choose the path (pure: the runner decides the same again on `loaded`).
  let events: ReturnType<typeof decideSession>;
  try {
    events = decideSession(command, state);
  } catch (err) {
    if (state.status === 'active' && isForeignSecret(state, parsed.hash)) await refuseForeignSecret(deps, state, parsed.hash, client, now, metadata);
    throw err;
  }
  const meta = { ...metadata, actorUserId: state.userId };
  if (events[0]?.type !== 'SessionRotated') {
    // Expired, or reuse: record it (the family dies), then refuse.
    try {
      await runSessionCommand(deps, sessionId, command, meta, { loaded });
    } catch (err) {
      if (!(err instanceof WrongExpectedVersionError)) throw err;
      if (events.some((e) => e.type === 'RefreshTokenReuseDetected')) {
        // The session moved meanwhile: decide again, the evidence must not be lost.
        const again = await loadWholeSession(deps.store, sessionId);
        const retryCommand: SessionCommand = { type: 'Refresh', presentedHash: parsed.hash, newHash: next.hash, now, client, idleSeconds: deps.config.REFRESH_IDLE_TTL, graceSeconds: 0 };
        let retry: ReturnType<typeof decideSession> = [];
        try {
          retry = decideSession(retryCommand, again.state);
        } catch {
          // ended meanwhile: nothing to record
        }
        if (retry.length && retry[0]?.type !== 'SessionRotated') await runSessionCommand(deps, sessionId, retryCommand, meta, { loaded: again }).catch(() => undefined);
      }
    }
    throw invalidRefreshToken();
  }
  // Current roles and status, from the profile read model (kept by the commands inline and by
  // the projection); the user stream when the profile is not there. Disabling or deleting a user
  // also ends its sessions outright (revokeUserSessions): this is defence in depth.
  const user = await currentUser(deps, state.userId);
  if (!user.exists || user.deleted || user.disabled) {
    await revokeSession(deps, sessionId, user.disabled ? 'user_disabled' : 'user_deleted', meta);
    throw invalidRefreshToken();
  }
  try {
    await runSessionCommand(deps, sessionId, command, meta, { loaded });
  } catch (err) {
    // Lost a concurrent refresh of the same token: exactly one wins.
    if (err instanceof WrongExpectedVersionError) throw invalidRefreshToken();
    throw err;
  }
  noteSessionOf(sessionId); // the refreshed session's next query reads this rotation
  const accessToken = await signAccessToken(deps.keys, deps.config, { userId: state.userId, sessionId, roles: user.roles, sessionExpiresAt: state.expiresAt, amr: state.amr }, now);
  return { accessToken, refreshToken: next.token, sessionId, userId: state.userId };
}

/**
 * A secret this session never issued: counted on the session's guard stream (the session itself is
 * untouched), then refused — 401 like any invalid token, 429 once the per-session limit is reached.
 */
async function refuseForeignSecret(deps: SessionDeps, state: SessionState, presentedHash: string, client: Client, now: Date, metadata: EventMetadata): Promise<never> {
  const { state: guard } = await runCommand(deps, {
    stream: streams.refreshGuard(state.sessionId),
    decider: refreshGuardDecider,
    command: {
      type: 'RecordForeignRefresh', sessionId: state.sessionId, userId: state.userId, presentedHash, client, now,
      limit: deps.config.REFRESH_FAILURE_LIMIT, windowSeconds: deps.config.REFRESH_FAILURE_WINDOW_SECONDS,
    },
    metadata: { ...metadata, actorUserId: state.userId },
    attempts: 5,
  });
  if (refreshGuardLocked(guard, now)) throw refreshFailuresExceeded(guard.lockedUntil!, now);
  throw invalidRefreshToken();
}

async function currentUser(deps: SessionDeps, userId: string): Promise<{ exists: boolean; deleted: boolean; disabled: boolean; roles: Role[] }> {
  const profile = parseUserProfile(await deps.redis.hgetall(userProfileKey(deps.prefix, userId)));
  if (profile) return { exists: true, deleted: profile.deleted, disabled: profile.disabled, roles: profile.roles as Role[] };
  const { state } = await loadUser(deps.store, userId);
  return { exists: state.exists, deleted: state.deleted, disabled: state.disabled, roles: state.roles };
}

// ------------------------------------------------------------------ revocation

/** Ends one session (idempotent). With `ownerId`, only when the session belongs to that user. Returns whether it ended now. */
export async function revokeSession(
  deps: SessionDeps,
  sessionId: string,
  reason: SessionRevokedReason,
  metadata: EventMetadata = {},
  ownerId?: string,
): Promise<boolean> {
  try {
    const { appended } = await runSessionCommand(deps, sessionId, { type: 'Revoke', reason, ownerId }, metadata, { attempts: 5 });
    return appended.length > 0;
  } catch (err) {
    if (err instanceof WrongExpectedVersionError) throw errors.conflict('The session is changing concurrently; retry.', 'concurrent_modification');
    throw err;
  }
}

/** The ids of a user's possibly-active sessions: the Redis set (written inline) and the PostgreSQL read model. */
export async function userSessionIds(deps: SessionDeps, userId: string): Promise<string[]> {
  const ids = new Set(await deps.redis.smembers(userSessionsKey(deps.prefix, userId)));
  if (deps.pool) {
    try {
      const { rows } = await deps.pool.query<{ id: string }>(`SELECT id FROM sessions WHERE user_id = $1 AND status = 'active'`, [userId]);
      for (const r of rows) ids.add(r.id);
    } catch {
      // read model not there (yet): the Redis set is authoritative enough
    }
  }
  return [...ids];
}

/**
 * Ends every session of a user (logout-all, password change/reset, disable, delete), except
 * `exceptSessionId`. Returns how many ended now. Access tokens of those sessions stop at once.
 */
export async function revokeUserSessions(
  deps: SessionDeps,
  userId: string,
  reason: SessionRevokedReason,
  exceptSessionId?: string,
  metadata: EventMetadata = {},
): Promise<number> {
  const ids = (await userSessionIds(deps, userId)).filter((id) => id !== exceptSessionId);
  let n = 0;
  for (const id of ids) if (await revokeSession(deps, id, reason, metadata, userId)) n++;
  return n;
}

// ------------------------------------------------------------------ password

export async function changePassword(
  deps: SessionDeps,
  caller: { userId: string; sessionId: string },
  input: { currentPassword: string; newPassword: string },
  metadata: EventMetadata = {},
): Promise<void> {
  const { state } = await loadUser(deps.store, caller.userId);
  if (!state.exists || state.deleted) throw errors.unauthorized('The session of this access token has ended.', 'session_ended');
  if (!(await verifyPassword(deps.config, input.currentPassword, state.passwordHash))) {
    throw errors.forbidden('The current password is incorrect.', 'wrong_password');
  }
  await requireStepUp(deps, caller); // a second factor, when the user has one (issue 17)
  await checkPasswordPolicy(deps.config, input.newPassword, [normaliseEmail(state.email), state.name], 'new_password');
  const passwordHash = await hashPassword(deps.config, input.newPassword);
  await executeUserCommand(deps, caller.userId, { type: 'ChangePassword', passwordHash, keepSessionId: caller.sessionId }, metadata);
  await revokeUserSessions(deps, caller.userId, 'password_changed', caller.sessionId, metadata);
}

// ------------------------------------------------------------------ RFC 7009

/**
 * Revokes what a token stands for: a refresh token's session (when it is the current token of
 * it), or the session behind a valid access token. Unknown or invalid tokens change nothing.
 */
export async function revokeToken(
  deps: SessionDeps,
  token: string,
  verifyAccess: (token: string) => Promise<{ sessionId: string; userId: string }>,
  metadata: EventMetadata = {},
): Promise<boolean> {
  const parsed = parseRefreshToken(token);
  if (parsed) {
    const { state } = await loadSession(deps.store, parsed.sessionId);
    if (state.status !== 'active' || !sameHash(parsed.hash, state.tokenHash)) return false;
    return revokeSession(deps, parsed.sessionId, 'token_revoked', { ...metadata, actorUserId: state.userId }, state.userId);
  }
  let auth;
  try {
    auth = await verifyAccess(token);
  } catch {
    return false;
  }
  return revokeSession(deps, auth.sessionId, 'token_revoked', { ...metadata, actorUserId: auth.userId }, auth.userId);
}
