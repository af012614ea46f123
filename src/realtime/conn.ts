/** What the hub's modules share: a connection's state, the socket type, options, close codes, helpers. */
import type uWS from 'uWebSockets.js';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { InlineProjections } from '../projections/inline';
import type { EventStore } from '../events/store';
import type { Role } from '../events/common';
import type { TicketClaims } from './state';

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
export type UserData = { c: Conn };
export type WS = uWS.WebSocket<UserData>;

/** Verifies an access token presented in Sec-WebSocket-Protocol (provided by the identity code). */
export type AccessTokenVerifier = (token: string) => Promise<TicketClaims | undefined>;
/** Whether a session is still active (identity's Redis session state). */
export type SessionCheck = (sessionId: string, userId: string) => Promise<boolean>;

export interface HubOptions {
  config: Config;
  redis: Redis;
  prefix: string;
  store: EventStore;
  /** The inline projections of the commands the hub runs (`services.inline`). */
  inline: InlineProjections;
  log: Logger;
  host?: string;
  port?: number;
  verifyAccessToken?: AccessTokenVerifier;
  isSessionActive?: SessionCheck;
}

export const CLOSE = { sessionEnded: 4401, replaced: 4409, flood: 1008, shutdown: 1001 } as const;
export const RECENT_MS = 10 * 60_000;
export const ENDED_SIGNAL_GRACE_MS = 300;

export const STATUS_TEXT: Record<number, string> = { 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden', 404: '404 Not Found', 503: '503 Service Unavailable' };

export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return '\u0000';
  }
}
export function addTo(m: Map<string, Set<WS>>, k: string, ws: WS) {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(ws);
}
export function removeFrom(m: Map<string, Set<WS>>, k: string, ws: WS) {
  const s = m.get(k);
  if (!s) return;
  s.delete(ws);
  if (!s.size) m.delete(k);
}
