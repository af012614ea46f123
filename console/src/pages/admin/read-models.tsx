/**
 * Admin: the read-model browser (seed 004's database GUI). The views the browser role can read,
 * with row counts and sample rows; a read-only SQL box whose result shows as a table or a
 * bar / line / pie chart and exports to CSV or JSON (in the browser, from the answer); saved
 * queries. Everything the server refuses (UPDATE, DELETE, SET ROLE, COPY, a second statement…)
 * comes back as a problem and is shown as such (docs/read-model-browser.md).
 */
import { useState } from 'preact/hooks';
import { ApiError, del, get, messageOf, post } from '../../api';
import { ErrorNotice, Field, Notice, Page, Select, Spinner, useAction, useLoad } from '../../ui';
import { Chart, toNumber, type ChartKind } from './chart';

interface Column { name: string; type: string }
interface View { name: string; columns: Column[]; row_count: number; sample: unknown[][] }
interface Result { columns: Column[]; rows: unknown[][]; row_count: number; truncated: null | 'rows' | 'bytes'; elapsed_ms: number }
interface Saved { id: string; name: string; sql: string }

const cell = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function ResultTable({ columns, rows, caption }: { columns: Column[]; rows: unknown[][]; caption: string }) {
  return (
    // Scrolls on its own: focusable, so a keyboard can scroll it too.
    <div class="table-wrap" style={{ maxHeight: '420px', overflowY: 'auto' }} tabIndex={0} role="region" aria-label={caption}>
      <table>
        <caption class="muted" style={{ textAlign: 'left' }}>{caption}</caption>
        <thead><tr>{columns.map((c, i) => <th scope="col" key={i}>{c.name} <span class="muted">{c.type}</span></th>)}</tr></thead>
        <tbody>{rows.map((r, i) => <tr key={i}>{r.map((v, j) => <td key={j} class="mono">{v === null ? <span class="muted">null</span> : cell(v)}</td>)}</tr>)}</tbody>
      </table>
    </div>
  );
}

