/**
 * Admin: global event search over the whole log (GET /api/v1/audit/events): by type(s), stream,
 * stream prefix, acting user and time window; cursor pages; secrets redacted by the API.
 * The filters live in the URL query (?stream=user-…), so a search can be linked.
 */
import { useState } from 'preact/hooks';
import { get, qs } from '../../api';
import { ErrorNotice, Field, Page, Spinner, fmtDate, useLoad } from '../../ui';

export interface AuditEvent {
  id: string; position: string; stream: string; revision: number; type: string; time: string;
  data: Record<string, unknown>; metadata: { ip: string | null; user_agent: string | null; actor_user_id: string | null; request_id: string | null };
}

interface Filters { type: string; stream: string; stream_prefix: string; actor: string; from: string; to: string }

const fromUrl = (): Filters => {
  const u = new URLSearchParams(location.search);
  return { type: u.get('type') ?? '', stream: u.get('stream') ?? '', stream_prefix: u.get('stream_prefix') ?? '', actor: u.get('actor') ?? '', from: u.get('from') ?? '', to: u.get('to') ?? '' };
};

/** datetime-local (no zone) → ISO instant with offset, as the API wants. */
const instant = (v: string) => (v ? new Date(v).toISOString() : undefined);

export function EventList({ events }: { events: AuditEvent[] }) {
  return (
    <div class="table-wrap">
      <table>
        <thead><tr><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Stream</th><th scope="col">Actor</th><th scope="col">Data</th></tr></thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id}>
              <td><time dateTime={e.time}>{fmtDate(e.time)}</time></td>
              <td><code>{e.type}</code></td>
              <td class="mono">{e.stream}@{e.revision}</td>
              <td class="mono">{e.metadata.actor_user_id ?? '—'}</td>
              <td><details><summary>data</summary><pre class="mono" style={{ whiteSpace: 'pre-wrap', margin: 0 }}>{JSON.stringify({ ...e.data, metadata: e.metadata }, null, 2)}</pre></details></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export default function AdminEvents() {
  const [form, setForm] = useState<Filters>(fromUrl);
  const [applied, setApplied] = useState<Filters>(fromUrl);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const set = (k: keyof Filters) => (v: string) => setForm((f) => ({ ...f, [k]: v }));
  const result = useLoad(() => get<{ events: AuditEvent[]; next_cursor: string | null }>(`/api/v1/audit/events${qs({
    type: applied.type || undefined, stream: applied.stream || undefined, stream_prefix: applied.stream_prefix || undefined,
    actor: applied.actor || undefined, from: instant(applied.from), to: instant(applied.to), cursor, limit: 50,
  })}`), [applied, cursor]);
  return (
    <Page title="Event search" wide>
      <form class="panel" role="search" onSubmit={(e) => {
        e.preventDefault();
        setCursor(undefined);
        setApplied(form);
        history.replaceState(null, '', `${location.pathname}${qs({ ...form })}`);
      }}>
        <div class="row">
          <Field label="Event types" value={form.type} onValue={set('type')} placeholder="SessionStarted,UserDisabled" maxLength={2000} />
          <Field label="Stream" value={form.stream} onValue={set('stream')} placeholder="user-…" maxLength={300} />
          <Field label="Stream prefix" value={form.stream_prefix} onValue={set('stream_prefix')} placeholder="session-" maxLength={300} />
          <Field label="Actor user id" value={form.actor} onValue={set('actor')} maxLength={100} />
        </div>
        <div class="row" style={{ marginTop: '8px' }}>
          <Field label="From" type="datetime-local" value={form.from} onValue={set('from')} />
          <Field label="To" type="datetime-local" value={form.to} onValue={set('to')} />
          <button type="submit">Search</button>
        </div>
      </form>
      <ErrorNotice error={result.error} />
      {result.loading && !result.data ? <Spinner /> : result.data && (
        <>
          <p class="muted" role="status">{result.data.events.length} events{result.data.next_cursor ? ' (more on the next page)' : ''}</p>
          <EventList events={result.data.events} />
          <div class="row" style={{ marginTop: '12px' }}>
            {cursor && <button type="button" class="secondary" onClick={() => setCursor(undefined)}>First page</button>}
            {result.data.next_cursor && <button type="button" class="secondary" onClick={() => setCursor(result.data!.next_cursor!)}>Next page</button>}
          </div>
        </>
      )}
    </Page>
  );
}
