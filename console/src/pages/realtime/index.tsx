/**
 * Realtime (seed 004's socket and group-messaging pages as one screen): connect to the hub with a
 * ticket, join a group, send group and direct messages, see the members. When the session ends
 * (signed out elsewhere, revoked, account disabled) the hub says so and closes the socket: the
 * screen shows why and the console signs out with that notice.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { messageOf } from '../../api';
import { sessionEnded } from '../../session';
import { Field, Notice, Page } from '../../ui';
import { openHub, parseFrame, reasonText, type HubFrame } from './hub';

interface Line { n: number; kind: 'group' | 'direct' | 'system' | 'error'; text: string }

const randomId = () => `web-${Math.random().toString(36).slice(2, 8)}`;

export default function Realtime() {
  const [clientId, setClientId] = useState(randomId);
  const [group, setGroup] = useState('lobby');
  const [status, setStatus] = useState<'idle' | 'connecting' | 'open' | 'closed'>('idle');
  const [welcome, setWelcome] = useState<HubFrame | null>(null);
  const [current, setCurrent] = useState<string | null>(null);
  const [members, setMembers] = useState<string[]>([]);
  const [lines, setLines] = useState<Line[]>([]);
  const [text, setText] = useState('');
  const [to, setTo] = useState('');
  const [dm, setDm] = useState('');
  const [joinName, setJoinName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [ended, setEnded] = useState<string | null>(null);
  const ws = useRef<WebSocket | null>(null);
  const seq = useRef(0);
  const endedWhy = useRef<string | null>(null);

  const add = (kind: Line['kind'], t: string) => setLines((ls) => [...ls.slice(-199), { n: ++seq.current, kind, text: t }]);
  const send = (frame: object) => ws.current?.readyState === WebSocket.OPEN && ws.current.send(JSON.stringify(frame));

  useEffect(() => () => ws.current?.close(1000), []);

  function onFrame(f: HubFrame) {
    switch (f.type) {
      case 'welcome':
        setWelcome(f);
        setCurrent((f.group as string | null) ?? null);
        add('system', `Connected as ${String(f.client_id)}${f.group ? ` in ${String(f.group)}` : ''}.`);
        send({ type: 'list_members' });
        break;
      case 'group_message':
        add('group', `[${String(f.group)}] ${f.from ? String(f.from) : 'api'}: ${String(f.text)}`);
        break;
      case 'direct_message':
        add('direct', `${f.from ? String(f.from) : 'api'} → ${String(f.to)}: ${String(f.text)}`);
        break;
      case 'sent':
        add('system', `Sent to ${String(f.to)}.`);
        break;
      case 'joined':
        setCurrent(String(f.group));
        add('system', `Joined ${String(f.group)}.`);
        send({ type: 'list_members' });
        break;
      case 'left':
        setCurrent(null);
        setMembers([]);
        add('system', `Left ${String(f.group)}.`);
        break;
      case 'members':
        setMembers((f.members as string[]) ?? []);
        break;
      case 'new_login':
        add('system', `New sign-in to your account: ${String(f.device_name ?? f.user_agent ?? 'another device')}.`);
        break;
      case 'session_revoked': {
        const why = `Your session ended: ${reasonText(f.reason)}.`;
        endedWhy.current = why;
        setEnded(why);
        add('error', why);
        break;
      }
      case 'error':
        add('error', `${String(f.code)}: ${String(f.message ?? '')}`);
        break;
      default:
        break;
    }
  }

  async function connect(e: Event) {
    e.preventDefault();
    setError(null);
    setStatus('connecting');
    try {
      const sock = await openHub({ clientId: clientId.trim(), group: group.trim() || undefined });
      ws.current = sock;
      sock.onopen = () => setStatus('open');
      sock.onmessage = (ev) => {
        const f = parseFrame(ev);
        if (f) onFrame(f);
      };
      sock.onclose = (ev) => {
        setStatus('closed');
        setMembers([]);
        if (ev.code === 4401) {
          // The session is over: sign out with the reason (the hub sent it just before closing).
          const notice = endedWhy.current ?? 'Your session has ended. Please sign in again.';
          setEnded(notice);
          setTimeout(() => sessionEnded(notice), 1500);
        } else add('system', `Disconnected (${ev.code}${ev.reason ? ` ${ev.reason}` : ''}).`);
      };
    } catch (err) {
      setStatus('idle');
      setError(messageOf(err));
    }
  }

  const open = status === 'open';
  return (
    <Page title="Realtime" wide>
      {ended && <Notice kind="error">{ended}</Notice>}
      {error && <Notice kind="error">{error}</Notice>}
      <form class="panel" onSubmit={connect} aria-labelledby="rt-conn">
        <h2 id="rt-conn">Connection</h2>
        <div class="row">
          <Field label="Client id" value={clientId} onValue={setClientId} required maxLength={64} pattern="[A-Za-z0-9_.\-]+" disabled={open} hint="Letters, digits, _ . - (yours once you use it)" />
          <Field label="Group" value={group} onValue={setGroup} maxLength={64} pattern="[A-Za-z0-9_.\-]*" disabled={open} />
          {open
            ? <button type="button" class="secondary" onClick={() => ws.current?.close(1000)}>Disconnect</button>
            : <button type="submit" disabled={status === 'connecting'}>Connect</button>}
        </div>
        <p class="muted" role="status" aria-live="polite">
          {status === 'open' ? `Connected as ${String(welcome?.client_id ?? clientId)}${current ? ` — group ${current}` : ''}` : status === 'connecting' ? 'Connecting…' : status === 'closed' ? 'Disconnected' : 'Not connected'}
        </p>
      </form>

      {open && (
        <div class="row" style={{ alignItems: 'stretch' }}>
          <form class="panel stack" style={{ flex: '2 1 320px' }} aria-labelledby="rt-group" onSubmit={(e) => { e.preventDefault(); if (text.trim()) { send({ type: 'group', text }); setText(''); } }}>
            <h2 id="rt-group">Group {current ?? '(none)'}</h2>
            <Field label="Message to the group" value={text} onValue={setText} maxLength={4000} disabled={!current} />
            <div><button type="submit" disabled={!current}>Send to group</button></div>
          </form>
          <div class="panel stack" style={{ flex: '1 1 220px' }}>
            <h2 id="rt-members">Members</h2>
            <ul aria-labelledby="rt-members" data-testid="members">{members.map((m) => <li key={m}>{m}{m === welcome?.client_id ? ' (you)' : ''}</li>)}</ul>
            <button type="button" class="secondary small" onClick={() => send({ type: 'list_members' })}>Refresh members</button>
            <form class="row" onSubmit={(e) => { e.preventDefault(); if (joinName.trim()) { send({ type: 'join', group: joinName.trim() }); setJoinName(''); } }}>
              <Field label="Join group" value={joinName} onValue={setJoinName} maxLength={64} />
              <button type="submit" class="secondary">Join</button>
            </form>
            {current && <button type="button" class="secondary small" onClick={() => send({ type: 'leave' })}>Leave group</button>}
          </div>
          <form class="panel stack" style={{ flex: '1 1 260px' }} aria-labelledby="rt-dm" onSubmit={(e) => { e.preventDefault(); if (to.trim() && dm.trim()) { send({ type: 'send_to', to: to.trim(), text: dm }); setDm(''); } }}>
            <h2 id="rt-dm">Direct messages</h2>
            <Field label="To client id" value={to} onValue={setTo} maxLength={64} />
            <Field label="Direct message" value={dm} onValue={setDm} maxLength={4000} />
            <div><button type="submit">Send direct</button></div>
          </form>
        </div>
      )}

      <section class="panel" aria-labelledby="rt-log">
        <h2 id="rt-log">Messages</h2>
        {lines.length === 0 ? <p class="muted">Nothing yet.</p> : (
          <ol class="rt-log" aria-live="polite" aria-labelledby="rt-log" tabIndex={0} data-testid="messages" style={{ listStyle: 'none', padding: 0, margin: 0, maxHeight: '360px', overflowY: 'auto' }}>
            {lines.map((l) => <li key={l.n} class={l.kind === 'error' ? 'field-error' : l.kind === 'system' ? 'muted' : undefined}>{l.text}</li>)}
          </ol>
        )}
      </section>
    </Page>
  );
}
