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
import { randomBytes } from 'node:crypto';
import uWS from 'uWebSockets.js';
import type client from 'prom-client';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { EventStore, RecordedEvent } from '../events/store';
import type { Role } from '../events/common';
import { createRedis, connectRedis } from '../infra/redis';
import { sessionEndedChannel } from '../projections/session-state';
import { followAuthEvents, followLog, type Follower } from './auth-events';
import { processMetrics } from '../infra/metrics';
import { realtimeMetrics, trackHub } from './metrics';
import { BEARER_PROTOCOL_PREFIX, SUBPROTOCOL, frames, isName, parseMessage, redact, type ClientCommand } from './protocol';
import { HUB_HEARTBEAT_MS, ORIGIN_LENGTH, RealtimeState, newConnId, newHubId, type TicketClaims } from './state';

export interface Conn {
  conn: string;
  clientId: string;
  userId: string;
  sessionId: string;
  roles: Role[];
  group: string | null;
  closed: boolean;
  /** Token bucket for the message rate limit. */
  tokens: number;
  refilledAt: number;
  dropped: number;
  lastErrorAt: number;
}
type UserData = { c: Conn };
type WS = uWS.WebSocket<UserData>;

/** Verifies an access token presented in Sec-WebSocket-Protocol (provided by the identity code). */
export type AccessTokenVerifier = (token: string) => Promise<TicketClaims | undefined>;
/** Whether a session is still active (identity's Redis session state). */
export type SessionCheck = (sessionId: string, userId: string) => Promise<boolean>;

export interface HubOptions {
  config: Config;
  redis: Redis;
  prefix: string;
  store: EventStore;
  log: Logger;
  host?: string;
  port?: number;
  verifyAccessToken?: AccessTokenVerifier;
  isSessionActive?: SessionCheck;
}

