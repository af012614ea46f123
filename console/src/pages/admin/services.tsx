/**
 * Admin: the gateway's services (issue 14). List (upstreams, auth policy, roles / feature, the
 * upstreams health checks marked down), register, change upstreams / policy, deregister
 * (POST/PATCH/DELETE /api/v1/services). The gateway role proxies GATEWAY_PREFIX/{name}/… to them.
 */
import { useState } from 'preact/hooks';
import { del, get, patch, post } from '../../api';
import { ErrorNotice, Field, Notice, Page, Select, Spinner, Time, useAction, useLoad } from '../../ui';

type Auth = 'none' | 'token' | 'api_key' | 'token_or_api_key';
interface Service {
  name: string; upstreams: string[]; auth: Auth; feature?: string; roles?: string[]; down: string[]; updated_at: string;
  timeout_ms: number; retries: number; websocket: boolean;
}

const AUTH: Record<Auth, string> = { none: 'None (public)', token: 'Access token', api_key: 'API key', token_or_api_key: 'Token or API key' };
const list = (s: string) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

function AuthSelect({ value, onValue, label = 'Auth policy' }: { value: Auth; onValue: (v: Auth) => void; label?: string }) {
  return (
    <Select label={label} value={value} onValue={(v) => onValue(v as Auth)}>
      {Object.entries(AUTH).map(([k, v]) => <option key={k} value={k}>{v}</option>)}
    </Select>
  );
}

function Row({ s, onChanged }: { s: Service; onChanged: (msg: string) => Promise<void> }) {
  const [editing, setEditing] = useState(false);
  const [upstreams, setUpstreams] = useState(s.upstreams.join(', '));
  const [auth, setAuth] = useState<Auth>(s.auth);
  const act = useAction(async (msg: string, fn: () => Promise<unknown>) => {
    await fn();
    setEditing(false);
    await onChanged(msg);
  });
  return (
    <tr data-service={s.name}>
      <th scope="row"><code>{s.name}</code></th>
      <td>
        {editing ? (
          <form class="stack" onSubmit={(e) => { e.preventDefault(); void act.run(`${s.name} updated.`, () => patch(`/api/v1/services/${encodeURIComponent(s.name)}`, { upstreams: list(upstreams), auth })); }}>
            <Field label={`Upstreams of ${s.name}`} value={upstreams} onValue={setUpstreams} required />
            <AuthSelect label={`Auth policy of ${s.name}`} value={auth} onValue={setAuth} />
            <div class="row"><button type="submit" class="small" disabled={act.busy}>Save</button><button type="button" class="secondary small" onClick={() => setEditing(false)}>Cancel</button></div>
          </form>
        ) : (
          <ul style={{ margin: 0, paddingLeft: '1.1em' }}>
            {s.upstreams.map((u) => <li key={u} class="mono">{u} {s.down.includes(u) && <span class="badge bad">down</span>}</li>)}
          </ul>
        )}
        <ErrorNotice error={act.error} />
      </td>
      <td>{AUTH[s.auth]}{s.roles?.length ? <><br /><span class="muted">roles: {s.roles.join(', ')}</span></> : null}{s.feature ? <><br /><span class="muted">feature: {s.feature}</span></> : null}</td>
      <td>{s.timeout_ms} ms, {s.retries} retries{s.websocket ? ', WebSocket' : ''}</td>
      <td><Time iso={s.updated_at} /></td>
      <td>
        <div class="row" style={{ gap: '6px' }}>
          {!editing && <button type="button" class="secondary small" onClick={() => setEditing(true)} aria-label={`Edit ${s.name}`}>Edit</button>}
          <button type="button" class="danger small" disabled={act.busy} aria-label={`Deregister ${s.name}`}
            onClick={() => { if (confirm(`Deregister ${s.name}? The gateway stops proxying it.`)) void act.run(`${s.name} deregistered.`, () => del(`/api/v1/services/${encodeURIComponent(s.name)}`)); }}>Deregister</button>
        </div>
      </td>
    </tr>
  );
}

export default function AdminServices() {
  const services = useLoad(() => get<{ items: Service[] }>('/api/v1/services'));
  const [name, setName] = useState('');
  const [upstreams, setUpstreams] = useState('');
  const [auth, setAuth] = useState<Auth>('token');
  const [roles, setRoles] = useState('');
  const [feature, setFeature] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const register = useAction(async () => {
    await post('/api/v1/services', {
      name: name.trim(), upstreams: list(upstreams), auth,
      ...(list(roles).length ? { roles: list(roles) } : {}), ...(feature.trim() ? { feature: feature.trim() } : {}),
    });
    setDone(`${name.trim()} registered.`);
    setName('');
    setUpstreams('');
    await services.reload();
  });
  const changed = async (msg: string) => {
    setDone(msg);
    await services.reload();
  };
  return (
    <Page title="Gateway services" wide>
      <form class="panel" aria-labelledby="svc-reg" onSubmit={(e) => { e.preventDefault(); void register.run(); }}>
        <h2 id="svc-reg">Register a service</h2>
        <div class="row">
          <Field label="Service name" value={name} onValue={setName} required maxLength={64} />
          <Field label="Upstream URLs" value={upstreams} onValue={setUpstreams} required hint="Comma-separated, e.g. http://127.0.0.1:9000" />
          <AuthSelect value={auth} onValue={setAuth} />
        </div>
        <div class="row" style={{ marginTop: '8px' }}>
          <Field label="Required roles" value={roles} onValue={setRoles} hint="Comma-separated; empty: any signed-in caller" />
          <Field label="Required feature" value={feature} onValue={setFeature} maxLength={64} hint="For API-key callers" />
          <button type="submit" disabled={register.busy}>Register</button>
        </div>
        <ErrorNotice error={register.error} />
      </form>
      {done && <Notice kind="ok">{done}</Notice>}
      <ErrorNotice error={services.error} />
      {services.loading && !services.data ? <Spinner /> : (
        <div class="table-wrap">
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Upstreams</th><th scope="col">Auth</th><th scope="col">Limits</th><th scope="col">Updated</th><th scope="col">Actions</th></tr></thead>
            <tbody>{services.data?.items.map((s) => <Row key={`${s.name}:${s.updated_at}`} s={s} onChanged={changed} />)}</tbody>
          </table>
          {services.data?.items.length === 0 && <p class="muted">No services registered.</p>}
        </div>
      )}
    </Page>
  );
}
