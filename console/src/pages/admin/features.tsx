/**
 * Admin: features. Register one, edit its description, disable / enable it, delete it
 * (POST/PATCH/DELETE /api/v1/features). Keys naming a disabled or deleted feature stop granting it.
 */
import { useState } from 'preact/hooks';
import { del, get, patch, post } from '../../api';
import { ErrorNotice, Field, Notice, Page, Spinner, Time, useAction, useLoad } from '../../ui';

interface Feature { name: string; description: string; enabled: boolean; created_at: string; updated_at: string }

function Row({ f, onChanged }: { f: Feature; onChanged: (msg: string) => Promise<void> }) {
  const [editing, setEditing] = useState(false);
  const [description, setDescription] = useState(f.description);
  const act = useAction(async (msg: string, fn: () => Promise<unknown>) => {
    await fn();
    setEditing(false);
    await onChanged(msg);
  });
  return (
    <tr data-feature={f.name}>
      <th scope="row"><code>{f.name}</code></th>
      <td>
        {editing ? (
          <form class="row" onSubmit={(e) => { e.preventDefault(); void act.run(`${f.name} updated.`, () => patch(`/api/v1/features/${encodeURIComponent(f.name)}`, { description })); }}>
            <Field label={`Description of ${f.name}`} value={description} onValue={setDescription} maxLength={1000} />
            <button type="submit" class="small" disabled={act.busy}>Save</button>
            <button type="button" class="secondary small" onClick={() => setEditing(false)}>Cancel</button>
          </form>
        ) : (f.description || <span class="muted">—</span>)}
        <ErrorNotice error={act.error} />
      </td>
      <td>{f.enabled ? <span class="badge ok">enabled</span> : <span class="badge bad">disabled</span>}</td>
      <td><Time iso={f.updated_at} /></td>
      <td>
        <div class="row" style={{ gap: '6px' }}>
          {!editing && <button type="button" class="secondary small" onClick={() => setEditing(true)} aria-label={`Edit ${f.name}`}>Edit</button>}
          <button type="button" class="secondary small" disabled={act.busy} aria-label={`${f.enabled ? 'Disable' : 'Enable'} ${f.name}`}
            onClick={() => act.run(`${f.name} ${f.enabled ? 'disabled' : 'enabled'}.`, () => patch(`/api/v1/features/${encodeURIComponent(f.name)}`, { enabled: !f.enabled }))}>{f.enabled ? 'Disable' : 'Enable'}</button>
          <button type="button" class="danger small" disabled={act.busy} aria-label={`Delete ${f.name}`}
            onClick={() => { if (confirm(`Delete feature ${f.name}? Keys naming it stop granting it.`)) void act.run(`${f.name} deleted.`, () => del(`/api/v1/features/${encodeURIComponent(f.name)}`)); }}>Delete</button>
        </div>
      </td>
    </tr>
  );
}

export default function AdminFeatures() {
  const list = useLoad(() => get<{ items: Feature[] }>('/api/v1/features'));
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const register = useAction(async () => {
    await post('/api/v1/features', { name: name.trim(), description });
    setDone(`${name.trim()} registered.`);
    setName('');
    setDescription('');
    await list.reload();
  });
  const changed = async (msg: string) => {
    setDone(msg);
    await list.reload();
  };
  return (
    <Page title="Manage features" wide>
      <form class="panel" aria-labelledby="reg-title" onSubmit={(e) => { e.preventDefault(); void register.run(); }}>
        <h2 id="reg-title">Register a feature</h2>
        <div class="row">
          <Field label="Feature name" value={name} onValue={setName} required maxLength={64} pattern="[a-zA-Z0-9][a-zA-Z0-9_.\-]*" hint="Letters, digits, _ . -" />
          <Field label="Description" value={description} onValue={setDescription} maxLength={1000} />
          <button type="submit" disabled={register.busy}>Register</button>
        </div>
        <ErrorNotice error={register.error} />
      </form>
      {done && <Notice kind="ok">{done}</Notice>}
      <ErrorNotice error={list.error} />
      {list.loading && !list.data ? <Spinner /> : (
        <div class="table-wrap">
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Description</th><th scope="col">Status</th><th scope="col">Updated</th><th scope="col">Actions</th></tr></thead>
            <tbody>{list.data?.items.map((f) => <Row key={`${f.name}:${f.updated_at}`} f={f} onChanged={changed} />)}</tbody>
          </table>
          {list.data?.items.length === 0 && <p class="muted">No features yet.</p>}
        </div>
      )}
    </Page>
  );
}
