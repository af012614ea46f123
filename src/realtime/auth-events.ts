/**
 * Reads the event log from "now" and turns auth events into hub actions. Every hub process runs
 * its own reader (no leader, no extra hop): each reacts for the sockets it holds.
 * Rules enforced here:
 * - a session that ends (SessionRevoked, SessionExpired, RefreshTokenReuseDetected) ends its sockets;
 * - a user that is disabled or deleted loses every socket;
 * - SessionStarted tells the user's other devices (`new_login`);
 * - admin role changes take effect on live sockets (the audit feed needs the admin role);
 * - every event goes to the audit feed (the hub redacts it, and skips the work when nobody listens).
 * The reader never throws: a failing handler is logged and the stream goes on.
 */
import type { Logger } from 'pino';
import type { EventStore, RecordedEvent, Subscription } from '../events/store';

export interface AuthEventHandlers {
  sessionEnded(sessionId: string, userId: string, reason: string): void;
  userEnded(userId: string, reason: 'user_disabled' | 'user_deleted'): void;
  userEnabled(userId: string): void;
  newLogin(e: { userId: string; sessionId: string; deviceName?: string; ip?: string; userAgent?: string; at: string }): void;
  roleChanged(userId: string, role: string, granted: boolean): void;
  audit(event: RecordedEvent): void;
}

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
  h.audit(e);
}

/** Starts reading after the current head of the log. Resolves once the reader is positioned. */
export async function followAuthEvents(store: EventStore, handlers: AuthEventHandlers, log: Logger): Promise<{ stop(): Promise<void> }> {
  const from = await store.headPosition();
  const sub: Subscription = store.subscribeToAll({ fromPosition: from });
  let stopped = false;
  const done = (async () => {
    try {
      for await (const e of sub) {
        if (stopped) break;
        try {
          dispatchAuthEvent(e, handlers);
        } catch (err) {
          log.error({ err, type: e.type }, 'realtime: auth event handler failed');
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
