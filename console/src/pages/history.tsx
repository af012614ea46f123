/**
 * My history: everything that happened to my account, from the event log.
 * - a timeline chart (uPlot): events per time bucket, stacked by category; click it to travel
 *   to that moment; the chosen moment (and the compare moment) are drawn as lines on it;
 * - a time slider that steps event by event (keyboard: arrows, Home/End), or any exact moment
 *   typed in, showing my state as it was then (GET /api/v1/audit/users/{me}/state?at=): profile,
 *   roles, sessions, API keys, reachable features;
 * - compare mode: a second moment, and what changed between the two (and the events between);
 * - the events as a list, newest first, filtered by category and text, each with its details
 *   and a "state here" button.
 * The chosen moments are kept in the URL (?at=…&b=…): a view of the past can be bookmarked.
 * API: GET /api/v1/audit/users/{id}/events (paged), GET /api/v1/audit/users/{id}/state?at=.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { ApiError, get, qs } from '../api';
import { Chart, bars, type uPlot } from '../chart';
import { CATEGORIES, bucketize, categoryOf, describe as describeWith, diffStates, eventsUpTo, keyNames, type AuditEvent, type Change, type StateAt } from '../history-model';
import { useSession } from '../session';
import { ErrorNotice, Notice, Page, Spinner, fmtDate, useLoad } from '../ui';
import { browserOf } from './sessions';

const MAX_PAGES = 25;
const PAGE = 200;
const CAT = Object.fromEntries(CATEGORIES.map((c) => [c.id, c]));
// Key names for the sentences (set when the log is loaded; one user's log per page).
let names = new Map<string, string>();
const describe = (e: AuditEvent) => describeWith(e, names);

async function loadAllEvents(userId: string): Promise<{ events: AuditEvent[]; truncated: boolean }> {
  const events: AuditEvent[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page: { events: AuditEvent[]; next_cursor: string | null } = await get(`/api/v1/audit/users/${userId}/events${qs({ limit: PAGE, cursor })}`);
    events.push(...page.events);
    cursor = page.next_cursor;
    if (!cursor) return { events, truncated: false };
  }
  return { events, truncated: true };
}

/** My state at `at` (null: no account yet then), refetched when `at` changes (debounced). */
function useStateAt(userId: string, at: string | null) {
  const [state, setState] = useState<{ at: string; value: StateAt | null } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  useEffect(() => {
    if (!at) return;
    const ctl = new AbortController();
    setLoading(true);
    const t = setTimeout(async () => {
      try {
        const value = await get<StateAt>(`/api/v1/audit/users/${userId}/state${qs({ at })}`, { signal: ctl.signal });
        setState({ at, value });
        setError(null);
      } catch (err) {
        if (ctl.signal.aborted) return;
        if (err instanceof ApiError && err.status === 404) {
          setState({ at, value: null });
          setError(null);
        } else setError(err);
      } finally {
        if (!ctl.signal.aborted) setLoading(false);
      }
    }, 120);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [userId, at]);
  return { state, error, loading };
}

const localInput = (iso: string) => {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
};
const fmtFull = (iso: string) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** The moment after the k-th event (k = 0: just before the first one). */
function instantOf(events: AuditEvent[], k: number): string {
  if (k <= 0) return new Date(Date.parse(events[0]?.time ?? new Date().toISOString()) - 1).toISOString();
  return events[Math.min(k, events.length) - 1]!.time;
}

function TimeSlider({ label, events, at, onAt, id }: { label: string; events: AuditEvent[]; at: string; onAt: (iso: string) => void; id: string }) {
  const k = eventsUpTo(events, Date.parse(at));
  const last = k > 0 ? events[k - 1] : undefined;
  const valueText = last ? `${fmtFull(at)}: after event ${k} of ${events.length}, ${describe(last)}` : `${fmtFull(at)}: before the first event`;
  return (
    <div class="slider">
      <div class="slider-head">
        <label for={`${id}-range`}>{label}</label>
        <output for={`${id}-range`} class="slider-at" data-testid={`${id}-at`} data-iso={at}>{fmtFull(at)}</output>
      </div>
      <div class="slider-row">
        <button type="button" class="secondary small" onClick={() => onAt(instantOf(events, k - 1))} disabled={k <= 0} aria-label={`${label}: previous event`}>◀</button>
        <input
          id={`${id}-range`} type="range" min={0} max={events.length} step={1} value={k}
          aria-valuetext={valueText}
          onInput={(e) => onAt(instantOf(events, Number((e.target as HTMLInputElement).value)))}
        />
        <button type="button" class="secondary small" onClick={() => onAt(instantOf(events, k + 1))} disabled={k >= events.length} aria-label={`${label}: next event`}>▶</button>
      </div>
      <div class="slider-foot">
        <span class="muted">{last ? <>after <strong>{describe(last)}</strong></> : 'before anything happened'}</span>
        <label class="inline">
          <span class="sr-only">{label}: exact moment</span>
          <input type="datetime-local" step={1} value={localInput(at)} onChange={(e) => {
            const v = (e.target as HTMLInputElement).value;
            if (v) onAt(new Date(v).toISOString());
          }} />
        </label>
        <button type="button" class="secondary small" onClick={() => onAt(new Date().toISOString())}>Now</button>
      </div>
    </div>
  );
}

function StateView({ state, loading, error, title }: { state: { at: string; value: StateAt | null } | null; loading: boolean; error: unknown; title: string }) {
  return (
    <section class="panel state" aria-labelledby={`${title}-h`} aria-busy={loading} data-testid="state">
      <h2 id={`${title}-h`}>{title}{state && <span class="muted"> — {fmtFull(state.at)}</span>}</h2>
      <ErrorNotice error={error} />
      {!state ? <Spinner /> : !state.value ? <p>You had no account yet at this moment.</p> : <StateBody s={state.value} />}
    </section>
  );
}

function StateBody({ s }: { s: StateAt }) {
  return (
    <div class="state-grid">
      <div>
        <h3>Profile</h3>
        <dl class="kv">
          <dt>E-mail</dt><dd>{s.profile.email} {s.profile.email_verified ? <span class="badge ok">confirmed</span> : <span class="badge warn">not confirmed</span>}</dd>
          <dt>Name</dt><dd>{s.profile.name || '—'}</dd>
          <dt>Status</dt><dd><span class={`badge ${s.profile.status === 'active' ? 'ok' : 'bad'}`}>{s.profile.status}</span>{s.profile.locked_until && <> · locked until {fmtDate(s.profile.locked_until)}</>}</dd>
          <dt>Roles</dt><dd>{s.roles.join(', ') || '—'}</dd>
          <dt>Events so far</dt><dd>{s.events_applied}</dd>
        </dl>
      </div>
      <div>
        <h3>Sessions ({s.sessions.length})</h3>
        {!s.sessions.length ? <p class="muted">Signed in nowhere.</p> : (
          <ul class="compact" data-testid="state-sessions">
            {s.sessions.map((x) => <li key={x.id}>{x.device_name || browserOf(x.user_agent)}{x.ip && <span class="muted"> · {x.ip}</span>}<span class="muted"> · since {fmtDate(x.since)}</span></li>)}
          </ul>
        )}
      </div>
      <div>
        <h3>API keys ({s.api_keys.length})</h3>
        {!s.api_keys.length ? <p class="muted">No active keys.</p> : (
          <ul class="compact" data-testid="state-keys">
            {s.api_keys.map((k) => <li key={k.id} data-key-id={k.id}><strong>{k.name}</strong> <code>{k.prefix}…</code><span class="muted"> · {k.features === '*' ? 'all features' : k.features.join(', ')}</span></li>)}
          </ul>
        )}
      </div>
      <div>
        <h3>Reachable features ({s.features.length})</h3>
        {!s.features.length ? <p class="muted">None.</p> : <ul class="chips" data-testid="state-features">{s.features.map((f) => <li key={f}><code>{f}</code></li>)}</ul>}
      </div>
    </div>
  );
}

const CHANGE_SIGN = { added: '+', removed: '−', changed: '~' } as const;

function CompareView({ a, b, events }: { a: { at: string; value: StateAt | null } | null; b: { at: string; value: StateAt | null } | null; events: AuditEvent[] }) {
  if (!a || !b) return <Spinner label="Loading both moments…" />;
  const [first, second] = Date.parse(a.at) <= Date.parse(b.at) ? [a, b] : [b, a];
  const changes: Change[] = diffStates(first.value, second.value);
  const between = events.slice(eventsUpTo(events, Date.parse(first.at)), eventsUpTo(events, Date.parse(second.at)));
  const byType = new Map<string, number>();
  for (const e of between) byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
  return (
    <section class="panel" aria-labelledby="diff-h" data-testid="diff">
      <h2 id="diff-h">What changed from {fmtFull(first.at)} to {fmtFull(second.at)}</h2>
      {!changes.length ? <p>Nothing in your state changed between these moments.</p> : (
        <ul class="changes">
          {changes.map((c, i) => <li key={i} class={c.kind}><span class="sign" aria-hidden="true">{CHANGE_SIGN[c.kind]}</span> {c.label}</li>)}
        </ul>
      )}
      <p class="muted">{between.length} event{between.length === 1 ? '' : 's'} in between{between.length ? ': ' : '.'}{[...byType].map(([t, n]) => `${t} ×${n}`).join(', ')}</p>
    </section>
  );
}

function Timeline({ events, at, atB, onPick }: { events: AuditEvent[]; at: string; atB: string | null; onPick: (iso: string) => void }) {
  const b = useMemo(() => bucketize(events), [events]);
  const marks = useRef<{ at: string; atB: string | null }>({ at, atB });
  marks.current = { at, atB };
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    plot.current?.redraw(false);
  }, [at, atB]);
  // Stacked bars: series i draws the sum of categories i..n, later series over earlier ones.
  const used = CATEGORIES.filter((c) => b.counts[c.id]!.some((n) => n > 0));
  const { data, raw } = useMemo(() => {
    const raw = used.map((c) => b.counts[c.id]!);
    // A zero draws nothing (null), not a hairline on the axis.
    const stacked = raw.map((_, i) => b.x.map((__, j) => (raw[i]![j] ? raw.slice(i).reduce((s, r) => s + r[j]!, 0) : null)));
    return { data: [b.x, ...stacked] as uPlot.AlignedData, raw };
  }, [b, used.map((c) => c.id).join()]);
  const options = useMemo(() => ({
    scales: { x: { time: true, range: (): [number, number] => [b.x[0]! - b.size / 2, b.x.at(-1)! + b.size / 2] }, y: { range: (_u: uPlot, _min: number, max: number): [number, number] => [0, Math.max(3, Math.ceil(max * 1.1))] } },
    axes: [{ stroke: 'currentColor', grid: { show: false } }, { stroke: 'currentColor', size: 36, grid: { stroke: 'rgba(128,128,128,.2)' } }],
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    legend: { live: true },
    series: [
      { label: 'time', value: (_u: uPlot, v: number | null) => (v == null ? '—' : new Date(v * 1000).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })) },
      ...used.map((c, i) => ({
        label: c.label, stroke: c.color, fill: `${c.color}cc`, width: 1, paths: bars(0.85), points: { show: false },
        value: (_u: uPlot, _v: number | null, _si: number, idx: number | null) => (idx == null ? '—' : String(raw[i]![idx] ?? 0)),
      })),
    ],
    hooks: {
      draw: [(u: uPlot) => {
        const ctx = u.ctx;
        const line = (iso: string | null, color: string) => {
          if (!iso) return;
          const x = u.valToPos(Date.parse(iso) / 1000, 'x', true);
          ctx.save();
          ctx.strokeStyle = color;
          ctx.lineWidth = 2 * devicePixelRatio;
          ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.restore();
        };
        line(marks.current.at, '#f5a100');
        line(marks.current.atB, '#c2417a');
      }],
    },
  }), [raw]);
  const onReady = (u: uPlot) => {
    plot.current = u;
    u.over.addEventListener('click', () => {
      const left = u.cursor.left;
      if (left == null || left < 0) return;
      const t = u.posToVal(left, 'x') * 1000;
      // Travel to the end of the clicked bucket (everything in the bar has happened).
      const end = Math.min(Date.now(), (Math.floor(t / 1000 / b.size) + 1) * b.size * 1000 - 1);
      onPick(new Date(end).toISOString());
    });
  };
  const summary = used.map((c) => `${c.label}: ${b.counts[c.id]!.reduce((s, n) => s + n, 0)}`).join(', ');
  const step = b.size >= 86_400 ? `${b.size / 86_400} day` : b.size >= 3600 ? `${b.size / 3600} hour` : `${b.size / 60} minute`;
  return (
    <section class="panel" aria-labelledby="timeline-h">
      <h2 id="timeline-h">Timeline <span class="muted">({events.length} events, bars of {step}{step.startsWith('1 ') ? '' : 's'})</span></h2>
      <Chart options={options} data={data} height={200} onReady={onReady}
        label={`Events per ${step} by category. ${summary}. The dashed line marks the moment shown below.`} />
      <p class="hint">Click a bar to see your state at the end of it; the orange line is the moment shown{atB ? ', the pink one the moment compared' : ''}.</p>
    </section>
  );
}

