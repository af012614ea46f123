/**
 * Admin: projection status (GET /api/v1/admin/projections: events after each checkpoint) and the
 * link to the queue dashboard (Bull Board at /admin/queues, admins only; it needs a short-lived
 * cookie, asked for with POST /admin/queues/session before opening it).
 */
import { get, post } from '../../api';
import { ErrorNotice, Page, Spinner, useAction, useLoad } from '../../ui';

interface Status { projections: { name: string; kind: 'postgres' | 'redis'; version: number; lag_events: number }[]; max_lag_events: number }

export default function AdminProjections() {
  const status = useLoad(() => get<Status>('/api/v1/admin/projections'));
  const board = useAction(async () => {
    await post('/admin/queues/session');
    window.open('/admin/queues', '_blank', 'noopener');
  });
  return (
    <Page title="Projections and queues" actions={<button type="button" class="secondary" onClick={() => status.reload()}>Refresh</button>}>
      <ErrorNotice error={status.error} />
      {status.loading && !status.data ? <Spinner /> : status.data && (
        <div class="table-wrap">
          <table>
            <caption class="muted" style={{ textAlign: 'left' }}>Lag is the number of events in the log after the projection's checkpoint; /ready fails past {status.data.max_lag_events}.</caption>
            <thead><tr><th scope="col">Projection</th><th scope="col">Store</th><th scope="col">Version</th><th scope="col">Lag (events)</th></tr></thead>
            <tbody>
              {status.data.projections.map((p) => (
                <tr key={p.name} data-projection={p.name}>
                  <th scope="row"><code>{p.name}</code></th>
                  <td>{p.kind === 'postgres' ? 'PostgreSQL' : 'Redis'}</td>
                  <td>{p.version}</td>
                  <td>{p.lag_events === 0 ? <span class="badge ok">up to date</span> : <span class={p.lag_events > status.data!.max_lag_events ? 'badge bad' : 'badge warn'}>{p.lag_events}</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <section class="panel" aria-labelledby="queues" style={{ marginTop: '16px' }}>
        <h2 id="queues">Job queues</h2>
        <p>E-mail, cleanup and anchor jobs run on BullMQ. The dashboard shows waiting, active, failed and completed jobs.</p>
        <button type="button" onClick={() => board.run()} disabled={board.busy}>Open the queue dashboard</button>
        <ErrorNotice error={board.error} />
      </section>
    </Page>
  );
}