export function toCsv(columns: Column[], rows: unknown[][]): string {
  const q = (s: string) => (/[",\n\r]/.test(s) || /^[=+\-@\t]/.test(s) ? `"${(/^[=+\-@\t]/.test(s) ? `'${s}` : s).replaceAll('"', '""')}"` : s);
  return [columns.map((c) => q(c.name)).join(','), ...rows.map((r) => r.map((v) => q(cell(v))).join(','))].join('\r\n') + '\r\n';
}

function download(name: string, type: string, body: string) {
  const url = URL.createObjectURL(new Blob([body], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export default function ReadModels() {
  const views = useLoad(() => get<{ views: View[]; limits: { timeout_ms: number; max_rows: number; max_bytes: number } }>('/api/v1/admin/read-models'));
  const saved = useLoad(() => get<{ queries: Saved[] }>('/api/v1/admin/read-models/saved-queries'));
  const [open, setOpen] = useState<string | null>(null);
  const [sql, setSql] = useState('SELECT status, count(*) AS sessions FROM sessions GROUP BY status ORDER BY 2 DESC');
  const [result, setResult] = useState<Result | null>(null);
  const [show, setShow] = useState<'table' | ChartKind>('table');
  const [xCol, setXCol] = useState(0);
  const [yCol, setYCol] = useState(1);
  const [saveName, setSaveName] = useState('');
  const [note, setNote] = useState<string | null>(null);

  const run = useAction(async (text: string) => {
    setResult(null);
    const r = await post<Result>('/api/v1/admin/read-models/query', { sql: text });
    setResult(r);
    const numeric = r.columns.findIndex((_, i) => r.rows.length > 0 && r.rows.every((row) => row[i] === null || toNumber(row[i]) !== null));
    setXCol(0);
    setYCol(numeric >= 0 ? numeric : Math.min(1, r.columns.length - 1));
  });
  const save = useAction(async () => {
    await post('/api/v1/admin/read-models/saved-queries', { name: saveName.trim(), sql });
    setNote(`Saved as “${saveName.trim()}”.`);
    setSaveName('');
    await saved.reload();
  });
  const remove = useAction(async (q: Saved) => {
    await del(`/api/v1/admin/read-models/saved-queries/${encodeURIComponent(q.id)}`);
    setNote(`Deleted “${q.name}”.`);
    await saved.reload();
  });

  const refused = run.error instanceof ApiError ? run.error : null;
  const view = views.data?.views.find((v) => v.name === open);
  const labels = result ? result.rows.map((r) => cell(r[xCol])) : [];
  const values = result ? result.rows.map((r) => toNumber(r[yCol]) ?? 0) : [];

  return (
    <Page title="Read-model browser" wide>
      <p class="muted">Read-only SQL over the read-model views, as a database role that can read nothing else. {views.data && `Limits: ${views.data.limits.max_rows} rows, ${Math.round(views.data.limits.max_bytes / 1024)} KiB, ${views.data.limits.timeout_ms} ms.`}</p>
      <div class="row" style={{ alignItems: 'flex-start' }}>
        <section class="panel" aria-labelledby="views-title" style={{ flex: '1 1 220px', maxWidth: '300px' }}>
          <h2 id="views-title">Views</h2>
          <ErrorNotice error={views.error} />
          {views.loading && !views.data ? <Spinner /> : (
            <ul style={{ listStyle: 'none', padding: 0, margin: 0 }} data-testid="views">
              {views.data?.views.map((v) => (
                <li key={v.name} style={{ marginBottom: '4px' }}>
                  <button type="button" class={open === v.name ? 'small' : 'secondary small'} aria-pressed={open === v.name} onClick={() => setOpen(open === v.name ? null : v.name)}>
                    {v.name} <span>({v.row_count} rows)</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
          <h2 id="saved-title">Saved queries</h2>
          <ErrorNotice error={saved.error || remove.error} />
          {saved.data?.queries.length === 0 && <p class="muted">None yet.</p>}
          <ul style={{ listStyle: 'none', padding: 0, margin: 0 }} aria-labelledby="saved-title">
            {saved.data?.queries.map((q) => (
              <li key={q.id} class="row" style={{ gap: '4px', marginBottom: '4px' }}>
                <button type="button" class="secondary small" onClick={() => setSql(q.sql)} aria-label={`Load saved query ${q.name}`}>{q.name}</button>
                <button type="button" class="danger small" onClick={() => remove.run(q)} aria-label={`Delete saved query ${q.name}`}>×</button>
              </li>
            ))}
          </ul>
        </section>

        <div style={{ flex: '3 1 480px', minWidth: 0 }}>
          {view && (
            <section class="panel" aria-labelledby="sample-title">
              <h2 id="sample-title">{view.name}: sample rows</h2>
              <ResultTable columns={view.columns} rows={view.sample} caption={`${view.sample.length} of ${view.row_count} rows`} />
              <button type="button" class="secondary small" style={{ marginTop: '8px' }} onClick={() => setSql(`SELECT * FROM ${view.name} LIMIT 100`)}>Query this view</button>
            </section>
          )}
          <form class="panel stack" aria-labelledby="sql-title" onSubmit={(e) => { e.preventDefault(); void run.run(sql); }}>
            <h2 id="sql-title">SQL</h2>
            <div class="field">
              <label for="sql-box">Query (SELECT, WITH, VALUES or TABLE; Ctrl+Enter runs it)</label>
              <textarea id="sql-box" rows={6} spellcheck={false} class="mono" value={sql} maxLength={20000}
                onInput={(e) => setSql((e.target as HTMLTextAreaElement).value)}
                onKeyDown={(e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); void run.run(sql); } }} />
            </div>
            <div class="row">
              <button type="submit" disabled={run.busy}>{run.busy ? 'Running…' : 'Run'}</button>
              <Field label="Save as" value={saveName} onValue={setSaveName} maxLength={100} placeholder="name" />
              <button type="button" class="secondary" disabled={!saveName.trim() || save.busy} onClick={() => save.run()}>Save query</button>
            </div>
            <ErrorNotice error={save.error} />
            {note && <Notice kind="ok">{note}</Notice>}
          </form>
          {refused && (
            <div class="notice error" role="alert" data-testid="sql-error">
              <strong>{refused.code === 'sql_refused' ? 'Refused' : refused.code === 'sql_timeout' ? 'Timed out' : 'Failed'}</strong> ({refused.code}{refused.problem.sqlstate ? `, SQLSTATE ${String(refused.problem.sqlstate)}` : ''}): {messageOf(refused)}
            </div>
          )}
          {run.error && !refused ? <ErrorNotice error={run.error} /> : null}
          {result && (
            <section class="panel" aria-labelledby="result-title">
              <h2 id="result-title">Result</h2>
              <p class="muted" role="status">
                {result.row_count} rows in {result.elapsed_ms} ms
                {result.truncated === 'rows' && ' — cut at the row limit'}
                {result.truncated === 'bytes' && ' — cut at the byte limit'}
              </p>
              <div class="row">
                <Select label="Show as" value={show} onValue={(v) => setShow(v as typeof show)}>
                  <option value="table">Table</option><option value="bar">Bar chart</option><option value="line">Line chart</option><option value="pie">Pie chart</option>
                </Select>
                {show !== 'table' && (
                  <>
                    <Select label="Labels" value={String(xCol)} onValue={(v) => setXCol(Number(v))}>{result.columns.map((c, i) => <option key={i} value={String(i)}>{c.name}</option>)}</Select>
                    <Select label="Values" value={String(yCol)} onValue={(v) => setYCol(Number(v))}>{result.columns.map((c, i) => <option key={i} value={String(i)}>{c.name}</option>)}</Select>
                  </>
                )}
                <button type="button" class="secondary" onClick={() => download('query.csv', 'text/csv', toCsv(result.columns, result.rows))}>Export CSV</button>
                <button type="button" class="secondary" onClick={() => download('query.json', 'application/json',
                  JSON.stringify(result.rows.map((r) => Object.fromEntries(result.columns.map((c, i) => [c.name, r[i]]))), null, 2))}>Export JSON</button>
              </div>
              {show === 'table'
                ? <ResultTable columns={result.columns} rows={result.rows} caption={`Result: ${result.row_count} rows`} />
                : <Chart kind={show} labels={labels} values={values} title={`${result.columns[yCol]?.name ?? ''} by ${result.columns[xCol]?.name ?? ''}`} />}
            </section>
          )}
        </div>
      </div>
    </Page>
  );
}
