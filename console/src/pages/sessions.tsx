/**
 * My sessions (one per device): this one marked, last use (the last refresh), IP and browser;
 * end one, or every other one. API: GET /api/v1/auth/sessions, DELETE /api/v1/auth/sessions/{id}.
 */
import { useLocation } from 'preact-iso';
import { del, get } from '../api';
import { to } from '../routes';
import { sessionEnded } from '../session';
import { ErrorNotice, Notice, Page, Spinner, Time, fmtDate, useAction, useLoad } from '../ui';

interface Session {
  id: string;
  device_name: string | null;
  ip: string | null;
  user_agent: string | null;
  created_at: string;
  last_rotated_at: string;
  expires_at: string;
  current: boolean;
}

/** "Chromium 156 on Linux" from a user-agent string (best effort; the full string is in the title). */
export function browserOf(ua: string | null): string {
  if (!ua) return 'unknown browser';
  const b = /(Edg|Firefox|Chrome|Chromium|Safari|curl|node)\/(\d+)/i.exec(ua);
  const os = /Android|iPhone|iPad|Mac OS X|Windows|Linux/.exec(ua)?.[0]?.replace('Mac OS X', 'macOS');
  const name = b ? `${b[1] === 'Edg' ? 'Edge' : b[1]} ${b[2]}` : ua.slice(0, 40);
  return os ? `${name} on ${os}` : name;
}

export default function Sessions() {
  const { route } = useLocation();
  const list = useLoad(() => get<{ sessions: Session[] }>('/api/v1/auth/sessions'));
  const sessions = [...(list.data?.sessions ?? [])].sort((a, b) => Number(b.current) - Number(a.current) || b.last_rotated_at.localeCompare(a.last_rotated_at));
  const others = sessions.filter((s) => !s.current);
  const end = useAction(async (s: Session) => {
    await del(`/api/v1/auth/sessions/${s.id}`);
    if (s.current) {
      sessionEnded('You signed this device out.');
      route(to('/sign-in'));
      return;
    }
    await list.reload();
  });
  const endOthers = useAction(async () => {
    if (!confirm(`Sign out ${others.length} other session${others.length === 1 ? '' : 's'}?`)) return;
    // No "all but mine" route: end each other session (the current one stays).
    for (const s of others) await del(`/api/v1/auth/sessions/${s.id}`).catch(() => undefined);
    await list.reload();
  });
  return (
    <Page title="Sessions" actions={others.length > 0 && <button type="button" class="danger" disabled={endOthers.busy} onClick={() => void endOthers.run()}>Sign out all other sessions</button>}>
      <p class="muted">Each device you sign in on has its own session. End the ones you do not recognise; their refresh tokens stop working at once.</p>
      <ErrorNotice error={list.error ?? end.error ?? endOthers.error} />
      {list.loading && !list.data ? <Spinner /> : !sessions.length ? <Notice>No active sessions.</Notice> : (
        <div class="table-wrap">
          <table>
            <thead><tr><th scope="col">Device</th><th scope="col">IP address</th><th scope="col">Signed in</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {sessions.map((s) => (
                <tr key={s.id} class={s.current ? 'current' : undefined} data-session-id={s.id}>
                  <td>
                    <div>{s.device_name || browserOf(s.user_agent)} {s.current && <span class="badge info">this device</span>}</div>
                    <div class="hint" title={s.user_agent ?? ''}>{browserOf(s.user_agent)}</div>
                  </td>
                  <td><code>{s.ip ?? '—'}</code></td>
                  <td><Time iso={s.created_at} /></td>
                  <td><Time iso={s.last_rotated_at} /></td>
                  <td>{fmtDate(s.expires_at)}</td>
                  <td class="actions">
                    <button type="button" class="danger small" disabled={end.busy} onClick={() => void end.run(s)}>
                      {s.current ? 'Sign out here' : 'End session'}<span class="sr-only"> on {s.device_name || browserOf(s.user_agent)}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}
