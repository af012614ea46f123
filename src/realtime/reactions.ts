/** Reactions to auth events (sessions ended, users disabled): sockets of ended sessions close; the admin audit feed. */
import type { RecordedEvent } from '../events/store';
import { redact } from './protocol';
import { CLOSE, ENDED_SIGNAL_GRACE_MS, RECENT_MS, type WS } from './conn';
import type { Hub } from './hub';


/**
 * Identity publishes every ended session id on `<prefix>session-ended` as it ends it. The event
 * log normally tells the hub first (with the reason); this is the safety net when reading the log
 * lags (the PostgreSQL store shows an event only once older transactions have finished): sockets
 * still open ENDED_SIGNAL_GRACE_MS later are closed with reason `session_ended`.
 */
export function onSessionEndedSignal(hub: Hub, sessionId: string) {
  if (!hub.bySession.has(sessionId)) return;
  setTimeout(() => {
    hub.endedSessions.set(sessionId, Date.now());
    for (const ws of [...(hub.bySession.get(sessionId) ?? [])]) endSocket(hub, ws, 'session_ended');
  }, ENDED_SIGNAL_GRACE_MS).unref();
}

export function onControl(hub: Hub, raw: string) {
  try {
    const m = JSON.parse(raw) as { kind: string; client_id: string; conn: string };
    if (m.kind === 'kick') {
      const ws = hub.byClient.get(m.client_id);
      if (ws && ws.getUserData().c.conn === m.conn) hub.end(ws, CLOSE.replaced, 'replaced by a newer connection');
    }
  } catch {
    // not ours
  }
}

export function authHandlers(hub: Hub) {
  const remember = (m: Map<string, number>, k: string) => {
    const now = Date.now();
    m.set(k, now);
    if (m.size > 10_000) for (const [key, at] of m) if (now - at > RECENT_MS) m.delete(key);
  };
  return {
    sessionEnded: (sessionId: string, _userId: string, reason: string) => {
      remember(hub.endedSessions, sessionId);
      for (const ws of [...(hub.bySession.get(sessionId) ?? [])]) endSocket(hub, ws, reason);
    },
    userEnded: (userId: string, reason: string) => {
      remember(hub.endedUsers, userId);
      for (const ws of [...(hub.byUser.get(userId) ?? [])]) endSocket(hub, ws, reason);
    },
    userEnabled: (userId: string) => {
      hub.endedUsers.delete(userId);
    },
    newLogin: (e: { userId: string; sessionId: string; deviceName?: string; ip?: string; userAgent?: string; at: string }) => {
      const sockets = hub.byUser.get(e.userId);
      if (!sockets) return;
      const frame = JSON.stringify({
        type: 'new_login', session_id: e.sessionId, device_name: e.deviceName ?? null, ip: e.ip ?? null, user_agent: e.userAgent ?? null, at: e.at,
      });
      // The new session's own sockets (a fast client may already hold one) are not "other devices".
      for (const ws of sockets) if (ws.getUserData().c.sessionId !== e.sessionId) hub.send(ws, frame);
    },
    roleChanged: (userId: string, role: string, granted: boolean) => {
      if (role !== 'admin') return;
      for (const ws of hub.byUser.get(userId) ?? []) {
        const c = ws.getUserData().c;
        if (c.closed) continue;
        c.roles = granted ? [...new Set([...c.roles, 'admin' as const])] : c.roles.filter((r) => r !== 'admin');
        if (!granted) ws.unsubscribe('audit');
      }
    },
  };
}

export function publishAudit(hub: Hub, e: RecordedEvent) {
  if (hub.app.numSubscribers('audit') === 0) return;
  hub.app.publish('audit', JSON.stringify({
    type: 'audit_event',
    event: { id: e.id, type: e.type, stream: e.streamName, revision: e.revision.toString(), position: `${e.position.commit}/${e.position.prepare}`, at: e.createdAt.toISOString(), data: redact(e.data), metadata: redact(e.metadata) },
  }), false);
}

export function endSocket(hub: Hub, ws: WS, reason: string) {
  const c = ws.getUserData().c;
  if (c.closed) return;
  hub.send(ws, JSON.stringify({ type: 'session_revoked', session_id: c.sessionId, reason }));
  hub.end(ws, CLOSE.sessionEnded, 'session_revoked');
}
