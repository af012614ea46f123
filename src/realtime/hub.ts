/**
 * The realtime hub: a uWebSockets.js server for `/ws`, `/ws/{client_id}`, `/ws/{client_id}/{group}`.
 * Rules enforced here:
 * - upgrade is refused (HTTP problem+json, no socket) unless: the Origin, when sent, is on the
 *   CORS_ORIGINS allow-list (ASVS 4.4.2); the caller presents a single-use ticket (`?ticket=`) or
 *   an access token in Sec-WebSocket-Protocol (`bearer.<token>` beside `authledger.v1`); the
 *   session has not ended; the client id is free or already the caller's;
 * - one live connection per client id: a newer one replaces the older (closed with 4409), on any hub;
 * - limits come from config: REALTIME_MAX_MESSAGE_BYTES (larger → error frame; more than twice →
 *   uWS drops the connection before buffering it), REALTIME_MESSAGES_PER_SECOND (token bucket;
 *   excess dropped with an error frame, a flood closes with 1008), REALTIME_IDLE_TIMEOUT_SECONDS
 *   (uWS pings automatically; an unanswered peer is closed), REALTIME_MAX_BACKPRESSURE_BYTES
 *   (a slow consumer past it is closed; nothing is buffered beyond it);
 * - every bad input is a `{type:"error"}` frame; nothing a client sends can throw out of a handler;
 * - group and direct messages are delivered locally at once and published on Redis for the other
 *   hubs (tagged with this hub's id, so the echo is skipped);
 * - a socket is only touched while open (uWS sockets are invalid after close).
 */
import uWS from 'uWebSockets.js';
import type client from 'prom-client';
import type { Redis } from 'ioredis';
import { createRedis, connectRedis } from '../infra/redis';
import { sessionEndedChannel } from '../projections/session-state';
import { followAuthEvents, type Follower } from './auth-events';
import { realtimeMetrics, trackHub } from './metrics';
import type { ClientCommand } from './protocol';
import { HUB_HEARTBEAT_MS, RealtimeState, newHubId } from './state';
import { frames } from './protocol';
import { CLOSE, addTo, removeFrom, type HubOptions, type WS } from './conn';
import { mountRoutes } from './upgrade';
import { onBus, ready } from './fanout';
import { authHandlers, endSocket } from './reactions';

export { CLOSE, type AccessTokenVerifier, type Conn, type HubOptions, type SessionCheck } from './conn';


export class Hub {
  readonly hubId = newHubId();
  readonly state: RealtimeState;
  port = 0;
  app = uWS.App();
  listenSocket: uWS.us_listen_socket | undefined;
  sub: Redis;
  readonly byClient = new Map<string, WS>();
  readonly bySession = new Map<string, Set<WS>>();
  readonly byUser = new Map<string, Set<WS>>();
  /** Sessions/users that ended since start (guards the window between ticket check and open). */
  readonly endedSessions = new Map<string, number>();
  readonly endedUsers = new Map<string, number>();
  readonly channelReady = new Map<string, Promise<unknown>>();
  readonly channelBase: string;
  readonly ctlChannel: string;
  readonly endedChannel: string;
  readonly origins: Set<string> | null;
  readonly limits;
  heartbeat: NodeJS.Timeout | undefined;
  readonly outbox = new Map<string, string[]>();
  /** Pre-bound counters (no label lookup per message). */
  readonly counters = Object.fromEntries(
    ['send_to', 'group', 'join', 'leave', 'ping', 'list_members', 'list_groups', 'subscribe', 'unsubscribe', 'refused'].map((t) => [t, realtimeMetrics.messages.labels({ type: t })]),
  ) as Record<ClientCommand['type'] | 'refused', client.Counter.Internal>;
  flushScheduled = false;
  events: Follower | undefined;
  /** The audit reader, running while this hub has an admin subscribed to `audit` (serialised start/stop). */
  audit: Promise<Follower | undefined> = Promise.resolve(undefined);
  stopping = false;
  untrack: (() => void) | undefined;

  constructor(readonly o: HubOptions) {
    this.state = new RealtimeState(o.redis, o.prefix);
    this.channelBase = this.state.channel('');
    this.ctlChannel = `${this.state.base}ctl`;
    this.endedChannel = sessionEndedChannel(o.prefix);
    const list = o.config.CORS_ORIGINS.trim();
    this.origins = list === '*' ? null : new Set(list.split(',').map((s) => s.trim().replace(/\/$/, '')).filter(Boolean));
    this.limits = {
      maxBytes: o.config.REALTIME_MAX_MESSAGE_BYTES,
      rate: o.config.REALTIME_MESSAGES_PER_SECOND,
      idle: o.config.REALTIME_IDLE_TIMEOUT_SECONDS,
      backpressure: o.config.REALTIME_MAX_BACKPRESSURE_BYTES,
    };
    // The subscriber needs its own connection; it queues while reconnecting and resubscribes.
    this.sub = createRedis(o.config.REDIS_URL, { enableOfflineQueue: true, maxRetriesPerRequest: null });
  }

  get connections(): number {
    return this.byClient.size;
  }

