/**
 * The realtime hub's shared state in Redis, used by hub processes and by the API process (REST).
 * Rules enforced here:
 * - tickets are ≤30 s, single use, stored only as SHA-256 hashes, consumed with GETDEL (atomic);
 * - a client id is bound to the first user that used it (`rt:client:<id>`, renewed on every
 *   connection, forgotten after CLIENT_BINDING_TTL of disuse): nobody can take over another user's
 *   client id; the binding also remembers the client's last group, so it survives hub restarts;
 * - one live connection per client id: presence (`rt:online`) is keyed by client id and every
 *   change compares the connection id, so a late close never removes a newer connection;
 * - presence of a hub that stopped heart-beating is purged by whoever runs `purgeDeadHubs`;
 * - messages travel on Redis pub/sub channels `<prefix>rt:t:<topic>` (topic = `g:<group>` or
 *   `c:<client id>`), each payload prefixed with the 16-character id of the hub that sent it, so
 *   that hub can skip its own echo. Chat messages and presence never touch the event log.
 * All multi-key updates are single Lua scripts (atomic); keys are built inside the scripts from
 * the prefix, so this targets a single Redis (not Redis Cluster).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Role } from '../events/common';

export const TICKET_TTL_SECONDS = 30;
export const CLIENT_BINDING_TTL_SECONDS = 30 * 86400;
export const HUB_HEARTBEAT_MS = 5000;
export const HUB_EXPIRY_MS = 15_000;
/** The origin tag of messages published by the API process (no hub has this id). */
export const API_ORIGIN = '0000000000000000';
export const ORIGIN_LENGTH = 16;

export interface TicketClaims {
  userId: string;
  sessionId: string;
  roles: Role[];
}

export interface Presence {
  client_id: string;
  user_id: string;
  session_id: string;
  group: string | null;
  hub: string;
  conn: string;
  since: string;
}

export const newHubId = () => randomBytes(8).toString('hex');
export const newConnId = () => randomBytes(8).toString('hex');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Removes one client's presence entries (expects `o` decoded and `id`, `base` set). */
const LUA_REMOVE = `
local function remove(base, id, o)
  redis.call('HDEL', base .. 'online', id)
  if o.group and o.group ~= cjson.null and o.group ~= '' then
    redis.call('SREM', base .. 'group:' .. o.group, id)
    if redis.call('SCARD', base .. 'group:' .. o.group) == 0 then redis.call('SREM', base .. 'groups', o.group) end
  end
  redis.call('SREM', base .. 'hub:' .. o.hub, id)
end
`;

// ARGV: base, client id, presence json, '1' = only when the client id has no presence.
// Returns the replaced presence json (or the existing one, untouched, with ARGV[4] = '1'), or false.
const REGISTER = `${LUA_REMOVE}
local base, id, json = ARGV[1], ARGV[2], ARGV[3]
local old = redis.call('HGET', base .. 'online', id)
if old and ARGV[4] == '1' then return old end
if old then remove(base, id, cjson.decode(old)) end
local o = cjson.decode(json)
redis.call('HSET', base .. 'online', id, json)
redis.call('SADD', base .. 'hub:' .. o.hub, id)
if o.group and o.group ~= cjson.null and o.group ~= '' then
  redis.call('SADD', base .. 'group:' .. o.group, id)
  redis.call('SADD', base .. 'groups', o.group)
end
return old`;

// ARGV: base, client id, conn. Returns 1 when removed.
const UNREGISTER = `${LUA_REMOVE}
local base, id, conn = ARGV[1], ARGV[2], ARGV[3]
local cur = redis.call('HGET', base .. 'online', id)
if not cur then return 0 end
local o = cjson.decode(cur)
if o.conn ~= conn then return 0 end
remove(base, id, o)
return 1`;

