/**
 * Admin: the live audit feed. A socket to the realtime hub (ticket), `subscribe` to the `audit`
 * channel, and every event of the log appears as it is written (secrets redacted by the hub).
 * Pause keeps the socket but stops adding rows; the newest 200 are kept.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { messageOf } from '../../api';
import { Notice, Page } from '../../ui';
import { openHub, parseFrame } from '../realtime/hub';
import { EventList, type AuditEvent } from './events';

interface HubEvent { id: string; type: string; stream: string; revision: number; position: string; at: string; data: Record<string, unknown>; metadata: Record<string, unknown> }

const asAudit = (e: HubEvent): AuditEvent => ({
  id: e.id, type: e.type, stream: e.stream, revision: e.revision, position: e.position, time: e.at, data: e.data ?? {},
  metadata: {
    ip: (e.metadata?.ip as string) ?? null, user_agent: (e.metadata?.userAgent as string) ?? null,
    actor_user_id: (e.metadata?.actorUserId as string) ?? null, request_id: (e.metadata?.requestId as string) ?? null,
  },
});

export default function AdminLive() {
  const [status, setStatus] = useState('Connecting…');
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [paused, setPaused] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const pausedRef = useRef(false);
  pausedRef.current = paused;

  useEffect(() => {
    let sock: WebSocket | undefined;
    let closed = false;
    void openHub().then((s) => {
      if (closed) return s.close(1000);
      sock = s;
      s.onmessage = (ev) => {
        const f = parseFrame(ev);
        if (!f) return;
        if (f.type === 'welcome') s.send(JSON.stringify({ type: 'subscribe', channel: 'audit' }));
        else if (f.type === 'subscribed') setStatus('Live: new events appear at the top.');
        else if (f.type === 'audit_event' && !pausedRef.current) setEvents((es) => [asAudit(f.event as HubEvent), ...es].slice(0, 200));
        else if (f.type === 'error') setError(`${String(f.code)}: ${String(f.message ?? '')}`);
        else if (f.type === 'session_revoked') setError('Your session ended; the feed stopped.');
      };
      s.onclose = (ev) => { if (!closed) setStatus(`Disconnected (${ev.code}).`); };
    }, (err) => setError(messageOf(err)));
    return () => {
      closed = true;
      sock?.close(1000);
    };
  }, []);

  return (
    <Page title="Live audit feed" wide actions={
      <>
        <button type="button" class="secondary" onClick={() => setPaused((p) => !p)} aria-pressed={paused}>{paused ? 'Resume' : 'Pause'}</button>
        <button type="button" class="secondary" onClick={() => setEvents([])}>Clear</button>
      </>
    }>
      {error && <Notice kind="error">{error}</Notice>}
      <p class="muted" role="status" aria-live="polite" data-testid="feed-status">{paused ? 'Paused.' : status}</p>
      {events.length ? <EventList events={events} /> : <p class="muted">No events yet: do something in another tab.</p>}
    </Page>
  );
}