  async start(): Promise<this> {
    try {
      await this.starting();
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.o.log.info({ port: this.port, hub: this.hubId }, 'realtime hub listening');
    return this;
  }

  async starting(): Promise<void> {
    await connectRedis(this.sub);
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => onBus(this, channel, message));
    await this.sub.subscribe(this.ctlChannel, this.endedChannel);
    this.events = await followAuthEvents(this.o.store, authHandlers(this), this.o.log);
    mountRoutes(this);
    this.untrack = trackHub(this);
    await this.state.heartbeat(this.hubId);
    await new Promise<void>((resolve, reject) => {
      this.app.listen(this.o.host ?? this.o.config.HOST, this.o.port ?? this.o.config.REALTIME_PORT, (ls) => {
        if (!ls) return reject(new Error(`realtime hub could not listen on port ${this.o.port ?? this.o.config.REALTIME_PORT}`));
        this.listenSocket = ls;
        this.port = uWS.us_socket_local_port(ls as unknown as uWS.us_socket);
        resolve();
      });
    });
    this.heartbeat = setInterval(() => void this.beat(), HUB_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /**
   * Heartbeat; also purges dead hubs. When this hub had been purged (Redis unreachable for longer
   * than the expiry), its live connections are registered again, so presence heals by itself.
   */
  async beat(): Promise<void> {
    try {
      const wasGone = await this.state.heartbeat(this.hubId);
      await this.state.purgeDeadHubs();
      if (!wasGone) return;
      this.o.log.warn({ hub: this.hubId }, 'realtime: this hub had been purged from Redis; registering its connections again');
      for (const ws of this.byClient.values()) {
        const c = ws.getUserData().c;
        if (c.closed) continue;
        // Never over a newer connection of the same client id made elsewhere meanwhile.
        await this.state.register({ client_id: c.clientId, user_id: c.userId, session_id: c.sessionId, group: c.group, hub: this.hubId, conn: c.conn, since: new Date().toISOString() }, { onlyIfAbsent: true });
      }
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'realtime: heartbeat failed');
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.heartbeat);
    this.untrack?.();
    if (this.listenSocket) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
    for (const ws of [...this.byClient.values()]) this.end(ws, CLOSE.shutdown, 'server shutting down');
    await this.events?.stop();
    await (await this.audit)?.stop();
    await this.state.retireHub(this.hubId).catch(() => undefined);
    this.sub.disconnect();
  }

  // --- HTTP upgrade --------------------------------------------------------------------------

  // --- socket lifecycle ----------------------------------------------------------------------

  open(ws: WS) {
    const c = ws.getUserData().c;
    const previous = this.byClient.get(c.clientId);
    // Ended on the next turn, not here: this runs inside the newer socket's corked upgrade, and
    // ending another socket from there made uWS drop one of the two with 1006 (a reconnect then
    // never got its welcome). Until then the older one is out of byClient and gets nothing new.
    if (previous) setImmediate(() => this.end(previous, CLOSE.replaced, 'replaced by a newer connection'));
    this.byClient.set(c.clientId, ws);
    addTo(this.bySession, c.sessionId, ws);
    addTo(this.byUser, c.userId, ws);
    ws.subscribe(`c:${c.clientId}`);
    if (c.group) ws.subscribe(`g:${c.group}`);
    void (async () => {
      try {
        const old = await this.state.register({
          client_id: c.clientId, user_id: c.userId, session_id: c.sessionId, group: c.group, hub: this.hubId, conn: c.conn, since: new Date().toISOString(),
        });
        if (old && old.conn !== c.conn && old.hub !== this.hubId) {
          await this.o.redis.publish(this.ctlChannel, JSON.stringify({ kind: 'kick', client_id: c.clientId, conn: old.conn }));
        }
        await ready(this, c);
        this.o.log.debug({ client: c.clientId, user: c.userId, group: c.group }, 'realtime: connected');
        // A session may have ended while we registered.
        if (this.endedSessions.has(c.sessionId) || this.endedUsers.has(c.userId)) return endSocket(this, ws, 'session_ended');
        this.send(ws, JSON.stringify({
          type: 'welcome', client_id: c.clientId, user_id: c.userId, session_id: c.sessionId, group: c.group, hub: this.hubId,
          limits: { max_message_bytes: this.limits.maxBytes, messages_per_second: this.limits.rate, idle_timeout_seconds: this.limits.idle },
        }));
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message }, 'realtime: register failed');
        this.send(ws, frames.error('service_unavailable', 'Presence could not be stored; try again shortly.'));
        this.end(ws, 1011, 'unavailable');
      }
    })();
  }

  closed(ws: WS, code: number) {
    realtimeMetrics.closed.inc({ code: String(code) });
    const c = ws.getUserData().c;
    c.closed = true;
    if (this.byClient.get(c.clientId) === ws) this.byClient.delete(c.clientId);
    removeFrom(this.bySession, c.sessionId, ws);
    removeFrom(this.byUser, c.userId, ws);
    void this.state.unregister(c.clientId, c.conn).catch(() => undefined);
  }

  // --- messages ------------------------------------------------------------------------------

  // --- pushed auth events --------------------------------------------------------------------

  // --- helpers -------------------------------------------------------------------------------

  /**
   * Sends and ends are corked (uWS's documented way for writes made outside its own callbacks, as
   * most of ours are: after an await, from Redis, from a timer): the frame goes out when the cork
   * callback returns, not whenever uWS next flushes; inside a uWS callback for this socket the
   * cork is already held and this costs nothing.
   */
  send(ws: WS, frame: string) {
    if (ws.getUserData().c.closed) return;
    ws.cork(() => ws.send(frame, false, false));
  }

  end(ws: WS, code: number, reason: string) {
    const c = ws.getUserData().c;
    if (c.closed) return;
    c.closed = true;
    ws.cork(() => ws.end(code, reason));
  }

  /** Test/bench hook: publishes a frame to a topic on this hub only. */
  publishLocal(topic: string, frame: string): boolean {
    return this.app.publish(topic, frame, false);
  }
}
