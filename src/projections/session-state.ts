/**
 * The Redis read models of identity — session state and user profiles — in one home: the key
 * layout, the writers (two projections, run by the projector and inline by the command runner,
 * src/commands/decider.ts) and the readers (the HTTP auth layer on the token hot path, queries,
 * workers). Rules:
 * - every field write is guarded by the stream revision it comes from (a Lua script applies a
 *   field only when its event is newer than the one that wrote it), so the inline write and the
 *   projection's write of the same event are idempotent in any order, and a replay after Redis
 *   was lost never hides a session from its user's set (membership is never skipped);
 * - times come only from the events (never this process's clock), so a rebuild is equal;
 * - a session's hash lives until its absolute expiry (also after it ended, as a tombstone), so a
 *   late replay never resurrects it; a missing hash means "not active" (fail closed);
 * - ending a session publishes its id on `<prefix>session-ended`: every API process drops it from
 *   its in-memory caches at once.
 * - every write to a user's profile hash (stale ones too) publishes the user id on
 *   `<prefix>user-changed`, in the same script as the write: the per-process profile caches
 *   (user-profile-cache.ts) drop it; the command's own process drops it before answering (afterInline).
 *
 * Layout (all under the deployment prefix):
 *   (every hash also holds `_r:<field>` = the revision that wrote <field>; see fieldGuardLua)
 *   session:<sid>         hash  userId status rev appliedAt tokenHash prevTokenHash startedAt lastUsedAt expiresAt
 *                               deviceName ip userAgent lastIp lastUserAgent endReason endedAt
 *   user-sessions:<uid>   set   ids of the user's sessions started and not ended
 *   user:<uid>            hash  id email name source created_at updated_at rev email_verified disabled deleted role:<r>=1|0
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { Config } from '../config';
import { sessionEvents } from '../events/session';
import { userEvents } from '../events/user';
import type { RedisProjection } from './types';

export const sessionKey = (prefix: string, sid: string) => `${prefix}session:${sid}`;
export const userSessionsKey = (prefix: string, uid: string) => `${prefix}user-sessions:${uid}`;
export const userProfileKey = (prefix: string, uid: string) => `${prefix}user:${uid}`;
export const sessionEndedChannel = (prefix: string) => `${prefix}session-ended`;
/** Every write to a user's profile hash publishes the user id here (the per-process profile caches, user-profile-cache.ts). */
export const userChangedChannel = (prefix: string) => `${prefix}user-changed`;
/** The LocalCacheRegistry topic of the profile caches (messages: user ids). */
export const USER_PROFILE_TOPIC = 'user-profile';

/**
 * Field-level revision guard, shared by every Redis read model (issue 21). Each field carries the
 * revision that wrote it (`_r:<field>`; a field from before this scheme counts as written at the
 * hash's `rev`), and an event writes only the fields whose revision is older than its own — stale
 * FIELD writes are skipped, nothing else: a replay behind inline writes, in any interleaving,
 * ends equal to applying the log in order. The hash's `rev` is the newest revision applied.
 * Returns the Lua chunk that applies ARGV[first..] (field, value pairs) at revision ARGV[1] to
 * KEYS[1] and sets the local `newer` (the event is newer than the whole hash).
 */
export const fieldGuardLua = (first: number) => `
local rev = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'rev') or '-1')
local newer = rev > cur
for i = ${first}, #ARGV, 2 do
  local rk = '_r:' .. ARGV[i]
  local fr = redis.call('HGET', KEYS[1], rk)
  if fr then fr = tonumber(fr) elseif redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then fr = cur else fr = -1 end
  if rev > fr then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1], rk, ARGV[1]) end
end
if newer then redis.call('HSET', KEYS[1], 'rev', ARGV[1]) end
`;