export const CLOSE = { sessionEnded: 4401, replaced: 4409, flood: 1008, shutdown: 1001 } as const;
const RECENT_MS = 10 * 60_000;
const ENDED_SIGNAL_GRACE_MS = 300;

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
const STATUS_TEXT: Record<number, string> = { 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden', 503: '503 Service Unavailable' };

export class Hub {
  readonly hubId = newHubId();
  readonly state: RealtimeState;
  port = 0;
  private app = uWS.App();
  private listenSocket: uWS.us_listen_socket | undefined;
  private sub: Redis;
  private readonly byClient = new Map<string, WS>();
  private readonly bySession = new Map<string, Set<WS>>();
  private readonly byUser = new Map<string, Set<WS>>();
  /** Sessions/users that ended since start (guards the window between ticket check and open). */
  private readonly endedSessions = new Map<string, number>();
  private readonly endedUsers = new Map<string, number>();
  private readonly channelReady = new Map<string, Promise<unknown>>();
  private readonly channelBase: string;
  private readonly ctlChannel: string;
  private readonly endedChannel: string;
  private readonly origins: Set<string> | null;
  private readonly limits;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly outbox = new Map<string, string[]>();
  /** Pre-bound counters (no label lookup per message). */
  private readonly counters = Object.fromEntries(
    ['send_to', 'group', 'join', 'leave', 'ping', 'list_members', 'list_groups', 'subscribe', 'unsubscribe', 'refused'].map((t) => [t, realtimeMetrics.messages.labels({ type: t })]),
  ) as Record<ClientCommand['type'] | 'refused', client.Counter.Internal>;
  private flushScheduled = false;
  private events: Follower | undefined;
  /** The audit reader, running while this hub has an admin subscribed to `audit` (serialised start/stop). */
  private audit: Promise<Follower | undefined> = Promise.resolve(undefined);
  private stopping = false;
  private untrack: (() => void) | undefined;

  constructor(private readonly o: HubOptions) {
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

  private async starting(): Promise<void> {
    await connectRedis(this.sub);
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onBus(channel, message));
    await this.sub.subscribe(this.ctlChannel, this.endedChannel);
    this.events = await followAuthEvents(this.o.store, this.authHandlers(), this.o.log);
    this.routes();
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

  private routes() {
    const behavior: uWS.WebSocketBehavior<UserData> = {
      compression: uWS.DISABLED,
      // Twice the accepted size: between the two an error frame, beyond it uWS drops the socket.
      maxPayloadLength: this.limits.maxBytes * 2,
      idleTimeout: this.limits.idle,
      sendPingsAutomatically: true,
      maxBackpressure: this.limits.backpressure,
      closeOnBackpressureLimit: 1,
      upgrade: (res, req, ctx) => this.upgrade(res, req, ctx),
      open: (ws) => this.open(ws),
      message: (ws, msg, isBinary) => this.message(ws, msg, isBinary),
      close: (ws, code) => this.closed(ws, code),
      subscription: (_ws, topic, newCount, oldCount) => this.subscriptionChanged(Buffer.from(topic).toString(), newCount, oldCount),
    };
    this.app.ws('/ws', behavior);
    this.app.ws('/ws/:client', behavior);
    this.app.ws('/ws/:client/:group', behavior);
    this.app.get('/health', (res) => {
      res.writeHeader('content-type', 'application/json').end(JSON.stringify({ status: 'ok', hub: this.hubId, connections: this.connections }));
    });
    this.app.get('/metrics', (res) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      void processMetrics.metrics().then((body) => {
        if (!aborted) res.cork(() => res.writeHeader('content-type', processMetrics.contentType).end(body));
      });
    });
    this.app.any('/*', (res) => {
      res.writeStatus('404 Not Found').writeHeader('content-type', 'application/problem+json')
        .end(JSON.stringify({ type: 'https://authledger.dev/problems/route_not_found', title: 'Not Found', status: 404, code: 'route_not_found', detail: 'WebSocket paths: /ws, /ws/{client_id}, /ws/{client_id}/{group}.' }));
    });
  }

  private upgrade(res: uWS.HttpResponse, req: uWS.HttpRequest, ctx: uWS.us_socket_context_t) {
    // The request object is only valid synchronously: read everything now.
    const url = req.getUrl();
    const parts = url.split('/').filter(Boolean); // ['ws', client?, group?]
    const clientParam = parts[1] ? safeDecode(parts[1]) : undefined;
    const groupParam = parts[2] ? safeDecode(parts[2]) : undefined;
    const ticket = req.getQuery('ticket') ?? '';
    const origin = req.getHeader('origin');
    const key = req.getHeader('sec-websocket-key');
    const protocols = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    this.authorize({ clientParam, groupParam, ticket, origin, protocols })
      .then(({ conn, protocol }) => {
        if (aborted) return;
        res.cork(() => res.upgrade<UserData>({ c: conn }, key, protocol, extensions, ctx));
      })
      .catch((err: unknown) => {
        if (aborted) return;
        const r = err instanceof Refusal ? err : new Refusal(503, 'service_unavailable', 'A dependency is unavailable; try again shortly.');
        if (!(err instanceof Refusal)) this.o.log.error({ err }, 'realtime: upgrade failed');
        else this.o.log.info({ code: r.code, status: r.status }, 'realtime: upgrade refused');
        realtimeMetrics.refused.inc({ code: r.code });
        res.cork(() => {
          res.writeStatus(STATUS_TEXT[r.status] ?? `${r.status} Error`).writeHeader('content-type', 'application/problem+json')
            .end(JSON.stringify({ type: `https://authledger.dev/problems/${r.code}`, title: STATUS_TEXT[r.status]?.slice(4) ?? 'Error', status: r.status, code: r.code, detail: r.message }));
        });
      });
  }

  private async authorize(a: { clientParam?: string; groupParam?: string; ticket: string; origin: string; protocols: string }): Promise<{ conn: Conn; protocol: string }> {
    if (this.stopping) throw new Refusal(503, 'shutting_down', 'The hub is shutting down.');
    if (a.origin && this.origins && !this.origins.has(a.origin.replace(/\/$/, ''))) {
      throw new Refusal(403, 'origin_not_allowed', 'This Origin may not open realtime connections.');
    }
    if (a.clientParam !== undefined && !isName(a.clientParam)) throw new Refusal(400, 'bad_client_id', 'Client ids are 1-64 characters of A-Z a-z 0-9 _ . -');
    if (a.groupParam !== undefined && !isName(a.groupParam)) throw new Refusal(400, 'bad_group', 'Group names are 1-64 characters of A-Z a-z 0-9 _ . -');

    const offered = a.protocols ? a.protocols.split(',').map((p) => p.trim()).filter(Boolean) : [];
    const bearer = offered.find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
    if (offered.length && !offered.includes(SUBPROTOCOL)) {
      throw new Refusal(400, 'bad_subprotocol', `Offer the "${SUBPROTOCOL}" subprotocol (beside "bearer.<access token>" when you use one).`);
    }
    let claims: TicketClaims | undefined;
    if (a.ticket) {
      claims = await this.state.consumeTicket(a.ticket);
      if (!claims) throw new Refusal(401, 'invalid_ticket', 'The ticket is unknown, used or expired. Get a new one from POST /api/v1/realtime/ticket.');
    } else if (bearer) {
      if (!this.o.verifyAccessToken) throw new Refusal(401, 'bearer_not_supported', 'Use a ticket from POST /api/v1/realtime/ticket.');
      claims = await this.o.verifyAccessToken(bearer.slice(BEARER_PROTOCOL_PREFIX.length)).catch(() => undefined);
      if (!claims) throw new Refusal(401, 'invalid_token', 'The access token is not valid.');
    } else {
      throw new Refusal(401, 'ticket_required', 'Present ?ticket= from POST /api/v1/realtime/ticket (or an access token in Sec-WebSocket-Protocol).');
    }
    if (this.endedSessions.has(claims.sessionId) || this.endedUsers.has(claims.userId)) throw new Refusal(401, 'session_ended', 'The session has ended.');
    if (this.o.isSessionActive && !(await this.o.isSessionActive(claims.sessionId, claims.userId))) {
      throw new Refusal(401, 'session_ended', 'The session has ended.');
    }
    const clientId = a.clientParam ?? `c-${randomBytes(6).toString('hex')}`;
    const claim = await this.state.claimClientId(clientId, claims.userId);
    if (!claim.ok) throw new Refusal(403, 'client_id_taken', 'This client id belongs to another user.');
    const conn: Conn = {
      conn: newConnId(),
      clientId,
      userId: claims.userId,
      sessionId: claims.sessionId,
      roles: claims.roles,
      group: a.groupParam ?? claim.rememberedGroup,
      closed: false,
      tokens: this.limits.rate,
      refilledAt: Date.now(),
      dropped: 0,
      lastErrorAt: 0,
    };
    return { conn, protocol: offered.length ? SUBPROTOCOL : '' };
  }

  // --- socket lifecycle ----------------------------------------------------------------------

  private open(ws: WS) {
    const c = ws.getUserData().c;
    const previous = this.byClient.get(c.clientId);
    if (previous) this.end(previous, CLOSE.replaced, 'replaced by a newer connection');
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
        await this.ready(c);
        this.o.log.debug({ client: c.clientId, user: c.userId, group: c.group }, 'realtime: connected');
        // A session may have ended while we registered.
        if (this.endedSessions.has(c.sessionId) || this.endedUsers.has(c.userId)) return this.endSocket(ws, 'session_ended');
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

  private closed(ws: WS, code: number) {
    realtimeMetrics.closed.inc({ code: String(code) });
    const c = ws.getUserData().c;
    c.closed = true;
    if (this.byClient.get(c.clientId) === ws) this.byClient.delete(c.clientId);
    removeFrom(this.bySession, c.sessionId, ws);
    removeFrom(this.byUser, c.userId, ws);
    void this.state.unregister(c.clientId, c.conn).catch(() => undefined);
  }

  /** Redis subscriptions follow uWS topic counts: subscribed while this hub has a local member. */
  private subscriptionChanged(topic: string, newCount: number, oldCount: number) {
    if (topic === 'audit') {
      if (oldCount === 0 && newCount > 0) this.audit = this.audit.then((f) => f ?? followLog(this.o.store, undefined, (e) => this.publishAudit(e), this.o.log).catch(() => undefined));
      else if (newCount === 0 && oldCount > 0) this.audit = this.audit.then(async (f) => { await f?.stop(); return undefined; });
      return;
    }
    if (!(topic.startsWith('g:') || topic.startsWith('c:'))) return;
    const channel = this.channelBase + topic;
    if (oldCount === 0 && newCount > 0) {
      this.channelReady.set(channel, this.sub.subscribe(channel).catch((err) => this.o.log.warn({ err: (err as Error).message }, 'realtime: subscribe failed')));
    } else if (newCount === 0 && oldCount > 0) {
      this.channelReady.delete(channel);
      void this.sub.unsubscribe(channel).catch(() => undefined);
    }
  }

  private async ready(c: Conn) {
    await Promise.all([this.channelReady.get(this.channelBase + `c:${c.clientId}`), c.group ? this.channelReady.get(this.channelBase + `g:${c.group}`) : undefined]);
  }

  /**
   * Group frames for the other hubs are batched per topic and flushed once per event-loop turn:
   * one PUBLISH (and one echo back to this hub) per burst instead of per message. A batch is the
   * origin tag followed by frames separated by "\n" (JSON frames never contain a raw newline).
   */
  private queueRemote(topic: string, frame: string) {
    const q = this.outbox.get(topic);
    if (q) q.push(frame);
    else this.outbox.set(topic, [frame]);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushRemote());
    }
  }

  private flushRemote() {
    this.flushScheduled = false;
    for (const [topic, list] of this.outbox) {
      this.state.publish(topic, list.join('\n'), this.hubId).catch((err) => this.o.log.warn({ err: (err as Error).message, topic }, 'realtime: publish to other hubs failed'));
    }
    this.outbox.clear();
  }

  private onBus(channelBuf: Buffer, message: Buffer) {
    const channel = channelBuf.toString();
    if (channel === this.ctlChannel) return this.onControl(message.toString());
    if (channel === this.endedChannel) return this.onSessionEndedSignal(message.toString());
    if (message.length < ORIGIN_LENGTH || message.toString('latin1', 0, ORIGIN_LENGTH) === this.hubId) return;
    const topic = channel.slice(this.channelBase.length);
    let start = ORIGIN_LENGTH;
    for (;;) {
      const nl = message.indexOf(10, start);
      this.app.publish(topic, message.subarray(start, nl < 0 ? message.length : nl), false);
      if (nl < 0) break;
      start = nl + 1;
    }
  }

  /**
   * Identity publishes every ended session id on `<prefix>session-ended` as it ends it. The event
   * log normally tells the hub first (with the reason); this is the safety net when reading the log
   * lags (the PostgreSQL store shows an event only once older transactions have finished): sockets
   * still open ENDED_SIGNAL_GRACE_MS later are closed with reason `session_ended`.
   */
  private onSessionEndedSignal(sessionId: string) {
    if (!this.bySession.has(sessionId)) return;
    setTimeout(() => {
      this.endedSessions.set(sessionId, Date.now());
      for (const ws of [...(this.bySession.get(sessionId) ?? [])]) this.endSocket(ws, 'session_ended');
    }, ENDED_SIGNAL_GRACE_MS).unref();
  }

  private onControl(raw: string) {
    try {
      const m = JSON.parse(raw) as { kind: string; client_id: string; conn: string };
      if (m.kind === 'kick') {
        const ws = this.byClient.get(m.client_id);
        if (ws && ws.getUserData().c.conn === m.conn) this.end(ws, CLOSE.replaced, 'replaced by a newer connection');
      }
    } catch {
      // not ours
    }
  }

  // --- messages ------------------------------------------------------------------------------

  private message(ws: WS, msg: ArrayBuffer, isBinary: boolean) {
    const c = ws.getUserData().c;
    if (c.closed) return;
    if (!this.allow(ws, c)) return this.counters.refused.inc();
    if (isBinary) {
      this.counters.refused.inc();
      return this.send(ws, frames.error('binary_not_supported', 'Send text frames.'));
    }
    if (msg.byteLength > this.limits.maxBytes) {
      this.counters.refused.inc();
      return this.send(ws, frames.error('message_too_large', `Messages are at most ${this.limits.maxBytes} bytes.`));
    }
    const parsed = parseMessage(Buffer.from(msg).toString('utf8'));
    if (!parsed.ok) {
      this.counters.refused.inc();
      return this.send(ws, frames.error(parsed.code, parsed.message, parsed.id));
    }
    this.counters[parsed.command.type].inc();
    try {
      this.handle(ws, c, parsed.command);
    } catch (err) {
      this.o.log.error({ err }, 'realtime: message handler failed');
      this.send(ws, frames.error('internal_error', 'The message could not be handled.'));
    }
  }

  /** Token bucket; excess is dropped with (at most one per second) error frame; a flood closes. */
  private allow(ws: WS, c: Conn): boolean {
    const now = Date.now();
    const rate = this.limits.rate;
    c.tokens = Math.min(rate, c.tokens + ((now - c.refilledAt) / 1000) * rate);
    c.refilledAt = now;
    if (c.tokens >= 1) {
      c.tokens -= 1;
      c.dropped = 0;
      return true;
    }
    c.dropped++;
    if (c.dropped > rate * 4 + 10) {
      this.send(ws, frames.error('rate_limited', 'Too many messages; closing.'));
      this.end(ws, CLOSE.flood, 'message rate exceeded');
    } else if (now - c.lastErrorAt >= 1000) {
      c.lastErrorAt = now;
      this.send(ws, frames.error('rate_limited', `At most ${rate} messages per second; messages were dropped.`));
    }
    return false;
  }

  private handle(ws: WS, c: Conn, cmd: ClientCommand) {
    switch (cmd.type) {
      case 'group': {
        if (!c.group) return this.send(ws, frames.error('not_in_group', 'Join a group first (/join <group>).', cmd.id));
        const topic = `g:${c.group}`;
        const frame = frames.groupMessage(c.group, c.clientId, 'socket', cmd.text);
        this.app.publish(topic, frame, false);
        this.queueRemote(topic, frame);
        return;
      }
      case 'send_to': {
        const frame = frames.directMessage(cmd.to, c.clientId, 'socket', cmd.text);
        const sent = JSON.stringify({ type: 'sent', to: cmd.to, ...(cmd.id ? { id: cmd.id } : {}) });
        const local = this.byClient.get(cmd.to);
        if (local) {
          this.send(local, frame);
          return this.send(ws, sent);
        }
        this.state.publish(`c:${cmd.to}`, frame, this.hubId).then(
          (n) => this.send(ws, n > 0 ? sent : frames.error('client_not_found', `Client ${cmd.to} is not connected.`, cmd.id)),
          () => this.send(ws, frames.error('service_unavailable', 'The message could not be sent.', cmd.id)),
        );
        return;
      }
      case 'join': {
        const previous = c.group;
        if (previous === cmd.group) return this.send(ws, JSON.stringify({ type: 'joined', group: cmd.group, ...(cmd.id ? { id: cmd.id } : {}) }));
        if (previous) ws.unsubscribe(`g:${previous}`);
        c.group = cmd.group;
        ws.subscribe(`g:${cmd.group}`);
        void this.state.setGroup(c.clientId, c.conn, cmd.group)
          .then(() => this.ready(c))
          .then(
            () => this.send(ws, JSON.stringify({ type: 'joined', group: cmd.group, previous, ...(cmd.id ? { id: cmd.id } : {}) })),
            () => this.send(ws, frames.error('service_unavailable', 'Membership could not be stored.', cmd.id)),
          );
        return;
      }
      case 'leave': {
        const previous = c.group;
        if (!previous) return this.send(ws, frames.error('not_in_group', 'You are not in a group.', cmd.id));
        ws.unsubscribe(`g:${previous}`);
        c.group = null;
        void this.state.setGroup(c.clientId, c.conn, null).then(
          () => this.send(ws, JSON.stringify({ type: 'left', group: previous, ...(cmd.id ? { id: cmd.id } : {}) })),
          () => this.send(ws, frames.error('service_unavailable', 'Membership could not be stored.', cmd.id)),
        );
        return;
      }
      case 'ping':
        return this.send(ws, JSON.stringify({ type: 'pong', ts: Date.now(), ...(cmd.id ? { id: cmd.id } : {}) }));
      case 'list_members': {
        const group = cmd.group ?? c.group;
        if (!group) return this.send(ws, frames.error('not_in_group', 'Join a group first or name one.', cmd.id));
        if (group !== c.group && !c.roles.includes('admin')) return this.send(ws, frames.error('forbidden', 'Only members (and admins) see a group\'s members.', cmd.id));
        void this.state.groupMembers(group).then(
          (members) => this.send(ws, JSON.stringify({ type: 'members', group, members, ...(cmd.id ? { id: cmd.id } : {}) })),
          () => this.send(ws, frames.error('service_unavailable', 'Try again shortly.', cmd.id)),
        );
        return;
      }
      case 'list_groups':
        void this.state.groups().then(
          (groups) => this.send(ws, JSON.stringify({ type: 'groups', groups, ...(cmd.id ? { id: cmd.id } : {}) })),
          () => this.send(ws, frames.error('service_unavailable', 'Try again shortly.', cmd.id)),
        );
        return;
      case 'subscribe':
        if (!c.roles.includes('admin')) return this.send(ws, frames.error('forbidden', 'The audit feed is for admins.', cmd.id));
        ws.subscribe('audit');
        // Confirm once the reader is positioned: events after this frame are in the feed.
        void this.audit.then((f) => this.send(ws, f
          ? JSON.stringify({ type: 'subscribed', channel: 'audit', ...(cmd.id ? { id: cmd.id } : {}) })
          : frames.error('service_unavailable', 'The audit feed could not be started.', cmd.id)));
        return;
      case 'unsubscribe':
        ws.unsubscribe('audit');
        return this.send(ws, JSON.stringify({ type: 'unsubscribed', channel: 'audit', ...(cmd.id ? { id: cmd.id } : {}) }));
    }
  }

  // --- pushed auth events --------------------------------------------------------------------

  private authHandlers() {
    const remember = (m: Map<string, number>, k: string) => {
      const now = Date.now();
      m.set(k, now);
      if (m.size > 10_000) for (const [key, at] of m) if (now - at > RECENT_MS) m.delete(key);
    };
    return {
      sessionEnded: (sessionId: string, _userId: string, reason: string) => {
        remember(this.endedSessions, sessionId);
        for (const ws of [...(this.bySession.get(sessionId) ?? [])]) this.endSocket(ws, reason);
      },
      userEnded: (userId: string, reason: string) => {
        remember(this.endedUsers, userId);
        for (const ws of [...(this.byUser.get(userId) ?? [])]) this.endSocket(ws, reason);
      },
      userEnabled: (userId: string) => {
        this.endedUsers.delete(userId);
      },
      newLogin: (e: { userId: string; sessionId: string; deviceName?: string; ip?: string; userAgent?: string; at: string }) => {
        const sockets = this.byUser.get(e.userId);
        if (!sockets) return;
        const frame = JSON.stringify({
          type: 'new_login', session_id: e.sessionId, device_name: e.deviceName ?? null, ip: e.ip ?? null, user_agent: e.userAgent ?? null, at: e.at,
        });
        // The new session's own sockets (a fast client may already hold one) are not "other devices".
        for (const ws of sockets) if (ws.getUserData().c.sessionId !== e.sessionId) this.send(ws, frame);
      },
      roleChanged: (userId: string, role: string, granted: boolean) => {
        if (role !== 'admin') return;
        for (const ws of this.byUser.get(userId) ?? []) {
          const c = ws.getUserData().c;
          if (c.closed) continue;
          c.roles = granted ? [...new Set([...c.roles, 'admin' as const])] : c.roles.filter((r) => r !== 'admin');
          if (!granted) ws.unsubscribe('audit');
        }
      },
    };
  }

  private publishAudit(e: RecordedEvent) {
    if (this.app.numSubscribers('audit') === 0) return;
    this.app.publish('audit', JSON.stringify({
      type: 'audit_event',
      event: { id: e.id, type: e.type, stream: e.streamName, revision: e.revision.toString(), position: `${e.position.commit}/${e.position.prepare}`, at: e.createdAt.toISOString(), data: redact(e.data), metadata: redact(e.metadata) },
    }), false);
  }

  private endSocket(ws: WS, reason: string) {
    const c = ws.getUserData().c;
    if (c.closed) return;
    this.send(ws, JSON.stringify({ type: 'session_revoked', session_id: c.sessionId, reason }));
    this.end(ws, CLOSE.sessionEnded, 'session_revoked');
  }

  // --- helpers -------------------------------------------------------------------------------

  private send(ws: WS, frame: string) {
    if (ws.getUserData().c.closed) return;
    ws.send(frame, false, false);
  }

  private end(ws: WS, code: number, reason: string) {
    const c = ws.getUserData().c;
    if (c.closed) return;
    c.closed = true;
    ws.end(code, reason);
  }

  /** Test/bench hook: publishes a frame to a topic on this hub only. */
  publishLocal(topic: string, frame: string): boolean {
    return this.app.publish(topic, frame, false);
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return '\u0000';
  }
}
function addTo(m: Map<string, Set<WS>>, k: string, ws: WS) {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(ws);
}
function removeFrom(m: Map<string, Set<WS>>, k: string, ws: WS) {
  const s = m.get(k);
  if (!s) return;
  s.delete(ws);
  if (!s.size) m.delete(k);
}