// ARGV: base, client id, conn, new group ('' = none), binding ttl. Returns 1 when changed.
const SET_GROUP = `${LUA_REMOVE}
local base, id, conn, group, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local cur = redis.call('HGET', base .. 'online', id)
if not cur then return 0 end
local o = cjson.decode(cur)
if o.conn ~= conn then return 0 end
remove(base, id, o)
if group == '' then o.group = cjson.null else o.group = group end
redis.call('HSET', base .. 'online', id, cjson.encode(o))
redis.call('SADD', base .. 'hub:' .. o.hub, id)
if group ~= '' then
  redis.call('SADD', base .. 'group:' .. group, id)
  redis.call('SADD', base .. 'groups', group)
end
redis.call('HSET', base .. 'client:' .. id, 'group', group)
redis.call('EXPIRE', base .. 'client:' .. id, ttl)
return 1`;

// ARGV: base, client id, user id, ttl, owned ('1': the event log says the id is this user's, so a
// cached binding to someone else is stale). Returns {1, remembered group} or {0, ''} when bound to
// another user.
const CLAIM = `
local base, id, user, ttl, owned = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = base .. 'client:' .. id
local cur = redis.call('HGET', key, 'user')
if cur and cur ~= user then
  if owned ~= '1' then return {0, ''} end
  redis.call('DEL', key)
  cur = false
end
-- A live connection of another user also holds the id (even if its binding has expired meanwhile).
local online = redis.call('HGET', base .. 'online', id)
if online and cjson.decode(online).user_id ~= user then return {0, ''} end
if not cur then redis.call('HSET', key, 'user', user) end
redis.call('EXPIRE', key, ttl)
return {1, redis.call('HGET', key, 'group') or ''}`;

// ARGV: base, now ms. Purges presence of hubs whose heartbeat expired. Returns the number purged.
const PURGE = `${LUA_REMOVE}
local base, now = ARGV[1], ARGV[2]
local dead = redis.call('ZRANGEBYSCORE', base .. 'hubs', '-inf', now)
local n = 0
for _, hub in ipairs(dead) do
  for _, id in ipairs(redis.call('SMEMBERS', base .. 'hub:' .. hub)) do
    local cur = redis.call('HGET', base .. 'online', id)
    if cur then
      local o = cjson.decode(cur)
      if o.hub == hub then remove(base, id, o); n = n + 1 end
    end
  end
  redis.call('DEL', base .. 'hub:' .. hub)
  redis.call('ZREM', base .. 'hubs', hub)
end
return n`;