/**
 * KEYS[1] hash, KEYS[2] set (may be unused)
 * ARGV[1] revision, ARGV[2] ttl (set when > 0), ARGV[3] ttl when the key has none (when > 0),
 * ARGV[4] set op ('add' | 'rem' | ''), ARGV[5] channel ('' = none), ARGV[6] member / message,
 * ARGV[7..] field, value pairs. Returns 1 when the event was newer than the hash, 0 otherwise.
 * Fields: see `fieldGuardLua`. Membership is a fact, never skipped: a session joins its user's
 * set when its status (after this write) is active and leaves it when it ended, whatever the order.
 * A stale event only ever lengthens the hash's lifetime (it never shortens what newer ones set).
 * A newer event also stamps `appliedAt` (Redis TIME, microseconds): the one clock refreshes
 * compare arrivals with; it is bookkeeping, not part of the read model.
 */
const applyLua = (publishWhen: 'newer' | 'always') => `${fieldGuardLua(7)}
local ttl = tonumber(ARGV[2])
if newer then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[1], 'appliedAt', t[1] .. string.format('%06d', tonumber(t[2])))
  if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
  if tonumber(ARGV[3]) > 0 and redis.call('TTL', KEYS[1]) == -1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
elseif ttl > 0 then
  local left = redis.call('TTL', KEYS[1])
  if left == -1 or left < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
end
if ARGV[4] == 'add' then
  if redis.call('HGET', KEYS[1], 'status') == 'active' then redis.call('SADD', KEYS[2], ARGV[6]) end
elseif ARGV[4] == 'rem' then redis.call('SREM', KEYS[2], ARGV[6]) end
if ${publishWhen === 'newer' ? 'newer and ' : ''}ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
if newer then return 1 end
return 0
`;
export const APPLY_IF_NEWER = applyLua('newer');
/**
 * The same, publishing on every application, also a stale one: a stale event may still write a
 * field no newer event wrote, and a cache must never keep what Redis no longer holds.
 */
export const APPLY_AND_PUBLISH = applyLua('always');

/** The bits of a recorded event these read models need (commands build it from their append result). */
export interface AppliedEvent {
  type: string;
  data: Record<string, unknown>;
  /** Revision of the event in its stream. */
  revision: bigint;
  createdAt: Date;
}

type EvalArgs = [string, number, ...(string | number)[]];

const str = (v: unknown) => (v === undefined || v === null ? '' : String(v));
const secondsUntil = (iso: string, now: number) => Math.ceil((Date.parse(iso) - now) / 1000);

/** Arguments of `EVAL` applying a session event to the session hash, or undefined when nothing to do. */
export function sessionEventEval(prefix: string, e: AppliedEvent, opts: { accessTokenTtl: number; now?: number }): EvalArgs | undefined {
  const d = e.data as Record<string, string | undefined> & { sessionId: string; userId: string };
  const now = opts.now ?? Date.now();
  const at = e.createdAt.toISOString();
  const keys = [sessionKey(prefix, d.sessionId), userSessionsKey(prefix, d.userId)];
  const tombstoneTtl = opts.accessTokenTtl + 60;
  const base = (ttl: number, ttlIfNone: number, op: string, channel: string, fields: Record<string, unknown>): EvalArgs => [
    APPLY_IF_NEWER, 2, ...keys, e.revision.toString(), ttl, ttlIfNone, op, channel, d.sessionId,
    ...Object.entries(fields).flatMap(([k, v]) => [k, str(v)]),
  ];
  switch (e.type) {
    case 'SessionStarted': {
      const ttl = secondsUntil(d.expiresAt!, now) + 60;
      if (ttl <= 60) return undefined; // long over: nothing to serve
      const startedAt = d.startedAt ?? at;
      return base(ttl, 0, 'add', '', {
        userId: d.userId, status: 'active', tokenHash: d.refreshTokenHash, prevTokenHash: '', startedAt, lastUsedAt: startedAt,
        expiresAt: d.expiresAt, deviceName: d.deviceName, ip: d.ip, userAgent: d.userAgent, lastIp: d.ip, lastUserAgent: d.userAgent,
      });
    }
    case 'SessionRotated': {
      const ttl = d.expiresAt ? secondsUntil(d.expiresAt, now) + 60 : 0;
      return base(Math.max(ttl, 0), tombstoneTtl, '', '', {
        userId: d.userId, status: 'active', tokenHash: d.refreshTokenHash, prevTokenHash: d.previousTokenHash, lastUsedAt: d.rotatedAt ?? at,
        lastIp: d.ip, lastUserAgent: d.userAgent, ...(d.expiresAt ? { expiresAt: d.expiresAt } : {}),
      });
    }
    case 'RefreshTokenReuseDetected':
      return base(0, tombstoneTtl, '', '', { reuseDetectedAt: at });
    case 'SessionRevoked':
    case 'SessionExpired':
      return base(0, tombstoneTtl, 'rem', sessionEndedChannel(prefix), {
        userId: d.userId, status: e.type === 'SessionRevoked' ? 'revoked' : 'expired', endReason: d.reason, endedAt: at,
      });
    default:
      return undefined;
  }
}