function EventList({ events, at, onAt }: { events: AuditEvent[]; at: string; onAt: (iso: string) => void }) {
  const [cats, setCats] = useState<Set<string>>(new Set(CATEGORIES.map((c) => c.id)));
  const [text, setText] = useState('');
  const [limit, setLimit] = useState(100);
  const [open, setOpen] = useState<string | null>(null);
  const k = eventsUpTo(events, Date.parse(at));
  const currentId = k > 0 ? events[k - 1]!.id : null;
  const needle = text.trim().toLowerCase();
  const shown = useMemo(() => events
    .filter((e) => cats.has(categoryOf(e.type)))
    .filter((e) => !needle || `${e.type} ${describe(e)} ${e.metadata.ip ?? ''} ${JSON.stringify(e.data)}`.toLowerCase().includes(needle))
    .reverse(), [events, cats, needle]);
  const counts = useMemo(() => {
    const m = new Map<string, number>();
    for (const e of events) m.set(categoryOf(e.type), (m.get(categoryOf(e.type)) ?? 0) + 1);
    return m;
  }, [events]);
  const toggle = (id: string) => {
    const next = new Set(cats);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setCats(next);
  };
  return (
    <section class="panel" aria-labelledby="events-h">
      <h2 id="events-h">Events <span class="muted">({shown.length} of {events.length} shown)</span></h2>
      <div class="filters" role="group" aria-label="Filter by category">
        {CATEGORIES.filter((c) => counts.get(c.id)).map((c) => (
          <button type="button" key={c.id} class="chip" aria-pressed={cats.has(c.id)} onClick={() => toggle(c.id)} style={{ '--chip': c.color }}>
            {c.label} <span class="muted">{counts.get(c.id)}</span>
          </button>
        ))}
        <label class="inline search">
          <span class="sr-only">Search events</span>
          <input type="search" placeholder="Search (type, IP, name…)" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        </label>
      </div>
      <ol class="events" reversed>
        {shown.slice(0, limit).map((e) => {
          const cat = CAT[categoryOf(e.type)]!;
          const isOpen = open === e.id;
          return (
            <li key={e.id} class={e.id === currentId ? 'event here' : 'event'} aria-current={e.id === currentId ? 'step' : undefined} data-type={e.type}>
              <span class="dot" style={{ background: cat.color }} aria-hidden="true" />
              <div class="event-main">
                <div class="event-line">
                  <time dateTime={e.time}>{fmtFull(e.time)}</time>
                  <span class="event-type">{e.type}</span>
                </div>
                <div>{describe(e)}</div>
                {isOpen && (
                  <div class="event-details">
                    <dl class="kv">
                      <dt>Stream</dt><dd><code>{e.stream}</code> #{e.revision}</dd>
                      {e.metadata.ip && <><dt>IP</dt><dd><code>{e.metadata.ip}</code></dd></>}
                      {e.metadata.user_agent && <><dt>Browser</dt><dd title={e.metadata.user_agent}>{browserOf(e.metadata.user_agent)}</dd></>}
                      {e.metadata.actor_user_id && <><dt>Done by</dt><dd><code>{e.metadata.actor_user_id}</code></dd></>}
                      <dt>Log position</dt><dd><code>{e.position}</code></dd>
                    </dl>
                    <pre class="json">{JSON.stringify(e.data, null, 2)}</pre>
                  </div>
                )}
              </div>
              <div class="event-actions">
                <button type="button" class="secondary small" onClick={() => onAt(e.time)}>State here<span class="sr-only"> ({e.type}, {fmtFull(e.time)})</span></button>
                <button type="button" class="secondary small" aria-expanded={isOpen} onClick={() => setOpen(isOpen ? null : e.id)}>Details<span class="sr-only"> of {e.type}</span></button>
              </div>
            </li>
          );
        })}
      </ol>
      {shown.length > limit && <button type="button" class="secondary" onClick={() => setLimit(limit + 200)}>Show more</button>}
      {!shown.length && <p class="muted">No event matches.</p>}
    </section>
  );
}

