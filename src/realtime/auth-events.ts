/**
 * Reads the event log from "now" and turns auth events into hub actions. Every hub process runs
 * its own reader (no leader, no extra hop): each reacts for the sockets it holds.
 * Rules enforced here:
 * - a session that ends (SessionRevoked, SessionExpired, RefreshTokenReuseDetected) ends its sockets;
 * - a user that is disabled or deleted loses every socket;
 * - SessionStarted tells the user's other devices (`new_login`);
 * - admin role changes take effect on live sockets (the audit feed needs the admin role);
 * - the action reader asks the store for these event types only; the audit feed (every event) has
 *   its own reader, which runs only while an admin on this hub is subscribed;
 * - a reader never throws: a failing handler is logged and the stream goes on.
 */
import type { Logger } from 'pino';
import type { EventFilter, EventStore, RecordedEvent, Subscription } from '../events/store';

export interface AuthEventHandlers {
  sessionEnded(sessionId: string, userId: string, reason: string): void;
  userEnded(userId: string, reason: 'user_disabled' | 'user_deleted'): void;
  userEnabled(userId: string): void;
  newLogin(e: { userId: string; sessionId: string; deviceName?: string; ip?: string; userAgent?: string; at: string }): void;
  roleChanged(userId: string, role: string, granted: boolean): void;
}

/** The event types the hub acts on. */
export const AUTH_EVENT_TYPES = [
  'SessionStarted', 'SessionRevoked', 'SessionExpired', 'RefreshTokenReuseDetected',
  'UserDisabled', 'UserDeleted', 'UserEnabled', 'RoleGranted', 'RoleRevoked',
] as const;

type D = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

export function dispatchAuthEvent(e: RecordedEvent, h: AuthEventHandlers): void {
  const d = (e.data ?? {}) as D;
  const userId = str(d.userId) ?? '';
  switch (e.type) {
    case 'SessionRevoked':
      h.sessionEnded(String(d.sessionId), userId, String(d.reason ?? 'revoked'));
      break;
    case 'SessionExpired':
      h.sessionEnded(String(d.sessionId), userId, `expired_${String(d.reason ?? 'idle')}`);
      break;
    case 'RefreshTokenReuseDetected':
      h.sessionEnded(String(d.sessionId), userId, 'reuse_detected');
      break;
    case 'UserDisabled':
      h.userEnded(userId, 'user_disabled');
      break;
    case 'UserDeleted':
      h.userEnded(userId, 'user_deleted');
      break;
    case 'UserEnabled':
      h.userEnabled(userId);
      break;
    case 'SessionStarted':
      h.newLogin({
        userId,
        sessionId: String(d.sessionId),
        deviceName: str(d.deviceName),
        ip: str(d.ip) ?? e.metadata.ip,
        userAgent: str(d.userAgent) ?? e.metadata.userAgent,
        at: e.createdAt.toISOString(),
      });
      break;
    case 'RoleGranted':
    case 'RoleRevoked':
      h.roleChanged(userId, String(d.role), e.type === 'RoleGranted');
      break;
  }
}

export interface Follower {
  stop(): Promise<void>;
}

/** Follows the log from its current head (optionally filtered). Resolves once positioned. */
export async function followLog(store: EventStore, filter: EventFilter | undefined, onEvent: (e: RecordedEvent) => void, log: Logger): Promise<Follower> {
  const from = await store.headPosition();
  const sub: Subscription = store.subscribeToAll({ fromPosition: from, ...(filter ? { filter } : {}) });
  let stopped = false;
  const done = (async () => {
    try {
      for await (const e of sub) {
        if (stopped) break;
        try {
          onEvent(e);
        } catch (err) {
          log.error({ err, type: e.type }, 'realtime: event handler failed');
        }
      }
    } catch (err) {
      if (!stopped) log.error({ err }, 'realtime: event subscription ended');
    }
  })();
  return {
    async stop() {
      stopped = true;
      await sub.unsubscribe().catch(() => undefined);
      await done;
    },
  };
}

/** The action reader: auth event types only. */
export function followAuthEvents(store: EventStore, handlers: AuthEventHandlers, log: Logger): Promise<Follower> {
  return followLog(store, { eventTypes: AUTH_EVENT_TYPES }, (e) => dispatchAuthEvent(e, handlers), log);
}