/** Arguments of `EVAL` applying a user event to the user profile hash, or undefined. */
export function userEventEval(prefix: string, e: AppliedEvent): EvalArgs | undefined {
  const d = e.data as Record<string, unknown> & { userId: string };
  const at = e.createdAt.toISOString();
  let fields: Record<string, unknown>;
  switch (e.type) {
    case 'UserRegistered':
      fields = { id: d.userId, email: d.email, name: d.name, source: d.source, created_at: at, email_verified: '0', disabled: '0', deleted: '0', 'role:user': '1' };
      break;
    case 'UserProfileUpdated':
      fields = { ...(d.name !== undefined ? { name: d.name } : {}), ...(d.email !== undefined ? { email: d.email, email_verified: '0' } : {}) };
      break;
    case 'EmailVerified':
      fields = { email_verified: '1' };
      break;
    case 'UserDisabled':
      fields = { disabled: '1' };
      break;
    case 'UserEnabled':
      fields = { disabled: '0' };
      break;
    case 'UserDeleted':
      fields = { deleted: '1' };
      break;
    case 'RoleGranted':
      fields = { [`role:${String(d.role)}`]: '1' };
      break;
    case 'RoleRevoked':
      fields = { [`role:${String(d.role)}`]: '0' };
      break;
    default:
      // Events that do not change the profile still move its revision forward.
      fields = {};
  }
  return [APPLY_AND_PUBLISH, 2, userProfileKey(prefix, d.userId), userProfileKey(prefix, d.userId), e.revision.toString(), 0, 0, '', userChangedChannel(prefix), d.userId,
    ...Object.entries({ ...fields, updated_at: at }).flatMap(([k, v]) => [k, str(v)])];
}

export async function applyInline(redis: Redis, args: EvalArgs | undefined): Promise<void> {
  if (args) await redis.eval(...args);
}

export function queueApply(multi: ChainableCommander, args: EvalArgs | undefined): void {
  if (args) multi.eval(...args);
}

export interface UserProfile {
  id: string;
  email: string;
  name: string;
  roles: string[];
  email_verified: boolean;
  disabled: boolean;
  deleted: boolean;
  created_at: string;
  updated_at: string;
  source: string;
}

/** Parses a user profile hash (undefined when absent or incomplete). */
export function parseUserProfile(h: Record<string, string>): UserProfile | undefined {
  if (!h.id || !h.email) return undefined;
  return {
    id: h.id,
    email: h.email,
    name: h.name ?? '',
    roles: Object.keys(h).filter((k) => k.startsWith('role:') && h[k] === '1').map((k) => k.slice(5)).sort(),
    email_verified: h.email_verified === '1',
    disabled: h.disabled === '1',
    deleted: h.deleted === '1',
    created_at: h.created_at ?? '',
    updated_at: h.updated_at ?? h.created_at ?? '',
    source: h.source ?? '',
  };
}