export class RealtimeState {
  /** Key prefix of every realtime key: `<REDIS_PREFIX>rt:`. */
  readonly base: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.base = `${prefix}rt:`;
  }

  /** Redis channel of a hub topic (`g:<group>`, `c:<client id>`). */
  channel(topic: string): string {
    return `${this.base}t:${topic}`;
  }

  // --- tickets -------------------------------------------------------------------------------

  async issueTicket(claims: TicketClaims): Promise<{ ticket: string; expiresIn: number }> {
    const ticket = randomBytes(32).toString('base64url');
    const body = JSON.stringify({ ...claims, exp: Date.now() + TICKET_TTL_SECONDS * 1000 });
    await this.redis.set(`${this.base}ticket:${sha256(ticket)}`, body, 'EX', TICKET_TTL_SECONDS);
    return { ticket, expiresIn: TICKET_TTL_SECONDS };
  }

  /** Consumes a ticket (single use). Undefined when unknown, used or expired. */
  async consumeTicket(ticket: string): Promise<TicketClaims | undefined> {
    // Tickets are 32 random bytes in base64url: anything else is refused without asking Redis.
    if (!/^[A-Za-z0-9_-]{43}$/.test(ticket)) return undefined;
    const raw = await this.redis.getdel(`${this.base}ticket:${sha256(ticket)}`);
    if (!raw) return undefined;
    try {
      const t = JSON.parse(raw) as TicketClaims & { exp: number };
      if (typeof t.exp !== 'number' || t.exp < Date.now()) return undefined;
      return { userId: t.userId, sessionId: t.sessionId, roles: t.roles };
    } catch {
      return undefined;
    }
  }

  // --- client id bindings --------------------------------------------------------------------

  /**
   * Binds a client id to a user (or renews the binding). Refused when another user holds it —
   * unless `owned` (the event log binds the id to this user: src/realtime/access.ts), which
   * replaces a stale cached binding; a live connection of another user still holds the id.
   */
  async claimClientId(clientId: string, userId: string, owned = false): Promise<{ ok: true; rememberedGroup: string | null } | { ok: false }> {
    const [ok, group] = (await this.redis.eval(CLAIM, 0, this.base, clientId, userId, CLIENT_BINDING_TTL_SECONDS, owned ? '1' : '0')) as [number, string];
    return ok === 1 ? { ok: true, rememberedGroup: group || null } : { ok: false };
  }

  /** Forgets the cached binding (after the owner released the id in the log). */
  async dropClientBinding(clientId: string): Promise<void> {
    await this.redis.del(`${this.base}client:${clientId}`);
  }

  async clientOwner(clientId: string): Promise<string | null> {
    return this.redis.hget(`${this.base}client:${clientId}`, 'user');
  }

  // --- presence ------------------------------------------------------------------------------

  /** Registers a connection; returns the presence it replaced (another connection of the client id). */
  async register(p: Presence, opts: { onlyIfAbsent?: boolean } = {}): Promise<Presence | null> {
    const old = (await this.redis.eval(REGISTER, 0, this.base, p.client_id, JSON.stringify(p), opts.onlyIfAbsent ? '1' : '0')) as string | null;
    if (p.group) await this.redis.hset(`${this.base}client:${p.client_id}`, 'group', p.group);
    return old ? (JSON.parse(old) as Presence) : null;
  }

  async unregister(clientId: string, conn: string): Promise<boolean> {
    return (await this.redis.eval(UNREGISTER, 0, this.base, clientId, conn)) === 1;
  }

  async setGroup(clientId: string, conn: string, group: string | null): Promise<boolean> {
    return (await this.redis.eval(SET_GROUP, 0, this.base, clientId, conn, group ?? '', CLIENT_BINDING_TTL_SECONDS)) === 1;
  }

  /** Renews a hub's heartbeat; true when the hub was not listed (first beat, or purged meanwhile). */
  async heartbeat(hubId: string): Promise<boolean> {
    return (await this.redis.zadd(`${this.base}hubs`, Date.now() + HUB_EXPIRY_MS, hubId)) === 1;
  }

  /** Forgets a hub at once (clean stop): its presence goes with it. */
  async retireHub(hubId: string): Promise<void> {
    await this.redis.zadd(`${this.base}hubs`, 0, hubId);
    await this.purgeDeadHubs();
  }

  async purgeDeadHubs(): Promise<number> {
    return (await this.redis.eval(PURGE, 0, this.base, Date.now())) as number;
  }

  async clients(): Promise<Presence[]> {
    await this.purgeDeadHubs();
    const all = await this.redis.hvals(`${this.base}online`);
    return all.map((j) => JSON.parse(j) as Presence).sort((a, b) => a.client_id.localeCompare(b.client_id));
  }

  async client(clientId: string): Promise<Presence | null> {
    const j = await this.redis.hget(`${this.base}online`, clientId);
    return j ? (JSON.parse(j) as Presence) : null;
  }

  async groups(): Promise<{ name: string; members: number }[]> {
    await this.purgeDeadHubs();
    const names = (await this.redis.smembers(`${this.base}groups`)).sort();
    if (!names.length) return [];
    const pipe = this.redis.pipeline();
    for (const n of names) pipe.scard(`${this.base}group:${n}`);
    const counts = (await pipe.exec()) ?? [];
    return names.map((name, i) => ({ name, members: Number(counts[i]?.[1] ?? 0) })).filter((g) => g.members > 0);
  }

  async groupMembers(group: string): Promise<string[]> {
    await this.purgeDeadHubs();
    return (await this.redis.smembers(`${this.base}group:${group}`)).sort();
  }

  // --- messages ------------------------------------------------------------------------------

  /** Publishes a frame on a topic's channel; resolves to the number of hub processes listening. */
  publish(topic: string, frame: string, origin: string = API_ORIGIN): Promise<number> {
    return this.redis.publish(this.channel(topic), origin + frame);
  }
}