export default function History() {
  const s = useSession();
  const userId = s.user!.id;
  const { query, path, route } = useLocation();
  const log = useLoad(() => loadAllEvents(userId), [userId]);
  const events = log.data?.events ?? [];
  names = useMemo(() => keyNames(events), [events]);
  const [at, setAtRaw] = useState<string>(query.at && !Number.isNaN(Date.parse(query.at)) ? new Date(query.at).toISOString() : new Date().toISOString());
  const [atB, setAtBRaw] = useState<string | null>(query.b && !Number.isNaN(Date.parse(query.b)) ? new Date(query.b).toISOString() : null);
  const sync = (a: string, b: string | null) => route(`${path}${qs({ at: a, b })}`, true);
  const setAt = (iso: string) => {
    setAtRaw(iso);
    sync(iso, atB);
  };
  const setAtB = (iso: string | null) => {
    setAtBRaw(iso);
    sync(at, iso);
  };
  const a = useStateAt(userId, at);
  const b = useStateAt(userId, atB);

  return (
    <Page title="My history" wide actions={
      <button type="button" class={atB ? '' : 'secondary'} aria-pressed={!!atB} onClick={() => setAtB(atB ? null : new Date().toISOString())}>
        {atB ? 'Stop comparing' : 'Compare two moments'}
      </button>
    }>
      <p class="muted">Everything that happened to your account is an event in the log. Move the slider to see your account as it was at any moment.</p>
      <ErrorNotice error={log.error} />
      {log.data?.truncated && <Notice kind="warn">Showing your first {events.length} events only.</Notice>}
      {log.loading && !log.data ? <Spinner label="Reading your history…" /> : (
        <>
          <Timeline events={events} at={at} atB={atB} onPick={setAt} />
          <div class={atB ? 'sliders two' : 'sliders'}>
            <div class="panel"><TimeSlider id="at" label={atB ? 'First moment' : 'Moment'} events={events} at={at} onAt={setAt} /></div>
            {atB && <div class="panel"><TimeSlider id="b" label="Second moment" events={events} at={atB} onAt={setAtB} /></div>}
          </div>
          {atB && <CompareView a={a.state} b={b.state} events={events} />}
          <div class={atB ? 'states two' : 'states'}>
            <StateView title={atB ? 'At the first moment' : 'Your account at this moment'} state={a.state} loading={a.loading} error={a.error} />
            {atB && <StateView title="At the second moment" state={b.state} loading={b.loading} error={b.error} />}
          </div>
          <EventList events={events} at={at} onAt={setAt} />
        </>
      )}
    </Page>
  );
}
