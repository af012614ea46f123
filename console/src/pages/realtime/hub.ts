/**
 * Opening a socket to the realtime hub (docs/realtime.md): a single-use ticket from the API
 * (POST /api/v1/realtime/ticket, 30 s), then `ws(s)://<host>:<realtime_port>/ws/<client>/<group>?ticket=…`.
 * The ticket is the only credential ever in a URL (worthless after one use); the access token
 * never is. Every frame from the hub is one JSON object.
 */
import { post } from '../../api';

export interface Ticket { ticket: string; expires_in: number; ws_paths: string[]; realtime_port: number }

export interface HubFrame { type: string; [k: string]: unknown }

export async function openHub(opts: { clientId?: string; group?: string } = {}): Promise<WebSocket> {
  const t = await post<Ticket>('/api/v1/realtime/ticket');
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const parts = ['/ws', opts.clientId, opts.clientId && opts.group ? opts.group : undefined].filter(Boolean).map((p, i) => (i ? encodeURIComponent(p!) : p));
  const url = `${proto}://${location.hostname}:${t.realtime_port}${parts.join('/')}?ticket=${encodeURIComponent(t.ticket)}`;
  return new WebSocket(url, ['authledger.v1']);
}

export function parseFrame(ev: MessageEvent): HubFrame | undefined {
  try {
    const f = JSON.parse(String(ev.data)) as HubFrame;
    return f && typeof f.type === 'string' ? f : undefined;
  } catch {
    return undefined;
  }
}

/** Plain words for the reasons a session ends (session_revoked frames). */
export function reasonText(reason: unknown): string {
  const r = String(reason ?? 'session_ended');
  const words: Record<string, string> = {
    logout: 'you signed out', user_revoked: 'you revoked this session', admin: 'an administrator revoked it',
    user_disabled: 'an administrator disabled your account', user_deleted: 'your account was deleted',
    password_changed: 'your password was changed', reuse_detected: 'a refresh token was reused',
    expired_idle: 'it was idle too long', expired_absolute: 'it reached its maximum age',
  };
  return words[r] ?? r.replaceAll('_', ' ');
}
