/**
 * Admin: users. Search by e-mail or name (GET /api/v1/users?q=), disable / enable, grant or revoke
 * the admin role, delete (with a confirmation), and a link to each user's history. Every action
 * is a public API call; the list reloads after it (read-your-writes makes it show the change).
 * A step_up_required answer (role changes by an admin with a second factor) shows the step-up prompt.
 */
import { useState } from 'preact/hooks';
import { del, get, post, qs } from '../../api';
import { session } from '../../session';
import { to } from '../../routes';
import { ErrorNotice, Field, Notice, Page, Spinner, Time, useAction, useLoad } from '../../ui';
import { useStepUp } from '../mfa/second-factor';

export interface AdminUser {
  id: string; email: string; name: string; roles: string[]; email_verified: boolean; disabled: boolean; source: string; created_at: string;
}

export default function AdminUsers() {
  const [q, setQ] = useState('');
  const [search, setSearch] = useState('');
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [done, setDone] = useState<string | null>(null);
  const list = useLoad(() => get<{ items: AdminUser[]; next_cursor: string | null }>(`/api/v1/users${qs({ q: search || undefined, cursor, limit: 50 })}`), [search, cursor]);
  // Role changes need the admin's recent second factor (step-up) when the admin has one.
  const stepUp = useStepUp();
  const act = useAction((what: string, fn: () => Promise<unknown>) => stepUp.guard(async () => {
    setDone(null);
    await fn();
    setDone(what);
    await list.reload();
  }, (): void => void act.run(what, fn)));
  const me = session().user?.id;

  return (
    <Page title="Users" wide>
      <form class="row panel" role="search" onSubmit={(e) => { e.preventDefault(); setCursor(undefined); setSearch(q.trim()); }}>
        <Field label="Search users" value={q} onValue={setQ} placeholder="e-mail or name" maxLength={200} />
        <button type="submit">Search</button>
      </form>
      <ErrorNotice error={list.error || act.error} />
      {stepUp.prompt}
      {done && <Notice kind="ok">{done}</Notice>}
      {list.loading && !list.data ? <Spinner /> : (
        <div class="table-wrap">
          <table>
            <caption class="muted" style={{ textAlign: 'left' }}>{list.data?.items.length ?? 0} users{search ? ` matching “${search}”` : ''}</caption>
            <thead><tr><th scope="col">User</th><th scope="col">Roles</th><th scope="col">Status</th><th scope="col">Since</th><th scope="col">Actions</th></tr></thead>
            <tbody>
              {list.data?.items.map((u) => {
                const admin = u.roles.includes('admin');
                const self = u.id === me;
                return (
                  <tr key={u.id} data-user={u.email}>
                    <td><strong>{u.name}</strong><br /><span class="muted">{u.email}</span>{u.email_verified ? '' : <> <span class="badge warn">unverified</span></>}</td>
                    <td>{u.roles.join(', ')}</td>
                    <td data-status>{u.disabled ? <span class="badge bad">disabled</span> : <span class="badge ok">active</span>}</td>
                    <td><Time iso={u.created_at} /></td>
                    <td>
                      <div class="row" style={{ gap: '6px' }}>
                        {u.disabled
                          ? <button type="button" class="secondary small" disabled={act.busy} onClick={() => act.run(`${u.email} enabled.`, () => post(`/api/v1/users/${u.id}/enable`))} aria-label={`Enable ${u.email}`}>Enable</button>
                          : <button type="button" class="danger small" disabled={act.busy || self} onClick={() => act.run(`${u.email} disabled: their sessions ended and their API keys were revoked.`, () => post(`/api/v1/users/${u.id}/disable`, {}))} aria-label={`Disable ${u.email}`}>Disable</button>}
                        {admin
                          ? <button type="button" class="secondary small" disabled={act.busy || self} onClick={() => act.run(`Admin role revoked from ${u.email}.`, () => del(`/api/v1/users/${u.id}/roles/admin`))} aria-label={`Revoke admin: ${u.email}`}>Revoke admin</button>
                          : <button type="button" class="secondary small" disabled={act.busy} onClick={() => act.run(`Admin role granted to ${u.email}.`, () => post(`/api/v1/users/${u.id}/roles`, { role: 'admin' }))} aria-label={`Make admin: ${u.email}`}>Make admin</button>}
                        <button type="button" class="danger small" disabled={act.busy || self} aria-label={`Delete ${u.email}`}
                          onClick={() => { if (confirm(`Delete ${u.email}? Their sessions end and their keys are revoked. This cannot be undone.`)) void act.run(`${u.email} deleted.`, () => del(`/api/v1/users/${u.id}`)); }}>Delete</button>
                        <a class="button secondary small" href={`${to('/admin/events')}?stream=${encodeURIComponent(`user-${u.id}`)}`} aria-label={`Events of ${u.email}`}>Events</a>
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <div class="row" style={{ marginTop: '12px' }}>
        {cursor && <button type="button" class="secondary" onClick={() => setCursor(undefined)}>First page</button>}
        {list.data?.next_cursor && <button type="button" class="secondary" onClick={() => setCursor(list.data!.next_cursor!)}>Next page</button>}
      </div>
    </Page>
  );
}
