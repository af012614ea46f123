/**
 * Realtime test helpers: real sockets (`ws` as the client) against a real hub and Redis.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { Role } from '../../src/events/common';
import { RealtimeState } from '../../src/realtime/state';
import type { Services } from '../../src/services';
import { streams } from '../../src/events/streams';
import { applyInline, sessionEventEval } from '../../src/projections/session-state';
import { getKeys } from '../../src/credentials/keys';
import { signAccessToken } from '../../src/credentials/access-tokens';

export interface Frame {
  type: string;
  [k: string]: unknown;
}

export interface Client {
  ws: WebSocket;
  frames: Frame[];
  /** Resolves with the first (already received or future) frame matching, or rejects after timeout. */
  next(match: string | ((f: Frame) => boolean), timeoutMs?: number): Promise<Frame>;
  /** Resolves when the socket closes: code and reason. */
  closed: Promise<{ code: number; reason: string; at: number }>;
  send(data: string | object): void;
  close(): void;
}

export type Refused = { refused: true; status: number; body: { code?: string } };

/** Opens a socket; resolves once it is open (or with the HTTP refusal). */
export function connect(url: string, opts: { origin?: string; protocols?: string[]; autoPong?: boolean } = {}): Promise<Client | Refused> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? [], { origin: opts.origin, autoPong: opts.autoPong ?? true });
    const frames: Frame[] = [];
    const waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
    let closeResolve!: (v: { code: number; reason: string; at: number }) => void;
    const closed = new Promise<{ code: number; reason: string; at: number }>((r) => (closeResolve = r));
    ws.on('message', (data) => {
      let f: Frame;
      try {
        f = JSON.parse(data.toString()) as Frame;
      } catch {
        f = { type: '__raw', raw: data.toString() };
      }
      frames.push(f);
      for (const w of [...waiters]) {
        if (w.match(f)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(f);
        }
      }
    });
    ws.on('close', (code, reason) => closeResolve({ code, reason: reason.toString(), at: Date.now() }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        let parsed: { code?: string } = {};
        try {
          parsed = JSON.parse(body) as { code?: string };
        } catch {
          // not JSON
        }
        resolve({ refused: true, status: res.statusCode ?? 0, body: parsed });
      });
    });
    ws.on('error', (err) => {
      if (ws.readyState === WebSocket.CONNECTING) reject(err);
    });
    ws.on('open', () => {
      const client: Client = {
        ws,
        frames,
        closed,
        next(match, timeoutMs = 5000) {
          const m = typeof match === 'string' ? (f: Frame) => f.type === match : match;
          const found = frames.find(m);
          if (found) {
            frames.splice(frames.indexOf(found), 1);
            return Promise.resolve(found);
          }
          return new Promise((res, rej) => {
            const t = setTimeout(() => rej(new Error(`no frame matching ${String(match)} within ${timeoutMs} ms; got ${JSON.stringify(frames)}`)), timeoutMs);
            waiters.push({
              match: m,
              resolve: (f) => {
                clearTimeout(t);
                frames.splice(frames.indexOf(f), 1);
                res(f);
              },
            });
          });
        },
        send(data) {
          ws.send(typeof data === 'string' ? data : JSON.stringify(data));
        },
        close() {
          ws.close();
        },
      };
      resolve(client);
    });
  });
}

export function isRefused(c: Client | Refused): c is Refused {
  return (c as Refused).refused === true;
}

export async function open(url: string, opts?: Parameters<typeof connect>[1]): Promise<Client> {
  const c = await connect(url, opts);
  if (isRefused(c)) throw new Error(`refused: ${c.status} ${JSON.stringify(c.body)}`);
  await c.next('welcome', 10_000);
  return c;
}

export interface TestUser {
  userId: string;
  sessionId: string;
  roles: Role[];
}
export const newUser = (roles: Role[] = ['user']): TestUser => ({ userId: randomUUID(), sessionId: randomUUID(), roles });

/**
 * Appends a session event the way identity's commands do: to the event log, then applied inline to
 * identity's Redis session state (which the hub's session gate reads).
 */
export async function sessionEvent(services: Services, type: 'SessionStarted' | 'SessionRevoked' | 'SessionExpired', data: Record<string, unknown>) {
  const sessionId = String(data.sessionId);
  const r = await services.store.appendToStream(streams.session(sessionId), [{ type, data }]);
  const recorded = { type, data, revision: r.nextExpectedRevision, createdAt: new Date() };
  await applyInline(services.redis, sessionEventEval(services.prefix, recorded, { accessTokenTtl: services.config.ACCESS_TOKEN_TTL }));
}

/** A user with an active session (SessionStarted in the log and in identity's session state). */
export async function activeUser(services: Services, roles: Role[] = ['user'], userId: string = randomUUID()): Promise<TestUser> {
  const u = { userId, sessionId: randomUUID(), roles };
  await sessionEvent(services, 'SessionStarted', {
    sessionId: u.sessionId, userId, refreshTokenHash: randomUUID(), expiresAt: new Date(Date.now() + 3600_000).toISOString(),
  });
  return u;
}

/** A ticket straight from the ticket store (what POST /api/v1/realtime/ticket issues). */
export async function ticket(services: Services, user: TestUser): Promise<string> {
  return (await new RealtimeState(services.redis, services.prefix).issueTicket(user)).ticket;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An access token for an active test session, signed by identity's own issuing code. */
export async function accessToken(services: Services, user: TestUser): Promise<string> {
  return (await signAccessToken(await getKeys(services.config), services.config, user)).token;
}