export interface SessionRecord {
  id: string;
  userId: string;
  status: string;
  tokenHash: string;
  prevTokenHash: string;
  startedAt: string;
  lastUsedAt: string;
  expiresAt: string;
  deviceName: string;
  ip: string;
  userAgent: string;
  lastIp: string;
  lastUserAgent: string;
}

export function parseSession(id: string, h: Record<string, string>): SessionRecord | undefined {
  if (!h.userId || !h.status) return undefined;
  return {
    id, userId: h.userId, status: h.status, tokenHash: h.tokenHash ?? '', prevTokenHash: h.prevTokenHash ?? '', startedAt: h.startedAt ?? '',
    lastUsedAt: h.lastUsedAt ?? '', expiresAt: h.expiresAt ?? '', deviceName: h.deviceName ?? '', ip: h.ip ?? '', userAgent: h.userAgent ?? '',
    lastIp: h.lastIp ?? '', lastUserAgent: h.lastUserAgent ?? '',
  };
}

/** The user's live sessions (read-your-writes: commands apply their session events inline). */
export async function listUserSessions(redis: Redis, prefix: string, userId: string): Promise<SessionRecord[]> {
  const ids = await redis.smembers(userSessionsKey(prefix, userId));
  if (!ids.length) return [];
  const pipe = redis.pipeline();
  for (const id of ids) pipe.hgetall(sessionKey(prefix, id));
  const results = (await pipe.exec()) ?? [];
  const now = Date.now();
  const out: SessionRecord[] = [];
  results.forEach(([err, h], i) => {
    if (err) throw err;
    const s = parseSession(ids[i]!, h as Record<string, string>);
    if (s && s.userId === userId && s.status === 'active' && (!s.expiresAt || Date.parse(s.expiresAt) > now)) out.push(s);
  });
  return out.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

/** Redis server time in microseconds (the clock `appliedAt` is stamped with). */
export async function redisMicros(redis: Redis): Promise<bigint> {
  const [sec, usec] = await redis.time();
  return BigInt(sec ?? 0) * 1_000_000n + BigInt(usec ?? 0);
}

// ------------------------------------------------------------------ writers (projections)

type D = Record<string, unknown>;
const USER_TYPES = userEvents.map((d) => d.type).filter((t) => t !== 'EmailReserved' && t !== 'EmailReleased');
const SESSION_TYPES = sessionEvents.map((d) => d.type);

export type SessionStateConfig = Pick<Config, 'ACCESS_TOKEN_TTL'>;

/**
 * `session_state`: session hashes and each user's session set. Tombstones (ended sessions whose
 * hash had no expiry) live as long as an access token of theirs may: the write side's TTL.
 */
export const sessionStateProjection = (config: SessionStateConfig): RedisProjection => ({
  kind: 'redis',
  name: 'session_state',
  handles: SESSION_TYPES,
  async apply(events, ctx) {
    const prefix = ctx.key('');
    for (const e of events) {
      queueApply(ctx.multi, sessionEventEval(prefix, { type: e.type, data: e.data as D, revision: e.revision, createdAt: e.createdAt }, { accessTokenTtl: config.ACCESS_TOKEN_TTL }));
    }
  },
});

/** `user_profiles`: the profile hash of each user (roles, status) the token refresh and /me read. */
export const userProfilesProjection: RedisProjection = {
  kind: 'redis',
  name: 'user_profiles',
  handles: USER_TYPES,
  async apply(events, ctx) {
    const prefix = ctx.key('');
    for (const e of events) {
      queueApply(ctx.multi, userEventEval(prefix, { type: e.type, data: e.data as D, revision: e.revision, createdAt: e.createdAt }));
    }
  },
  afterInline(events, { prefix, localCaches }) {
    localCaches.invalidate(prefix, events.map((e) => String((e.data as D).userId)), USER_PROFILE_TOPIC);
  },
};
